"""Run the gateway under uvicorn from the command line (uvloop, httptools, access log off).

    python -m launch_control.gateway --upstream v2.9.0=http://127.0.0.1:8101 \
        --upstream v3.0.0=http://127.0.0.1:8102 --stable v2.9.0 --canary v3.0.0 --port 8080

The admin token comes from LAUNCH_CONTROL_ADMIN_TOKEN, else the data directory's token file
(created when missing) — never from the command line, where ``ps`` would show it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _upstream(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected VERSION=URL, e.g. v2.9.0=http://127.0.0.1:8101; got {text!r}")
    return name, url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m launch_control.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=_upstream, action="append", required=True, metavar="VERSION=URL")
    parser.add_argument("--stable", required=True, metavar="VERSION", help="version the stable role serves")
    parser.add_argument("--canary", required=True, metavar="VERSION", help="version the canary role serves")
    parser.add_argument("--canary-weight", type=float, default=0.0, metavar="PERCENT")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="upstream connect/read timeout")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: launch_control.config.PORTS['gateway']")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--plan", default=None, metavar="PATH", help="protect with this plan's WAF and rate limits")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import uvicorn

    from launch_control.config import PORTS, ensure_admin_token
    from launch_control.gateway.app import create_app

    plan = store = None
    if args.plan:  # protection (launch_control.ratelimit.protect), opt-in
        from launch_control.plan import load_plan
        from launch_control.store import Store

        plan = load_plan(args.plan)
        store = Store(launch_id=plan.launch_id)
    try:
        app = create_app(
            upstreams=dict(args.upstream),
            stable=args.stable,
            canary=args.canary,
            admin_token=ensure_admin_token(),
            canary_weight=args.canary_weight,
            timeout=args.timeout,
            plan=plan,
            store=store,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port or PORTS["gateway"],
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        timeout_keep_alive=30,  # clients (load balancers, the load generator) may keep connections open
        timeout_graceful_shutdown=3,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
