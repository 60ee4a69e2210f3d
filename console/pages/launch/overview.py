"""Overview: phase, weights, the current step and its hold, gate verdicts, SEV status, last TTR,
and the degradation banner — refreshed live with ``st.fragment(run_every=...)``."""

from __future__ import annotations

import streamlit as st

from console.lib import context, live, ui
from launch_control import charts

EVIDENCE_DECISIONS = 300  # enough for the longest step at 1-minute intervals (a 4 h hold is 240)

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz

st.title("Launch overview")


def _dismiss(key: str) -> None:
    st.session_state["lc_dismissed"] = [*st.session_state.get("lc_dismissed", []), key]


def banner() -> None:
    status = live.degradation(store)
    if not status.degraded or status.key in st.session_state.get("lc_dismissed", []):
        return
    retry = f" Next retry in {ui.duration(status.retry_in)}." if status.retry_in is not None else ""
    since = f" Since {ui.local(ui.parse_time(status.since), tz)}." if status.since else ""
    text = f"**Service degraded** — {status.reason}.{since}{retry}"
    columns = st.columns([12, 1])
    with columns[0]:
        if status.emergency:
            st.error(f"🚨 EMERGENCY · {text}", icon=None)
        else:
            st.warning(text, icon="⚠️")
    columns[1].button("Dismiss", key=f"dismiss-{status.key}", on_click=_dismiss, args=(status.key,),
                      help="Hide this banner for this session (it comes back if the cause changes)")


@st.fragment(run_every=context.refresh_seconds())
def body() -> None:
    banner()
    now = ui.now()
    state = store.state()
    release = plan.release
    phase = state["phase"] + (" (paused)" if state["paused"] else "")
    weight = float(state["canary_weight"])
    cols = st.columns(4)
    cols[0].metric("Phase", phase)
    cols[1].metric(f"Canary {release.version}", f"{weight:g}%")
    cols[2].metric(f"Stable {release.stable_version}", f"{100 - weight:g}%")
    step = state["current_step"]
    left, length = live.hold_left(plan, state, now)
    if step is not None and 0 <= step < len(plan.canary.steps):
        cols[3].metric(f"Step {step + 1} of {len(plan.canary.steps)}", f"{plan.canary.steps[step].weight:g}%",
                       delta=f"{ui.duration(left)} left of {ui.duration(length)}" if left is not None else None,
                       delta_color="off")
    else:
        cols[3].metric("Step", "not started")
    if length:
        st.progress(min(1.0, 1 - (left or 0) / length), text=f"hold: {ui.duration(left)} left")

    cols = st.columns(3)
    active = store.incidents(status="active")
    if active:
        worst = min(i["severity"] for i in active)
        cols[0].metric("Incidents", f"{len(active)} open", delta=f"worst {worst}", delta_color="inverse")
    else:
        cols[0].metric("Incidents", "none open")
    rollbacks = store.rollbacks()
    if rollbacks:
        last = rollbacks[-1]
        ttr = f"{last['ttr_seconds']:.1f} s" if last["ttr_seconds"] is not None else "not verified"
        budget = plan.rollback.ttr_budget
        within = last["ttr_seconds"] is not None and last["ttr_seconds"] <= budget
        cols[1].metric("Last rollback TTR", ttr, delta=f"budget {ui.duration(budget)}",
                       delta_color="normal" if within else "inverse")
        cols[1].caption(f"{ui.ago(last['started_at'])} · {last['trigger']} · {last['reason']}")
    else:
        cols[1].metric("Last rollback TTR", "no rollback yet")
    frozen = "frozen" if state["frozen"] else "open"
    cols[2].metric("Branch", frozen)
    if state["launch_started_at"]:
        cols[2].caption(f"launch started {ui.local(state['launch_started_at'], tz, '%a %d %b %H:%M %Z')}")

    st.subheader("Latest gate verdicts")
    decisions = store.decisions(limit=8)
    if not decisions:
        st.caption("No gate has judged the canary yet.")
    for d in reversed(decisions):
        icon = ui.VERDICT_MARK.get(d["verdict"], "•")
        where = f"step {d['step'] + 1} at {d['weight']:g}%" if d["step"] is not None and d["weight"] is not None else ""
        sev = f" · **{d['severity'].upper()}**" if d["severity"] else ""
        st.markdown(f"{icon} **{d['verdict']}** {where}{sev} — {d['reason']}  \n"
                    f"<small>{ui.local(d['at'], tz)} · {ui.ago(d['at'])}</small>", unsafe_allow_html=True)
    evidence = charts.evidence_figure(store.decisions(limit=EVIDENCE_DECISIONS))
    if evidence is not None:
        st.plotly_chart(evidence, width="stretch", key="evidence_chart")
        st.caption("Evidence of harm reaching the dashed line rolls the canary back; evidence of safety reaching "
                   "it proves the canary no worse than the plan's margin (early promotion, when the plan allows). "
                   "Either way the false-decision rate stays under alpha, however often it is looked at.")
    st.caption(f"Updated {ui.local(now, tz)} ({tz.key}); refreshes every {context.refresh_seconds() or '—'} s.")


body()
