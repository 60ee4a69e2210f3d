"""``launch-control schedule``: the plan's timeline as Prefect deployments with cron schedules.

Prints the planned runs (``--dry-run`` stops there), then serves the deployments from this
process (``pause_on_shutdown=False``) until Ctrl-C — or, with ``--pool NAME``, registers them on a
work pool for ``prefect worker start --pool NAME`` on other machines. Schedules need a real
Prefect server: ``PREFECT_API_URL`` must point at one, or ``--start-server`` starts one here
(``PREFECT_HOME`` in the data directory).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import Any

from launch_control.control import seams
from launch_control.errors import LaunchControlError, UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("schedule", help="turn the plan's timeline into scheduled Prefect deployments")
    parser.add_argument("--date", help="launch date YYYY-MM-DD (default: timeline.date of the plan)")
    parser.add_argument("--dry-run", action="store_true", help="print the schedule, create nothing")
    parser.add_argument("--start-server", action="store_true", help="start a local Prefect server if none is set")
    parser.add_argument("--pool", metavar="NAME", help="register on a work pool instead of serving here")
    parser.add_argument("--port", type=int, default=None, help="port for --start-server (default 4200)")
    parser.set_defaults(func=run_schedule)


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date {text!r} is not a date; write it as YYYY-MM-DD") from None


def _store_url_for(url: str, *, pool: str | None) -> str | None:
    """The store URL to put in deployment parameters (visible to anyone who can read the Prefect
    server), or None: the flows then open the store named by each worker's LAUNCH_CONTROL_DATABASE_URL."""
    if not pool:
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        print(
            "the store URL has a password, so it stays out of the deployments: "
            "set LAUNCH_CONTROL_DATABASE_URL on every worker"
        )
        return None
    if parsed.get_backend_name() == "sqlite":
        print(
            f"warning: the store is SQLite ({parsed.database}); workers on other machines cannot share it: "
            "use PostgreSQL (LAUNCH_CONTROL_DATABASE_URL=postgresql://...)"
        )
    return url


def run_schedule(args: argparse.Namespace, ctx: Any) -> int:
    deployments_flows = seams.flows_part("deployments")

    if args.pool and args.start_server:
        raise UsageError(
            "--pool needs a Prefect server the workers can reach, and a --start-server server stops when this "
            "command exits: start one with `prefect server start` and export PREFECT_API_URL instead"
        )
    plan = ctx.plan
    runs = deployments_flows.planned_runs(plan, _date(args.date))
    print(f"{len(runs)} scheduled runs for {plan.release.product} {plan.release.version} ({plan.timeline.timezone}):")
    for run in runs:
        print(f"  {run.at:%Y-%m-%d %H:%M %Z}  cron '{run.cron}'  {run.entry_id:<26} {run.action}")
    if args.dry_run:
        return 0
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        if not args.start_server:
            raise LaunchControlError(
                "schedules need a Prefect server (the ephemeral one never fires them): run `prefect server start` "
                "and export PREFECT_API_URL=http://127.0.0.1:4200/api, or pass --start-server to start one here"
            )
        from launch_control.config import PORTS, data_dir

        flows_server = seams.flows_part("server")
        server = flows_server.PrefectServer(data_dir() / "prefect", port=args.port or PORTS["prefect"], ui=True).start()
        os.environ.update(server.env())
        print(f"started a local Prefect server: {server.api_url.removesuffix('/api')} (PREFECT_HOME {server.home})")
    try:
        store_url = _store_url_for(ctx.store.url, pool=args.pool)
        deployments = deployments_flows.build_deployments(
            plan,
            # Absolute: a worker runs the flow in a temporary directory, not where this command ran.
            plan_path=str(Path(plan.source).resolve()) if plan.source else None,
            store_url=store_url,
            launch_date=_date(args.date),
            time_scale=args.time_scale or 1.0,
            module_entrypoints=bool(args.pool),
        )
        if args.pool:
            deployments_flows.deploy_to_pool(deployments, args.pool)
            print(f"registered {len(deployments)} deployments on work pool {args.pool!r}; on each worker machine run:")
            env = "LAUNCH_CONTROL_DATABASE_URL=... " if store_url is None else ""
            print(f"  {env}PREFECT_API_URL={os.environ['PREFECT_API_URL']} prefect worker start --pool {args.pool}")
            return 0
        print(f"serving {len(deployments)} deployments (Ctrl-C stops serving; schedules stay active)")
        deployments_flows.serve_deployments(deployments)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if server is not None:
            server.stop()
