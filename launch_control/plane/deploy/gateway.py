"""The built-in deployer: point a role of Launch Control's gateway at a known version.

``PUT {url}/admin/upstreams {"stable": "v2.9.0"}`` with the admin token; the gateway answers
with the upstreams it now uses. Settings: ``url`` (the gateway), ``token`` / ``token_env``,
``timeout`` (seconds, default 2).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from launch_control.config import resolve_token
from launch_control.errors import DeployerError
from launch_control.plan.settings_types import EnvName, HttpUrl, Seconds, SettingsModel, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.plane.deploy.base import check_role


class GatewayDeployer:
    name = "gateway"

    def __init__(self, url: str, token: str, timeout: float = 2.0, transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def _call(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._client.request(method, "/admin/upstreams", json=body)
        except httpx.HTTPError as exc:
            raise DeployerError(f"gateway deployer: {self.url}/admin/upstreams unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise DeployerError(
                f"gateway deployer: {method} {self.url}/admin/upstreams answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        try:
            data = response.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def deploy(self, role: str, version: str) -> str:
        check_role(role)
        answer = self._call("PUT", {role: version})
        serving = _version_of(answer.get(role))
        if serving is not None and serving != version:
            raise DeployerError(f"gateway deployer: asked {role} → {version}, gateway reports {serving}")
        return f"gateway {self.url}: {role} → {version}"

    def current(self, role: str) -> str | None:
        return _version_of(self._call("GET").get(check_role(role)))

    def close(self) -> None:
        self._client.close()


def _version_of(value: Any) -> str | None:
    """The gateway may answer ``{"stable": "v2.9.0"}`` or ``{"stable": {"version": ..., "url": ...}}``."""
    if isinstance(value, dict):
        value = value.get("version")
    return str(value) if value is not None else None



class Settings(SettingsModel):
    hints: ClassVar[dict[str, str]] = {"url": "the gateway deployer needs 'url' (the gateway's base URL)"}
    url: HttpUrl
    token: str | None = None
    token_env: EnvName | None = None
    timeout: Seconds = 2.0


def build(settings: dict[str, Any], **context: Any) -> GatewayDeployer:
    validate_settings(Settings, settings, "gateway deployer")  # refuses a missing url, unknown settings
    timeout = parse_duration(settings.get("timeout", 2.0))
    return GatewayDeployer(settings["url"], resolve_token(settings), timeout, transport=context.get("transport"))
