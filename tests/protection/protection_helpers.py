"""Helpers for the protection tests: small plan sections, a private redis-server we may stop, metrics."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from launch_control.plan.model import Degradation, RateLimits, Waf
from launch_control.web.servers import ChildProcess, free_port, port_open

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def rate_limits(**overrides: Any) -> RateLimits:
    data: dict[str, Any] = {
        "policies": [
            {"name": "gpt-test", "path": "/api/gpt-test", "limit": "60/min", "burst": 10, "methods": ["POST"]},
            {"name": "run", "path": "/api/run/*", "limit": "60/min", "burst": 10, "methods": ["POST"]},
            {"name": "analytics", "path": "/api/analytics", "limit": "120/min", "burst": 20, "methods": ["GET"]},
        ],
        "org_wide": {"limit": "300/min", "burst": 30},
        "phases": {"emergency": {"analytics": "50%"}},
    }
    if "policies" in overrides and "phases" not in overrides:
        data["phases"] = {}
    data.update(overrides)
    return RateLimits.model_validate(data)


def waf(**overrides: Any) -> Waf:
    return Waf.model_validate(overrides)


def degradation(**overrides: Any) -> Degradation:
    data: dict[str, Any] = {
        "live_model_timeout": 0.3,
        "retry": {"attempts": 3, "base_delay": 0.01, "max_delay": 0.05, "total_timeout": 1.0},
        "circuit_breaker": {"failure_threshold": 3, "reset_timeout": 0.5, "half_open_max_calls": 1},
    }
    data.update(overrides)
    return Degradation.model_validate(data)


def counter(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(f"{name}_total", labels) or 0.0


class PrivateRedis:
    """A redis-server on a free loopback port that a test may stop and start again."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = ChildProcess(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "local",
                "--dir",
                str(self.workdir),
            ],
            name="redis-server",
            stdout=open(self.workdir / "redis.log", "a"),  # noqa: SIM115 — closed with the process
            stderr=open(self.workdir / "redis.log", "a"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 5
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline or not self.proc.alive():
                raise RuntimeError(f"private redis-server did not start on {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
