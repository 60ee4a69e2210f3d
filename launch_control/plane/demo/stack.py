"""The whole demo traffic plane on one laptop: stand-in model, stable, canary and the gateway.

``with DemoStack(plan) as stack:`` starts each as a child process on 127.0.0.1 (ports from
``launch_control.config.PORTS`` unless given; ``free_ports=True`` picks unused ones), waits until
each answers its health check, and stops them all — no orphans, ports freed — on exit. The admin
token is the local stack's (``config.ensure_admin_token()``), so routers and metric sources find it
in the data directory. While running, ``<data dir>/stack.json`` lists the processes and URLs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch_control.errors import LaunchControlError, UsageError
from launch_control.web.servers import LOOPBACK, ChildProcess, free_port, port_open, wait_for_http

ROLES = ("stable", "canary", "model")


class StackError(LaunchControlError):
    """A part of the demo stack did not start; the message includes the end of its log."""


class LoadRun:
    """A load generator running as a child process; ``stop()`` ends it and returns its summary."""

    def __init__(self, process: ChildProcess, summary_file: Path):
        self.process = process
        self.summary_file = summary_file

    def alive(self) -> bool:
        return self.process.alive()

    def wait(self, timeout: float | None = None) -> dict[str, Any] | None:
        self.process.proc.wait(timeout)
        return self.summary()

    def stop(self) -> dict[str, Any] | None:
        self.process.stop(timeout=15)
        return self.summary()

    def summary(self) -> dict[str, Any] | None:
        """The load generator's JSON summary, once it has stopped (None before, or if it crashed)."""
        try:
            return json.loads(self.summary_file.read_text())
        except (OSError, ValueError):
            return None


class DemoStack:
    def __init__(
        self,
        plan: Any = None,
        *,
        ports: Mapping[str, int] | None = None,
        free_ports: bool = False,
        canary_weight: float = 0.0,
        model_url: str | None = None,
        gateway_timeout: float = 10.0,
        start_timeout: float = 30.0,
        log_dir: str | Path | None = None,
        protect: bool = True,
        gateway_workers: int = 1,
    ):
        from launch_control.config import PORTS

        if plan is None:
            from launch_control.store.lastgood import load_plan

            plan = load_plan()
        self.plan = plan
        self.stable_version: str = plan.release.stable_version
        self.canary_version: str = plan.release.version
        # An external live model from the plan (or the argument) replaces the stand-in.
        self.external_model: str | None = model_url or plan.degradation.live_model_url
        self.model_timeout = float(plan.degradation.live_model_timeout)
        unknown = sorted(set(ports or {}) - {"gateway", *ROLES})
        if unknown:
            raise UsageError(f"unknown port name(s) {', '.join(unknown)}; use gateway, stable, canary, model")
        self.ports: dict[str, int] = {}
        for name in ("gateway", *ROLES):
            given = (ports or {}).get(name)
            self.ports[name] = int(given) if given else (free_port() if free_ports else PORTS[name])
        self.canary_weight = canary_weight
        self.gateway_timeout = gateway_timeout
        self.gateway_workers = int(gateway_workers)  # > 1: a supervisor with that many gateway workers
        self.start_timeout = start_timeout
        self.log_dir = Path(log_dir) if log_dir else None
        # The plan's WAF, per-org rate limits and degradation guard the services and the gateway,
        # as they would in production; protect=False gives a bare plane for proxy benchmarks.
        self.protect_args = ["--plan", str(plan.source)] if protect and getattr(plan, "source", None) else []
        self.admin_token = ""
        self.processes: dict[str, ChildProcess] = {}
        self._logs: dict[str, Path] = {}
        self._loads: list[LoadRun] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # --- URLs -----------------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.ports[name]}"

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    @property
    def stable_url(self) -> str:
        return self.url("stable")

    @property
    def canary_url(self) -> str:
        return self.url("canary")

    @property
    def model_url(self) -> str:
        return self.external_model or self.url("model")

    def urls(self) -> dict[str, str]:
        return {
            "gateway": self.gateway_url,
            "stable": self.stable_url,
            "canary": self.canary_url,
            "model": self.model_url,
        }

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> DemoStack:
        from launch_control.config import ADMIN_TOKEN_ENV, data_dir, ensure_admin_token

        wanted = [name for name in ("gateway", *ROLES) if not (name == "model" and self.external_model)]
        busy = [f"{name} {self.ports[name]}" for name in wanted if port_open(LOOPBACK, self.ports[name])]
        if busy:
            raise UsageError(
                f"port(s) already in use on {LOOPBACK}: {', '.join(busy)}; is another stack running? "
                "stop it, or choose other ports (launch-control up --gateway-port ...)"
            )
        self.admin_token = ensure_admin_token()
        if self.log_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lc-stack-")
            self.log_dir = Path(self._tmp.name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, ADMIN_TOKEN_ENV: self.admin_token, "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        serve = [python, "-m", "launch_control.plane.demo.serve"]
        try:
            if not self.external_model:
                self._spawn("model", [*serve, "model", "--port", str(self.ports["model"])], env)
            for role, version in (("stable", self.stable_version), ("canary", self.canary_version)):
                argv = [*serve, "service", "--version", version, "--port", str(self.ports[role])]
                argv += ["--model-url", self.model_url, "--model-timeout", f"{self.model_timeout:g}"]
                self._spawn(role, [*argv, *self.protect_args], env)
            for name in [n for n in ROLES if n in self.processes]:
                self._wait_healthy(name, self.url(name) + "/health")
            gateway = [python, "-m", "launch_control.plane.gateway"]
            gateway += ["--upstream", f"{self.stable_version}={self.stable_url}"]
            gateway += ["--upstream", f"{self.canary_version}={self.canary_url}"]
            gateway += ["--stable", self.stable_version, "--canary", self.canary_version]
            gateway += ["--canary-weight", f"{self.canary_weight:g}", "--timeout", f"{self.gateway_timeout:g}"]
            gateway += ["--port", str(self.ports["gateway"]), *self.protect_args]
            if self.gateway_workers > 1:
                gateway += ["--workers", str(self.gateway_workers)]
            self._spawn("gateway", gateway, env)
            self._wait_healthy("gateway", self.gateway_url + "/health")
        except BaseException:
            self.stop()
            raise
        self._write_state(data_dir() / "stack.json")
        return self

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        assert self.log_dir is not None
        log_path = self.log_dir / f"{name}.log"
        self._logs[name] = log_path
        with open(log_path, "ab") as log:
            self.processes[name] = ChildProcess(
                argv, env=env, name=name, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )

    def _wait_healthy(self, name: str, url: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        process = self.processes[name]
        while time.monotonic() < deadline:
            if not process.alive():
                raise StackError(f"{name} exited with code {process.proc.returncode}:\n{self.log_tail(name)}")
            if wait_for_http(url, timeout=0.5, expect=200):
                return
        raise StackError(f"{name} did not answer {url} within {self.start_timeout:g} s:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self._logs.get(name)
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"

    def dead(self) -> list[str]:
        """Parts that have exited on their own."""
        return [name for name, process in self.processes.items() if not process.alive()]

    def stop(self) -> None:
        """Stop load, gateway, services and model (in that order); idempotent."""
        from launch_control.config import data_dir

        for load in self._loads:
            load.stop()
        self._loads.clear()
        for name in ("gateway", "canary", "stable", "model"):
            process = self.processes.pop(name, None)
            if process is not None:
                process.stop()
        state = data_dir() / "stack.json"
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.log_dir = None

    def ports_in_use(self) -> list[int]:
        """This stack's ports that still accept connections (after ``stop()``: should be none)."""
        return [port for port in self.ports.values() if port_open(LOOPBACK, port)]

    def _write_state(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "pid": os.getpid(),
            "urls": self.urls(),
            "processes": {name: process.pid for name, process in self.processes.items()},
            "versions": {"stable": self.stable_version, "canary": self.canary_version},
        }
        path.write_text(json.dumps(data, indent=2) + "\n")

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- fault injection and load ---------------------------------------------------------------

    def set_fault(self, role: str, **faults: Any) -> dict[str, Any]:
        """Change faults on ``stable``, ``canary`` or ``model`` (error_rate, latency, down, flapping).
        ``set_fault(role, clear=True)`` removes them all. Returns the faults now in force."""
        import httpx

        if role not in ROLES or role not in self.processes:
            raise UsageError(f"no {role!r} in this stack; faults can be set on: {', '.join(self.processes)}")
        url = self.url(role) + "/admin/faults"
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        clear = faults.pop("clear", False)
        response = (
            httpx.delete(url, headers=headers, timeout=5)
            if clear
            else httpx.put(url, json=faults, headers=headers, timeout=5)
        )
        if response.status_code == 422:
            raise UsageError(f"{role} refused the faults: {response.json().get('detail')}")
        response.raise_for_status()
        return response.json()

    def faults(self, role: str) -> dict[str, Any]:
        import httpx

        response = httpx.get(
            self.url(role) + "/admin/faults", headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=5
        )
        response.raise_for_status()
        return response.json()

    def start_load(
        self, rps: float, orgs: int = 2000, duration: float | None = None, *, count: int | None = None
    ) -> LoadRun:
        """Start the load generator against the gateway as a child process (runs until stopped
        when neither duration nor count is given)."""
        if not rps > 0:
            raise UsageError(f"load rate must be positive requests per second, got {rps}")
        assert self.log_dir is not None, "start the stack first"
        summary = self.log_dir / f"load-{len(self._loads)}.json"
        argv = [sys.executable, "-m", "launch_control.plane.demo.loadgen", self.gateway_url, "--rps", f"{rps:g}"]
        argv += ["--orgs", str(orgs), "--quiet", "--summary-file", str(summary)]
        if duration is not None:
            argv += ["--duration", f"{duration:g}"]
        if count is not None:
            argv += ["--count", str(count)]
        log = self.log_dir / f"load-{len(self._loads)}.log"
        with open(log, "ab") as out:
            process = ChildProcess(argv, name="loadgen", stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        run = LoadRun(process, summary)
        self._loads.append(run)
        return run
