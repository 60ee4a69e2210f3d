"""``launch-control approve [--no-go] [--note TEXT]``: answer the ramp's go/no-go for the next step.

Works for a ramp in this machine's store (the engine polls for the answer) and for a Prefect
flow paused with ``pause_flow_run(wait_for_input=...)`` (resumed with the answer as its input).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("approve", help="go (or --no-go) for the ramp's next step")
    parser.add_argument("--no-go", action="store_true", help="refuse: the ramp rolls back")
    parser.add_argument("--note", default="", help="why, for the audit trail")
    parser.set_defaults(func=run_approve)


def run_approve(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.control import operations as ops

    ctl, who = ops.Control(ctx.plan, ctx.store), ops.Actor(ctx.actor, "cli")
    result = ops.no_go(ctl, who, args.note) if args.no_go else ops.approve(ctl, who, args.note)
    print(result.message)
    return 0
