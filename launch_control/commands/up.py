"""``launch-control up``: the demo traffic plane on this machine until Ctrl-C.

Starts the stand-in model, stable and canary demo services and the gateway (``DemoStack``),
optionally the load generator (``--load RPS``), prints the URLs, and on Ctrl-C or SIGTERM stops
everything — no orphan processes, ports freed. If a part dies, the rest is stopped and it exits 1.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the demo service (stable + canary), stand-in model and gateway until Ctrl-C",
        description="Start the demo traffic plane on 127.0.0.1: stand-in model, stable and canary "
        "PromptForge services and the gateway; optionally synthetic load. Ctrl-C stops everything.",
    )
    parser.add_argument("--load", type=float, default=None, metavar="RPS", help="also send RPS requests/s of load")
    parser.add_argument("--orgs", type=int, default=2000, help="synthetic orgs for --load (default 2000)")
    parser.add_argument("--canary-weight", type=float, default=0.0, metavar="PERCENT", help="initial canary share")
    for name in ("gateway", "stable", "canary", "model"):
        parser.add_argument(f"--{name}-port", type=int, default=None, metavar="PORT", help=f"{name} port")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="gateway worker processes sharing the port, the split and the metrics (default 1)",
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds (scripts, tests)")
    parser.set_defaults(func=run_up)


def run_up(args: argparse.Namespace, ctx: Any) -> int:
    import signal
    import threading
    import time

    from launch_control.config import token_file
    from launch_control.errors import UsageError
    from launch_control.plane.demo.stack import DemoStack

    if args.load is not None and not args.load > 0:
        raise UsageError(f"--load is requests per second and must be positive, got {args.load:g}")
    if not 0.0 <= args.canary_weight <= 100.0:
        raise UsageError(f"--canary-weight is percent 0-100, got {args.canary_weight:g}")
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers is the number of gateway processes, 1-64, got {args.workers}")
    ports = {name: getattr(args, f"{name}_port") for name in ("gateway", "stable", "canary", "model")}
    for name, port in ports.items():
        if port is not None and not 0 < port < 65536:
            raise UsageError(f"--{name}-port must be 1-65535, got {port}")

    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    con = ctx.console

    def say(text: str) -> None:
        con.print(text, soft_wrap=True)

    stack = DemoStack(
        ctx.plan,
        ports={k: v for k, v in ports.items() if v},
        canary_weight=args.canary_weight,
        gateway_workers=args.workers,
    )
    code = 0
    try:
        with con.status("starting model, stable, canary and gateway ..."):
            stack.start()
        con.print(f"[bold]{ctx.plan.release.product} traffic plane is up[/bold]")
        workers = f", {args.workers} workers" if args.workers > 1 else ""
        say(f"  gateway  {stack.gateway_url}   (weights: {stack.gateway_url}/admin/weights{workers})")
        say(f"  stable   {stack.stable_url}   {stack.stable_version}")
        say(f"  canary   {stack.canary_url}   {stack.canary_version}  ({args.canary_weight:g}% of traffic)")
        say(f"  model    {stack.model_url}")
        say(f"  metrics  {stack.gateway_url}/metrics")
        say(f"  admin token: {token_file()} (or $LAUNCH_CONTROL_ADMIN_TOKEN)")
        if args.load:
            stack.start_load(args.load, orgs=args.orgs)
            say(f"  load     {args.load:g} req/s from {args.orgs} orgs")
        con.print("ready — Ctrl-C stops everything", highlight=False)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not stopping.wait(0.5):
            dead = stack.dead()
            if dead:
                for name in dead:
                    con.print(f"[red]{name} exited[/red]; last log lines:\n{stack.log_tail(name)}")
                code = 1
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        con.print("stopping ...")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    busy = stack.ports_in_use()
    if busy:
        con.print(f"[yellow]stopped, but port(s) still answer: {', '.join(map(str, busy))}[/yellow]")
        return code or 1
    con.print("stopped; all processes ended, ports freed")
    return code
