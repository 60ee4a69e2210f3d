"""``launch-control degrade on|off|status``: set or clear the degradation status by hand.

The status (reason, retry-after, emergency flag, since) is what the API's ``/api/status`` and the
console's banner show; automatic sources (the live-model breaker, a rollback in progress) set and
clear their own entries beside the manual one. ``off`` clears the manual entry (``--all``: every
entry). Audited.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    degrade = subparsers.add_parser("degrade", help="set, clear or show the degradation status")
    sub = degrade.add_subparsers(dest="degrade_command", metavar="ACTION", required=True)
    on = sub.add_parser("on", help="mark the service degraded (shown on /api/status and the console)")
    on.add_argument("--reason", dest="degrade_reason", default=None, help="what users should be told (required)")
    on.add_argument("--retry-after", type=float, default=None, metavar="SECONDS", help="hint for clients")
    on.add_argument("--emergency", action="store_true", help="emergency mode (rate limits use the emergency phase)")
    on.set_defaults(func=run_on)
    off = sub.add_parser("off", help="clear the manual degradation status")
    off.add_argument("--all", action="store_true", help="also clear automatic entries (breaker, rollback)")
    off.add_argument("--reason", dest="degrade_reason", default=None, help="why (recorded in the audit trail)")
    off.set_defaults(func=run_off)
    status = sub.add_parser("status", help="show the degradation status")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=run_status)


def _board(ctx: Any) -> Any:
    from launch_control.protect.degrade import default_board

    return default_board(ctx.store)


def _reason(args: argparse.Namespace) -> str:
    return (args.degrade_reason if args.degrade_reason is not None else args.reason or "").strip()


def run_on(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.errors import UsageError
    from launch_control.protect.degrade import set_degraded

    reason = _reason(args)
    if not reason:
        raise UsageError('degrade on needs --reason "..." (what users are told, e.g. "live model outage")')
    if args.retry_after is not None and args.retry_after < 0:
        raise UsageError("--retry-after must be a number of seconds ≥ 0")
    status = set_degraded(
        _board(ctx), reason, source="manual", retry_after=args.retry_after, emergency=args.emergency, actor=ctx.actor
    )
    ctx.store.audit(ctx.actor, "degrade.on", reason=reason, emergency=args.emergency, retry_after=args.retry_after)
    ctx.console.print(f"degraded: {status.reason}" + (" [red](emergency)[/red]" if status.emergency else ""))
    return 0


def run_off(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.protect.degrade import clear_degraded

    status = clear_degraded(_board(ctx), None if args.all else "manual")
    ctx.store.audit(ctx.actor, "degrade.off", reason=_reason(args), all=args.all)
    if status.degraded:
        ctx.console.print(f"manual entry cleared; still degraded by {', '.join(status.sources)}: {status.reason}")
    else:
        ctx.console.print("not degraded")
    return 0


def run_status(args: argparse.Namespace, ctx: Any) -> int:
    import json

    from launch_control.protect.degrade import read_status

    status = read_status(_board(ctx))
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
        return 0
    if not status.degraded:
        ctx.console.print("not degraded")
        return 0
    ctx.console.print(f"[yellow]degraded[/yellow] since {status.since}: {status.reason}")
    ctx.console.print(f"  sources: {', '.join(status.sources)}  emergency: {'yes' if status.emergency else 'no'}")
    if status.retry_after is not None:
        ctx.console.print(f"  retry after: {status.retry_after:g} s")
    return 0
