"""Deployers, one module per adapter, behind ``Deployer`` (see ``base``).

A deployer points a role ("stable" or "canary") at a version: the rollback's second stage
(after traffic) points stable back at the known-good version; the launch day's "deploy canary"
step points canary at the release. ``build_deployer(plan.rollback.deployer)``; unknown types are
refused.
"""

from __future__ import annotations

from typing import Any

from launch_control.plan.registry import Registry
from launch_control.plane.deploy.base import Deployer

DEPLOYERS = Registry(
    "deployer",
    {
        "gateway": "launch_control.plane.deploy.gateway:build",
        "command": "launch_control.plane.deploy.command:build",
        "vercel": "launch_control.plane.deploy.vercel:build",
        "noop": "launch_control.plane.deploy.noop:build",
    },
)


def build_deployer(config: Any, **context: Any) -> Deployer:
    """``config`` is a plan ``Adapter`` (``type`` + settings) or a dict with ``type``."""
    return DEPLOYERS.build_from(config, **context)


__all__ = ["DEPLOYERS", "Deployer", "build_deployer"]
