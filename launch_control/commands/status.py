"""``launch-control --status``: the launch's state in a few lines, fast (no heavy imports)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any


def run_status(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.store import utcnow
    from launch_control.units import format_duration

    plan, store = ctx.plan, ctx.store
    state = store.state()
    con = ctx.console
    con.print(f"[bold]{plan.release.product} {plan.release.version}[/bold] (stable {plan.release.stable_version})")
    con.print(f"  plan:    {plan.source}")
    con.print(f"  store:   {store.describe()}")
    phase = state["phase"] + (" (paused)" if state["paused"] else "")
    con.print(f"  phase:   {phase}")
    weight = state["canary_weight"]
    release = plan.release
    con.print(f"  traffic: canary {release.version} {weight:g}% · stable {release.stable_version} {100 - weight:g}%")
    step = state["current_step"]
    if step is not None and 0 <= step < len(plan.canary.steps):
        hold = plan.canary.steps[step].hold
        line = f"  step:    {step + 1} of {len(plan.canary.steps)} ({plan.canary.steps[step].weight:g}%)"
        started = state["step_started_at"]
        if started and hold:
            scale = float(state["extra"].get("time_scale", 1.0) or 1.0)
            left = max(0.0, hold / scale - (utcnow() - started).total_seconds())
            line += f", {format_duration(left)} left in a {format_duration(hold / scale)} hold"
        con.print(line)
    con.print(f"  frozen:  {'yes' if state['frozen'] else 'no'}   degraded: {'yes' if state['degraded'] else 'no'}")
    decisions = store.decisions(limit=1)
    if decisions:
        d = decisions[-1]
        con.print(f"  gate:    {d['verdict']} — {d['reason']} ({_ago(d['at'])})")
    active = store.incidents(status="active")
    if active:
        worst = min(i["severity"] for i in active)
        con.print(f"  incidents: [red]{len(active)} open[/red] (worst {worst})")
    else:
        con.print("  incidents: none open")
    rollbacks = store.rollbacks()
    if rollbacks:
        last = rollbacks[-1]
        ttr = f"TTR {last['ttr_seconds']:.2f} s" if last["ttr_seconds"] is not None else "not verified"
        con.print(f"  last rollback: {_ago(last['started_at'])}, {ttr} — {last['reason']}")
    return 0


def _ago(when: dt.datetime) -> str:
    from launch_control.store import utcnow
    from launch_control.units import format_duration

    return f"{format_duration(max(0.0, (utcnow() - when).total_seconds()))} ago"
