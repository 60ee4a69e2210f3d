"""The header above every page: the degradation banner, the phase in plain words with who, when and
why, the ramp's steps with the current one highlighted, served weight against the step's, time left
(frozen while paused, gone once the ramp ended), whether the engine is alive, and one plain line for
the latest gate verdict with its details behind an expander.

The figures come from ``launch_control.control.state`` (the same pure helpers ``--status`` and the report
use), so the console never shows a second, different "time left".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st
from launch_control.console.lib import context, live, ui

from launch_control.control import state
from launch_control.plan.model import Plan
from launch_control.store.db import Store

VERDICT_WORDS = {"pass": "healthy", "hold": "holding (not yet sure)", "fail": "failing",
                 "inconclusive": "not enough data yet", "pending": "waiting for data"}


def _dismiss(key: str) -> None:
    st.session_state["lc_dismissed"] = [*st.session_state.get("lc_dismissed", []), key]


def banner(store: Store, tz: Any) -> None:
    status = live.degradation(store)
    if not status.degraded or status.key in st.session_state.get("lc_dismissed", []):
        return
    retry = f" Next retry in {ui.duration(status.retry_in)}." if status.retry_in is not None else ""
    since = f" Since {ui.local(ui.parse_time(status.since), tz, '%H:%M:%S')}." if status.since else ""
    text = f"**Service degraded** — {status.reason}.{since}{retry}"
    columns = st.columns([12, 1])
    with columns[0]:
        if status.emergency:
            st.error(f"**EMERGENCY** · {text}", icon=":material/emergency:")
        else:
            st.warning(text, icon=":material/warning:")
    columns[1].button("Dismiss", key=f"dismiss-{status.key}", on_click=_dismiss, args=(status.key,),
                      help="Hide this banner for this session (it comes back if the cause changes)")


def _typed(row: dict[str, Any]) -> Any:
    try:
        return state.LaunchState.from_row(row)
    except Exception:  # an unknown phase written by a newer engine: fall back to the raw row
        return None


def who_when_why(plan: Plan, store: Store, row: dict[str, Any], typed: Any) -> str:
    """"Rolled back 17:58 by the gate — SEV-1 error rate 26.9 %": the phase with its cause."""
    tz = plan.timeline.tz
    phase = ui.phase_label(row)
    words = state.phase_words(typed) if typed is not None else ""
    when: dt.datetime | None = row.get("updated_at")
    by = why = ""
    if phase in ("Rolled back", "Rolling back", "Rollback FAILED"):
        rollbacks = store.rollbacks()
        if rollbacks:
            last = rollbacks[-1]
            when = last["started_at"]
            person = last.get("actor") or ""
            trigger = last.get("trigger") or ""
            by = {"engine": "the gate", "gate": "the gate", "monitor": "post-launch monitoring"}.get(trigger, person)
            if person and person not in ("engine", by):
                by = f"{person} ({trigger})" if trigger else person
            why = last.get("reason") or ""
    elif phase == "Paused":
        events = [e for e in store.events(limit=50) if e["action"] in ("engine.pause", "launch.pause")
                  or (e["action"] == "console.set_traffic" and (e["details"] or {}).get("paused"))]
        if events:
            when, by, why = events[0]["at"], events[0]["actor"], (events[0]["details"] or {}).get("reason", "")
    elif typed is not None and (typed.ended_by or typed.ended_reason):
        by, why = typed.ended_by or "", typed.ended_reason
    text = f"**{phase}**"
    if when is not None:
        text += f" {ui.local(when, tz, '%a %H:%M')}"
    if by:
        text += f" by {by}"
    if why:
        text += f" — {why}"
    elif words and phase in ("Planned", "Ramping", "Waiting for go/no-go", "Complete"):
        text += f" — {words}"
    return text


def steps_line(plan: Plan, row: dict[str, Any]) -> str:
    """The ramp's steps, done ones ticked and the current one highlighted (as Argo's dashboard does)."""
    current = row.get("current_step")
    ended = row.get("phase") in ("complete",)
    chips = []
    for index, step in enumerate(plan.canary.steps):
        label = f"{index + 1}: {step.weight:g}%"
        if current is not None and index == current and not ended:
            chips.append(f":blue-background[**▶ {label}**]")
        elif (current is not None and index < current) or ended:
            chips.append(f":green[✓ {label}]")
        else:
            chips.append(f":gray[{label}]")
    return "Steps " + " → ".join(chips)


def render(plan: Plan, store: Store) -> None:
    """The whole header, refreshed live with the pages' refresh period."""
    tz = plan.timeline.tz

    @st.fragment(run_every=context.refresh_seconds())
    def _header() -> None:
        banner(store, tz)
        row = store.state()
        typed = _typed(row)
        now = ui.now()
        with st.container(border=True, key="lc_header"):
            top = st.columns([5, 3])
            top[0].markdown(who_when_why(plan, store, row, typed))
            top[0].markdown(steps_line(plan, row))
            top[1].markdown(_weights(plan, row, typed) + "  \n" + _clock(plan, row, typed, now))
            _mismatch(plan, row, typed)
            _verdict(plan, store)

    _header()


def _step_weight(plan: Plan, row: dict[str, Any]) -> float | None:
    step = row.get("current_step")
    ramping = row.get("phase") in ("ramping", "paused", "awaiting_approval")
    if not ramping or step is None or not 0 <= step < len(plan.canary.steps):
        return None
    return plan.canary.steps[step].weight


def _weights(plan: Plan, row: dict[str, Any], typed: Any) -> str:
    weight = float(row.get("canary_weight") or 0.0)
    served = getattr(getattr(typed, "served", None), "weight", None)
    text = f"Canary {plan.release.version} **{weight:g}%** · stable {plan.release.stable_version} {100 - weight:g}%"
    if served is not None and abs(served - weight) > 0.01:
        text += f" · router reports **{served:g}%**"
    return text


def _clock(plan: Plan, row: dict[str, Any], typed: Any, now: dt.datetime) -> str:
    step = row.get("current_step")
    hold = plan.canary.steps[step].hold if step is not None and 0 <= step < len(plan.canary.steps) else None
    parts = []
    if typed is not None:
        left = state.time_left(typed, state.scaled_hold(typed, hold)) if hold else None
        if left is not None:
            parts.append(f"hold: {ui.duration(left)} left" + (" (frozen while paused)" if typed.paused else ""))
        if typed.ramping:
            age = state.heartbeat_age(typed, now)
            if state.engine_alive(typed, now):
                parts.append(f":green[engine alive] (beat {ui.duration(age)} ago)")
            else:
                last = f"last beat {ui.duration(age)} ago" if age is not None else "no heartbeat recorded"
                parts.append(f":red[**engine not running**] ({last})")
    elif row.get("phase") in ("ramping", "awaiting_approval") and not row.get("paused"):
        left, _length = live.hold_left(plan, row, now)
        if left is not None:
            parts.append(f"hold: {ui.duration(left)} left")
    return " · ".join(parts) or ":gray[no hold running]"


def _mismatch(plan: Plan, row: dict[str, Any], typed: Any) -> None:
    step_weight = _step_weight(plan, row)
    weight = float(row.get("canary_weight") or 0.0)
    if step_weight is not None and abs(step_weight - weight) > 0.01:
        st.warning(f"The canary serves {weight:g}% but step {row['current_step'] + 1} is {step_weight:g}%: the gates "
                   "judge the traffic actually served; resume or set traffic to put them back in line.",
                   icon=":material/warning:")
    if typed is not None and typed.served_mismatch():
        st.warning(f"The router reports {typed.served.weight:g}% while the launch recorded {weight:g}%"
                   + (f" ({typed.served.error})" if typed.served.error else "") + ".", icon=":material/warning:")


def _verdict(plan: Plan, store: Store) -> None:
    decisions = store.decisions(limit=1)
    if not decisions:
        st.caption("No gate has judged the canary yet.")
        return
    d = decisions[-1]
    tz = plan.timeline.tz
    where = f" at step {d['step'] + 1} ({d['weight']:g}%)" if d["step"] is not None and d["weight"] is not None else ""
    sev = f", {d['severity'].upper().replace('SEV', 'SEV-')}" if d["severity"] else ""
    mark = ui.VERDICT_MARK.get(d["verdict"], "•")
    st.markdown(f"{mark} Latest gate verdict {ui.local(d['at'], tz, '%H:%M:%S')}{where}: the canary looks "
                f"**{VERDICT_WORDS.get(d['verdict'], d['verdict'])}**{sev}.")
    with st.expander("What the gate saw"):
        st.write(d["reason"])
        if d.get("details"):
            st.json(d["details"], expanded=False)
