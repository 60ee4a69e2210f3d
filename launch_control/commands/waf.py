"""``launch-control waf block|unblock|list``: the WAF's run-time blocklist (IPs, CIDRs, org ids).

Changes go to the shared status board (the store, mirrored to Redis when LAUNCH_CONTROL_REDIS_URL
is set); running services re-read it within about a second. Every change is audited.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    waf = subparsers.add_parser("waf", help="block or unblock IPs/CIDRs and orgs at run time")
    sub = waf.add_subparsers(dest="waf_command", metavar="ACTION", required=True)
    for action, text in (("block", "block an IP/CIDR or an org"), ("unblock", "lift a block")):
        p = sub.add_parser(action, help=text)
        p.add_argument("kind", choices=["ip", "org"], help="what to block: ip (an IP or CIDR) or org (an org id)")
        p.add_argument("value", help="e.g. 203.0.113.7, 10.0.0.0/8 or acme")
        p.add_argument("--reason", dest="waf_reason", default=None, help="why (recorded in the audit trail)")
        p.set_defaults(func=run_change, add=action == "block")
    listing = sub.add_parser("list", help="show the blocklists (plan and run time)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)


def _board(ctx: Any) -> Any:
    from launch_control.protect.degrade import default_board

    return default_board(ctx.store)


def run_change(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.protect.waf import change_blocklist, parse_network

    reason = args.waf_reason if args.waf_reason is not None else args.reason
    value = str(parse_network(args.value)) if args.kind == "ip" else args.value
    change_blocklist(_board(ctx), args.kind, value, add=args.add)
    ctx.store.audit(ctx.actor, "waf.block" if args.add else "waf.unblock", kind=args.kind, value=value, reason=reason)
    verb = "blocked" if args.add else "unblocked"
    ctx.console.print(f"{verb} {args.kind} {value}; services apply it within about a second")
    return 0


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    import json

    from launch_control.protect.waf import read_blocklist

    runtime = read_blocklist(_board(ctx))
    plan = {"ips": list(ctx.plan.waf.blocked_ips), "orgs": list(ctx.plan.waf.blocked_orgs)}
    if args.json:
        print(json.dumps({"plan": plan, "runtime": runtime}, indent=2))
        return 0
    con = ctx.console
    for label, data in (("plan", plan), ("run time", runtime)):
        con.print(f"[bold]{label}[/bold]")
        con.print(f"  ips:  {', '.join(data['ips']) or '—'}")
        con.print(f"  orgs: {', '.join(data['orgs']) or '—'}")
    return 0
