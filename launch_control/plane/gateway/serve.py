"""Run the gateway under uvicorn from the command line (uvloop, httptools, access log off).

    python -m launch_control.plane.gateway --upstream v2.9.0=http://127.0.0.1:8101 \
        --upstream v3.0.0=http://127.0.0.1:8102 --stable v2.9.0 --canary v3.0.0 --port 8080 \
        [--workers 2]

``--workers N`` (N > 1) starts a supervisor with N worker processes sharing the port, the split
and the metrics (``supervisor.py``). The admin token comes from LAUNCH_CONTROL_ADMIN_TOKEN, else
the data directory's token file (created when missing) — never from the command line, where
``ps`` would show it.
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


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes from 1 to 64, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m launch_control.plane.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=_upstream, action="append", required=True, metavar="VERSION=URL")
    parser.add_argument("--stable", required=True, metavar="VERSION", help="version the stable role serves")
    parser.add_argument("--canary", required=True, metavar="VERSION", help="version the canary role serves")
    parser.add_argument("--canary-weight", type=float, default=0.0, metavar="PERCENT")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="upstream connect/read timeout")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: launch_control.config.PORTS['gateway']")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--plan", default=None, metavar="PATH", help="protect with this plan's WAF and rate limits")
    parser.add_argument("--workers", type=_workers, default=1, metavar="N", help="worker processes (default 1)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # i/N, set by the supervisor
    parser.add_argument("--shared", default=None, help=argparse.SUPPRESS)  # the supervisor's shared files
    return parser


def _without_workers(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from launch_control.config import PORTS

    port = args.port or PORTS["gateway"]
    if not 0.0 <= args.canary_weight <= 100.0:
        print(f"error: --canary-weight is percent 0-100, got {args.canary_weight:g}", file=sys.stderr)
        return 2
    known = dict(args.upstream)
    if args.workers > 1 and args.worker is None:
        from launch_control.plane.gateway.supervisor import Supervisor

        for role, name in (("stable", args.stable), ("canary", args.canary)):
            if name not in known:
                listed = ", ".join(known)
                print(f"error: {role} version {name!r} is not among the upstreams ({listed})", file=sys.stderr)
                return 2
        supervisor = Supervisor(
            [*_without_workers(argv), "--port", str(port)],
            workers=args.workers,
            host=args.host,
            port=port,
            known=list(known),
            canary_weight=args.canary_weight,
            stable=args.stable,
            canary=args.canary,
        )
        return supervisor.run()
    return _serve(args, known, port)


def _serve(args: argparse.Namespace, known: dict[str, str], port: int) -> int:
    import uvicorn

    from launch_control.config import ensure_admin_token
    from launch_control.plane.gateway.app import create_app
    from launch_control.plane.gateway.coalesce import CoalescingHttpToolsProtocol

    state = metrics = sockets = None
    worker, workers = 0, 1
    if args.worker is not None:
        from launch_control.plane.gateway.supervisor import reuseport_socket, worker_state

        state, metrics, worker, workers = worker_state(args.shared, list(known), args.worker)
        sockets = [reuseport_socket(args.host, port)]
    plan = store = None
    if args.plan:  # protection (launch_control.protect.layers), opt-in
        from launch_control.store.db import Store
        from launch_control.store.lastgood import load_plan

        plan = load_plan(args.plan)
        store = Store(launch_id=plan.launch_id)
    try:
        app = create_app(
            upstreams=known,
            stable=args.stable,
            canary=args.canary,
            admin_token=ensure_admin_token(),
            canary_weight=args.canary_weight,
            timeout=args.timeout,
            plan=plan,
            store=store,
            state=state,
            metrics=metrics,
            workers=workers,
            worker=worker,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from launch_control.web.httpguard import uvicorn_options  # timeouts, connection caps, JSON refusals

    config = uvicorn.Config(
        app,
        host=args.host,
        port=port,
        loop="uvloop",
        lifespan="on",
        proxy_headers=False,  # the gateway is the edge: a client must not set its own address
        access_log=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=3,
        # the guarded protocol over the coalescing one; keep-alive 30 s (load balancers keep connections)
        **uvicorn_options(base=CoalescingHttpToolsProtocol),
    )
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
