"""Traffic routers, one module per adapter, behind ``TrafficRouter`` (see ``base``).

``build_router(plan.rollback.router)`` builds the plan's router; unknown types are refused.
"""

from __future__ import annotations

from typing import Any

from launch_control.plan.registry import Registry
from launch_control.plane.traffic.base import TrafficRouter

ROUTERS = Registry(
    "traffic router",
    {
        "gateway": "launch_control.plane.traffic.gateway:build",
        "haproxy": "launch_control.plane.traffic.haproxy:build",
        "nginx": "launch_control.plane.traffic.nginx:build",
        "noop": "launch_control.plane.traffic.noop:build",
        "vercel": "launch_control.plane.traffic.vercel:build",
    },
)


def build_router(config: Any, **context: Any) -> TrafficRouter:
    """``config`` is a plan ``Adapter`` (``type`` + settings) or a dict with ``type``."""
    return ROUTERS.build_from(config, **context)


__all__ = ["ROUTERS", "TrafficRouter", "build_router"]
