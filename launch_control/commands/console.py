"""``launch-control console [--port 8501] [--address 127.0.0.1]``: start the Streamlit ops console.

``start_console(port, env)`` is what ``launch-control demo`` calls: it starts
``streamlit run .../launch_control/console/app.py`` headless in its own process group (a ``ChildProcess``) bound to
loopback unless told otherwise, with usage statistics off.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8501
LOOPBACK = "127.0.0.1"


def app_path() -> Path:
    """app.py of ``launch_control.console``: ``console/app.py`` in a checkout or editable install,
    ``site-packages/launch_control/console/app.py`` from a wheel. Found without importing the console."""
    from launch_control.plan.planfile import installed_folder

    return installed_folder("launch_control.console") / "app.py"


def console_argv(port: int = DEFAULT_PORT, address: str = LOOPBACK) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.headless", "true",
        "--server.address", address,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        # The console does not edit itself: watching files costs CPU on a shared laptop.
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button on an ops console
    ]


def start_console(port: int = DEFAULT_PORT, env: dict[str, str] | None = None, *, address: str = LOOPBACK,
                  quiet: bool = False) -> Any:
    """Start the console as a child process; returns a ``launch_control.web.servers.ChildProcess``."""
    import subprocess

    from launch_control.web.servers import ChildProcess

    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    output: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if quiet else {}
    return ChildProcess(console_argv(port, address), env=child_env, name="console", **output)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("console", help="start the ops console (Streamlit) on loopback")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--address", default=LOOPBACK, help="address to bind (default 127.0.0.1: this machine only)")
    parser.set_defaults(func=run_console)


def run_console(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.errors import UsageError
    from launch_control.web.servers import wait_for_http

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: give a port between 1 and 65535")
    env = dict(os.environ)
    if ctx.plan_path:
        env["LAUNCH_CONTROL_PLAN"] = str(Path(ctx.plan_path).resolve())
    if args.address not in (LOOPBACK, "localhost", "::1"):
        ctx.err.print(f"[yellow]warning:[/yellow] binding to {args.address}: the console is reachable from "
                      "other machines; make sure accounts have strong passwords")
    child = start_console(args.port, env, address=args.address)
    host = "127.0.0.1" if args.address in ("0.0.0.0", "::") else args.address
    url = f"http://{host}:{args.port}"
    try:
        if wait_for_http(f"{url}/_stcore/health", timeout=30, expect=200):
            ctx.console.print(f"console on [bold]{url}[/bold] — Ctrl-C stops it")
        elif not child.alive():
            ctx.err.print("error: the console did not start (see the messages above)")
            return 1
        child.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        child.stop()
    return 0
