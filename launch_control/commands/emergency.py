"""``emergency-rollback [VERSION] "reason"`` and ``launch-control rollback``: all traffic to stable now.

The plan's invocations work verbatim::

    emergency-rollback "Critical issue detected"
    emergency-rollback v2.9.0 "Rollback to stable version"

Each stage is printed with its time since the trigger, then the TTR; the exit status is 0 only
when health was verified. This is the emergency path: no prefect, streamlit or pandas imports,
no confirmation prompt, nothing that waits for a person.

``emergency-rollback`` never depends on today's plan parsing (``launch_control.store.lastgood``): an
unchanged plan is read from its compiled copy (plain JSON, no YAML or pydantic), a broken or
missing one is replaced by the last good copy (said plainly), and with neither it prints the
manual command and exits 3. The store is written through sqlite3 (``litestore``) and the gateway
called through http.client (``lighthttp``), so it answers near the interpreter's start-up time.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from launch_control.commands.actor import who_is_acting
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


NO_PLAN_EXIT = 3


def rollback_now(
    plan: Any,
    store: Any,
    *,
    version: str | None,
    reason: str,
    actor: str,
    budget: float | None,
    router: Any = None,
    deployer: Any = None,
    notifier: Any = None,
) -> int:
    from launch_control.ramp.rollback import emergency_rollback

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
        router=router,
        deployer=deployer,
        notifier=notifier,
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
    if args.budget is not None and args.budget <= 0:
        raise UsageError("--budget must be a positive number of seconds")
    if not reason.strip():
        raise UsageError(f"give a reason: {USAGE}")
    from launch_control.store.lastgood import NoPlan, choose

    try:
        choice = choose(args.plan)
    except NoPlan as exc:
        print(f"error: {exc}", file=sys.stderr)
        return NO_PLAN_EXIT
    if choice.note:
        print(choice.note, flush=True)
    plan = choice.view()
    store = _hot_store(choice.launch_id)
    status = rollback_now(
        plan, store, version=version, reason=reason, actor=who_is_acting(args.actor), budget=args.budget,
        router=_hot_router(plan), deployer=_hot_deployer(plan), notifier=DeferredNotifier(choice.compiled, store),
    )  # fmt: skip
    if choice.fallback:
        print(f"(this rollback used the last good plan of {choice.compiled.get('source')}, not the broken file)")
    return status


def _hot_store(launch_id: str) -> Any:
    """The store through sqlite3 when possible; one that cannot be opened does not stop the rollback."""
    try:
        from launch_control.store.litestore import open_hot_store

        return open_hot_store(launch_id)
    except Exception as exc:
        print(f"warning: the launch store cannot be opened ({exc}); rolling back without recording", file=sys.stderr)
        return _Unrecorded(launch_id)


class _Unrecorded:
    """A store that is down: every record call fails (and is logged), the rollback goes on."""

    def __init__(self, launch_id: str):
        self.launch_id = launch_id

    def __getattr__(self, name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("launch store unavailable")

        return fail


def _hot_router(plan: Any) -> Any:
    """The gateway router without httpx; None lets the rollback build any other type (or report why not)."""
    router = plan.rollback.router
    if router.type != "gateway":
        return None
    try:
        from launch_control.web.lighthttp import GatewayRouter, gateway_settings

        url, token, timeout = gateway_settings(router.settings)
        return GatewayRouter(url, token, timeout=timeout)
    except Exception:
        return None


def _hot_deployer(plan: Any) -> Any:
    deployer = plan.rollback.deployer
    try:
        if deployer.type == "gateway":
            from launch_control.web.lighthttp import GatewayDeployer, gateway_settings

            url, token, timeout = gateway_settings(deployer.settings)
            return GatewayDeployer(url, token, timeout)
        if deployer.type == "noop" and not deployer.settings:
            from launch_control.plane.deploy.noop import NoopDeployer

            return NoopDeployer()
    except Exception:
        return None
    return None


class DeferredNotifier:
    """The plan's Notifier, built only when the rollback sends (after the TTR is taken): the full
    plan model, SQLAlchemy and httpx are not worth their import time before traffic is safe."""

    def __init__(self, compiled: dict[str, Any], store: Any):
        self.compiled, self.store = compiled, store
        self.inner: Any = None

    def send(self, kind: str, subject: str, text: str, *, channels: Any = None, **extra: Any) -> None:
        if not self.compiled["hot"].get("channels"):
            return  # the plan has no notification channels: nothing to build
        from launch_control.plan.model import parse_plan
        from launch_control.respond.notify import Notifier
        from launch_control.store.db import Store

        plan = parse_plan(self.compiled["plan"], self.compiled.get("source") or "<last good plan>")
        store = self.store if isinstance(self.store, Store) else Store(self.store.url, launch_id=plan.launch_id)
        self.inner = Notifier(plan, store)
        self.inner.send(kind, subject, text, channels=channels, **extra)

    def flush(self, timeout: float) -> bool:
        return True if self.inner is None else bool(self.inner.flush(timeout))


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
    from launch_control.control import operations as ops

    ctl, who = ops.Control(ctx.plan, ctx.store), ops.Actor(ctx.actor, "cli")
    asked = ops.gradual_rollback(ctl, who, reason)
    print(asked.message)
    if asked.details.get("engine_alive"):
        return 0  # the running engine carries it out under its lease; --monitor shows it
    from launch_control.ramp.engine import carry_out

    result = carry_out(ctl, who, time_scale=args.time_scale, out=print)
    print(f"{result.outcome}: {result.reason}")
    return 0 if result.outcome == "rolled_back" else 1
