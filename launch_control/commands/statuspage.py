"""``launch-control statuspage``: serve the public status page (HTML and Statuspage-style JSON)
on 127.0.0.1, or print its JSON once with ``--json``."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_PORT = 8090


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("statuspage", help="serve the status page (component states from incidents)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--json", action="store_true", help="print the status as JSON once and exit")
    p.set_defaults(func=run_statuspage)


def run_statuspage(args: argparse.Namespace, ctx: Any) -> int:
    import json

    from launch_control.errors import UsageError
    from launch_control.respond.statuspage import create_app, summary

    if args.json:
        print(json.dumps(summary(ctx.plan, ctx.store, url=f"http://{args.host}:{args.port}"), indent=2))
        return 0
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: give a TCP port between 1 and 65535")
    import uvicorn

    ctx.console.print(f"status page on http://{args.host}:{args.port}/ (JSON: /api/v2/summary.json) — Ctrl-C stops")
    uvicorn.run(create_app(ctx.plan, ctx.store), host=args.host, port=args.port, log_level="warning",
                access_log=False)
    return 0
