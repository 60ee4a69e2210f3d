"""Plotly figures of a launch: metric lines (stable against canary) with SEV limits and markers,
the sequential test's evidence over a step, and the launch-day Gantt chart (planned against
actual). Used by the ops console and reusable by reports. Plain ``plotly.graph_objects``; no
pandas, no Streamlit.

Inputs are plain rows (dicts), as ``console.lib.data.bucketed_samples`` returns them, so a
caller can build them from any source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

ROLE_COLOURS = {"stable": "#1f77b4", "canary": "#ff7f0e"}
DASHES = ["solid", "dash", "dot", "dashdot"]
SEV_COLOURS = {"sev3": "#d4a017", "sev2": "#e8590c", "sev1": "#c92a2a"}
STATUS_COLOURS = {
    "done": "#2b8a3e",
    "running": "#1971c2",
    "failed": "#c92a2a",
    "skipped": "#868e96",
    "planned": "#ced4da",
    "missed": "#f08c00",
}


@dataclass(frozen=True)
class Marker:
    """A vertical line on a metric chart: a weight change or a rollback."""

    at: dt.datetime
    label: str
    kind: str = "weight"  # weight | rollback


def metric_figure(
    rows: Iterable[Mapping[str, Any]],
    metrics: Sequence[str],
    *,
    title: str,
    unit: str = "",
    scale: float = 1.0,
    thresholds: Mapping[str, float] | None = None,
    markers: Sequence[Marker] = (),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    height: int = 300,
) -> go.Figure:
    """Lines per (metric, version) from rows ``{at, version, metric, mean}``; values × ``scale``.

    ``thresholds`` maps ``sev3`` / ``sev2`` / ``sev1`` to a limit in the metric's own unit.
    """
    series: dict[tuple[str, str], tuple[list[dt.datetime], list[float]]] = {}
    wanted = set(metrics)
    for row in rows:
        if row["metric"] not in wanted:
            continue
        xs, ys = series.setdefault((row["metric"], row["version"]), ([], []))
        xs.append(row["at"])
        ys.append(row["mean"] * scale)
    fig = go.Figure()
    for (metric, version), (xs, ys) in sorted(series.items(), key=lambda kv: (metrics.index(kv[0][0]), kv[0][1])):
        name = f"{version} {metric.removeprefix('latency_')}" if len(metrics) > 1 else version
        fig.add_trace(
            go.Scattergl(
                x=xs, y=ys, mode="lines", name=name,
                line={"color": ROLE_COLOURS.get(version), "dash": DASHES[metrics.index(metric) % len(DASHES)],
                      "width": 1.5},
            )
        )
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for level, limit in sorted((thresholds or {}).items()):
        y = limit * scale
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
                       "line": {"color": SEV_COLOURS.get(level, "#888"), "dash": "dot", "width": 1}})
        annotations.append({"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": y, "yanchor": "bottom",
                            "text": f"{level.upper().replace('SEV', 'SEV-')} {y:g}{unit}", "showarrow": False,
                            "font": {"size": 10, "color": SEV_COLOURS.get(level, "#888")}})
    for marker in markers:
        if (since and marker.at < since) or (until and marker.at > until):
            continue
        colour = "#c92a2a" if marker.kind == "rollback" else "#495057"
        shapes.append({"type": "line", "xref": "x", "x0": marker.at, "x1": marker.at, "yref": "paper", "y0": 0,
                       "y1": 1, "line": {"color": colour, "dash": "dash" if marker.kind == "weight" else "solid",
                                         "width": 1}})
        annotations.append({"xref": "x", "x": marker.at, "yref": "paper", "y": 1, "yanchor": "bottom",
                            "text": marker.label, "showarrow": False, "textangle": -30,
                            "font": {"size": 9, "color": colour}})
    fig.update_layout(
        title={"text": title, "font": {"size": 14}}, height=height, margin={"l": 40, "r": 10, "t": 60, "b": 30},
        shapes=shapes, annotations=annotations, legend={"orientation": "h", "y": -0.15},
        yaxis={"ticksuffix": unit, "rangemode": "tozero"}, hovermode="x unified",
    )
    if since and until:
        fig.update_xaxes(range=[since, until])
    return fig


EVIDENCE_TESTS = {"error_rate": "error rate", "latency": "latency"}
EVIDENCE_SIDES = {"evidence_fail": ("of harm", "#c92a2a"), "evidence_pass": ("of safety", "#2b8a3e")}
EVIDENCE_RANGE = (1e-3, 1e6)  # drawn clipped: e-values run from ~0 to astronomically large


def evidence_step(decisions: Sequence[Mapping[str, Any]]) -> int | None:
    """The newest step whose decisions carry sequential evidence (None when none does)."""
    for d in reversed(decisions):
        if (d.get("details") or {}).get("sequential"):
            return d.get("step")
    return None


def evidence_figure(
    decisions: Sequence[Mapping[str, Any]], *, step: int | None = None, height: int = 280
) -> go.Figure | None:
    """The sequential test's e-values over one step's decisions, log scale, with the 1/alpha line.

    Evidence of harm reaching the line rolls the canary back; evidence of safety reaching it
    proves the canary no worse (early promotion). ``decisions`` as ``Store.decisions`` returns them;
    ``step`` defaults to the newest step with evidence. None when no decision carries any.
    """
    step = evidence_step(decisions) if step is None else step
    series: dict[tuple[str, str], tuple[list[Any], list[float]]] = {}
    threshold: float | None = None
    for d in decisions:
        if d.get("step") != step:
            continue
        for test, result in ((d.get("details") or {}).get("sequential") or {}).items():
            threshold = threshold or result.get("threshold")
            for side in EVIDENCE_SIDES:
                value = result.get(side)
                if isinstance(value, int | float):
                    xs, ys = series.setdefault((test, side), ([], []))
                    xs.append(d["at"])
                    ys.append(min(max(float(value), EVIDENCE_RANGE[0]), EVIDENCE_RANGE[1]))
    if not series:
        return None
    fig = go.Figure()
    for (test, side), (xs, ys) in sorted(series.items()):
        words, colour = EVIDENCE_SIDES[side]
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines+markers", name=f"{EVIDENCE_TESTS.get(test, test)}: evidence {words}",
                line={"color": colour, "dash": "solid" if test == "error_rate" else "dot", "width": 1.5},
                marker={"size": 4},
            )
        )
    shapes, annotations = [], []
    if threshold:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": threshold,
                       "y1": threshold, "line": {"color": "#495057", "dash": "dash", "width": 1}})
        annotations.append({"xref": "paper", "x": 0, "xanchor": "left", "yref": "y", "y": threshold,
                            "yanchor": "bottom", "showarrow": False, "font": {"size": 10, "color": "#495057"},
                            "text": f"decides at {threshold:g} (1/alpha)"})
    title = "Sequential test evidence" + (f", step {step + 1}" if step is not None else "")
    fig.update_layout(
        title={"text": title, "font": {"size": 14}}, height=height, margin={"l": 40, "r": 10, "t": 50, "b": 30},
        shapes=shapes, annotations=annotations, legend={"orientation": "h", "y": -0.2}, hovermode="x unified",
        yaxis={"type": "log", "title": "e-value", "range": [-3, 6]},
    )
    return fig


def gantt_figure(rows: Sequence[Mapping[str, Any]], *, now: dt.datetime | None = None, tz: Any = None,
                 height: int | None = None) -> go.Figure:
    """Planned against actual: rows ``{title, planned_start, planned_end, actual_start, actual_end, status}``."""
    def local(when: dt.datetime | None) -> dt.datetime | None:
        return when.astimezone(tz) if when is not None and tz is not None else when

    labels = [f"{r['title']} ({r['id']})" if r.get("id") else r["title"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=labels, base=[local(r["planned_start"]) for r in rows],
        x=[(r["planned_end"] - r["planned_start"]).total_seconds() * 1000 for r in rows],
        orientation="h", name="planned", marker={"color": STATUS_COLOURS["planned"]}, offsetgroup="planned",
        hovertemplate="%{y}<br>planned %{base|%H:%M}<extra></extra>",
    ))
    actual = [(label, r) for label, r in zip(labels, rows, strict=True) if r.get("actual_start")]
    for status in sorted({r["status"] for _, r in actual}):
        chosen = [(label, r) for label, r in actual if r["status"] == status]
        fig.add_trace(go.Bar(
            y=[label for label, _ in chosen], base=[local(r["actual_start"]) for _, r in chosen],
            x=[max(60_000.0, ((r["actual_end"] or now or r["actual_start"]) - r["actual_start"]).total_seconds() * 1000)
               for _, r in chosen],
            orientation="h", name=f"actual · {status}", marker={"color": STATUS_COLOURS.get(status, "#495057")},
            offsetgroup="actual", hovertemplate="%{y}<br>actual %{base|%H:%M}<extra>" + status + "</extra>",
        ))
    # The day's span, not "until now": viewed days later, the bars would shrink to slivers.
    times = [t for r in rows for t in (r["planned_start"], r["planned_end"], r.get("actual_start"), r.get("actual_end"))
             if t is not None]
    pad = dt.timedelta(minutes=20)
    start, end = (min(times) - pad, max(times) + pad) if times else (None, None)
    shapes = []
    if now is not None and (start is None or start <= now <= end):
        shapes.append({"type": "line", "xref": "x", "x0": local(now), "x1": local(now), "yref": "paper", "y0": 0,
                       "y1": 1, "line": {"color": "#c92a2a", "width": 1}})
    fig.update_layout(
        barmode="group", height=height or max(260, 28 * len(rows) + 80), shapes=shapes,
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis={"type": "date", **({"range": [local(start), local(end)]} if start is not None else {})},
        yaxis={"autorange": "reversed"}, legend={"orientation": "h", "y": 1.08},
    )
    return fig
