"""Running the launch from the CLI: ``--start-canary``, ``--traffic N``, and the subcommands
``preflight``, ``freeze``, ``unfreeze``, ``deploy-canary``, ``pause``, ``resume``.

Every action goes through ``launch_control.control.operations`` (one audit name per operation, the same
as from the console and the flows). ``--start-canary`` refuses after a failed preflight unless
``--force --reason "..."``; it runs the ramp through Prefect when a server is configured
(``PREFECT_API_URL``, reached through ``launch_control.control.seams`` so this module never imports
prefect), else in this process, and exits non-zero when the ramp did not complete (e.g. "rolled
back by cli:lena: ..."). ``--traffic N`` asks for confirmation above the current step's weight
unless ``--yes``; mid-ramp, away from the step's weight, it pauses the ramp unless
``--replace-step``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from launch_control.errors import LaunchControlError


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
    carry = subparsers.add_parser("carry-out", help=argparse.SUPPRESS)  # started by the console
    carry.set_defaults(func=run_carry_out)
    for name, paused in (("pause", True), ("resume", False)):
        sub = subparsers.add_parser(name, help=f"{name} the canary ramp (the weight stays where it is)")
        sub.set_defaults(func=run_pause if paused else run_resume)


# --- global actions -----------------------------------------------------------------------------------


def _confirm(question: str) -> bool:
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    return line.strip().lower() in ("y", "yes")


def actor(ctx: Any) -> Any:
    from launch_control.control.operations import Actor

    return Actor(ctx.actor, "cli")


def control(ctx: Any) -> Any:
    from launch_control.control.operations import Control

    return Control(ctx.plan, ctx.store)


def run_traffic(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.control import operations as ops

    ctl = control(ctx)
    weight = float(args.traffic)
    state = ctl.state()
    step = state.current_step
    ceiling = ctl.step_weight(state) if step is not None else 0.0
    if weight > (ceiling or 0.0) and not args.yes:
        where = f"step {step + 1}'s {ceiling:g}%" if step is not None else "0% (no step started)"
        if not _confirm(f"Send {weight:g}% of traffic to {ctx.plan.release.version}, above {where}?"):
            raise Refused(f"not confirmed: {weight:g}% is above {where}; add --yes to skip the question")
    result = ops.set_traffic(ctl, actor(ctx), weight, args.reason or "", replace_step=bool(args.replace_step))
    print(f"{result.message} via {ctl.router.name}")
    return 0


def prefect_configured() -> bool:
    return bool(os.environ.get("PREFECT_API_URL"))


def run_start_canary(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.control import operations as ops

    plan, store = ctx.plan, ctx.store
    allowed = ops.start_ramp(control(ctx), actor(ctx), force=args.force, reason=args.reason)
    if allowed.details.get("blockers"):
        print(allowed.message)
    if prefect_configured():
        from launch_control.control import seams

        print(f"running the canary_ramp flow through Prefect at {os.environ['PREFECT_API_URL']}")
        ok, message = seams.run_canary_ramp(plan_path=plan.source, store_url=store.url, time_scale=args.time_scale)
        print(f"flow ended {'Completed' if ok else 'Failed'}: {message}")
        return 0 if ok else 1
    from launch_control.ramp.engine import Engine

    print("no Prefect server configured (PREFECT_API_URL): running the ramp in this process")
    engine = Engine(plan, store, actor=ctx.actor, time_scale=args.time_scale, out=print)
    result = engine.run()
    print(f"{result.outcome}: {result.reason}")
    return 0 if result.ok else 1


# --- subcommands ---------------------------------------------------------------------------------------


def run_preflight_cmd(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.ramp.preflight import run_preflight
    from launch_control.ramp.stages import run_stage

    report = run_stage(control(ctx), actor(ctx), "preflight",
                       lambda: run_preflight(ctx.plan, ctx.store, smoke_base_url=args.smoke_url, out=print))
    if not report.results:
        print("the plan has no automatic checks")
    print(
        f"preflight {'passed' if report.ok else 'FAILED'}: {len(report.results) - len(report.failed)} of "
        f"{len(report.results)} checks ok"
    )
    return 0 if report.ok else 1


def run_freeze(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.ramp.release import freeze_and_tag
    from launch_control.ramp.stages import run_stage

    result = run_stage(control(ctx), actor(ctx), "freeze_and_tag",
                       lambda: freeze_and_tag(ctx.plan, ctx.store, actor=ctx.actor, repo=args.repo), ok=lambda _r: True)
    print(result.detail)
    return 0


def run_unfreeze(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.ramp.release import unfreeze

    removed = unfreeze(ctx.plan, ctx.store, actor=ctx.actor, repo=args.repo)
    print(f"{ctx.plan.release.branch} unfrozen" + (" (hook removed)" if removed else ""))
    return 0


def run_deploy_canary(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.ramp import stages

    detail = stages.deploy_canary(control(ctx), actor(ctx))
    print(detail)
    return 0


def run_pause(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.control import operations as ops

    print(ops.pause(control(ctx), actor(ctx), args.reason or "paused from the CLI").message)
    return 0


def run_resume(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.control import operations as ops

    print(ops.resume(control(ctx), actor(ctx), args.reason or "resumed from the CLI").message)
    return 0


def run_carry_out(args: argparse.Namespace, ctx: Any) -> int:
    """Carry out what was asked of an engine when none runs (a gradual rollback from the console),
    under the engine lease, in this process."""

    from launch_control.ramp.engine import carry_out

    result = carry_out(control(ctx), actor(ctx), time_scale=args.time_scale, out=print)
    print(f"{result.outcome}: {result.reason}")
    return 0 if result.outcome in ("rolled_back", "completed") else 1
