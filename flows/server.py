"""A local Prefect server as a child process: ``with PrefectServer(home) as server: server.api_url``.

``prefect server start --host 127.0.0.1 --port P`` with ``PREFECT_HOME`` in the given directory
(its SQLite database lives there), quiet defaults, and the scheduler on — cron schedules only
fire on a real server. Healthy after ~5–15 s; stopped (process group) on exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from launch_control import flows
from launch_control.errors import LaunchControlError
from launch_control.web.servers import LOOPBACK, ChildProcess, free_port, port_open, wait_for_http


class PrefectServerError(LaunchControlError, RuntimeError):
    """The local Prefect server could not start: its port is taken, or it never became healthy.

    Still a RuntimeError, so ``except RuntimeError`` written before it joined the tree still catches it."""


class PrefectServer:
    def __init__(self, home: str | Path, *, port: int | None = None, timeout: float = 60.0, ui: bool = False):
        self.home = Path(home)
        self.port = port or free_port()
        self.timeout = timeout
        self.ui = ui
        self.process: ChildProcess | None = None
        self.log = self.home / "server.log"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/api"

    def env(self) -> dict[str, str]:
        """Environment for clients of this server (flows, workers, serve)."""
        return {**flows.QUIET, "PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.api_url}

    def start(self) -> PrefectServer:
        if port_open(LOOPBACK, self.port):
            raise PrefectServerError(f"port {self.port} is in use; is a Prefect server already running there?")
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **flows.QUIET,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_UI_ENABLED": str(self.ui).lower(),
        }
        env.pop("PREFECT_API_URL", None)
        prefect = Path(sys.executable).parent / "prefect"
        argv = [str(prefect), "server", "start", "--host", LOOPBACK, "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.process = ChildProcess(
                argv, env=env, name="prefect-server", stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        if not wait_for_http(f"{self.api_url}/health", timeout=self.timeout, expect=200):
            tail = self.log.read_text(errors="replace").splitlines()[-15:]
            self.stop()
            raise PrefectServerError(
                f"prefect server did not become healthy in {self.timeout:g} s:\n" + "\n".join(tail)
            )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=10)
            self.process = None

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def drain_logs(timeout: float = 10) -> None:
    """Ship the flows' queued logs while the server is still up (else Prefect's log worker tries
    after the server has stopped and prints "--- Error logging to API ---" at exit)."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
