"""``launch-control --status``: the launch's state in a few lines, near the interpreter's start-up.

The hot path (``cli.main`` sends a bare ``--status`` straight here, before building the whole
command parser): the plan from its compiled last-good copy when the file is unchanged
(``launch_control.store.lastgood``), the store through sqlite3 (``launch_control.store.litestore``), the
router asked for the weight it really serves through http.client, the pure ``launch_control.control.state``
questions for phase words, engine liveness and time left. No YAML, pydantic, SQLAlchemy, httpx or
rich on the way, so it answers in well under 0.25 s; a broken plan file shows its problems and
the last good plan's view instead of nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any


def run_status(args: argparse.Namespace, ctx: Any) -> int:
    return show_status(ctx.plan_path)


def show_status(plan_path: str | None = None, out: Callable[[str], None] = print) -> int:
    from launch_control.control.state import (
        LaunchState,
        engine_alive,
        heartbeat_age,
        phase_words,
        scaled_hold,
        time_left,
    )
    from launch_control.errors import LaunchControlError
    from launch_control.plan.units import format_duration as dur
    from launch_control.ramp.rollback import ttr_words
    from launch_control.store import lastgood
    from launch_control.store.litestore import open_hot_store

    try:
        choice = lastgood.choose(plan_path, any_path=False)
    except lastgood.NoPlan as exc:
        print(f"error: {exc.problem or exc}", file=sys.stderr)
        return 2
    hot, now = choice.hot, dt.datetime.now(dt.UTC)
    release = hot["release"]
    store = open_hot_store(choice.launch_id)
    row = store.state()
    try:
        state = LaunchState.from_row(row)
        phase = phase_words(state)
    except LaunchControlError:  # a phase this version does not know: show it, never crash
        state = LaunchState.from_row({**row, "phase": "ramping"})
        phase = f"{row.get('phase')!r} (not a phase this version knows)"

    out(f"{release['product']} {release['version']} (stable {release['stable_version']})")
    if choice.note:
        out("  plan:    THE PLAN FILE IS BROKEN; showing its last good copy")
        out("           " + choice.note.replace("\n", "\n           "))
    else:
        out(f"  plan:    {choice.compiled.get('source')}")
    out(f"  store:   {store.describe()}")
    out(f"  phase:   {phase}")
    interval = float(hot.get("interval") or 60.0)
    age = heartbeat_age(state, now)
    if age is None:
        engine = "none running" + (" — nobody is driving the ramp" if state.ramping else "")
    elif engine_alive(state, now, interval / (state.time_scale or 1.0)):
        engine = f"alive (heartbeat {dur(age)} ago, pid {state.lease.pid if state.lease else '?'})"
    else:
        engine = f"NOT ALIVE: last heartbeat {dur(age)} ago"
    out(f"  engine:  {engine}")
    weight = state.canary_weight
    out(
        f"  traffic: canary {release['version']} {weight:g}% · stable {release['stable_version']} {100 - weight:g}% "
        "(recorded)"
    )
    out(f"  served:  {_served(hot['rollback']['router'], weight)}")
    steps = hot["steps"]
    if state.current_step is not None and 0 <= state.current_step < len(steps):
        current = steps[state.current_step]
        line = f"  step:    {state.current_step + 1} of {len(steps)} ({current['weight']:g}%)"
        hold = scaled_hold(state, float(current.get("hold") or 0.0))
        left = time_left(state, hold)
        if left is not None:
            frozen = " (frozen while paused)" if state.paused else ""
            line += f", {dur(left)} of green time left in a {dur(hold)} hold{frozen}"
        out(line)
    out(f"  frozen:  {'yes' if state.frozen else 'no'}   degraded: {'yes' if state.degraded else 'no'}")
    decisions = store.decisions(limit=1)
    if decisions:
        d = decisions[-1]
        out(f"  gate:    {d['verdict']} — {d['reason']} ({_ago(d['at'], now)})")
    active = store.incidents(status="active")
    if active:
        worst = min(i["severity"] for i in active)
        out(f"  incidents: {len(active)} open (worst {worst})")
    else:
        out("  incidents: none open")
    rollbacks = store.rollbacks()
    if rollbacks:
        last = rollbacks[-1]
        out(f"  last rollback: {_ago(last['started_at'], now)}, {ttr_words(last)} — {last['reason']}")
    if choice.fallback:  # shown above; the exit status says so too, for scripts
        print(f"error: {choice.note.splitlines()[0]} (the state above is from its last good copy)", file=sys.stderr)
        return 2
    return 0


def _served(router: dict[str, Any], recorded: float) -> str:
    """What the router really serves (the gateway is asked, 0.3 s at most), against the record."""
    kind = router.get("type")
    if kind != "gateway":
        return f"not asked ({kind} router; launch-control --monitor checks it)"
    try:
        from launch_control.web.lighthttp import GatewayRouter, gateway_settings

        url, token, _timeout = gateway_settings({k: v for k, v in router.items() if k != "type"})
        served = GatewayRouter(url, token, timeout=0.3).get_weight()
    except Exception as exc:
        return f"unknown — router not answering ({str(exc)[:200]})"
    if abs(served - recorded) > 0.01:
        return f"canary {served:g}% — DIFFERS from the recorded {recorded:g}%: set it (launch-control --traffic)"
    return f"canary {served:g}% (router agrees)"


def _ago(when: dt.datetime, now: dt.datetime) -> str:
    from launch_control.plan.units import format_duration

    return f"{format_duration(max(0.0, (now - when).total_seconds()))} ago"
