"""Checklist: pre-launch, launch-day and post-launch items with progress; ticks persist with who and when.

Every tick and un-tick is a new store row (append-only), so two people ticking at once both
persist and see each other's ticks on the next refresh. A checkbox's key carries the id of the
row it shows, so a tick made elsewhere replaces the widget instead of being hidden by stale
widget state. Automatic items show their last check result and can be re-run by a lead.
"""

from __future__ import annotations

import streamlit as st
from launch_control.console.lib import auth_ui, context, ui

from launch_control.plan.model import ChecklistItem
from launch_control.ramp import preflight

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz
user = auth_ui.user()
can_tick = user is not None and user.can("tick")

st.title("Launch checklist")
if user is None:
    st.caption("Read-only: sign in as a launch lead to tick items.")
elif not can_tick:
    st.caption(f"Read-only for your role ({user.role}): launch leads tick items.")
if tick_error := st.session_state.pop("lc_tick_error", None):
    st.error(tick_error)


def _toggle(item_id: str, key: str) -> None:
    who = auth_ui.user()
    if who is None or not who.can("tick"):  # a stale widget must not write for someone signed out
        return
    ticked = bool(st.session_state[key])
    from launch_control.console.lib import controls

    outcome = controls.tick(plan, store, who, item_id, ticked)
    if not outcome.ok:
        st.session_state["lc_tick_error"] = outcome.message


def _rerun_check(item: ChecklistItem) -> None:
    who = auth_ui.user()
    if who is None or not who.can("run_check") or item.check is None:
        return
    try:
        ok, detail = preflight.run_check(plan, store, item.check)
    except Exception as exc:  # a check that cannot run is a failed check, with its reason
        ok, detail = False, f"check could not run: {type(exc).__name__}: {exc}"
    store.record_check(item.id, ok, detail)
    store.audit(who.actor, "checklist.check", item=item.id, ok=ok, detail=detail)


ticks = store.checklist()
checks = store.check_results()

for phase, items in plan.checklist.sections():
    done = sum(1 for item in items if ticks.get(item.id, {}).get("ticked"))
    st.subheader(f"{phase.replace('-', ' ').capitalize()} · {done}/{len(items)}")
    st.progress(done / len(items) if items else 0.0)
    group = None
    for item in items:
        if item.group != group:
            group = item.group
            if group:
                st.markdown(f"**{group}**")
        row = ticks.get(item.id)
        key = f"tick-{item.id}-{row['id'] if row else 0}"
        cols = st.columns([6, 3, 2])
        cols[0].checkbox(item.title, value=bool(row and row["ticked"]), key=key, disabled=not can_tick,
                         on_change=_toggle, args=(item.id, key))
        if row:
            verb = "ticked" if row["ticked"] else "un-ticked"
            cols[1].caption(f"{item.owner} · {verb} by **{row['actor']}** {ui.local(row['at'], tz, '%a %H:%M')}")
        else:
            cols[1].caption(f"{item.owner} · open")
        if item.check is not None:
            result = checks.get(item.id)
            if result:
                mark = "✅" if result["ok"] else "❌"
                cols[2].caption(f"{mark} {item.check.type} check {ui.ago(result['at'])}: {result['detail'][:120]}")
            else:
                cols[2].caption(f"⏳ {item.check.type} check not run yet")
            if user is not None and user.can("run_check"):
                cols[2].button("Re-run check", key=f"check-{item.id}", on_click=_rerun_check, args=(item,))

with st.expander("Recent checklist activity"):
    events = [e for e in store.events(limit=50) if e["action"].startswith("checklist.")]
    if not events:
        st.caption("No ticks yet.")
    for e in events[:20]:
        what = f"{e['action'].split('.', 1)[1]} {e['details'].get('item', '')}"
        st.caption(f"{ui.local(e['at'], tz)} · {e['actor']} · {what}")
