"""Vercel deployer: roll production back to the deployment that carries a version (REST API).

Only the stable role exists on Vercel (production); a canary there is a rolling release, which
this adapter does not drive. ``deploy("stable", "v2.9.0")`` finds the production deployment whose
``meta[version_key]`` equals the version (or uses ``deployments: {v2.9.0: dpl_...}`` from the
settings) and calls ``POST /v1/projects/{project}/rollback/{deploymentId}``. A 409 whose message
says the deployment is already current counts as success (idempotent).

Settings: ``project`` (id or name), ``token`` / ``token_env`` (default ``VERCEL_TOKEN``),
``team_id``, ``version_key`` (default ``githubCommitRef``), ``deployments`` (version → id),
``api_url`` (default https://api.vercel.com), ``timeout`` (default 10 s).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import httpx
from pydantic import Field

from launch_control.errors import DeployerError
from launch_control.plan.settings_types import EnvName, HttpUrl, Seconds, SettingsModel, required, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.plane.deploy.base import check_role

API_URL = "https://api.vercel.com"


class VercelDeployer:
    name = "vercel"

    def __init__(
        self,
        project: str,
        token: str,
        *,
        team_id: str | None = None,
        version_key: str = "githubCommitRef",
        deployments: dict[str, str] | None = None,
        api_url: str = API_URL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.project, self.team_id, self.version_key = project, team_id, version_key
        self.known = dict(deployments or {})
        self._client = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {**({"teamId": self.team_id} if self.team_id else {}), **extra}

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DeployerError(f"vercel deployer: {method} {path} failed: {exc}") from exc

    def _production(self) -> list[dict[str, Any]]:
        response = self._request(
            "GET",
            "/v6/deployments",
            params=self._params(projectId=self.project, target="production", state="READY", limit=100),
        )
        if response.status_code != 200:
            raise DeployerError(
                f"vercel deployer: listing deployments answered {response.status_code}: {_message(response)}"
            )
        return list(response.json().get("deployments") or [])

    def _deployment_id(self, version: str) -> str:
        if version in self.known:
            return self.known[version]
        for deployment in self._production():
            if str((deployment.get("meta") or {}).get(self.version_key)) == version:
                return str(deployment["uid"])
        raise DeployerError(
            f"vercel deployer: no READY production deployment of project {self.project!r} has "
            f"meta.{self.version_key} = {version!r}; map it under deployments: {{{version}: dpl_...}}"
        )

    def deploy(self, role: str, version: str) -> str:
        if check_role(role) != "stable":
            raise DeployerError("vercel deployer: only the stable (production) role can be pointed at a version")
        deployment_id = self._deployment_id(version)
        response = self._request(
            "POST",
            f"/v1/projects/{self.project}/rollback/{deployment_id}",
            params=self._params(description=f"Launch Control: stable → {version}"),
        )
        if response.status_code in (200, 201, 202):
            return f"vercel project {self.project}: production → {deployment_id} ({version})"
        message = _message(response)
        if response.status_code == 409 and "already" in message.lower():
            return f"vercel project {self.project}: production already on {deployment_id} ({version})"
        raise DeployerError(f"vercel deployer: rollback to {deployment_id} answered {response.status_code}: {message}")

    def current(self, role: str) -> str | None:
        if check_role(role) != "stable":
            return None
        deployments = self._production()
        if not deployments:
            return None
        newest = max(deployments, key=lambda d: d.get("created") or 0)
        value = (newest.get("meta") or {}).get(self.version_key)
        return str(value) if value is not None else None


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or error.get("code") or response.text[:200])
    except ValueError:
        return response.text[:200]



class Settings(SettingsModel):
    hints: ClassVar[dict[str, str]] = {"project": "the vercel deployer needs 'project' (project id or name)"}
    project: str = Field(min_length=1)
    token: str | None = None
    token_env: EnvName = "VERCEL_TOKEN"
    team_id: str | None = None
    version_key: str = "githubCommitRef"
    deployments: dict[str, str] | None = None
    api_url: HttpUrl = API_URL
    timeout: Seconds = 10.0


def build(settings: dict[str, Any], **context: Any) -> VercelDeployer:
    validate_settings(Settings, settings, "vercel deployer")  # refuses a missing project, unknown settings
    token_env = settings.get("token_env", "VERCEL_TOKEN")
    token = required(
        settings.get("token") or os.environ.get(token_env),
        f"the vercel deployer needs a token: set {token_env} (or token_env in the plan)",
        ValueError,
    )
    return VercelDeployer(
        str(settings["project"]),
        str(token),
        team_id=settings.get("team_id"),
        version_key=str(settings.get("version_key", "githubCommitRef")),
        deployments={str(k): str(v) for k, v in (settings.get("deployments") or {}).items()},
        api_url=str(settings.get("api_url", API_URL)),
        timeout=parse_duration(settings.get("timeout", 10.0)),
        transport=context.get("transport"),
    )
