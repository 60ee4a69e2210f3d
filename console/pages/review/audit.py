"""Audit and events: who did what, when and why — every operation (CLI, console, flows, engine) and
every sign-in attempt — filterable by person, action and text, with a CSV download of what is shown.

Read straight from the store's append-only ``audit_events`` (the newest MAX_EVENTS), so what the
page lists is what the launch recorded, not a separate log.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import streamlit as st
from launch_control.console.lib import context, ui

MAX_EVENTS = 5000
REASON_KEYS = ("reason", "note", "why", "error", "summary")

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz

st.title("Audit and events")
st.caption(f"Every operation and sign-in the launch recorded, newest first; times in {tz.key}.")


def _why(details: dict[str, Any]) -> str:
    return next((str(details[k]) for k in REASON_KEYS if details.get(k)), "")


def _what(action: str, details: dict[str, Any]) -> str:
    extra = []
    for key in ("weight", "step", "role", "item_id", "incident_id", "client", "flow_run_id"):
        if details.get(key) is not None and details.get(key) != "":
            extra.append(f"{key} {details[key]:g}%" if key == "weight" and isinstance(details[key], int | float)
                         else f"{key} {details[key]}")
    return action + (f" ({', '.join(extra)})" if extra else "")


events = store.events(limit=MAX_EVENTS)
rows = []
for event in events:
    details = event["details"] if isinstance(event["details"], dict) else {}
    rows.append({
        "when": ui.local(event["at"], tz, "%Y-%m-%d %H:%M:%S"),
        "who": event["actor"],
        "what": _what(event["action"], details),
        "why": _why(details),
        "action": event["action"],
        "details": json.dumps(details, sort_keys=True, default=str),
    })

people = sorted({r["who"] for r in rows})
actions = sorted({r["action"] for r in rows})
cols = st.columns([2, 3, 3])
who = cols[0].multiselect("Who", people, key="audit_who", placeholder="everyone")
what = cols[1].multiselect("Action", actions, key="audit_action", placeholder="every action")
text = cols[2].text_input("Search (reason, details)", key="audit_text").strip().lower()
shown = [r for r in rows
         if (not who or r["who"] in who) and (not what or r["action"] in what)
         and (not text or text in r["why"].lower() or text in r["details"].lower() or text in r["what"].lower())]

if not rows:
    st.info("Nothing recorded yet: operations and sign-ins appear here as they happen.")
else:
    st.caption(f"{len(shown)} of {len(rows)} events" + (f" (the newest {MAX_EVENTS})" if len(rows) >= MAX_EVENTS
                                                         else ""))
    st.dataframe([{k: r[k] for k in ("when", "who", "what", "why")} for r in shown], hide_index=True,
                 width="stretch", key="audit_table",
                 column_config={"why": st.column_config.TextColumn("why", width="large")})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f"when ({tz.key})", "who", "action", "why", "details"])
    for r in shown:
        writer.writerow([r["when"], r["who"], r["action"], r["why"], r["details"]])
    st.download_button("Download CSV", buffer.getvalue(), file_name=f"{plan.launch_id}-audit.csv", mime="text/csv",
                       key="audit_csv")
