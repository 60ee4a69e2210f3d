"""Incidents and runbook: the SEV log (open, acknowledge, resolve), the runbook and rollback
decision tree from the plan's folder, communication templates filled with an incident's data,
and the on-call roster."""

from __future__ import annotations

from typing import Any

import streamlit as st
from launch_control.console.lib import auth_ui, context, ui

from launch_control.respond import incidents as incident_room
from launch_control.respond import templates

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz
user = auth_ui.user()


def manager() -> Any:
    """The plan's incident manager (notifies the severity's channels)."""
    return incident_room.production_manager(plan, store, actor=user.actor if user else "console")


def _act(action: str, incident_id: int) -> None:
    who = auth_ui.user()
    # Read the note now: a callback's args hold the value from when the button was drawn.
    note = str(st.session_state.get(f"note-{incident_id}", "")).strip()
    if who is None or not who.can("incident"):
        return
    try:
        from launch_control.console.lib import controls

        act = controls.ack_incident if action == "acknowledge" else controls.resolve_incident
        outcome = act(plan, store, who, incident_id, note)
        if not outcome.ok:
            raise RuntimeError(outcome.message)
        st.session_state["lc_incident_msg"] = ("success", f"Incident #{incident_id}: {action}d by {who.actor}.")
    except Exception as exc:  # e.g. "already resolved": say it on the page
        st.session_state["lc_incident_msg"] = ("error", f"Incident #{incident_id}: {exc}")


st.title("Incidents and runbook")
if message := st.session_state.pop("lc_incident_msg", None):
    (st.success if message[0] == "success" else st.error)(message[1])

log_tab, runbook_tab, comms_tab, oncall_tab = st.tabs(["SEV log", "Runbook", "Communication", "On-call"])

incidents = store.incidents()
with log_tab:
    active = [i for i in incidents if i["status"] != "resolved"]
    st.markdown(f"**{len(active)} active**, {len(incidents) - len(active)} resolved")
    if not incidents:
        st.caption("No incidents recorded.")
    else:
        table = []
        for i in reversed(incidents):
            took = (i["resolved_at"] - i["opened_at"]).total_seconds() if i["resolved_at"] else None
            table.append({"#": i["id"], "severity": i["severity"], "status": i["status"], "cause": i["cause"],
                          "summary": i["summary"], "opened": ui.local(i["opened_at"], tz, "%a %H:%M"),
                          "acknowledged by": i["acknowledged_by"] or "", "resolved by": i["resolved_by"] or "",
                          "time to resolve": ui.duration(took) if took is not None else ""})
        st.dataframe(table, hide_index=True, width="stretch", key="incident-table")
    can_act = user is not None and user.can("incident")
    for i in reversed(active):
        with st.container(border=True):
            st.markdown(f"**#{i['id']} {i['severity']}** · {i['status']} · {i['summary']}  \n"
                        f"<small>opened {ui.ago(i['opened_at'])} by {i['opened_by']}; cause {i['cause']}</small>",
                        unsafe_allow_html=True)
            if can_act:
                cols = st.columns([1, 3, 1])
                if i["status"] == "open":
                    cols[0].button("Acknowledge", key=f"ack-{i['id']}", on_click=_act, args=("acknowledge", i["id"]))
                cols[1].text_input("Resolution note", key=f"note-{i['id']}", label_visibility="collapsed",
                                   placeholder="resolution note")
                cols[2].button("Resolve", key=f"resolve-{i['id']}", on_click=_act, args=("resolve", i["id"]))
    if user is None or not user.can("incident"):
        st.caption("Sign in as a launch lead to acknowledge or resolve incidents.")
    else:
        with st.expander("Open an incident by hand"), st.form("open-incident", clear_on_submit=True):
            severity = st.selectbox("Severity", ["SEV-3", "SEV-2", "SEV-1"])
            cause = st.text_input("Cause (e.g. customer-report)")
            summary = st.text_input("Summary")
            if st.form_submit_button("Open incident"):
                if not cause.strip() or not summary.strip():
                    st.error("Give a cause and a summary.")
                else:
                    new_id = manager().report(cause.strip(), severity, summary.strip(), user.actor,
                                              auto_resolve=False)
                    st.success(f"Incident #{new_id} open.")

with runbook_tab:
    shown = False
    for relative in [plan.runbook] if plan.runbook else []:
        path = plan.resolve(relative)
        if path.is_file():
            st.markdown(path.read_text(encoding="utf-8"))
            shown = True
        else:
            st.info(f"The runbook is not written yet: {path} does not exist.")
    for path in sorted(plan.base_dir().glob("*decision*.md")):
        st.markdown(path.read_text(encoding="utf-8"))
        shown = True
    if not plan.runbook and not shown:
        st.info("The plan names no runbook (set `runbook: runbook.md`).")

def _default_template(incident: dict | None, names: list[str]) -> str:
    """The template that fits: the war room for an open incident, the all-clear only once it is
    resolved, the status page for the launch itself."""
    if incident is None:
        wanted = ["status-page", "status-check"]
    elif incident["status"] == "resolved":
        wanted = ["all-clear", "post-mortem"]
    else:
        wanted = ["war-room", "status-check"]
    return next((w for w in wanted if w in names), names[0])


with comms_tab:
    folder = templates.template_dir(plan)
    names = sorted({p.name.split(".")[0] for p in folder.glob("*") if p.is_file()}) if folder.is_dir() else []
    if not names:
        st.info(f"No templates in {folder}.")
    else:
        options = {f"#{i['id']} {i['severity']} {i['summary'][:50]}": i for i in reversed(incidents)}
        cols = st.columns(2)
        chosen = cols[1].selectbox("Incident", [*options, "(launch only)"], key="template-incident")
        incident = options.get(chosen)
        default = _default_template(incident, names)
        # The key carries the incident: choosing another one brings back the fitting default.
        name = cols[0].selectbox("Template", names, index=names.index(default) if default in names else 0,
                                 key=f"template-name-{chosen}")
        if incident is not None and incident["status"] != "resolved" and name == "all-clear":
            st.warning(f"Incident #{incident['id']} is still {incident['status']}: an all-clear now would be "
                       "false. Resolve it first (Incidents tab).", icon=":material/warning:")
        try:
            if chosen in options:
                data = templates.incident_context(plan, store, options[chosen])
            else:
                data = templates.launch_context(plan, store)
            rendered = templates.render(plan, name, data)
            if rendered.subject:
                st.text_input("Subject", rendered.subject, key=f"subject-{name}-{chosen}")
            st.code(rendered.text, language="markdown", wrap_lines=True)
            st.caption("Copy with the button at the code block's top right.")
        except Exception as exc:  # a template needing incident fields, or a missing field: say which
            st.warning(f"Cannot fill {name!r} with this data: {exc}")

with oncall_tab:
    if not plan.on_call.roster:
        st.info("The plan has no on-call roster.")
    else:
        st.dataframe([{"role": p.role, "name": p.name, "contact": p.contact} for p in plan.on_call.roster],
                     hide_index=True, width="stretch", key="roster")
        if plan.on_call.escalation:
            ladder = " → ".join(f"{step.to} after {ui.duration(step.after)}" for step in plan.on_call.escalation)
            st.caption(f"Escalation of unacknowledged incidents: {ladder}")
        if plan.incident_response:
            st.dataframe([{"severity": sev, "respond within": ui.duration(p.respond_within),
                           "rollback": "yes" if p.rollback else "", "notify": ", ".join(p.notify),
                           "description": p.description} for sev, p in plan.incident_response.severities.items()],
                         hide_index=True, width="stretch", key="severities")
