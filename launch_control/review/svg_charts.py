"""The review report's charts as inline SVG (no scripts, no network): one line per version,
dashed SEV limits, weight and rollback markers, series thinned to ``MAX_POINTS`` keeping each
bucket's worst value. Scaled as the console's plotly charts are (``review.chart_marks.y_scale``,
shared with ``launch_control.console.lib.charts``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from launch_control.review.chart_marks import MARKER_COLOURS, Marker, dedupe_markers, ttr_label, y_scale
from launch_control.review.colours import ROLE_COLOURS, SEV_COLOURS
from launch_control.review.markup import Clock, e

MAX_POINTS = 300  # per series in a chart: the file stays small for a 72-hour launch


def downsample(points: Sequence[tuple[dt.datetime, float]]) -> list[tuple[dt.datetime, float]]:
    if len(points) <= MAX_POINTS:
        return list(points)
    size = len(points) / MAX_POINTS
    out = []
    for i in range(MAX_POINTS):
        chunk = points[int(i * size): int((i + 1) * size)] or [points[-1]]
        # keep each bucket's worst (largest) value: a spike must survive the thinning
        out.append(max(chunk, key=lambda p: p[1]))
    return out


def svg_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[dt.datetime, float]]],
    *,
    limits: dict[str, float] | None = None,
    markers: Iterable[tuple[dt.datetime, str, str]] = (),
    unit: str = "",
    clock: Clock | None = None,
    width: int = 1000,
    height: int = 250,
    span: tuple[dt.datetime, dt.datetime] | None = None,
) -> str:
    """An inline SVG line chart: one line per series, dashed horizontal limits, vertical markers.

    Scaled as the console's charts are (``chart_marks.y_scale``): the axis follows the data, limits far
    above it are listed as off-scale rather than squashing the lines flat. The legend sits above the
    plot, the SEV labels at the plot's left edge, so neither covers the other. ``span`` is the time
    axis (the launch window, shared by every chart); without it the samples' own first and last time.
    """
    left, right, top, bottom = 60, 20, 40, 30
    points = [p for s in series.values() for p in s]
    if not points:
        return f"<p class='muted'>{e(title)}: no data from the source.</p>"
    t0, t1 = span or (min(p[0] for p in points), max(p[0] for p in points))
    if t1 <= t0:  # a single sample: give the axis an hour so both ends do not read the same time
        t0, t1 = t0 - dt.timedelta(minutes=30), t1 + dt.timedelta(minutes=30)
    seconds = (t1 - t0).total_seconds()
    y_max, shown, off = y_scale([p[1] for p in points if t0 <= p[0] <= t1], limits)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: dt.datetime) -> float:
        return left + (t - t0).total_seconds() / seconds * plot_w

    def y(v: float) -> float:
        return top + plot_h - (min(v, y_max) / y_max) * plot_h

    def fmt(v: float) -> str:
        if unit == "ratio":
            return f"{v * 100:.3g}%"
        if unit == "duration":
            return f"{v * 1000:.3g} ms" if v < 1 else f"{v:.3g} s"
        return f"{v:.3g}"

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{e(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{e(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#adb5bd"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#adb5bd"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        v = y_max * frac
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{e(fmt(v))}</text>')
    label = clock or (lambda t, f="%H:%M": t.strftime(f))
    fmt_t = "%a %H:%M" if seconds > 3600 else "%H:%M:%S"
    for t, anchor in ((t0, "start"), (t0 + (t1 - t0) / 2, "middle"), (t1, "end")):
        parts.append(
            f'<text x="{x(t):.1f}" y="{height - 8}" font-size="10" text-anchor="{anchor}">{e(label(t, fmt_t))}</text>'
        )
    for name, limit in sorted(shown.items()):
        colour = SEV_COLOURS.get(name, "#868e96")
        parts.append(
            f'<line x1="{left}" y1="{y(limit):.1f}" x2="{left + plot_w}" y2="{y(limit):.1f}" stroke="{colour}" '
            f'stroke-dasharray="6 4"/><text x="{left + 4}" y="{y(limit) - 3:.1f}" font-size="10" '
            f'fill="{colour}">{e(name.upper().replace("SEV", "SEV-"))} {e(fmt(limit))}</text>'
        )
    if off:
        ordered = sorted(off.items(), key=lambda kv: kv[1])
        note = ", ".join(f"{k.upper().replace('SEV', 'SEV-')} {fmt(v)}" for k, v in ordered)
        parts.append(f'<text x="{left + plot_w}" y="16" font-size="10" text-anchor="end" fill="#868e96">'
                     f'off-scale above: {e(note)}</text>')
    for when, text, colour in markers:
        if t0 <= when <= t1:
            parts.append(
                f'<line x1="{x(when):.1f}" y1="{top}" x2="{x(when):.1f}" y2="{top + plot_h}" stroke="{colour}" '
                f'stroke-dasharray="2 3"><title>{e(text)}</title></line>'
                f'<text x="{x(when) + 3:.1f}" y="{top + 10}" font-size="9" fill="{colour}">{e(text)}</text>'
            )
    legend_x = left
    for i, (name, data) in enumerate(series.items()):
        colour = ROLE_COLOURS.get(name, ["#2f9e44", "#7048e8", "#1098ad"][i % 3])
        thinned = downsample([p for p in data if t0 <= p[0] <= t1])
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in thinned)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}"/>')
        parts.append(f'<text x="{legend_x}" y="32" font-size="11" fill="{colour}">■ {e(name)}</text>')
        legend_x += 14 + 7 * len(name) + 20
    parts.append("</svg>")
    return "".join(parts)


def chart_markers(store: Any, decisions: list[dict[str, Any]]) -> list[tuple[dt.datetime, str, str]]:
    marks = []
    weight = None
    for d in decisions:
        if d["weight"] is not None and d["weight"] != weight:
            weight = d["weight"]
            marks.append(Marker(d["at"], f"{weight:g}%", "weight"))
    for r in store.rollbacks():
        marks.append(Marker(r["started_at"], ttr_label(r["ttr_seconds"]), "rollback"))
    return [(m.at, m.label, MARKER_COLOURS[m.kind]) for m in dedupe_markers(marks)]


def metric_charts(plan: Any, store: Any, clock: Clock, decisions: list[dict[str, Any]]) -> str:
    from launch_control.plan.model import METRICS

    names = list(dict.fromkeys([*plan.analysis.metrics, "request_rate"]))
    samples = store.samples(metrics=names)
    by_metric: dict[str, dict[str, list[tuple[dt.datetime, float]]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        by_metric[s.metric][s.version].append((s.at, s.value))
    markers = chart_markers(store, decisions)
    times = [s.at for s in samples]
    state = store.state()
    start = state.get("launch_started_at") or (min(times) if times else None)
    # One time axis for every chart: the launch window (its start to the last sample or marker).
    span = (start, max([*times, *(m[0] for m in markers)])) if start and times else None
    charts = []
    for name in names:
        if name not in by_metric:
            continue
        threshold = plan.analysis.metrics.get(name)
        limits = {lv: getattr(threshold, lv) for lv in ("sev3", "sev2", "sev1") if threshold and getattr(threshold, lv)}
        unit = METRICS[name].value if name in METRICS else ""
        charts.append(svg_chart(name, by_metric[name], limits=limits, markers=markers, unit=unit, clock=clock,
                                span=span))
    return "".join(charts) or "<p class='muted'>No metric samples were recorded.</p>"
