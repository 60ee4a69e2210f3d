"""``launch-control plan validate [PATH]``, ``plan show`` and ``plan check``: check and read a launch plan.

``plan check`` is the feasibility check (issue 16): can each canary step, at the traffic it will
get, prove the canary within tolerance and detect a regression within its hold?
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    plan = subparsers.add_parser("plan", help="validate or show a launch plan")
    plan_sub = plan.add_subparsers(dest="plan_command", metavar="ACTION", required=True)
    validate = plan_sub.add_parser("validate", help="check a plan file; exit 2 naming every problem")
    validate.add_argument("path", nargs="?", help="plan file (default: --plan or the shipped plan)")
    validate.set_defaults(func=run_validate_plan)
    show = plan_sub.add_parser("show", help="print the plan's ramp, gates, timeline and checklist")
    show.add_argument("--json", action="store_true", help="the whole validated plan as JSON")
    show.set_defaults(func=run_show)
    check = plan_sub.add_parser(
        "check", help="can each canary step decide within its hold at the expected traffic? (exit 1 if not)"
    )
    check.add_argument("--rate", metavar="REQ_PER_S",
                       help="requests per second over both versions (default: the traffic recorded in the store)")
    check.add_argument("--observe", metavar="SECONDS",
                       help="watch the plan's metric source this long (1-300 s) and use the traffic it sees")
    check.add_argument("--stable-error", metavar="PERCENT",
                       help="stable's error rate, e.g. 1%% (default: recorded in the store, else 1%%)")
    check.add_argument("--time-scale", metavar="FACTOR", default="1",
                       help="as --start-canary --time-scale: a rehearsal's compressed holds")
    check.set_defaults(func=run_check)


def check_adapters(plan: Any) -> list[tuple[str, str]]:
    """Every adapter the plan names, checked against its module's ``Settings`` (field paths).

    Here, not in the plan room: it reaches into every adapter family's registry (plane and respond).
    The registries are imported only when a plan is validated, so other commands do not pay for them."""
    from launch_control.plane.deploy import DEPLOYERS
    from launch_control.plane.metrics import SOURCES
    from launch_control.plane.traffic import ROUTERS
    from launch_control.respond.notify import CHANNELS

    chosen = [
        ("rollback.router", ROUTERS, plan.rollback.router),
        ("rollback.deployer", DEPLOYERS, plan.rollback.deployer),
        ("analysis.metric_source", SOURCES, plan.analysis.metric_source),
    ]
    chosen += [(f"notifications.channels[{i}]", CHANNELS, c) for i, c in enumerate(plan.notifications.channels)]
    found = []
    for where, registry, config in chosen:
        try:
            found += [(f"{where}.{field}", what) for field, what in registry.problems(config.type, config.settings)]
        except ImportError as exc:
            found.append((f"{where}.type", f"the {config.type!r} adapter cannot be loaded here: {exc}"))
    return found


def run_validate_plan(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.plan.model import PlanError
    from launch_control.plan.planfile import plan_path, read_plan_bytes
    from launch_control.store import lastgood
    from launch_control.store.lastgood import load_plan

    plan = load_plan(args.path or ctx.plan_path, remember=False)
    if problems := check_adapters(plan):
        raise PlanError(plan.source or "<plan>", problems)
    lastgood.remember(plan, read_plan_bytes(plan_path(plan.source)))  # only a plan that passed every check
    steps = " → ".join(f"{s.weight:g}%" for s in plan.canary.steps)
    items = len(plan.checklist.items())
    ctx.console.print(
        f"[green]ok[/green] {plan.source}: {plan.release.product} {plan.release.version} "
        f"(stable {plan.release.stable_version}), ramp {steps}, {items} checklist items, "
        f"{len(plan.timeline.entries)} timeline entries"
    )
    return 0


def run_show(args: argparse.Namespace, ctx: Any) -> int:
    import json

    from rich.table import Table

    from launch_control.plan.metrics import is_fraction
    from launch_control.plan.model import dump_plan
    from launch_control.plan.units import format_duration

    plan = ctx.plan
    if args.json:
        print(json.dumps(dump_plan(plan), indent=2))
        return 0
    con = ctx.console
    con.print(f"[bold]{plan.release.product} {plan.release.version}[/bold] — stable {plan.release.stable_version}")
    con.print(f"plan: {plan.source}")
    ramp = Table(title="Canary ramp", title_justify="left")
    ramp.add_column("step")
    ramp.add_column("weight", justify="right")
    ramp.add_column("hold", justify="right")
    for i, step in enumerate(plan.canary.steps):
        ramp.add_row(str(i), f"{step.weight:g}%", format_duration(step.hold) if step.hold else "—")
    con.print(ramp)
    gates = Table(title=f"Gates (every {format_duration(plan.analysis.interval)})", title_justify="left")
    for col in ("metric", "SEV-3", "SEV-2", "SEV-1"):
        gates.add_column(col)
    for name, t in plan.analysis.metrics.items():
        fmt = (lambda v: f"{v:.0%}") if is_fraction(name) else format_duration
        sign = ">" if t.direction == "above" else "<"
        gates.add_row(name, *[f"{sign} {fmt(v)}" if v is not None else "" for v in (t.sev3, t.sev2, t.sev1)])
    con.print(gates)
    timeline = Table(title=f"Launch day ({plan.timeline.timezone})", title_justify="left")
    timeline.add_column("at")
    timeline.add_column("entry")
    timeline.add_column("action")
    for entry in plan.timeline.entries:
        day = f" +{entry.day}d" if entry.day else ""
        timeline.add_row(entry.at.strftime("%H:%M") + day, entry.title, entry.action)
    con.print(timeline)
    for phase, items in plan.checklist.sections():
        con.print(f"[bold]{phase}[/bold]: {len(items)} items")
    return 0


def _positive(text: str, flag: str, what: str) -> float:
    from launch_control.errors import UsageError

    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a number; give {what}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(f"{flag} must be a positive number (got {text}); give {what}")
    return value


def run_check(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.errors import UsageError
    from launch_control.plan.units import parse_percent
    from launch_control.ramp.feasibility import plan_feasibility, recorded_traffic

    plan = ctx.plan
    scale = _positive(args.time_scale, "--time-scale", "a factor such as 60")
    error: float | None = None
    if args.stable_error is not None:
        try:
            error = parse_percent(args.stable_error) / 100.0
        except ValueError as exc:
            raise UsageError(f"--stable-error: {exc}") from None
    if args.rate is not None:
        rate, source = _positive(args.rate, "--rate", "requests per second, e.g. --rate 50"), "--rate"
    elif args.observe is not None:
        from launch_control.ramp.feasibility import observed_traffic

        seconds = _positive(args.observe, "--observe", "seconds to watch, e.g. --observe 10")
        if seconds > 300:
            raise UsageError(f"--observe {args.observe}: at most 300 seconds; a few seconds of traffic is enough")
        rate, observed_error = observed_traffic(plan, seconds)
        source = f"observed on the metric source for {seconds:g} s"
        error = observed_error if error is None else error
    else:
        recorded = recorded_traffic(ctx.store)
        if recorded is None:
            raise UsageError(
                "no traffic recorded for this launch yet: give the expected rate, e.g. --rate 50 (requests per "
                "second over both versions)"
            )
        rate, source = recorded[0], "the traffic recorded in the store"
        error = recorded[1] if error is None else error
    steps = plan_feasibility(plan, rate, error, time_scale=scale)
    shown = f"{error:.2%}" if error is not None else "1% (assumed; --stable-error to change)"
    print(f"feasibility at {rate:,.4g} req/s ({source}), stable error rate {shown}:")
    for step in steps:
        print(f"  {'ok  ' if step.ok else 'SHORT'} {step.words()}")
    if not steps:
        print("  the plan has no canary step with a hold")
    return 0 if all(s.ok for s in steps) else 1
