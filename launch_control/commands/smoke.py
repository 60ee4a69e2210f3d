"""``launch-control smoke [--base-url URL]``: the plan's smoke requests, one line each; exit 1 on failure."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("smoke", help="run the plan's smoke tests (requests with expected answers)")
    parser.add_argument("--base-url", metavar="URL", help="target (default: smoke_tests.base_url of the plan)")
    parser.add_argument("--record", action="store_true", help="record the result as the smoke checklist check")
    parser.set_defaults(func=run_smoke_cmd)


def run_smoke_cmd(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.ramp.preflight import run_smoke

    plan = ctx.plan
    if not plan.smoke_tests.requests:
        print("the plan has no smoke_tests.requests")
        return 1
    results = run_smoke(plan.smoke_tests, args.base_url)
    for r in results:
        print(f"  {'ok  ' if r.ok else 'FAIL'} {r.item_id}: {r.detail}")
    failed = [r for r in results if not r.ok]
    print(f"smoke tests {'passed' if not failed else 'FAILED'}: {len(results) - len(failed)} of {len(results)} ok")
    if args.record:
        for _phase, item in plan.checklist.items():
            if item.check is not None and item.check.type == "smoke":
                ctx.store.record_check(item.id, not failed, f"{len(results) - len(failed)} of {len(results)} ok")
    return 1 if failed else 0
