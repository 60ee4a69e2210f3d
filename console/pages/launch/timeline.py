"""Timeline: the launch day as a Gantt chart — planned against actual, status per entry, and the
Prefect flow run behind each (its state, and a link to the Prefect UI when PREFECT_UI_URL is set)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st
from launch_control.console.lib import charts, context, prefect_ui, ui

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz
now = ui.now()

st.title("Launch-day timeline")

state = store.state()
if plan.timeline.date:
    launch_date, source = plan.timeline.date, "the plan's date"
elif state["launch_started_at"]:
    launch_date, source = state["launch_started_at"].astimezone(tz).date(), "the launch's start"
else:
    launch_date, source = now.astimezone(tz).date(), "today (no launch date in the plan, launch not started)"
st.caption(f"Launch day {launch_date:%A %d %B %Y} ({source}); times in {tz.key}.")

ended = state["phase"] in ("rolled_back", "rollback_failed", "aborted")
events: dict[str, list[dict[str, Any]]] = {}
for event in store.timeline_events():
    events.setdefault(event["entry_id"], []).append(event)

entries = plan.timeline.entries
rows: list[dict[str, Any]] = []
for index, entry in enumerate(entries):
    planned = plan.timeline.planned_at(entry, launch_date)
    following = entries[index + 1] if index + 1 < len(entries) else None
    planned_end = plan.timeline.planned_at(following, launch_date) if following else planned + dt.timedelta(minutes=30)
    if planned_end <= planned:
        planned_end = planned + dt.timedelta(minutes=30)
    mine = events.get(entry.id, [])
    started = next((e["at"] for e in mine if e["status"] == "running"), mine[0]["at"] if mine else None)
    last = mine[-1] if mine else None
    finished = last["at"] if last and last["status"] in ("done", "failed", "skipped") else None
    if last is not None:
        status = last["status"]
        if status == "running" and ended:
            # The launch ended (rolled back, aborted) while this entry ran: it is not running any more.
            status, finished = "stopped", state["updated_at"]
    elif planned < now and entry.scheduled:
        # Past and unrecorded: "missed" only when no launch ran at all; otherwise say what is known.
        status = "not recorded" if state["launch_started_at"] else "missed"
    else:
        status = "planned"
    run_id = next((e["flow_run_id"] for e in reversed(mine) if e["flow_run_id"]), None)
    rows.append({"id": entry.id, "title": entry.title, "action": entry.action, "planned_start": planned,
                 "planned_end": planned_end, "actual_start": started, "actual_end": finished, "status": status,
                 "flow_run_id": run_id, "detail": last["detail"] if last else ""})

st.plotly_chart(charts.gantt_figure(rows, now=now, tz=tz), width="stretch", key="gantt")

run_ids = [r["flow_run_id"] for r in rows if r["flow_run_id"]]
health = prefect_ui.health(timeout=0.5) if prefect_ui.api_url() else None
states = prefect_ui.flow_run_states(run_ids) if health and health.ok else {}
if health is None:
    st.caption("Flow-run states: Prefect not configured (set PREFECT_API_URL; PREFECT_UI_URL for links).")
elif not health.ok:
    st.caption(f"Flow-run states unavailable: {health.message}")

table = []
for r in rows:
    late = ""
    if r["actual_start"]:
        delay = (r["actual_start"] - r["planned_start"]).total_seconds()
        late = f"{'+' if delay >= 0 else '−'}{ui.duration(abs(delay))}"
    link = prefect_ui.run_link(r["flow_run_id"])
    table.append({
        "entry": r["title"],
        "planned": ui.local(r["planned_start"], tz, "%a %H:%M"),
        "started": ui.local(r["actual_start"], tz, "%a %H:%M"),
        "finished": ui.local(r["actual_end"], tz, "%a %H:%M"),
        "vs plan": late,
        "status": r["status"],
        "flow run": link or (r["flow_run_id"] or ""),
        "flow state": states.get(r["flow_run_id"] or "", ""),
        "detail": r["detail"],
    })
column_config = {"flow run": st.column_config.LinkColumn("flow run", display_text=r"runs/flow-run/(.{8})")} \
    if prefect_ui.ui_url() else None
st.dataframe(table, hide_index=True, width="stretch", column_config=column_config)
