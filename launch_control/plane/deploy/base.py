"""The deployer interface: point a role at a version, idempotently.

``deploy(role, version)`` makes ``role`` ("stable" or "canary") serve ``version`` and returns a
short description of what it did; pointing a role at the version it already serves is a success
("already there → done"). Adapters raise ``DeployerError``, never a vendor exception.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

ROLES = ("stable", "canary")


@runtime_checkable
class Deployer(Protocol):
    name: str

    def deploy(self, role: str, version: str) -> str:
        """Make ``role`` serve ``version``; returns what was done, for the rollback record."""

    def current(self, role: str) -> str | None:
        """The version ``role`` serves now, or None when the platform cannot tell."""


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    return role
