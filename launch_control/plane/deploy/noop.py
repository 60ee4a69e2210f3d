"""A deployer that records what it was asked and changes nothing: dry runs and tests."""

from __future__ import annotations

from typing import Any

from launch_control.plan.settings_types import SettingsModel, validate_settings
from launch_control.plane.deploy.base import check_role


class NoopDeployer:
    name = "noop"

    def __init__(self) -> None:
        self.versions: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []

    def deploy(self, role: str, version: str) -> str:
        self.calls.append((check_role(role), version))
        self.versions[role] = version
        return f"noop: {role} would serve {version} (nothing deployed)"

    def current(self, role: str) -> str | None:
        return self.versions.get(check_role(role))



class Settings(SettingsModel):
    """The noop deployer takes no settings."""


def build(settings: dict[str, Any], **_context: Any) -> NoopDeployer:
    validate_settings(Settings, settings, "noop deployer")  # it takes none: any is refused
    return NoopDeployer()
