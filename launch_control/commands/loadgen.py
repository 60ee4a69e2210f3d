"""``launch-control loadgen [URL]``: paced synthetic load from many orgs (see launch_control.plane.demo.loadgen)."""

from __future__ import annotations

import argparse
from typing import Any

from launch_control.plane.demo.loadgen_args import add_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "loadgen",
        help="send synthetic load from many orgs to the local gateway (loopback only)",
        description="Send a realistic mix of PromptForge calls from many synthetic orgs at a set rate; "
        "prints progress and a per-version summary (requests, statuses, p50/p95/p99).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run_loadgen)


def run_loadgen(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.plane.demo.loadgen import run_from_args

    return run_from_args(args, ctx.console)
