"""Fixtures for the traffic-plane tests: a real plane on loopback sockets, in this process.

``traffic_plane`` starts the stand-in model, the demo service as stable (v2.9.0) and canary
(v3.0.0), and the gateway in front, each under uvicorn in a thread on a free 127.0.0.1 port, and
sets LAUNCH_CONTROL_ADMIN_TOKEN so adapters resolve the token as they would against
``launch-control up``. ``plane.gateway`` is the live ``Gateway`` object (its weights and versions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from launch_control.web.servers import ServerThread

PLANE_TOKEN = "traffic-test-token"
STABLE_VERSION, CANARY_VERSION = "v2.9.0", "v3.0.0"


@dataclass
class TrafficPlane:
    servers: dict[str, ServerThread]
    gateway: Any  # launch_control.plane.gateway.app.Gateway
    admin_token: str = PLANE_TOKEN
    stable_version: str = STABLE_VERSION
    canary_version: str = CANARY_VERSION

    @property
    def gateway_url(self) -> str:
        return self.servers["gateway"].url

    @property
    def stable_url(self) -> str:
        return self.servers["stable"].url

    @property
    def canary_url(self) -> str:
        return self.servers["canary"].url

    @property
    def model_url(self) -> str:
        return self.servers["model"].url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def set_fault(self, role: str, **faults: Any) -> dict[str, Any]:
        response = httpx.put(f"{self.servers[role].url}/admin/faults", json=faults, headers=self.auth, timeout=5)
        response.raise_for_status()
        return response.json()

    def set_weight(self, canary: float) -> None:
        response = httpx.put(f"{self.gateway_url}/admin/weights", json={"canary": canary}, headers=self.auth)
        response.raise_for_status()

    def metrics(self) -> str:
        return httpx.get(f"{self.gateway_url}/metrics", timeout=5).text


def start_plane(*, canary_weight: float = 0.0, timeout: float = 5.0) -> TrafficPlane:
    from launch_control.plane.demo.model import create_app as model_app
    from launch_control.plane.demo.service import create_app as demo_app
    from launch_control.plane.gateway.app import create_app as gateway_app

    servers: dict[str, ServerThread] = {}
    try:
        servers["model"] = ServerThread(model_app(admin_token=PLANE_TOKEN)).start()
        model_url = servers["model"].url
        for role, version in (("stable", STABLE_VERSION), ("canary", CANARY_VERSION)):
            servers[role] = ServerThread(demo_app(version, admin_token=PLANE_TOKEN, model_url=model_url)).start()
        gateway = gateway_app(
            upstreams={STABLE_VERSION: servers["stable"].url, CANARY_VERSION: servers["canary"].url},
            stable=STABLE_VERSION,
            canary=CANARY_VERSION,
            admin_token=PLANE_TOKEN,
            canary_weight=canary_weight,
            timeout=timeout,
        )
        servers["gateway"] = ServerThread(gateway, lifespan="on").start()
    except BaseException:
        stop_all(list(servers.values()))
        raise
    return TrafficPlane(servers=servers, gateway=gateway)


@pytest.fixture
def plane_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TrafficPlane]]:
    """Start planes with options (``plane_factory(canary_weight=5, timeout=0.3)``); all stopped after."""
    monkeypatch.setenv("LAUNCH_CONTROL_ADMIN_TOKEN", PLANE_TOKEN)
    planes: list[TrafficPlane] = []

    def make(**options: Any) -> TrafficPlane:
        planes.append(start_plane(**options))
        return planes[-1]

    yield make
    stop_all([server for plane in planes for server in plane.servers.values()])


def stop_all(servers: list[ServerThread]) -> None:
    """Stop servers together (each uvicorn takes ~0.1 s to notice; in turn that adds up)."""
    for server in servers:
        server.server.should_exit = True
    for server in servers:
        server.thread.join(5)


@pytest.fixture
def traffic_plane(plane_factory: Callable[..., TrafficPlane]) -> TrafficPlane:
    """Model, stable, canary and gateway (canary weight 0) on loopback; stopped after the test."""
    return plane_factory()
