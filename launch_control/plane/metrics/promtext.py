"""A small parser for the Prometheus text exposition format (version 0.0.4), and the counter and
histogram arithmetic the scraping metric source needs: deltas with counter resets, and
``histogram_quantile`` interpolated the way PromQL does it.

Pure functions, no I/O. ``parse(text)`` returns ``Sample``s; ``# HELP``/``# TYPE`` lines are
skipped because the source selects samples by name (``_bucket``, ``_sum``, ``_count``). A
malformed line raises ``PromTextError`` naming the line number, never a silent skip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from launch_control.errors import MetricSourceError

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable, comparable
SeriesKey = tuple[str, Labels]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class PromTextError(MetricSourceError, ValueError):
    """The scraped text is not valid Prometheus exposition format."""


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Labels
    value: float

    def label(self, name: str, default: str = "") -> str:
        for key, value in self.labels:
            if key == name:
                return value
        return default


def parse_value(text: str) -> float:
    """A sample value: a Go float, including ``+Inf``, ``-Inf`` and ``NaN``."""
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    return float(text)


def _parse_labels(line: str, pos: int, lineno: int) -> tuple[Labels, int]:
    """Parse ``{a="x",b="y"}`` starting at ``line[pos] == "{"``; returns labels and the position after ``}``."""
    labels: dict[str, str] = {}
    pos += 1
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == "}":
            return tuple(sorted(labels.items())), pos + 1
        match = _LABEL_NAME.match(line, pos)
        if not match:
            raise PromTextError(f"line {lineno}: expected a label name at column {pos + 1}: {line!r}")
        name = match.group()
        pos = match.end()
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if line[pos : pos + 2] != '="':
            raise PromTextError(f'line {lineno}: expected =" after label {name!r}: {line!r}')
        pos += 2
        value: list[str] = []
        while True:
            if pos >= len(line):
                raise PromTextError(f"line {lineno}: unterminated value of label {name!r}: {line!r}")
            char = line[pos]
            if char == "\\":
                escaped = line[pos + 1 : pos + 2]
                value.append(_ESCAPES.get(escaped, "\\" + escaped))
                pos += 2
            elif char == '"':
                pos += 1
                break
            else:
                value.append(char)
                pos += 1
        labels[name] = "".join(value)
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == ",":
            pos += 1
        elif pos < len(line) and line[pos] == "}":
            continue
        else:
            raise PromTextError(f"line {lineno}: expected , or }} after label {name!r}: {line!r}")


def parse(text: str) -> list[Sample]:
    """Every sample in ``text``; an optional trailing timestamp is ignored."""
    samples: list[Sample] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _NAME.match(line)
        if not match:
            raise PromTextError(f"line {lineno}: expected a metric name: {line!r}")
        name, pos = match.group(), match.end()
        labels: Labels = ()
        if pos < len(line) and line[pos] == "{":
            labels, pos = _parse_labels(line, pos, lineno)
        rest = line[pos:].split()
        if not rest or len(rest) > 2:
            raise PromTextError(f"line {lineno}: expected a value (and optional timestamp): {line!r}")
        try:
            value = parse_value(rest[0])
        except ValueError as exc:
            raise PromTextError(f"line {lineno}: bad value {rest[0]!r}: {line!r}") from exc
        samples.append(Sample(name, labels, value))
    return samples


class Scrape:
    """One scrape's samples, indexed by series, with the lookups the metric sources need."""

    def __init__(self, samples: Iterable[Sample]):
        self.series: dict[SeriesKey, float] = {(s.name, s.labels): s.value for s in samples}

    @classmethod
    def from_text(cls, text: str) -> Scrape:
        return cls(parse(text))

    def select(self, name: str, **match: str) -> dict[Labels, float]:
        """Series of metric ``name`` whose labels include every ``match`` pair."""
        wanted = set(match.items())
        return {
            labels: value
            for (series_name, labels), value in self.series.items()
            if series_name == name and wanted.issubset(labels)
        }

    def value(self, name: str, **match: str) -> float | None:
        """The sum over matching series, or ``None`` when there is no such series."""
        found = self.select(name, **match)
        return sum(found.values()) if found else None


def counter_deltas(current: Mapping[Labels, float], previous: Mapping[Labels, float] | None) -> dict[Labels, float]:
    """Per-series increase between two scrapes, as PromQL's ``increase`` without extrapolation.

    A series that went down was reset (the process restarted): its whole current value is new.
    A series that is new since the previous scrape started from zero.
    """
    previous = previous or {}
    deltas: dict[Labels, float] = {}
    for labels, value in current.items():
        before = previous.get(labels, 0.0)
        deltas[labels] = value if value < before else value - before
    return deltas


def histogram_deltas(current: Scrape, previous: Scrape | None, name: str, **match: str) -> list[tuple[float, float]]:
    """The interval's cumulative buckets ``[(le, count)]`` summed over series matching ``match``.

    Reset detection is per series (all labels but ``le``): if a series' ``_count`` went down, its
    current buckets are the interval's buckets.
    """
    buckets_now = current.select(f"{name}_bucket", **match)
    buckets_before = previous.select(f"{name}_bucket", **match) if previous else {}
    counts_now = current.select(f"{name}_count", **match)
    counts_before = previous.select(f"{name}_count", **match) if previous else {}
    reset = {labels for labels, value in counts_now.items() if value < counts_before.get(labels, 0.0)}
    totals: dict[float, float] = {}
    for labels, value in buckets_now.items():
        le = None
        series: list[tuple[str, str]] = []
        for key, label_value in labels:
            if key == "le":
                le = label_value
            else:
                series.append((key, label_value))
        if le is None:
            continue
        bound = parse_value(le)
        if tuple(series) in reset:
            delta = value
        else:
            before = buckets_before.get(labels, 0.0)
            delta = value if value < before else value - before
        totals[bound] = totals.get(bound, 0.0) + delta
    return sorted(totals.items())


def histogram_sum_delta(current: Scrape, previous: Scrape | None, name: str, **match: str) -> float:
    """The interval's increase of ``name_sum``, with resets judged by ``name_count`` (a sum of
    non-negative observations can pass its old value again before the next scrape; a count cannot
    fall without a reset)."""
    counts_before = previous.select(f"{name}_count", **match) if previous else {}
    sums_before = previous.select(f"{name}_sum", **match) if previous else {}
    counts_now = current.select(f"{name}_count", **match)
    total = 0.0
    for labels, value in current.select(f"{name}_sum", **match).items():
        reset = counts_now.get(labels, 0.0) < counts_before.get(labels, 0.0) or value < sums_before.get(labels, 0.0)
        total += value if reset else value - sums_before.get(labels, 0.0)
    return total


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over cumulative ``[(le, count)]`` sorted by ``le``.

    Linear interpolation inside the bucket holding the rank; the lowest bucket starts at 0 (when
    its bound is positive); a rank in the ``+Inf`` bucket answers the highest finite bound.
    ``None`` when there are no observations (PromQL answers NaN there).
    """
    if not buckets or not math.isinf(buckets[-1][0]):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    # Cumulative counts can be non-monotonic when series are scraped mid-update; PromQL
    # repairs that by carrying the maximum forward, and so do we.
    fixed: list[tuple[float, float]] = []
    highest = 0.0
    for bound, count in buckets:
        highest = max(highest, count)
        fixed.append((bound, highest))
    total = fixed[-1][1]
    if total <= 0:
        return None
    rank = q * total
    index = next(i for i, (_, count) in enumerate(fixed) if count >= rank)
    if index == len(fixed) - 1:
        return fixed[-2][0] if len(fixed) > 1 else None
    if index == 0 and fixed[0][0] <= 0:
        return fixed[0][0]
    lower_bound, lower_count = (0.0, 0.0) if index == 0 else fixed[index - 1]
    upper_bound, upper_count = fixed[index]
    in_bucket = upper_count - lower_count
    if in_bucket <= 0:
        return upper_bound
    return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / in_bucket
