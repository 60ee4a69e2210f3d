"""Controls (launch leads only): start canary, pause and resume, set traffic, promote, gradual
rollback, emergency rollback — each with a reason and a confirmation, all audited.

Why the widget keys carry a sequence number: after every action the number moves on, so the next
card starts with an empty reason and an unticked box (a Pause confirmation must never become a
ticked Resume). The confirmation's key also carries the value it confirms, so moving the traffic
slider unticks it. The result of the last action stays at the top until the next one.
The emergency rollback calls launch_control.ramp.rollback directly, so it works with Prefect down.
"""

from __future__ import annotations

import re

import streamlit as st
from launch_control.console.lib import auth_ui, context, controls, prefect_ui, ui

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz

st.title("Controls")
lead = auth_ui.require("control", "use the launch controls (launch leads only)")
if lead is None:
    st.stop()

seq = int(st.session_state.setdefault("lc_action_seq", 0))


def _slug(value: object) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(value)).strip("_") or "x"


def guarded(key: str, confirm_text: str, *, label: str, bound: object = "", danger: bool = False) -> str | None:
    """A reason field, a confirmation box bound to ``bound`` and a button; the reason when pressed and valid."""
    reason = st.text_input("Reason (recorded in the audit trail)", key=f"{key}-reason-{seq}")
    confirmed = st.checkbox(confirm_text, key=f"{key}-confirm-{seq}-{_slug(bound)}")
    pressed = st.button(label, key=f"{key}-go-{seq}", type="primary" if danger else "secondary")
    if not pressed:
        return None
    if not reason.strip():
        st.error("Give a reason: it goes into the audit trail.")
        return None
    if not confirmed:
        st.error("Tick the confirmation box first.")
        return None
    return reason.strip()


def acted(action: str, outcome: controls.Outcome) -> None:
    """Keep the result for the next runs, start fresh widgets, and show the page again."""
    st.session_state["lc_last_result"] = {"action": action, "ok": outcome.ok, "message": outcome.message,
                                          "details": outcome.details or {}, "at": ui.now()}
    st.session_state["lc_action_seq"] = seq + 1
    st.rerun()


state = store.state()
paused = bool(state.get("paused")) or state.get("phase") == "paused"
ramping = state.get("phase") in ("ramping", "paused", "awaiting_approval")
steps = plan.canary.steps
step = state.get("current_step")
step_weight = steps[step].weight if ramping and step is not None and 0 <= step < len(steps) else None
where = f" · step {step + 1} of {len(steps)} ({step_weight:g}%)" if step_weight is not None else ""
st.caption(f"Phase **{ui.phase_label(state)}**{where} · canary serves **{float(state['canary_weight']):g}%** · "
           f"acting as **{lead.actor}**")

if last := st.session_state.get("lc_last_result"):
    when = ui.local(last["at"], tz, "%H:%M:%S")
    with st.container(key="last-result"):
        (st.success if last["ok"] else st.error)(f"**Last action** ({last['action']}, {when}): {last['message']}")
    details = last.get("details") or {}
    if details.get("ttr_seconds") is not None:
        st.metric("Time to rollback", f"{details['ttr_seconds']:.2f} s")
    if details.get("stages"):
        st.dataframe(details["stages"], hide_index=True, width="stretch", key="rollback-stages")

health = prefect_ui.health(timeout=0.5)
if health.ok:
    st.caption(f":green[:material/check_circle:] {health.message}")
else:
    st.warning(f"{health.message}. Flows cannot be started from here; pause/resume, set traffic and the "
               "emergency rollback still work.", icon=":material/warning:")

with st.container(border=True, key="card-emergency"):
    st.subheader(":red[:material/emergency:] Emergency rollback")
    st.caption(f"All traffic to stable {plan.release.stable_version} now, the deployment rolled back, health "
               f"verified — budget {plan.rollback.ttr_budget:g} s. Works without Prefect.")
    if reason := guarded("emergency", "I confirm an emergency rollback to stable now", label="Roll back now",
                           danger=True):
        with st.spinner("Rolling back…"):
            acted("emergency rollback", controls.emergency_rollback(plan, store, lead, reason))

left, right = st.columns(2)
with left, st.container(border=True, key="card-traffic"):
    st.subheader("Set traffic")
    current = int(round(float(state["canary_weight"])))
    weight = st.slider("Canary share (%)", 0, 100, current, key=f"traffic-weight-{seq}")
    replace_step = False
    if step_weight is not None and abs(weight - step_weight) > 1e-9:
        choice = st.radio(
            f"{weight}% is not the current step's {step_weight:g}%. What should the ramp do?",
            ["pause", "replace"], key=f"traffic-mode-{seq}",
            format_func=lambda m: (f"Pause the ramp at {weight}% (it holds until someone resumes it)" if m == "pause"
                                   else f"Make {weight}% this step's weight (the ramp goes on from it)"),
        )
        replace_step = choice == "replace"
        consequence = "the ramp goes on at this weight" if replace_step else "the ramp will PAUSE"
        st.warning(f"Sending {weight}% while the ramp is at step {step + 1} ({step_weight:g}%): {consequence}.",
                   icon=":material/warning:")
        confirm = f"Send {weight}% to the canary; {consequence}"
    else:
        confirm = f"Send {weight}% of traffic to the canary"
    if reason := guarded("traffic", confirm, label="Set traffic", bound=f"{weight}-{replace_step}"):
        acted("set traffic", controls.set_traffic(plan, store, lead, float(weight), reason, replace_step=replace_step))

with right, st.container(border=True, key="card-pause"):
    st.subheader("Resume ramp" if paused else "Pause ramp")
    if paused:
        typed = store.launch_state()
        by = f" by {typed.paused_by}" if typed.paused_by else ""
        why = f": {typed.paused_reason}" if typed.paused_reason else ""
        st.caption(f"Paused{by}{why}. Resuming lets the hold count again and the ramp go on from this step.")
    else:
        st.caption("The ramp holds its current weight; its hold stops counting until it is resumed.")
    if paused:
        reason = guarded("resume", "Resume the ramp", label="Resume", bound="resume")
    else:
        reason = guarded("pause", "Pause the ramp at its current weight", label="Pause", bound="pause")
    if reason:
        acted("resume" if paused else "pause", controls.set_paused(plan, store, lead, not paused, reason))

cols = st.columns(3)
with cols[0], st.container(border=True, key="card-start"):
    st.subheader("Start canary")
    st.caption(f"Through Prefect: deployment `{controls.deployment(plan)}`. Without Prefect, run "
               "`launch-control --start-canary` in a terminal.")
    if reason := guarded("start_canary", f"Begin the ramp at {steps[0].weight:g}%", label="Start canary"):
        acted("start canary", controls.start_canary(plan, store, lead, reason))
with cols[1], st.container(border=True, key="card-promote"):
    st.subheader("Promote")
    st.caption("100% to the release now, through the plan's router.")
    if reason := guarded("promote", f"Send 100% of traffic to {plan.release.version}", label="Promote"):
        acted("promote", controls.promote(plan, store, lead, reason))
with cols[2], st.container(border=True, key="card-gradual"):
    st.subheader("Gradual rollback")
    down = " → ".join(f"{w:g}%" for w in plan.rollback.gradual_steps)
    st.caption(f"Steps down {down}, each watched by the gates.")
    if reason := guarded("gradual_rollback", f"Roll back gradually: {down}", label="Roll back gradually"):
        acted("gradual rollback", controls.gradual_rollback(plan, store, lead, reason))
