"""``launch-control --monitor`` (and ``monitor --once``): a live terminal view of the ramp.

Step and weight, time left in the hold with a progress bar, the latest gate verdicts with their
reasons, open incidents and the last rollback — read from the store every second, so it works
beside an engine running anywhere (this process, a Prefect worker, another machine).
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("monitor", help="live view of the ramp (same as --monitor)")
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument("--every", type=float, default=1.0, metavar="SECONDS", help="refresh period (default 1)")
    parser.set_defaults(func=run_monitor)


def snapshot(plan: Any, store: Any) -> Any:
    """One rendering of the launch's state as a rich renderable."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    from launch_control.control.state import LaunchState, engine_words, phase_words, served_words, step_hold, time_left
    from launch_control.plan.units import format_duration
    from launch_control.store.db import utcnow

    state = store.state()
    typed = LaunchState.from_row(state)
    steps = plan.canary.steps
    step = state["current_step"]
    head = Text.assemble(
        (f"{plan.release.product} {plan.release.version}", "bold"),
        f"  {phase_words(typed)}  ·  canary {state['canary_weight']:g}%  ·  stable {100 - state['canary_weight']:g}%",
    )
    parts: list[Any] = [head]
    alive = engine_words(typed, utcnow())
    parts.append(Text(alive, "green" if alive.startswith("engine alive") else "yellow"))
    if warning := served_words(typed):
        parts.append(Text(f"WARNING: {warning}", "bold red"))
    ramp = " → ".join(
        f"[reverse]{s.weight:g}%[/reverse]" if i == step else f"{s.weight:g}%" for i, s in enumerate(steps)
    )
    parts.append(Text.from_markup(f"ramp: {ramp}"))
    hold = step_hold(typed, [s.hold for s in steps])
    left = time_left(typed, hold)  # the one figure: green time against the hold, frozen while paused
    if left is not None and step is not None:
        frozen = " — frozen while paused" if typed.paused else ""
        parts.append(
            Text(
                f"step {step + 1} of {len(steps)}: {format_duration(left)} left of a "
                f"{format_duration(hold)} hold (green time only{frozen})"
            )
        )
        parts.append(ProgressBar(total=hold, completed=hold - left, width=60))
    if typed.awaiting_approval:
        wait = typed.awaiting_approval
        parts.append(Text(f"waiting for go/no-go on {wait.get('weight', '?')}%: launch-control approve", "yellow"))
    verdicts = Table(title="latest gate verdicts", title_justify="left", expand=False)
    for column in ("at", "step", "weight", "verdict", "reason"):
        verdicts.add_column(column)
    colour = {"pass": "green", "hold": "yellow", "fail": "red"}
    for d in store.decisions(limit=8):
        ago = format_duration(max(0.0, (utcnow() - d["at"]).total_seconds()))
        verdicts.add_row(
            f"{ago} ago",
            str((d["step"] or 0) + 1) if d["step"] is not None else "",
            f"{d['weight']:g}%" if d["weight"] is not None else "",
            f"[{colour.get(d['verdict'], 'white')}]{d['verdict']}[/]",
            d["reason"],
        )
    parts.append(verdicts)
    active = store.incidents(status="active")
    if active:
        incidents = Table(title="open incidents", title_justify="left")
        for column in ("#", "severity", "cause", "summary"):
            incidents.add_column(column)
        for i in active:
            incidents.add_row(str(i["id"]), i["severity"], i["cause"], i["summary"])
        parts.append(incidents)
    else:
        parts.append(Text("no open incidents", "green"))
    rollbacks = store.rollbacks()
    if rollbacks:
        last = rollbacks[-1]
        ttr = f"TTR {last['ttr_seconds']:.2f} s" if last["ttr_seconds"] is not None else "not verified"
        style = "red" if not last["ok"] else ""
        parts.append(Text(f"last rollback: {last['trigger']} — {last['reason']} ({ttr})", style))
    return Group(*parts)


def run_monitor(args: argparse.Namespace, ctx: Any) -> int:
    from rich.live import Live

    plan, store, console = ctx.plan, ctx.store, ctx.console
    if getattr(args, "once", False):
        console.print(snapshot(plan, store))
        return 0
    every = max(0.2, float(getattr(args, "every", 1.0) or 1.0))
    try:
        with Live(snapshot(plan, store), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(every)
                live.update(snapshot(plan, store))
    except KeyboardInterrupt:
        return 0
