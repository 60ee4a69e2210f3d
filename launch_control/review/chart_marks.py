"""The plotly-free parts of a launch chart, shared by the console's plotly figures
(``launch_control.console.lib.charts``) and the report's inline SVG (``review.svg_charts``): the
markers drawn on a metric chart, their dedupe and wording, and the y-axis scale that keeps limits
far above the data off the axis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Marker:
    """A vertical line on a metric chart: a weight change, a rollback or a console action."""

    at: dt.datetime
    label: str
    kind: str = "weight"  # weight | rollback | action


MARKER_COLOURS = {"weight": "#495057", "rollback": "#c92a2a", "action": "#7048e8"}
HEADROOM = 1.15  # the y-axis top above the highest value drawn


def dedupe_markers(markers: Iterable[Marker], within: float = 60.0) -> list[Marker]:
    """Each marker once: the same label within ``within`` seconds (an audit row and a gate decision
    for one weight change) is drawn a single time. Sorted by time."""
    out: list[Marker] = []
    for marker in sorted(markers, key=lambda m: m.at):
        if any(m.label == marker.label and abs((m.at - marker.at).total_seconds()) <= within for m in out[-8:]):
            continue
        out.append(marker)
    return out


def ttr_label(ttr_seconds: float | None) -> str:
    """How a rollback marker names its TTR: the measured figure, or plainly that none was verified."""
    if ttr_seconds is None:
        return "rollback (TTR not verified)"
    return f"rollback TTR {ttr_seconds:.1f} s" if ttr_seconds < 100 else f"rollback TTR {ttr_seconds:.0f} s"


def y_scale(values: Iterable[float], thresholds: Mapping[str, float] | None = None
            ) -> tuple[float, dict[str, float], dict[str, float]]:
    """(axis top, thresholds inside the axis, thresholds off-scale) for data already in display units.

    The axis follows the data, so 3 ms latencies are not squashed flat under a 10 s SEV-1 line; a
    limit close above the data (within 1.5× of the top) is still brought into view, farther ones
    are listed as off-scale instead of drawn.
    """
    finite = [v for v in values if v == v and v not in (float("inf"), float("-inf"))]
    top = max(finite, default=0.0) * HEADROOM
    limits = dict(thresholds or {})
    near = [v for v in limits.values() if top > 0 and v <= top * 1.5]
    if near:
        top = max(top, max(near) * 1.05)
    if top <= 0:  # no data (or all zero): show the lowest limit, else a unit axis
        top = min(limits.values(), default=1.0) * 1.05 if limits else 1.0
    shown = {k: v for k, v in limits.items() if v <= top}
    off = {k: v for k, v in limits.items() if v > top}
    return top, shown, off
