"""Backtesting: replay a recorded launch's samples through a plan's analysis settings.

Recorded samples (``Store.samples``: one row per time, version role and metric) are regrouped
into one ``Observation`` per analysis interval; recorded gate decisions say which ramp step each
interval belonged to. Every step is then judged afresh by a ``Gate`` built from the analysis
settings under test, and the replay reports per step when the gate would first have held, failed,
rolled back or promoted early — next to what was recorded — so a team can tune thresholds on
real launches before launch day.

Samples carry the per-interval numbers only (no latency histograms), so the replay runs the
absolute limits, compare-to-stable and the sequential *error-rate* test; the latency sequential
test needs histograms and is reported as not replayable.

Files: ``export_samples`` writes CSV (``at,version,metric,value,step,weight``) or JSON
(``{"launch_id", "samples": [...], "decisions": [...]}``); ``load_samples_file`` reads both back.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launch_control.errors import UsageError
from launch_control.plan.metrics import COUNTS, SAMPLE_METRICS, WINDOW_METRICS
from launch_control.ramp.analysis import Gate, Verdict
from launch_control.ramp.observations import (
    BUCKET_PREFIX,
    ROLES,
    Observation,
    VersionWindow,
    buckets_from_samples,
)

# A window's numbers from the stored samples: the counts as whole requests, the rest as measured.
_WINDOW_FIELDS = tuple(m for m in WINDOW_METRICS if m not in COUNTS)


@dataclass
class Row:
    """One recorded sample, with the step it was judged in (None when unknown)."""

    at: dt.datetime
    version: str
    metric: str
    value: float
    step: int | None = None
    weight: float | None = None


@dataclass
class StepReplay:
    step: int | None
    weight: float | None
    verdicts: list[tuple[dt.datetime, Verdict]] = field(default_factory=list)
    recorded: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None  # "rollback" / "promote" when the replay would have ended the step
    recorded_intervals: int = 0  # intervals recorded in this step (the replay may stop earlier)

    def first(self, outcome: str) -> tuple[dt.datetime, Verdict] | None:
        return next(((at, v) for at, v in self.verdicts if v.outcome == outcome), None)

    def first_flag(self, flag: str) -> tuple[dt.datetime, Verdict] | None:
        return next(((at, v) for at, v in self.verdicts if getattr(v, flag)), None)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "hold": 0, "fail": 0}
        for _, v in self.verdicts:
            out[v.outcome] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        def when(item: tuple[dt.datetime, Verdict] | None) -> dict[str, Any] | None:
            if item is None:
                return None
            at, v = item
            return {"at": at.isoformat(), "outcome": v.outcome, "reason": v.reason, "severity": v.severity}

        recorded_counts: dict[str, int] = {}
        for d in self.recorded:
            recorded_counts[d["verdict"]] = recorded_counts.get(d["verdict"], 0) + 1
        return {
            "step": self.step,
            "weight": self.weight,
            "intervals": len(self.verdicts),
            "recorded_intervals": self.recorded_intervals,
            "counts": self.counts(),
            "first_hold": when(self.first("hold")),
            "first_fail": when(self.first("fail")),
            "rollback": when(self.first_flag("rollback")),
            "promote": when(self.first_flag("promote")),
            "recorded": recorded_counts,
            "recorded_last": self.recorded[-1]["reason"] if self.recorded else None,
        }


# --- rows from the store and from files ----------------------------------------------------------------


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def assign_steps(rows: list[Row], decisions: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Give each sample the step of the decision that judged it: the first decision at or after it."""
    judged = sorted(
        ((_aware(d["at"]), d.get("step"), d.get("weight")) for d in decisions if d.get("at") is not None),
        key=lambda t: t[0],
    )
    if not judged:
        return rows
    i = 0
    for row in sorted(rows, key=lambda r: r.at):
        while i < len(judged) - 1 and judged[i][0] < row.at - dt.timedelta(seconds=1):
            i += 1
        if row.step is None:
            row.step, row.weight = judged[i][1], judged[i][2]
    return rows


def rows_from_store(store: Any) -> tuple[list[Row], list[dict[str, Any]]]:
    samples = store.samples()
    decisions = store.decisions()
    rows = [Row(_aware(s.at), s.version, s.metric, float(s.value)) for s in samples]
    return assign_steps(rows, decisions), decisions


def export_samples(store: Any, path: str | Path) -> int:
    """Write the launch's samples (with their steps) to CSV or JSON by the file's extension."""
    rows, decisions = rows_from_store(store)
    target = Path(path)
    if target.suffix.lower() not in (".csv", ".json"):
        raise UsageError(f"{target}: give a file ending in .csv or .json")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".csv":
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["at", "version", "metric", "value", "step", "weight"])
            for r in rows:
                writer.writerow([r.at.isoformat(), r.version, r.metric, repr(r.value),
                                 "" if r.step is None else r.step, "" if r.weight is None else r.weight])
    else:
        data = {
            "launch_id": store.launch_id,
            "samples": [
                {"at": r.at.isoformat(), "version": r.version, "metric": r.metric, "value": r.value,
                 "step": r.step, "weight": r.weight}
                for r in rows
            ],
            "decisions": [
                {"at": _aware(d["at"]).isoformat(), "step": d.get("step"), "weight": d.get("weight"),
                 "verdict": d["verdict"], "reason": d["reason"], "severity": d.get("severity")}
                for d in decisions
            ],
        }
        target.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return len(rows)


def _parse_time(text: Any, where: str) -> dt.datetime:
    try:
        return _aware(dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00")))
    except ValueError:
        raise UsageError(f"{where}: 'at' must be an ISO time such as 2025-06-01T09:00:00+00:00, got {text!r}") from None


def _optional_number(text: Any, where: str, name: str) -> float | None:
    if text is None or str(text).strip() == "":
        return None
    return _parse_number(text, where, name)


def _parse_number(text: Any, where: str, name: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: {name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{where}: {name} must be a finite number, got {text!r}")
    return value


def _row(item: Mapping[str, Any], where: str) -> Row:
    missing = [k for k in ("at", "version", "metric", "value") if item.get(k) in (None, "")]
    if missing:
        raise UsageError(f"{where}: missing {', '.join(missing)} (each sample needs at, version, metric, value)")
    version = str(item["version"])
    if version not in ROLES:
        raise UsageError(f"{where}: version must be one of {', '.join(ROLES)} (got {version!r})")
    step = _optional_number(item.get("step"), where, "step")
    return Row(
        at=_parse_time(item["at"], where),
        version=version,
        metric=str(item["metric"]),
        value=_parse_number(item["value"], where, "value"),
        step=None if step is None else int(step),
        weight=_optional_number(item.get("weight"), where, "weight"),
    )


def load_samples_file(path: str | Path) -> tuple[list[Row], list[dict[str, Any]]]:
    """Read an exported CSV or JSON sample file; bad content raises UsageError naming the line."""
    source = Path(path)
    if not source.exists():
        raise UsageError(f"{source}: no such file; export one with: launch-control export-samples --out {source}")
    text = source.read_text(encoding="utf-8")
    decisions: list[dict[str, Any]] = []
    if source.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        items = data.get("samples") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise UsageError(f"{source}: expected a list of samples or {{\"samples\": [...]}}")
        rows = [_row(item, f"{source}: sample {i + 1}") if isinstance(item, dict) else
                _bad(f"{source}: sample {i + 1} is not an object") for i, item in enumerate(items)]
        for d in (data.get("decisions") or []) if isinstance(data, dict) else []:
            decisions.append({**d, "at": _parse_time(d.get("at"), f"{source}: decision")})
    else:
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"at", "version", "metric", "value"} <= set(reader.fieldnames):
            raise UsageError(f"{source}: a CSV sample file needs the columns at,version,metric,value[,step,weight]")
        rows = [_row(item, f"{source}: line {i + 2}") for i, item in enumerate(reader)]
    if any(r.step is None for r in rows) and decisions:
        assign_steps(rows, decisions)
    return rows, decisions


def _bad(message: str) -> Row:
    raise UsageError(message)


# --- observations and replay -------------------------------------------------------------------------------


def observations(rows: Iterable[Row], interval: float) -> list[tuple[int | None, float | None, Observation]]:
    """One observation per recorded time, with its step: (step, weight, observation), in time order."""
    grouped: dict[dt.datetime, dict[str, dict[str, float]]] = {}
    histograms: dict[tuple[dt.datetime, str], dict[float, float]] = {}
    steps: dict[dt.datetime, tuple[int | None, float | None]] = {}
    for r in rows:
        if r.metric.startswith(BUCKET_PREFIX):
            try:
                bound = float(r.metric.removeprefix(BUCKET_PREFIX))
            except ValueError:
                continue
            histograms.setdefault((r.at, r.version), {})[bound] = r.value
            continue
        if r.metric not in SAMPLE_METRICS:
            continue
        grouped.setdefault(r.at, {}).setdefault(r.version, {})[r.metric] = r.value
        if r.step is not None or r.at not in steps:
            steps[r.at] = (r.step, r.weight)
    bounds = sorted({b for stored in histograms.values() for b in stored})  # the source's bounds
    out = []
    for at in sorted(grouped):
        windows: dict[str, VersionWindow | None] = {}
        for role in ROLES:
            values = grouped[at].get(role)
            if values is None or "requests" not in values:
                windows[role] = None
                continue
            kwargs: dict[str, Any] = {k: int(round(values.get(k, 0.0))) for k in COUNTS}
            kwargs.update({k: values[k] for k in _WINDOW_FIELDS if k in values})
            stored = histograms.get((at, role))
            if stored:
                kwargs["latency_buckets"] = buckets_from_samples(stored, values["requests"], bounds)
            windows[role] = VersionWindow(**kwargs)
        step, weight = steps.get(at, (None, None))
        out.append((step, weight, Observation(at=at, interval=interval, stable=windows["stable"],
                                              canary=windows["canary"], source="backtest",
                                              weight=weight)))  # as the engine stamped it
    return out


def replay(analysis: Any, rows: list[Row], decisions: Sequence[Mapping[str, Any]] = ()) -> list[StepReplay]:
    """Judge every recorded interval, step by step, with a fresh gate per step."""
    result: list[StepReplay] = []
    gate = Gate(analysis)
    current: StepReplay | None = None
    for step, weight, obs in observations(rows, analysis.interval):
        if current is None or step != current.step:
            gate.reset()
            current = StepReplay(step=step, weight=weight)
            current.recorded = [dict(d) for d in decisions if d.get("step") == step]
            result.append(current)
        current.recorded_intervals += 1
        if current.stopped:
            continue  # the gate would already have ended this step
        verdict = gate.judge(obs)
        current.verdicts.append((obs.at, verdict))
        if verdict.rollback:
            current.stopped = "rollback"
        elif verdict.promote:
            current.stopped = "promote"
    return result


def override(analysis: Any, settings: Sequence[str]) -> Any:
    """The analysis settings with ``KEY=VALUE`` overrides (``sequential.alpha=0.01``, ``failure_limit=3``)."""
    if not settings:
        return analysis
    import yaml
    from pydantic import ValidationError

    data = analysis.model_dump(mode="python")
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: write KEY=VALUE, e.g. --set sequential.alpha=0.01")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise UsageError(f"--set {item!r}: analysis has no section {part!r}")
            node = node[part]
        if parts[-1] not in node and parts[0] != "metrics":
            raise UsageError(f"--set {item!r}: analysis has no setting {key.strip()!r}")
        node[parts[-1]] = yaml.safe_load(raw)
    try:
        return type(analysis).model_validate(data)
    except (ValidationError, ValueError) as exc:
        raise UsageError(f"--set: the analysis settings are not valid: {exc}") from None
