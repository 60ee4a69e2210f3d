"""``launch-control loadgen [URL]``: paced synthetic load from many orgs (see launch_control.plane.demo.loadgen)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "loadgen",
        help="send synthetic load from many orgs to the local gateway (loopback only)",
        description="Send a realistic mix of PromptForge calls from many synthetic orgs at a set rate; "
        "prints progress and a per-version summary (requests, statuses, p50/p95/p99).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run_loadgen)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", nargs="?", default=None, help="target (default: the local gateway, http://127.0.0.1:8080)"
    )
    parser.add_argument("--rps", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--orgs", type=int, default=2000, help="synthetic orgs (default 2000)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many requests")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--anonymous", type=float, default=0.0, help="fraction of requests without an org id")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--summary-file", default=None, help="also write the JSON summary to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run_loadgen(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.plane.demo.loadgen import run_from_args

    return run_from_args(args, ctx.console)
