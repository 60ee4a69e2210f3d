"""Overview: SEV status, last TTR, branch freeze, recent gate verdicts and the sequential evidence —
refreshed live with ``st.fragment(run_every=...)``. Phase, steps, weights, time left, engine and the
degradation banner are in the header every page shows (console.lib.header)."""

from __future__ import annotations

import streamlit as st
from launch_control.console.lib import charts, context, ui

from launch_control.ramp.rollback import ttr_words

EVIDENCE_DECISIONS = 300  # enough for the longest step at 1-minute intervals (a 4 h hold is 240)

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz

st.title("Launch overview")


@st.fragment(run_every=context.refresh_seconds())
def body() -> None:
    now = ui.now()
    state = store.state()
    cols = st.columns(3)
    active = store.incidents(status="active")
    if active:
        worst = min(i["severity"] for i in active)
        cols[0].metric("Incidents", f"{len(active)} open")
        cols[0].caption(f"worst {worst}")
    else:
        cols[0].metric("Incidents", "none open")
    rollbacks = store.rollbacks()
    if rollbacks:
        last = rollbacks[-1]
        ttr = f"{last['ttr_seconds']:.1f} s" if last["ok"] and last["ttr_seconds"] is not None else ttr_words(last)
        budget = plan.rollback.ttr_budget
        within = last["ttr_seconds"] is not None and last["ttr_seconds"] <= budget
        cols[1].metric("Last rollback TTR", ttr)
        verdict = "within" if within else "over (or not verified against)"
        cols[1].caption(f"{verdict} the {ui.duration(budget)} budget · "
                        f"{ui.local(last['started_at'], tz, '%a %H:%M')} by {last.get('actor') or last['trigger']} "
                        f"({last['trigger']}) · {last['reason']}")
    else:
        cols[1].metric("Last rollback TTR", "no rollback yet")
    frozen = "frozen" if state["frozen"] else "open"
    cols[2].metric("Branch", frozen)
    if state["launch_started_at"]:
        cols[2].caption(f"launch started {ui.local(state['launch_started_at'], tz, '%a %d %b %H:%M %Z')}")

    decisions = store.decisions(limit=8)
    if decisions:
        with st.expander("Recent gate verdicts (statistics)"):
            for d in reversed(decisions):
                icon = ui.VERDICT_MARK.get(d["verdict"], "•")
                where = (f"step {d['step'] + 1} at {d['weight']:g}%"
                         if d["step"] is not None and d["weight"] is not None else "")
                sev = f" · **{d['severity'].upper()}**" if d["severity"] else ""
                st.markdown(f"{icon} {ui.local(d['at'], tz, '%H:%M:%S')} **{d['verdict']}** {where}{sev} — "
                            f"{d['reason']}")
    evidence = charts.evidence_figure(store.decisions(limit=EVIDENCE_DECISIONS))
    if evidence is not None:
        st.plotly_chart(evidence, width="stretch", key="evidence_chart")
        st.caption("Evidence of harm reaching the dashed line rolls the canary back; evidence of safety reaching "
                   "it proves the canary no worse than the plan's margin (early promotion, when the plan allows). "
                   "Either way the false-decision rate stays under alpha, however often it is looked at.")
    st.caption(f"Updated {ui.local(now, tz)} ({tz.key}); refreshes every {context.refresh_seconds() or '—'} s.")


body()
