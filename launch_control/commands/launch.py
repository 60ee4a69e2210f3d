"""Running the launch from the CLI: ``--start-canary``, ``--traffic N``, and the subcommands
``preflight``, ``freeze``, ``unfreeze``, ``deploy-canary``, ``pause``, ``resume``.

``--start-canary`` refuses after a failed preflight unless ``--force --reason "..."`` (audited);
it runs the ramp through Prefect when a server is configured (``PREFECT_API_URL``), else in this
process. ``--traffic N`` asks for confirmation above the current step's weight unless ``--yes``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from launch_control.errors import LaunchControlError, UsageError


class Refused(LaunchControlError):
    """A launch action refused for a reason the person can fix (exit 1)."""


def register(subparsers: Any) -> None:
    pre = subparsers.add_parser("preflight", help="run the checklist's automatic checks; tick passing items")
    pre.add_argument("--smoke-url", metavar="URL", help="run smoke tests against URL (default: the plan's)")
    pre.set_defaults(func=run_preflight_cmd)
    freeze = subparsers.add_parser("freeze", help="create the release tag and freeze the release branch")
    freeze.add_argument("--repo", metavar="PATH", help="git repository (default: release.repository of the plan)")
    freeze.set_defaults(func=run_freeze)
    unfreeze = subparsers.add_parser("unfreeze", help="lift the branch freeze")
    unfreeze.add_argument("--repo", metavar="PATH")
    unfreeze.set_defaults(func=run_unfreeze)
    deploy = subparsers.add_parser("deploy-canary", help="point the canary at the release version (deployer)")
    deploy.set_defaults(func=run_deploy_canary)
    for name, paused in (("pause", True), ("resume", False)):
        sub = subparsers.add_parser(name, help=f"{name} the canary ramp (the weight stays where it is)")
        sub.set_defaults(func=run_pause if paused else run_resume)


# --- global actions -----------------------------------------------------------------------------------


def _confirm(question: str) -> bool:
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    return line.strip().lower() in ("y", "yes")


def run_traffic(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.traffic import build_router

    plan, store = ctx.plan, ctx.store
    weight = float(args.traffic)
    state = store.state()
    step = state["current_step"]
    ceiling = plan.canary.steps[step].weight if step is not None else 0.0
    if weight > ceiling and not args.yes:
        where = f"step {step + 1}'s {ceiling:g}%" if step is not None else "0% (no step started)"
        if not _confirm(f"Send {weight:g}% of traffic to {plan.release.version}, above {where}?"):
            raise Refused(f"not confirmed: {weight:g}% is above {where}; add --yes to skip the question")
    router = build_router(plan.rollback.router, store=store, actor=ctx.actor)
    previous = state["canary_weight"]
    router.set_weight(weight)
    store.update_state(canary_weight=weight)
    store.audit(ctx.actor, "traffic.set", weight=weight, previous=previous, reason=args.reason or "")
    print(f"canary {plan.release.version}: {weight:g}% (was {previous:g}%) via {router.name}")
    return 0


def check_preflight(plan: Any, store: Any, *, actor: str, force: bool, reason: str, out: Any = print) -> None:
    """Refuse to start the canary after a failed preflight, unless forced with a reason (audited)."""
    from launch_control.preflight import preflight_blockers, run_preflight

    blockers = preflight_blockers(plan, store)
    if any("has not run" in b for b in blockers):
        out("preflight has not run yet; running it now")
        run_preflight(plan, store, out=out)
        blockers = preflight_blockers(plan, store)
    if not blockers:
        return
    if not force:
        raise Refused(
            "preflight failed, the canary does not start:\n  "
            + "\n  ".join(blockers)
            + '\nfix these and run launch-control preflight, or force: --start-canary --force --reason "why"'
        )
    if not reason.strip():
        raise UsageError('--force needs --reason "why" (it goes into the audit trail)')
    store.audit(actor, "engine.forced_start", reason=reason, blockers=blockers)
    out(f"starting despite a failed preflight (forced by {actor}: {reason})")


def prefect_configured() -> bool:
    return bool(os.environ.get("PREFECT_API_URL"))


def run_start_canary(args: argparse.Namespace, ctx: Any) -> int:
    plan, store = ctx.plan, ctx.store
    check_preflight(plan, store, actor=ctx.actor, force=args.force, reason=args.reason)
    if prefect_configured():
        print(f"running the canary_ramp flow through Prefect at {os.environ['PREFECT_API_URL']}")
        from flows.launch_day import canary_ramp

        state = canary_ramp(
            plan_path=plan.source, store_url=store.url, time_scale=args.time_scale or 1.0, return_state=True
        )
        print(f"flow ended {state.name}: {state.message or ''}")
        return 0 if state.is_completed() else 1
    from launch_control.engine import Engine

    print("no Prefect server configured (PREFECT_API_URL): running the ramp in this process")
    engine = Engine(plan, store, actor=ctx.actor, time_scale=args.time_scale, out=print)
    result = engine.run()
    print(f"{result.outcome}: {result.reason}")
    return 0 if result.ok else 1


# --- subcommands ---------------------------------------------------------------------------------------


def run_preflight_cmd(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.preflight import run_preflight

    report = run_preflight(ctx.plan, ctx.store, smoke_base_url=args.smoke_url, out=print)
    if not report.results:
        print("the plan has no automatic checks")
    print(
        f"preflight {'passed' if report.ok else 'FAILED'}: {len(report.results) - len(report.failed)} of "
        f"{len(report.results)} checks ok"
    )
    return 0 if report.ok else 1


def run_freeze(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.release import freeze_and_tag

    result = freeze_and_tag(ctx.plan, ctx.store, actor=ctx.actor, repo=args.repo)
    print(result.detail)
    return 0


def run_unfreeze(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.release import unfreeze

    removed = unfreeze(ctx.plan, ctx.store, actor=ctx.actor, repo=args.repo)
    print(f"{ctx.plan.release.branch} unfrozen" + (" (hook removed)" if removed else ""))
    return 0


def run_deploy_canary(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.deploy import build_deployer

    deployer = build_deployer(ctx.plan.rollback.deployer)
    detail = deployer.deploy("canary", ctx.plan.release.version)
    ctx.store.audit(ctx.actor, "deploy.canary", version=ctx.plan.release.version, detail=detail)
    print(detail)
    return 0


def run_pause(args: argparse.Namespace, ctx: Any) -> int:
    ctx.store.update_state(paused=True)
    ctx.store.audit(ctx.actor, "engine.pause", reason=args.reason or "paused from the CLI")
    print("ramp paused: the weight stays, gates keep judging, the hold clock stops (launch-control resume)")
    return 0


def run_resume(args: argparse.Namespace, ctx: Any) -> int:
    ctx.store.update_state(paused=False)
    ctx.store.audit(ctx.actor, "engine.unpause", reason=args.reason or "resumed from the CLI")
    print("ramp resumed")
    return 0
