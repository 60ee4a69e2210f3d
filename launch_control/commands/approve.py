"""``launch-control approve [--no-go] [--note TEXT]``: answer the ramp's go/no-go for the next step.

Works for a ramp in this machine's store (the engine polls for the answer) and for a Prefect
flow paused with ``pause_flow_run(wait_for_input=...)`` (resumed with the answer as its input).
"""

from __future__ import annotations

import argparse
from typing import Any

from launch_control.errors import LaunchControlError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("approve", help="go (or --no-go) for the ramp's next step")
    parser.add_argument("--no-go", action="store_true", help="refuse: the ramp rolls back")
    parser.add_argument("--note", default="", help="why, for the audit trail")
    parser.set_defaults(func=run_approve)


def run_approve(args: argparse.Namespace, ctx: Any) -> int:
    store = ctx.store
    waiting = (store.state().get("extra") or {}).get("awaiting_approval")
    if not waiting:
        raise LaunchControlError("nothing is waiting for a go/no-go (launch-control --status shows the ramp)")
    approved = not args.no_go
    step = waiting.get("step")
    store.audit(ctx.actor, "launch.approve" if approved else "launch.reject", step=step, note=args.note)
    if waiting.get("flow_run_id"):
        from prefect.flow_runs import resume_flow_run

        resume_flow_run(waiting["flow_run_id"], run_input={"approved": approved, "by": ctx.actor, "note": args.note})
    word = "GO" if approved else "NO-GO"
    number = int(step) + 1 if step is not None else "?"
    print(f"{word} for step {number} ({waiting.get('weight', '?')}%) by {ctx.actor}")
    return 0
