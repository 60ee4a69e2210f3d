"""Run the demo service or the stand-in model under uvicorn (what ``DemoStack`` starts as children).

    python -m launch_control.plane.demo.serve service --version v3.0.0 --port 8102 --model-url http://127.0.0.1:8103
    python -m launch_control.plane.demo.serve model --port 8103

The admin token for ``/admin/faults`` comes from LAUNCH_CONTROL_ADMIN_TOKEN, else the data
directory's token file — never from the command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m launch_control.plane.demo.serve", description=__doc__.splitlines()[0]
    )
    parser.add_argument("kind", choices=["service", "model"])
    parser.add_argument("--version", help="service: the version it reports (e.g. v3.0.0)")
    parser.add_argument("--model-url", default=None, help="service: OpenAI-compatible live model base URL")
    parser.add_argument("--model-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--plan", default=None, metavar="PATH", help="service: protect it with the plan's WAF, rate limits, degradation"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from launch_control.config import ensure_admin_token

    token = ensure_admin_token()
    if args.kind == "service":
        if not args.version:
            parser.error("service needs --version, e.g. --version v3.0.0")
        from launch_control.plane.demo.service import create_app

        plan = store = None
        if args.plan:  # protection (launch_control.protect.layers), opt-in
            from launch_control.store.db import Store
            from launch_control.store.lastgood import load_plan

            plan = load_plan(args.plan)
            store = Store(launch_id=plan.launch_id)
        app = create_app(
            args.version,
            admin_token=token,
            model_url=args.model_url,
            model_timeout=args.model_timeout,
            plan=plan,
            store=store,
        )
    else:
        from launch_control.plane.demo.model import create_app as create_model

        app = create_model(admin_token=token)
    from launch_control.web.servers import serve

    # Header, body and keep-alive timeouts and connection caps: launch_control.web.httpguard.
    serve(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
