"""``emergency-rollback [VERSION] "reason"`` and ``launch-control rollback``: all traffic to stable now.

The plan's invocations work verbatim::

    emergency-rollback "Critical issue detected"
    emergency-rollback v2.9.0 "Rollback to stable version"

Each stage is printed with its time since the trigger, then the TTR; the exit status is 0 only
when health was verified. This is the emergency path: no prefect, streamlit or pandas imports,
no confirmation prompt, nothing that waits for a person.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from launch_control.errors import UsageError

USAGE = 'emergency-rollback [VERSION] "reason"'


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emergency-rollback",
        usage=f"{USAGE} [--plan PATH] [--actor NAME]",
        description="Send all traffic to stable, roll the deployment back, verify health, report the TTR.",
    )
    parser.add_argument("words", nargs="+", metavar="[VERSION] REASON", help="optional version, then why")
    parser.add_argument("--plan", metavar="PATH", help="launch plan (default: $LAUNCH_CONTROL_PLAN or the shipped one)")
    parser.add_argument("--actor", metavar="NAME", help="who is acting (default: $LAUNCH_CONTROL_ACTOR or cli:<login>)")
    parser.add_argument("--budget", type=float, metavar="SECONDS", help="TTR budget (default: the plan's)")
    return parser


def split_words(words: list[str]) -> tuple[str | None, str]:
    """``["v2.9.0", "why"]`` → (``"v2.9.0"``, ``"why"``); ``["why"]`` → (None, ``"why"``)."""
    if len(words) == 1:
        return None, words[0]
    if len(words) == 2:
        return words[0], words[1]
    raise UsageError(f"expected {USAGE} — quote the reason (got {len(words)} words: {' '.join(words)!r})")


def _actor(explicit: str | None) -> str:
    import os

    from launch_control.cli import ACTOR_ENV, _login

    return explicit or os.environ.get(ACTOR_ENV) or f"cli:{_login()}"


def rollback_now(plan: Any, store: Any, *, version: str | None, reason: str, actor: str, budget: float | None) -> int:
    from launch_control.rollback import emergency_rollback

    if not reason.strip():
        raise UsageError(f"give a reason: {USAGE}")
    if version is not None and not version.strip():
        raise UsageError("the version is empty; leave it out to roll back to the plan's stable version")
    result = emergency_rollback(
        plan,
        store,
        reason=reason,
        actor=actor,
        trigger="manual",
        target_version=version,
        out=sys.stdout,
        budget=budget,
        flush=10.0,
    )
    print(result.message)
    return 0 if result.ok else 1


def run_emergency(argv: list[str]) -> int:
    """The ``emergency-rollback`` entry point (argv without the program name) → exit status."""
    args = _parser().parse_args(argv)
    version, reason = split_words(args.words)
    from launch_control.plan import load_plan
    from launch_control.store import Store

    plan = load_plan(args.plan)
    store = Store(launch_id=plan.launch_id)
    if args.budget is not None and args.budget <= 0:
        raise UsageError("--budget must be a positive number of seconds")
    return rollback_now(plan, store, version=version, reason=reason, actor=_actor(args.actor), budget=args.budget)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollback",
        help="roll back now (same as emergency-rollback); --gradual steps the weight down first",
    )
    parser.add_argument("words", nargs="+", metavar="[VERSION] REASON")
    parser.add_argument("--gradual", action="store_true", help="step down through rollback.gradual_steps, watching")
    parser.add_argument("--budget", type=float, metavar="SECONDS", help="TTR budget (default: the plan's)")
    parser.set_defaults(func=run_rollback)


def run_rollback(args: argparse.Namespace, ctx: Any) -> int:
    version, reason = split_words(args.words)
    if not args.gradual:
        return rollback_now(ctx.plan, ctx.store, version=version, reason=reason, actor=ctx.actor, budget=args.budget)
    from launch_control.engine import Engine

    engine = Engine(ctx.plan, ctx.store, actor=ctx.actor, time_scale=args.time_scale, out=print)
    result = engine.gradual_rollback(reason)
    print(f"{result.outcome}: {result.reason}")
    return 0 if result.outcome == "rolled_back" else 1
