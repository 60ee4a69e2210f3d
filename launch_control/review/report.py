"""The post-launch review report: one self-contained HTML file (inline CSS and SVG, no scripts,
no network) with the timeline planned against actual, metric charts with SEV limits and step
markers, every gate decision with its reason, rollbacks with TTR, incidents with durations and
response times, notifications, checklist completion and the success-criteria verdict.

``render_report(plan, store)`` returns the HTML; ``launch-control report --out report.html``
writes it and the console offers it as a download.

The HTML building blocks (stylesheet, escaping, badges, the plan-zone clock) are in
``launch_control.review.markup`` and the SVG charts in ``launch_control.review.svg_charts``; this
module writes the sections and assembles them, and their names stay importable from here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

# Re-exported: the report's building blocks are importable from launch_control.review.report.
from launch_control.review.colours import INCIDENT_COLOURS, ROLE_COLOURS, SEV_COLOURS
from launch_control.review.markup import BAD_MARK, CSS, OK_MARK, VERDICT_COLOURS, Clock, badge, dur, e
from launch_control.review.svg_charts import MAX_POINTS, metric_charts, svg_chart

__all__ = [
    "BAD_MARK", "CSS", "INCIDENT_COLOURS", "MAX_POINTS", "OK_MARK", "ROLE_COLOURS", "SEV_COLOURS", "VERDICT_COLOURS",
    "badge", "dur", "e", "render_report", "svg_chart",
]  # fmt: skip


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


def _timeline(plan: Any, store: Any, clock: Clock) -> str:
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


def _decisions(decisions: list[dict[str, Any]], clock: Clock) -> str:
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


def _rollbacks(plan: Any, store: Any, clock: Clock) -> str:
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


def _incidents(plan: Any, store: Any, clock: Clock) -> str:
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


def _checklist(plan: Any, store: Any, clock: Clock) -> str:
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
    clock = Clock(plan)
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
        ("metrics", "Metrics with SEV limits and step markers", metric_charts(plan, store, clock, decisions)),
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
