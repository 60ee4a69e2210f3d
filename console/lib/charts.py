"""Plotly figures of a launch for the ops console: metric lines (stable against canary) with SEV
limits and markers, the sequential test's evidence over a step, and the launch-day Gantt chart
(planned against actual). Plain ``plotly.graph_objects``; no pandas, no Streamlit.

They live in the console, not the core, because only the console draws plotly: the report's
inline SVG shares the plotly-free scale and markers from ``launch_control.review.chart_marks``.

Inputs are plain rows (dicts), as ``Store.bucketed_samples`` returns them, so a
caller can build them from any source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from launch_control.review.chart_marks import MARKER_COLOURS, Marker, dedupe_markers, y_scale
from launch_control.review.colours import ROLE_COLOURS, SEV_COLOURS

DASHES = ["solid", "dash", "dot", "dashdot"]
STATUS_COLOURS = {
    "done": "#2b8a3e",
    "running": "#1971c2",
    "failed": "#c92a2a",
    "skipped": "#868e96",
    "planned": "#ced4da",
    "missed": "#f08c00",
    "stopped": "#862e9c",
    "not recorded": "#adb5bd",
}
NO_DATA = "no data from the source"


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
    tz: Any = None,
    peaks: bool | Sequence[str] = True,
) -> go.Figure:
    """Lines per (metric, version) from rows ``{at, version, metric, mean[, max]}``; values × ``scale``.

    With ``peaks`` (True, or the metrics to draw them for) each bucket's highest value is drawn too
    (thin, dotted): the gate judges each interval, so a 27 % interval must show as 27 %, not as its
    bucket's 13 % mean. Times are drawn in
    ``tz`` (the plan's zone); ``thresholds`` maps ``sev3`` / ``sev2`` / ``sev1`` to a limit in the
    metric's own unit; a chart without a single row says so instead of drawing an empty axis.
    SVG lines (``Scatter``), not WebGL: a few hundred points per line, and headless or GPU-less
    browsers render WebGL in software, several times slower.
    """
    def local(when: dt.datetime) -> dt.datetime:
        # Wall-clock time in the plan's zone, without an offset: plotly.js drops offsets and would
        # otherwise draw UTC while every caption speaks the plan's zone.
        return when.astimezone(tz).replace(tzinfo=None) if tz is not None and when.tzinfo else when

    series: dict[tuple[str, str], tuple[list[dt.datetime], list[float], list[float]]] = {}
    wanted = set(metrics)
    for row in rows:
        if row["metric"] not in wanted:
            continue
        at_list, mean_list, peak_list = series.setdefault((row["metric"], row["version"]), ([], [], []))
        at_list.append(local(row["at"]))
        mean_list.append(row["mean"] * scale)
        peak = row.get("max")
        peak_list.append((peak if peak is not None else row["mean"]) * scale)
    fig = go.Figure()
    drawn: list[float] = []
    for (metric, version), (at_list, mean_list, peak_list) in sorted(
        series.items(), key=lambda kv: (metrics.index(kv[0][0]), kv[0][1])
    ):
        name = f"{version} {metric.removeprefix('latency_')}" if len(metrics) > 1 else version
        colour = ROLE_COLOURS.get(version)
        # numpy arrays: plotly validates and copies them whole, not element by element (5× faster)
        xs = np.array(at_list, dtype="datetime64[ms]")
        ys, tops = np.array(mean_list, dtype=float), np.array(peak_list, dtype=float)
        dash = DASHES[metrics.index(metric) % len(DASHES)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{name} mean", legendgroup=name,
                                   line={"color": colour, "dash": dash, "width": 1.5}))
        drawn += ys.tolist()
        wants_peak = peaks is True or (not isinstance(peaks, bool) and metric in peaks)
        if wants_peak and bool(np.any(tops > ys + 1e-12)):
            fig.add_trace(go.Scatter(x=xs, y=tops, mode="lines", name=f"{name} peak", legendgroup=name,
                                       opacity=0.45, line={"color": colour, "dash": "dot", "width": 1}))
            drawn += tops.tolist()
    top, shown, off = y_scale(drawn, {k: v * scale for k, v in (thresholds or {}).items()})
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for level, y in sorted(shown.items()):
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
                       "line": {"color": SEV_COLOURS.get(level, "#888"), "dash": "dot", "width": 1}})
        annotations.append({"xref": "paper", "x": 0, "xanchor": "left", "yref": "y", "y": y, "yanchor": "bottom",
                            "text": f"{level.upper().replace('SEV', 'SEV-')} {y:g}{unit}", "showarrow": False,
                            "font": {"size": 10, "color": SEV_COLOURS.get(level, "#888")}})
    if off:
        ordered = sorted(off.items(), key=lambda kv: kv[1])
        note = ", ".join(f"{k.upper().replace('SEV', 'SEV-')} {v:g}{unit}" for k, v in ordered)
        annotations.append({"xref": "paper", "x": 0, "xanchor": "left", "yref": "paper", "y": 1.0,
                            "yanchor": "bottom", "showarrow": False, "font": {"size": 10, "color": "#868e96"},
                            "text": f"off-scale above: {note}"})
    for marker in dedupe_markers(markers):
        if (since and marker.at < since) or (until and marker.at > until):
            continue
        colour = MARKER_COLOURS.get(marker.kind, "#495057")
        at = local(marker.at)
        shapes.append({"type": "line", "xref": "x", "x0": at, "x1": at, "yref": "paper", "y0": 0,
                       "y1": 1, "line": {"color": colour, "dash": "solid" if marker.kind == "rollback" else "dash",
                                         "width": 1}})
        annotations.append({"xref": "x", "x": at, "yref": "paper", "y": 0.98, "yanchor": "top", "xanchor": "left",
                            "text": marker.label, "showarrow": False, "textangle": -90,
                            "font": {"size": 9, "color": colour}})
    if not series:
        annotations.append({"xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False,
                            "text": NO_DATA, "font": {"size": 13, "color": "#868e96"}})
    fig.update_layout(
        title={"text": title, "font": {"size": 14}}, height=height, margin={"l": 50, "r": 10, "t": 50, "b": 30},
        shapes=shapes, annotations=annotations, legend={"orientation": "h", "y": -0.18},
        yaxis={"ticksuffix": unit, "range": [0, top]}, hovermode="x unified",
    )
    if since and until:
        fig.update_xaxes(range=[local(since), local(until)], type="date")
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
    if now is not None and (start is None or end is None or start <= now <= end):
        shapes.append({"type": "line", "xref": "x", "x0": local(now), "x1": local(now), "yref": "paper", "y0": 0,
                       "y1": 1, "line": {"color": "#c92a2a", "width": 1}})
    fig.update_layout(
        barmode="group", height=height or max(260, 28 * len(rows) + 80), shapes=shapes,
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis={"type": "date", **({"range": [local(start), local(end)]} if start is not None else {})},
        yaxis={"autorange": "reversed"}, legend={"orientation": "h", "y": 1.08},
    )
    return fig
