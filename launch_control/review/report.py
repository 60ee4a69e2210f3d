"""The post-launch review report: one self-contained HTML file (inline CSS and SVG, no scripts,
no network) with the timeline planned against actual, metric charts with SEV limits and step
markers, every gate decision with its reason, rollbacks with TTR, incidents with durations and
response times, notifications, checklist completion and the success-criteria verdict.

``render_report(plan, store)`` returns the HTML; ``launch-control report --out report.html``
writes it and the console offers it as a download.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from launch_control.plan.units import format_duration
from launch_control.review.colours import INCIDENT_COLOURS, ROLE_COLOURS, SEV_COLOURS

VERDICT_COLOURS = {"pass": "#2b8a3e", "fail": "#c92a2a", "pending": "#868e96", "hold": "#f08c00"}
OK_MARK, BAD_MARK = "<span class='ok'>{}</span>", "<span class='bad'>{}</span>"
MAX_POINTS = 300  # per series in a chart: the file stays small for a 72-hour launch

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;
color:#212529}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #dee2e6;padding-bottom:.3rem;margin-top:2.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{border-bottom:1px solid #dee2e6;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f5} .muted{color:#868e96} .num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:4px;padding:0 .45rem;color:#fff;font-weight:600;font-size:.85rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #dee2e6;border-radius:6px;padding:.6rem 1rem;min-width:150px}
.card b{display:block;font-size:1.4rem} svg{background:#fff;border:1px solid #e9ecef;margin:.4rem 0}
.ok{color:#2b8a3e;font-weight:600} .bad{color:#c92a2a;font-weight:600}
@media print{h2{page-break-after:avoid}}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def badge(text: str, colour: str | None = None) -> str:
    colour = colour or VERDICT_COLOURS.get(text, "#495057")
    return f'<span class="badge" style="background:{colour}">{e(text)}</span>'


def dur(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(max(0.0, float(seconds)))


class _Clock:
    def __init__(self, plan: Any):
        self.tz = plan.timeline.tz

    def __call__(self, when: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return "—" if when is None else when.astimezone(self.tz).strftime(fmt)


# --- sections --------------------------------------------------------------------------------------


def _criteria(plan: Any, store: Any) -> tuple[str, str]:
    try:
        from launch_control.review.criteria import evaluate

        report = evaluate(plan, store)
    except Exception as exc:  # the review must still open when one section cannot be computed
        return "pending", f'<p class="bad">Success criteria could not be evaluated: {e(exc)}</p>'
    parts = []
    for category in ("technical", "operational", "business"):
        results = report.category(category)
        if not results:
            continue
        rows = "".join(
            f"<tr><td>{e(r.title)}</td><td>{e(r.shown_target)}</td><td class='num'>{e(r.shown_value)}</td>"
            f"<td>{badge(r.status)}</td><td class='muted'>{e(r.note)}</td></tr>"
            for r in results
        )
        parts.append(
            f"<h3>{category.title()} {badge(report.category_verdict(category))}</h3>"
            "<table><tr><th>Criterion</th><th>Target</th><th>Value</th><th>Verdict</th><th>Note</th></tr>"
            f"{rows}</table>"
        )
    return report.verdict, "".join(parts)


def _launch_date(plan: Any, store: Any) -> dt.date:
    if plan.timeline.date:
        return plan.timeline.date
    started = store.state().get("launch_started_at")
    events = store.timeline_events()
    first = started or (events[0]["at"] if events else None)
    return (first or dt.datetime.now(dt.UTC)).astimezone(plan.timeline.tz).date()


def _timeline(plan: Any, store: Any, clock: _Clock) -> str:
    day = _launch_date(plan, store)
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in store.timeline_events():
        events[event["entry_id"]].append(event)
    rows = []
    for entry in plan.timeline.entries:
        planned = plan.timeline.planned_at(entry, day)
        mine = events.get(entry.id, [])
        started = next((ev["at"] for ev in mine if ev["status"] in ("running", "done", "failed")), None)
        final = mine[-1] if mine else None
        status = final["status"] if final else ("planned" if planned > dt.datetime.now(dt.UTC) else "not run")
        delta = "" if started is None else f"{(started - planned).total_seconds() / 60:+.0f} min"
        colour = {"done": "#2b8a3e", "failed": "#c92a2a", "running": "#1971c2"}.get(status, "#868e96")
        rows.append(
            f"<tr><td>{e(entry.title)}</td><td>{e(entry.action)}</td><td>{clock(planned, '%a %H:%M')}</td>"
            f"<td>{clock(started, '%a %H:%M:%S')}</td><td class='num'>{e(delta)}</td><td>{badge(status, colour)}</td>"
            f"<td class='muted'>{e(final['detail'] if final else '')}</td></tr>"
        )
    return (
        f"<p class='muted'>Launch day {day.isoformat()} ({e(plan.timeline.timezone)}).</p>"
        "<table><tr><th>Entry</th><th>Action</th><th>Planned</th><th>Actual start</th><th>Δ</th><th>Status</th>"
        f"<th>Detail</th></tr>{''.join(rows)}</table>"
    )


def _downsample(points: Sequence[tuple[dt.datetime, float]]) -> list[tuple[dt.datetime, float]]:
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
    clock: _Clock | None = None,
    width: int = 1000,
    height: int = 250,
    span: tuple[dt.datetime, dt.datetime] | None = None,
) -> str:
    """An inline SVG line chart: one line per series, dashed horizontal limits, vertical markers.

    Scaled as the console's charts are (``charts.y_scale``): the axis follows the data, limits far
    above it are listed as off-scale rather than squashing the lines flat. The legend sits above the
    plot, the SEV labels at the plot's left edge, so neither covers the other. ``span`` is the time
    axis (the launch window, shared by every chart); without it the samples' own first and last time.
    """
    from launch_control.review.charts import y_scale

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
        thinned = _downsample([p for p in data if t0 <= p[0] <= t1])
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in thinned)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}"/>')
        parts.append(f'<text x="{legend_x}" y="32" font-size="11" fill="{colour}">■ {e(name)}</text>')
        legend_x += 14 + 7 * len(name) + 20
    parts.append("</svg>")
    return "".join(parts)


def _markers(store: Any, decisions: list[dict[str, Any]]) -> list[tuple[dt.datetime, str, str]]:
    from launch_control.review.charts import MARKER_COLOURS, Marker, dedupe_markers, ttr_label

    marks = []
    weight = None
    for d in decisions:
        if d["weight"] is not None and d["weight"] != weight:
            weight = d["weight"]
            marks.append(Marker(d["at"], f"{weight:g}%", "weight"))
    for r in store.rollbacks():
        marks.append(Marker(r["started_at"], ttr_label(r["ttr_seconds"]), "rollback"))
    return [(m.at, m.label, MARKER_COLOURS[m.kind]) for m in dedupe_markers(marks)]


def _charts(plan: Any, store: Any, clock: _Clock, decisions: list[dict[str, Any]]) -> str:
    from launch_control.plan.model import METRICS

    names = list(dict.fromkeys([*plan.analysis.metrics, "request_rate"]))
    samples = store.samples(metrics=names)
    by_metric: dict[str, dict[str, list[tuple[dt.datetime, float]]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        by_metric[s.metric][s.version].append((s.at, s.value))
    markers = _markers(store, decisions)
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


def _decisions(decisions: list[dict[str, Any]], clock: _Clock) -> str:
    if not decisions:
        return "<p class='muted'>No gate decisions were recorded.</p>"
    counts: defaultdict[str, int] = defaultdict(int)
    for d in decisions:
        counts[d["verdict"]] += 1
    rows = "".join(
        f"<tr><td>{clock(d['at'])}</td><td class='num'>{'' if d['step'] is None else d['step'] + 1}</td>"
        f"<td class='num'>{'' if d['weight'] is None else format(d['weight'], 'g') + '%'}</td>"
        f"<td>{badge(d['verdict'])}</td><td>{e(d['severity'] or '')}</td><td>{e(d['reason'])}</td></tr>"
        for d in decisions
    )
    summary = " · ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    return (
        f"<p>{e(summary)}</p><table><tr><th>At</th><th>Step</th><th>Weight</th><th>Verdict</th><th>SEV</th>"
        f"<th>Reason</th></tr>{rows}</table>"
    )


def _ttr_cell(row: dict[str, Any]) -> str:
    from launch_control.ramp.rollback import ttr_words

    return ttr_words(row).removeprefix("TTR ")


def _rollbacks(plan: Any, store: Any, clock: _Clock) -> str:
    rollbacks = store.rollbacks()
    if not rollbacks:
        return "<p class='muted'>No rollbacks.</p>"
    budget = plan.rollback.ttr_budget
    rows = []
    for r in rollbacks:
        ttr = r["ttr_seconds"]
        within = ttr is not None and ttr <= budget and r["ok"] is not False
        verdict = OK_MARK.format("within budget") if within else BAD_MARK.format("over budget / unverified")
        rows.append(
            f"<tr><td>{clock(r['started_at'])}</td><td>{e(r['trigger'])}</td><td>{e(r['actor'])}</td>"
            f"<td>{e(r['reason'])}</td><td>{e(r['target_version'])}</td>"
            f"<td class='num ttr'>{e(_ttr_cell(r))}</td><td>{verdict}</td></tr>"
        )
    return (
        f"<p>TTR budget {dur(budget)}.</p><table><tr><th>Started</th><th>Trigger</th><th>By</th><th>Reason</th>"
        f"<th>Target</th><th>TTR</th><th>Verdict</th></tr>{''.join(rows)}</table>"
    )


def _incidents(plan: Any, store: Any, clock: _Clock) -> str:
    from launch_control.respond.incidents import response_times

    incidents = store.incidents()
    if not incidents:
        return "<p class='muted'>No incidents.</p>"
    rows = []
    for i in incidents:
        t = response_times(plan, i)

        def met(flag: bool | None) -> str:
            return "" if flag is None else " " + (OK_MARK.format("✓") if flag else BAD_MARK.format("✗ missed"))

        rollback = (i["details"] or {}).get("rollback") or {}
        rb = f"TTR {rollback['ttr_seconds']:.2f} s" if rollback.get("ttr_seconds") is not None else (
            "requested" if rollback else "")
        rows.append(
            f"<tr id='incident-{i['id']}'><td>#{i['id']}</td>"
            f"<td>{badge(i['severity'], INCIDENT_COLOURS.get(i['severity']))}</td>"
            f"<td>{e(i['summary'])}<div class='muted'>{e(i['cause'])}</div></td><td>{e(i['status'])}</td>"
            f"<td>{clock(i['opened_at'])}<div class='muted'>{e(i['opened_by'])}</div></td>"
            f"<td class='num'>{dur(t.duration)}</td>"
            f"<td class='num'>{dur(t.time_to_acknowledge)}{met(t.acknowledge_met)}"
            f"<div class='muted'>{e(i['acknowledged_by'] or '')}</div></td>"
            f"<td class='num'>{dur(t.time_to_resolve)}{met(t.resolve_met)}"
            f"<div class='muted'>{e(i['resolved_by'] or '')}</div></td>"
            f"<td class='num'>{dur(t.target)}</td><td>{e(i['escalated_to'] or '')}</td><td>{e(rb)}</td></tr>"
        )
    times = [response_times(plan, i).time_to_resolve for i in incidents if i["resolved_at"]]
    resolved = [t for t in times if t is not None]  # a resolved incident has one
    avg = sum(resolved) / len(resolved) if resolved else None
    return (
        f"<p>{len(incidents)} incident(s); average time to resolve {dur(avg)}.</p>"
        "<table><tr><th>#</th><th>SEV</th><th>Summary / cause</th><th>Status</th><th>Opened</th><th>Duration</th>"
        "<th>To acknowledge</th><th>To resolve</th><th>Target</th><th>Escalated to</th><th>Rollback</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _notifications(store: Any) -> str:
    rows = store.notifications()
    if not rows:
        return "<p class='muted'>No notifications were sent.</p>"
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"sent": 0, "failed": 0, "skipped": 0})
    for n in rows:
        skipped = n["attempts"] == 0 and n["error"].startswith("skipped")
        outcome = "sent" if n["ok"] else "skipped" if skipped else "failed"
        table[n["channel"]][outcome] += 1
    body = "".join(
        f"<tr><td>{e(name)}</td><td class='num'>{c['sent']}</td><td class='num'>{c['failed']}</td>"
        f"<td class='num'>{c['skipped']}</td></tr>"
        for name, c in sorted(table.items())
    )
    head = "<tr><th>Channel</th><th>Sent</th><th>Failed</th><th>Skipped (not configured)</th></tr>"
    return f"<table>{head}{body}</table>"


def _checklist(plan: Any, store: Any, clock: _Clock) -> str:
    ticks = store.checklist()
    checks = store.check_results()
    parts = []
    for phase, items in plan.checklist.sections():
        if not items:
            continue
        done = sum(1 for item in items if ticks.get(item.id, {}).get("ticked"))
        rows = "".join(
            f"<tr><td>{'☑' if ticks.get(item.id, {}).get('ticked') else '☐'}</td><td>{e(item.title)}</td>"
            f"<td>{e(item.owner)}</td><td>{e(ticks.get(item.id, {}).get('actor', ''))} "
            f"<span class='muted'>{clock(ticks[item.id]['at']) if item.id in ticks else ''}</span></td>"
            f"<td>{'' if item.id not in checks else badge('pass' if checks[item.id]['ok'] else 'fail')}</td></tr>"
            for item in items
        )
        parts.append(
            f"<h3>{e(phase)}: {done}/{len(items)} ({done * 100 // len(items)}%)</h3>"
            "<table><tr><th></th><th>Item</th><th>Owner</th><th>Ticked by</th><th>Automatic check</th></tr>"
            f"{rows}</table>"
        )
    return "".join(parts) or "<p class='muted'>The plan has no checklist.</p>"


def render_report(plan: Any, store: Any) -> str:
    """The whole review as one HTML document (no external assets, opens offline)."""
    clock = _Clock(plan)
    decisions = store.decisions()
    verdict, criteria_html = _criteria(plan, store)
    incidents = store.incidents()
    rollbacks = store.rollbacks()
    state = store.state()
    ttrs = [r["ttr_seconds"] for r in rollbacks if r["ttr_seconds"] is not None]
    cards = [
        ("Verdict", badge(verdict)),
        ("Phase", e(state["phase"])),
        ("Canary weight", f"{state['canary_weight']:g}%"),
        ("Gate decisions", str(len(decisions))),
        ("Incidents", str(len(incidents))),
        ("Rollbacks", f"{len(rollbacks)}" + (f" · worst TTR {max(ttrs):.2f} s" if ttrs else "")),
    ]
    cards_html = "".join(f"<div class='card'><span class='muted'>{k}</span><b>{v}</b></div>" for k, v in cards)
    release = plan.release
    now = dt.datetime.now(dt.UTC)
    sections = [
        ("criteria", "Success criteria", criteria_html),
        ("timeline", "Timeline: planned and actual", _timeline(plan, store, clock)),
        ("metrics", "Metrics with SEV limits and step markers", _charts(plan, store, clock, decisions)),
        ("decisions", "Gate decisions", _decisions(decisions, clock)),
        ("rollbacks", "Rollbacks", _rollbacks(plan, store, clock)),
        ("incidents", "Incidents and response times", _incidents(plan, store, clock)),
        ("notifications", "Notifications", _notifications(store)),
        ("checklist", "Checklist completion", _checklist(plan, store, clock)),
    ]
    body = "".join(f"<section id='{sid}'><h2>{e(title)}</h2>{content}</section>" for sid, title, content in sections)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Launch review: {e(release.product)} {e(release.version)}</title><style>{CSS}</style></head><body>"
        f"<h1>Launch review: {e(release.product)} {e(release.version)}</h1>"
        f"<p class='muted'>Plan {e(plan.name)} · stable {e(release.stable_version)} · launch {e(store.launch_id)} · "
        f"generated {clock(now)} {e(plan.timeline.timezone)}</p>"
        f"<div class='cards'>{cards_html}</div>{body}"
        "</body></html>\n"
    )
