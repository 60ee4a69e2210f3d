"""``launch-control incident open|ack|resolve|list|show|sweep|postmortem|oncall``: incidents for people.

``open`` follows the plan's SEV policy like an automatic incident (notifies its channels; a
SEV-1 whose policy says ``rollback: true`` rolls back unless ``--no-rollback``). Messages are
delivered before the command exits (up to ``--wait`` seconds). Every change is audited.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    incident = subparsers.add_parser("incident", help="open, acknowledge, resolve and list incidents")
    sub = incident.add_subparsers(dest="incident_command", metavar="ACTION", required=True)

    def waiting(p: argparse.ArgumentParser) -> None:
        p.add_argument("--wait", type=float, default=15.0, metavar="SECONDS",
                       help="how long to wait for notifications to go out before exiting (default 15)")

    p = sub.add_parser("open", help="open an incident (notifies per the plan's SEV policy)")
    p.add_argument("--severity", "-s", required=True, help="SEV-1, SEV-2 or SEV-3")
    p.add_argument("--summary", required=True, help="what is wrong, in one line")
    p.add_argument("--cause", default=None, help="a key for de-duplication (default: manual:<summary>)")
    p.add_argument("--component", default="api", help="status-page component (api, model)")
    p.add_argument("--no-rollback", action="store_true", help="do not roll back even if the SEV policy says so")
    waiting(p)
    p.set_defaults(func=run_open)
    p = sub.add_parser("ack", help="acknowledge an incident (stops escalation)")
    p.add_argument("id", type=int)
    waiting(p)
    p.set_defaults(func=run_ack)
    p = sub.add_parser("resolve", help="resolve an incident")
    p.add_argument("id", type=int)
    p.add_argument("--note", default="", help="what fixed it (shown in the all-clear)")
    waiting(p)
    p.set_defaults(func=run_resolve)
    p = sub.add_parser("list", help="list incidents (active ones unless --all)")
    p.add_argument("--all", action="store_true", help="include resolved incidents")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_list)
    p = sub.add_parser("show", help="one incident with its response times")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_show)
    p = sub.add_parser("sweep", help="auto-resolve quiet incidents and escalate unacknowledged ones, once")
    waiting(p)
    p.set_defaults(func=run_sweep)
    p = sub.add_parser("postmortem", help="render the post-mortem skeleton for an incident")
    p.add_argument("id", type=int)
    p.add_argument("--out", default="-", help="file to write (default: stdout)")
    p.set_defaults(func=run_postmortem)
    p = sub.add_parser("oncall", help="who is notified for each SEV, and the escalation ladder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_oncall)


def _manager(ctx: Any, *, rollback: bool = True) -> Any:
    from launch_control.respond.incidents import IncidentManager, production_manager

    manager = production_manager(ctx.plan, ctx.store, actor=ctx.actor)
    if not rollback:
        manager = IncidentManager(ctx.plan, ctx.store, notifier=manager.notifier, rollback=None)
    return manager


def _finish(ctx: Any, manager: Any, wait: float) -> None:
    if manager.notifier is not None and not manager.notifier.flush(wait):
        ctx.err.print(f"[yellow]some notifications were still being sent after {wait:g} s; see the console[/]")


def _describe(ctx: Any, incident: dict[str, Any]) -> str:
    from launch_control.plan.units import format_duration
    from launch_control.respond.incidents import response_times

    t = response_times(ctx.plan, incident)

    def d(v: float | None) -> str:
        return "—" if v is None else format_duration(v)

    mark = {True: " ✓", False: " ✗ missed", None: ""}
    return (
        f"#{incident['id']} {incident['severity']} {incident['status']}: {incident['summary']} "
        f"[cause {incident['cause']}] open {d(t.duration)}, ack {d(t.time_to_acknowledge)}{mark[t.acknowledge_met]}, "
        f"resolve {d(t.time_to_resolve)}{mark[t.resolve_met]} (target {d(t.target)})"
        + (f", escalated to {incident['escalated_to']}" if incident["escalated_to"] else "")
    )


def run_open(args: argparse.Namespace, ctx: Any) -> int:
    import re

    from launch_control.respond.incidents import normalise_severity

    severity = normalise_severity(args.severity)
    cause = args.cause or "manual:" + (re.sub(r"[^a-z0-9]+", "-", args.summary.lower()).strip("-")[:60] or "incident")
    manager = _manager(ctx, rollback=not args.no_rollback)
    incident_id = manager.report(cause, severity, args.summary, actor=ctx.actor, component=args.component,
                                 auto_resolve=False)
    ctx.console.print(_describe(ctx, ctx.store.incident(incident_id)), markup=False)
    _finish(ctx, manager, args.wait)
    return 0


def _operate(ctx: Any) -> tuple[Any, Any]:
    from launch_control.control import operations as ops

    ctl = ops.Control(ctx.plan, ctx.store)
    ctl._incidents = _manager(ctx)
    return ctl, ops.Actor(ctx.actor, "cli")


def run_ack(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.control import operations as ops

    ctl, who = _operate(ctx)
    result = ops.ack_incident(ctl, who, args.id)
    ctx.console.print(_describe(ctx, result.details), markup=False)
    _finish(ctx, ctl.incidents, args.wait)
    return 0


def run_resolve(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.control import operations as ops

    ctl, who = _operate(ctx)
    result = ops.resolve_incident(ctl, who, args.id, args.note)
    ctx.console.print(_describe(ctx, result.details), markup=False)
    _finish(ctx, ctl.incidents, args.wait)
    return 0


def _jsonable(incident: dict[str, Any], ctx: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from launch_control.respond.incidents import response_times

    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in incident.items()}
    data["response"] = asdict(response_times(ctx.plan, incident))
    return data


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    import json

    incidents = ctx.store.incidents(status=None if args.all else "active")
    if args.json:
        print(json.dumps([_jsonable(i, ctx) for i in incidents], indent=2))
        return 0
    if not incidents:
        ctx.console.print("no incidents" if args.all else "no active incidents")
    for incident in incidents:
        ctx.console.print(_describe(ctx, incident), markup=False)
    return 0


def run_show(args: argparse.Namespace, ctx: Any) -> int:
    import json

    from launch_control.errors import UsageError

    incident = ctx.store.incident(args.id)
    if incident is None:
        raise UsageError(f"no incident #{args.id}; list them with: launch-control incident list --all")
    if args.json:
        print(json.dumps(_jsonable(incident, ctx), indent=2, default=str))
    else:
        ctx.console.print(_describe(ctx, incident), markup=False)
    return 0


def run_sweep(args: argparse.Namespace, ctx: Any) -> int:
    manager = _manager(ctx)
    for action in manager.sweep():
        ctx.console.print(f"#{action['incident']}: {action['action']} {action.get('to') or action.get('note', '')}")
    _finish(ctx, manager, args.wait)
    return 0


def run_postmortem(args: argparse.Namespace, ctx: Any) -> int:
    from pathlib import Path

    from launch_control.errors import UsageError
    from launch_control.respond.templates import incident_context, render

    incident = ctx.store.incident(args.id)
    if incident is None:
        raise UsageError(f"no incident #{args.id}; list them with: launch-control incident list --all")
    rendered = render(ctx.plan, "post-mortem", incident_context(ctx.plan, ctx.store, incident))
    if args.out == "-":
        print(rendered.text, end="")
    else:
        Path(args.out).write_text(rendered.text, encoding="utf-8")
        ctx.console.print(f"wrote {args.out}")
    return 0


def run_oncall(args: argparse.Namespace, ctx: Any) -> int:
    import json

    from launch_control.plan.units import format_duration
    from launch_control.respond.incidents import SEVERITIES
    from launch_control.respond.oncall import who_is_notified

    table = [who_is_notified(ctx.plan, sev) for sev in SEVERITIES]
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    for row in table:
        target = "—" if row["respond_within"] is None else format_duration(row["respond_within"])
        first = ", ".join(f"{p['name']} ({p['role']})" for p in row["first"])
        ctx.console.print(
            f"[bold]{row['severity']}[/] respond within {target}{' · rolls back' if row['rollback'] else ''} · "
            f"channels {', '.join(row['channels']) or 'none'} · first {first}"
        )
        for step in row["escalation"]:
            who = f"{step['name']} ({step['role']}) {step['contact']}"
            ctx.console.print(f"    after {format_duration(step['at'])}: {who}")
    return 0
