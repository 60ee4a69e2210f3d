"""Success criteria: technical ones computed from recorded data, operational ones from the incident
log, business ones entered by reviewers (verdict and note, audited); and the overall verdict."""

from __future__ import annotations

import streamlit as st
from launch_control.console.lib import auth_ui, context, ui

from launch_control.review import criteria

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz
user = auth_ui.user()

st.title("Success criteria")

report = criteria.evaluate(plan, store)
VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "pending": "PENDING"}
box = {"pass": st.success, "fail": st.error, "pending": st.info}[report.verdict]
box(f"Overall verdict: **{VERDICT_TEXT[report.verdict]}**", icon=ui.VERDICT_ICON[report.verdict])

for category in ("technical", "operational", "business"):
    results = report.category(category)
    if not results:
        continue
    verdict = report.category_verdict(category)
    st.subheader(f"{category.capitalize()} · {ui.VERDICT_ICON[verdict]} {verdict}")
    st.dataframe(
        [{"criterion": r.title, "value": r.shown_value, "target": r.shown_target,
          "result": f"{ui.VERDICT_ICON[r.status]} {r.status}", "source": r.source, "note": r.note} for r in results],
        hide_index=True, width="stretch", key=f"criteria-{category}",
    )

st.subheader("Reviewer's verdict")
reviewable = [r for r in report.results if r.source == "reviewer"]
who = auth_ui.require("verdict", "enter verdicts on business criteria (reviewers)")
if who is not None and reviewable:
    with st.form("verdict", clear_on_submit=True):
        choice = st.selectbox("Criterion", [r.id for r in reviewable],
                              format_func=lambda cid: next(r.title for r in reviewable if r.id == cid))
        verdict = st.radio("Verdict", ["pass", "fail", "pending"], horizontal=True)
        value = st.number_input("Value (for counted criteria such as complaints; leave 0 otherwise)", min_value=0.0,
                                value=0.0, step=1.0)
        note = st.text_area("Note (what it rests on)")
        if st.form_submit_button("Record verdict"):
            measured = next(r for r in reviewable if r.id == choice).measure
            store.record_verdict(choice, verdict, who.actor, note=note.strip(),
                                 value=value if measured else None)
            # Kept in the session: the rerun (which refreshes the verdicts above) would wipe a plain message.
            st.session_state["lc_verdict_result"] = (f"Recorded **{verdict}** for {choice} as {who.actor} at "
                                                     f"{ui.local(ui.now(), tz, '%H:%M:%S')}.")
            st.rerun()
    if recorded := st.session_state.get("lc_verdict_result"):
        st.success(recorded)

verdicts = store.verdicts()
if verdicts:
    st.caption("Latest reviewer verdicts: " + "; ".join(
        f"{cid}: {v['verdict']} by {v['actor']} {ui.local(v['at'], tz, '%a %H:%M')}" for cid, v in verdicts.items()))
