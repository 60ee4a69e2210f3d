"""Controls (launch leads only): start canary, pause and resume, set traffic, promote, gradual
rollback, emergency rollback — each with a reason and a confirmation, all audited.

The emergency rollback calls launch_control.rollback directly, so it works with Prefect down.
"""

from __future__ import annotations

import streamlit as st

from console.lib import auth_ui, context, controls, optional, prefect_ui

ctx = context.get()
plan, store = ctx.plan, ctx.store

st.title("Controls")
lead = auth_ui.require("control", "use the launch controls (launch leads only)")
if lead is None:
    st.stop()


def guarded(key: str, confirm_text: str, danger: bool = False) -> str | None:
    """A reason field, a confirmation box and a button; returns the reason when pressed and valid."""
    reason = st.text_input("Reason (recorded in the audit trail)", key=f"{key}-reason")
    confirmed = st.checkbox(confirm_text, key=f"{key}-confirm")
    pressed = st.button(confirm_text.split(":")[0] if ":" in confirm_text else "Go", key=f"{key}-go",
                        type="primary" if danger else "secondary")
    if not pressed:
        return None
    if not reason.strip():
        st.error("Give a reason: it goes into the audit trail.")
        return None
    if not confirmed:
        st.error("Tick the confirmation box first.")
        return None
    return reason.strip()


def show(outcome: controls.Outcome) -> None:
    (st.success if outcome.ok else st.error)(outcome.message)


state = store.state()
st.caption(f"Phase **{state['phase']}**{' (paused)' if state['paused'] else ''} · canary at "
           f"**{state['canary_weight']:g}%** · acting as **{lead.actor}**")

health = prefect_ui.health(timeout=0.5)
if health.ok:
    st.success(health.message, icon="🟢")
else:
    st.warning(f"{health.message}. Flows cannot be started from here; pause/resume, set traffic and the "
               "emergency rollback still work.", icon="🟠")

with st.container(border=True):
    st.subheader("🚨 Emergency rollback")
    st.caption(f"All traffic to stable {plan.release.stable_version} now, the deployment rolled back, health "
               f"verified — budget {plan.rollback.ttr_budget:g} s. Works without Prefect.")
    if optional.load("launch_control.rollback") is None:
        optional.not_available("The emergency rollback", "launch_control.rollback")
    elif reason := guarded("emergency", "Roll back now: I confirm an emergency rollback", danger=True):
        with st.spinner("Rolling back…"):
            outcome = controls.emergency_rollback(plan, store, lead, reason)
        st.session_state["lc_rollback_outcome"] = outcome
    if outcome := st.session_state.get("lc_rollback_outcome"):
        show(outcome)
        if outcome.details and outcome.details.get("ttr_seconds") is not None:
            st.metric("Time to rollback", f"{outcome.details['ttr_seconds']:.2f} s")
        if outcome.details and outcome.details.get("stages"):
            st.dataframe(outcome.details["stages"], hide_index=True, width="stretch", key="rollback-stages")

left, right = st.columns(2)
with left, st.container(border=True):
    st.subheader("Set traffic")
    weight = st.slider("Canary share (%)", 0, 100, int(state["canary_weight"]), key="traffic-weight")
    if reason := guarded("traffic", f"Set traffic: send {weight}% to the canary"):
        show(controls.set_traffic(plan, store, lead, float(weight), reason))

with right, st.container(border=True):
    paused = bool(state["paused"])
    st.subheader("Resume ramp" if paused else "Pause ramp")
    if reason := guarded("pause", "Resume: continue the ramp" if paused else "Pause: hold the current weight"):
        show(controls.set_paused(store, lead, not paused, reason))
        st.rerun()

cols = st.columns(3)
with cols[0], st.container(border=True):
    st.subheader("Start canary")
    st.caption(f"Through Prefect: deployment `{controls.deployment(plan)}`. Without Prefect, run "
               "`launch-control --start-canary` in a terminal.")
    if reason := guarded("start_canary", f"Start canary: begin the ramp at {plan.canary.steps[0].weight:g}%"):
        show(controls.start_canary(plan, store, lead, reason))
with cols[1], st.container(border=True):
    st.subheader("Promote")
    st.caption("100% to the release now, through the plan's router.")
    if reason := guarded("promote", f"Promote: send 100% of traffic to {plan.release.version}"):
        show(controls.promote(plan, store, lead, reason))
with cols[2], st.container(border=True):
    st.subheader("Gradual rollback")
    steps = " → ".join(f"{w:g}%" for w in plan.rollback.gradual_steps)
    st.caption(f"Steps down {steps}, each watched by the gates; runs in this console's process.")
    if reason := guarded("gradual_rollback", f"Roll back gradually: {steps}"):
        show(controls.gradual_rollback(plan, store, lead, reason))
