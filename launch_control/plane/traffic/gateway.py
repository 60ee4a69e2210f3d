"""The ``gateway`` traffic router: sets the built-in gateway's split through its admin API.

Settings:
  url        the gateway's base URL (default http://127.0.0.1:8080)
  token      the admin token, or
  token_env  the environment variable holding it (default LAUNCH_CONTROL_ADMIN_TOKEN; the local
             stack's token file is the fallback — see ``launch_control.config.resolve_token``)
  timeout    seconds per call (default 2)

``PUT /admin/weights {"canary": p}`` applies from the next request on; the router checks that the
gateway reports the weight it asked for. Every failure is a ``RouterError`` that says what to do.
"""

from __future__ import annotations

from typing import Any

import httpx

from launch_control.config import resolve_token
from launch_control.errors import RouterError
from launch_control.plan.settings_types import EnvName, HttpUrl, Seconds, SettingsModel, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.plane.traffic.base import check_percent

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 2.0


class GatewayRouter:
    name = "gateway"

    def __init__(
        self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None
    ):
        self.url = url.rstrip("/")
        self.client = httpx.Client(
            base_url=self.url, timeout=timeout, headers={"Authorization": f"Bearer {token}"}, transport=transport
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RouterError(
                f"gateway admin API at {self.url} did not answer in time ({type(exc).__name__}); "
                "check the gateway is running and not overloaded, or raise the router's timeout"
            ) from exc
        except httpx.HTTPError as exc:
            raise RouterError(
                f"gateway admin API at {self.url} unreachable ({type(exc).__name__}: {exc}); "
                "start it (launch-control up) or fix the router's url in the plan"
            ) from exc
        if response.status_code == 401:
            raise RouterError(
                f"gateway at {self.url} refused the admin token (HTTP 401); give the router the gateway's token "
                "(settings.token, or the variable named by token_env, default LAUNCH_CONTROL_ADMIN_TOKEN)"
            )
        if response.status_code == 422:
            raise RouterError(f"gateway at {self.url} rejected the weights (HTTP 422): {_reason(response)}")
        if response.status_code >= 400:
            raise RouterError(
                f"gateway admin API {method} {path} failed with HTTP {response.status_code}: {_reason(response)}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise RouterError(f"gateway admin API {method} {path} answered non-JSON: {response.text[:200]!r}") from exc
        if not isinstance(body, dict):
            raise RouterError(f"gateway admin API {method} {path} answered {body!r}, expected an object")
        return body

    def set_weight(self, canary_percent: float) -> None:
        wanted = check_percent(canary_percent)
        body = self._call("PUT", "/admin/weights", json={"canary": wanted})
        got = _canary(body, "PUT /admin/weights")
        if abs(got - wanted) > 1e-6:
            raise RouterError(f"gateway at {self.url} reports canary {got}% after being set to {wanted}%")

    def get_weight(self) -> float:
        return _canary(self._call("GET", "/admin/weights"), "GET /admin/weights")

    def healthy(self) -> bool:
        try:
            self._call("GET", "/admin/health")
        except RouterError:
            return False
        return True

    def close(self) -> None:
        self.client.close()


def _canary(body: dict[str, Any], what: str) -> float:
    try:
        return float(body["canary"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RouterError(f"gateway admin API {what} answered {body!r} without a numeric 'canary' weight") from exc


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or "no reason given"
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("error", "detail", "message") if body.get(key)]
        if parts:
            return ": ".join(parts)
    return str(body)[:300]



class Settings(SettingsModel):
    url: HttpUrl = DEFAULT_URL
    token: str | None = None
    token_env: EnvName | None = None
    timeout: Seconds = DEFAULT_TIMEOUT


def build(settings: dict[str, Any], **context: Any) -> GatewayRouter:
    validate_settings(Settings, settings, "gateway router")
    return GatewayRouter(
        str(settings.get("url") or DEFAULT_URL),
        resolve_token(settings),
        timeout=parse_duration(settings.get("timeout", DEFAULT_TIMEOUT)),
        transport=context.get("transport"),
    )
