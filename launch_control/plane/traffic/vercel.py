"""The ``vercel`` traffic router: the plan's canary steps as the stages of a Vercel Rolling
Release (REST API), advanced one at a time with manual approval so Launch Control's gates, not
Vercel's timers, decide when traffic moves.

What each call does (endpoints from Vercel's REST reference, "Rolling Releases"):

* ``set_weight(p)`` with no active release: ``PATCH /v1/projects/{project}/rolling-release/config``
  with ``advancementType: manual-approval`` and the stages (the plan's step weights, ending at
  100), then ``POST .../rolling-release/start`` for the canary deployment. Vercel serves the first
  stage's share to the canary.
* ``set_weight(p)`` during the release: ``POST .../rolling-release/approve-stage`` with the index
  of the stage whose ``targetPercentage`` is ``p``; ``p = 100``: ``POST .../rolling-release/complete``.
* ``set_weight(0)`` (the emergency path): aborts the release the way ``vercel rolling-release
  abort`` does — an instant rollback of production to the release's current deployment
  (``POST /v9/projects/{project}/rollback/{currentDeployment}``), so the canary serves nobody.
* ``get_weight()``: ``GET .../rolling-release`` — the active stage's ``targetPercentage`` (0 when
  there is none or it was aborted, 100 once complete).

Settings (``Settings``): ``project`` (id or name), ``team_id``, ``canary_deployment`` (the
deployment id to ramp, ``dpl_...``; or ``canary_version`` to find the newest READY production
deployment whose ``meta[version_key]`` is that version; default: the canary of a release Vercel
already started),
``stages`` (default: the plan's step weights when built with ``plan=``), ``token_env`` (default
``VERCEL_TOKEN``; the token never sits in the plan), ``api_url``, ``timeout`` (per request),
``retry_budget`` (seconds one call may spend on 429/5xx/network retries, default 10 — the
emergency path retries inside its TTR budget on top of this).

Every Vercel error becomes a ``RouterError`` that says what to do (401 token, 403 access or plan
tier, 404 project/release, 409 another release already active, 429 after Retry-After, 5xx).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

from launch_control.errors import RouterError, UsageError
from launch_control.plan.settings_types import EnvName, HttpUrl, Seconds, SettingsModel, validate_settings
from launch_control.plan.units import parse_percent
from launch_control.plane.traffic.base import check_percent

API_URL = "https://api.vercel.com"


class Settings(SettingsModel):
    hints: ClassVar[dict[str, str]] = {
        "project": "set project: the Vercel project id or name (e.g. prj_… from the project's settings)",
    }
    project: str = Field(min_length=1)
    team_id: str | None = None
    canary_deployment: str | None = None
    canary_version: str | None = None  # or find it: the newest READY production deployment with this version
    version_key: str = "githubCommitRef"  # ... in deployment meta (as the vercel deployer reads it)
    stages: list[float] | None = None
    token_env: EnvName = "VERCEL_TOKEN"
    api_url: HttpUrl = API_URL
    timeout: Seconds = 5.0
    retry_budget: Seconds = 10.0

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> list[float] | None:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"stages must be a list of weights such as [1%, 5%, 25%, 100%], got {value!r}")
        stages = [check_percent(parse_percent(v)) for v in value]
        if not stages or any(b <= a for a, b in zip(stages, stages[1:], strict=False)) or stages[0] <= 0:
            raise ValueError(f"stages must rise strictly from above 0 to 100 percent, got {value}")
        return stages if stages[-1] == 100 else [*stages, 100.0]


class VercelRouter:
    name = "vercel"

    def __init__(self, settings: Settings, token: str, *, transport: httpx.BaseTransport | None = None,
                 sleep: Any = time.sleep):
        self.s = settings
        self.project = quote(settings.project, safe="")
        self._sleep = sleep
        self._lock = threading.Lock()
        self.client = httpx.Client(
            base_url=settings.api_url.rstrip("/"), timeout=settings.timeout,
            headers={"Authorization": f"Bearer {token}"}, transport=transport,
        )

    # -- HTTP with bounded retries ---------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        params = {"teamId": self.s.team_id} if self.s.team_id else None
        deadline = time.monotonic() + self.s.retry_budget
        attempt, last = 0, ""
        while True:
            attempt += 1
            try:
                response = self.client.request(method, path, params=params, json=json)
            except httpx.HTTPError as exc:
                response, last = None, f"{type(exc).__name__}: {exc}"
            if response is not None:
                if response.status_code in ok:
                    return response
                if response.status_code not in (429, 500, 502, 503, 504):
                    raise self._error(method, path, response)
                last = f"HTTP {response.status_code}: {_message(response)}"
            wait = min(0.2 * 2 ** (attempt - 1), 2.0)
            if response is not None and response.status_code == 429:
                wait = _retry_after(response, default=wait)
            left = deadline - time.monotonic()
            if wait > left:
                what = "rate limited (429)" if response is not None and response.status_code == 429 else "failing"
                raise RouterError(
                    f"Vercel API {method} {path} still {what} after {attempt} attempt(s) in "
                    f"{self.s.retry_budget:g} s ({last}); "
                    + ("Vercel asked to wait longer than the retry budget — retry later or raise retry_budget"
                       if "429" in last else "check https://www.vercel-status.com and retry; traffic is unchanged")
                )
            self._sleep(wait)

    def _error(self, method: str, path: str, response: httpx.Response) -> RouterError:
        code, message = response.status_code, _message(response)
        where = f"project {self.s.project!r}" + (f" of team {self.s.team_id}" if self.s.team_id else "")
        if code == 401:
            return RouterError(f"Vercel refused the token (401: {message}); set {self.s.token_env} to a valid "
                               "Vercel access token (vercel.com/account/tokens)")
        if code == 403:
            return RouterError(f"Vercel denied {method} {path} on {where} (403: {message}); use a token with access "
                               "to that team (set team_id) — rolling releases also need a Pro or Enterprise plan")
        if code == 404:
            return RouterError(f"Vercel found nothing at {path} for {where} (404: {message}); check the router's "
                               "project and team_id, and that the canary deployment exists")
        if code == 409:
            return RouterError(f"Vercel refused {method} {path} (409: {message}); another rolling release is "
                               "already active on this project — complete or abort it in Vercel (vercel "
                               "rolling-release complete/abort) before starting this launch")
        return RouterError(f"Vercel API {method} {path} failed with HTTP {code}: {message}")

    # -- the rolling release ----------------------------------------------------------------------

    def release(self) -> dict[str, Any] | None:
        """The project's rolling release (active, aborted or complete), or None."""
        body = self._call("GET", f"/v1/projects/{self.project}/rolling-release").json()
        release = body.get("rollingRelease") if isinstance(body, dict) else None
        return release if isinstance(release, dict) else None

    def _active(self) -> dict[str, Any] | None:
        release = self.release()
        return release if release and release.get("state") == "ACTIVE" else None

    def _canary_id(self, release: dict[str, Any] | None) -> str:
        if self.s.canary_deployment:
            return self.s.canary_deployment
        canary = (release or {}).get("canaryDeployment") or {}
        if canary.get("id"):
            return str(canary["id"])
        if self.s.canary_version:
            return self._deployment_of(self.s.canary_version)
        raise RouterError("vercel router: no canary deployment to ramp; set canary_deployment: dpl_... (the "
                          "production deployment of the new version, e.g. from `vercel deploy --prod`)")

    def _deployment_of(self, version: str) -> str:
        """The newest READY production deployment whose meta[version_key] is ``version``."""
        params: dict[str, str | int] = {
            "projectId": self.s.project, "target": "production", "state": "READY", "limit": 100,
        }  # fmt: skip
        if self.s.team_id:
            params["teamId"] = self.s.team_id
        try:
            response = self.client.get("/v6/deployments", params=params)
        except httpx.HTTPError as exc:
            raise RouterError(f"Vercel API GET /v6/deployments failed: {exc}") from exc
        if response.status_code != 200:
            raise self._error("GET", "/v6/deployments", response)
        found = [d for d in response.json().get("deployments") or []
                 if str((d.get("meta") or {}).get(self.s.version_key)) == version]
        if not found:
            raise RouterError(f"vercel router: no READY production deployment of {self.s.project!r} has "
                              f"meta.{self.s.version_key} = {version!r}; deploy it (vercel deploy --prod) or set "
                              "canary_deployment: dpl_...")
        newest = max(found, key=lambda d: d.get("created") or d.get("createdAt") or 0)
        deployment = str(newest["uid"])
        self.s = self.s.model_copy(update={"canary_deployment": deployment})  # ours from now on
        return deployment

    def _ours(self, release: dict[str, Any]) -> bool:
        """Whether ``release`` ramps this router's canary (any, when none is configured)."""
        canary = (release.get("canaryDeployment") or {}).get("id")
        if self.s.canary_deployment is None and self.s.canary_version:
            self._deployment_of(self.s.canary_version)  # sets canary_deployment, or says it is missing
        return self.s.canary_deployment is None or canary == self.s.canary_deployment

    def _stages(self) -> list[float]:
        if self.s.stages:
            return self.s.stages
        raise RouterError("vercel router: set stages (the plan's canary step weights, e.g. [1, 5, 25, 100]) or "
                          "build the router with the plan, so Vercel's rolling release has the plan's stages")

    def _start(self, weight: float) -> None:
        stages = self._stages()
        if weight not in stages:
            raise RouterError(f"vercel router: {weight:g}% is not one of the stages {stages}; Vercel can only "
                              "serve the configured stages")
        config = {"enabled": True, "advancementType": "manual-approval", "target": "production",
                  "stages": [{"targetPercentage": p, "requireApproval": p < 100} for p in stages]}
        self._call("PATCH", f"/v1/projects/{self.project}/rolling-release/config", json=config)
        canary = self._canary_id(None)
        self._call("POST", f"/v1/projects/{self.project}/rolling-release/start", json={"canaryDeploymentId": canary})
        release = self._active()
        if release is None:
            raise RouterError("Vercel accepted the start but reports no active rolling release; check the project's "
                              "Rolling Releases page")
        if _percent(release) < weight:
            self._approve(release, weight)

    def _approve(self, release: dict[str, Any], weight: float) -> None:
        canary = self._canary_id(release)
        if release.get("advancementType") not in (None, "manual-approval"):
            # Vercel would move traffic on its own timers, past our gates.
            raise RouterError(
                f"Vercel's active rolling release advances {release.get('advancementType')!r}, not by manual "
                "approval, so Launch Control's gates cannot hold it; abort it and let the router start the "
                "release (it configures manual approval), or set advancementType to manual-approval"
            )
        if weight >= 100:
            self._call("POST", f"/v1/projects/{self.project}/rolling-release/complete",
                       json={"canaryDeploymentId": canary})
            return
        stages = release.get("stages") or []
        current = (release.get("activeStage") or {}).get("index", -1)
        index = next((s["index"] for s in stages if float(s.get("targetPercentage", -1)) == weight), None)
        if index is None:
            shown = [s.get("targetPercentage") for s in stages]
            raise RouterError(f"vercel router: {weight:g}% is not a stage of the active rolling release {shown}; "
                              "Vercel serves only its stages — align the plan's steps with them")
        if index <= current:
            raise RouterError(f"vercel router: the rolling release is at {_percent(release):g}% and cannot step back "
                              f"to {weight:g}%; set 0 to abort it (instant rollback) instead")
        self._call("POST", f"/v1/projects/{self.project}/rolling-release/approve-stage",
                   json={"nextStageIndex": index, "canaryDeploymentId": canary})

    def _abort(self, release: dict[str, Any]) -> None:
        current = (release.get("currentDeployment") or {}).get("id")
        if not current:
            raise RouterError("Vercel's active rolling release names no current deployment to roll back to; "
                              "abort it in the Vercel dashboard (Rolling Releases → Abort)")
        # As `vercel rolling-release abort` does: an instant rollback to the pre-release production.
        self._call("POST", f"/v9/projects/{self.project}/rollback/{quote(str(current), safe='')}", json={},
                   ok=(200, 201, 202, 204))

    # -- the protocol ----------------------------------------------------------------------------

    def set_weight(self, canary_percent: float) -> None:
        weight = check_percent(canary_percent)
        with self._lock:
            release = self.release()
            if release is not None and release.get("state") == "COMPLETE" and weight < 100 and self._ours(release):
                raise RouterError(
                    "Vercel's rolling release is already complete: production serves the new version. Roll "
                    "production back with the deployer (rollback.deployer type vercel: stable → the old version) "
                    "or `vercel rollback`; a rolling release cannot step back"
                )
            if release is not None and (release.get("state") != "ACTIVE" or not self._ours(release)):
                release = None  # nothing of ours is rolling out (another canary's release answers 409 on start)
            if release is None:
                if weight == 0:
                    return  # nothing is rolling out: the canary already serves nobody
                self._start(weight)
            elif weight == 0:
                self._abort(release)
            elif _percent(release) != weight:
                self._approve(release, weight)
            got = self.get_weight()
            if got != weight:
                raise RouterError(f"Vercel reports the canary at {got:g}% after being set to {weight:g}%; check the "
                                  "project's rolling release in the Vercel dashboard")

    def get_weight(self) -> float:
        release = self.release()
        if release is None or release.get("state") == "ABORTED" or not self._ours(release):
            return 0.0
        if release.get("state") == "COMPLETE":
            return 100.0
        return _percent(release)

    def healthy(self) -> bool:
        try:
            self._call("GET", f"/v1/projects/{self.project}/rolling-release/config")
        except RouterError:
            return False
        return True

    def close(self) -> None:
        self.client.close()


def _percent(release: dict[str, Any]) -> float:
    try:
        return float((release.get("activeStage") or {})["targetPercentage"])
    except (KeyError, TypeError, ValueError) as exc:
        shown = repr(release)[:300]
        raise RouterError(f"Vercel's rolling release has no readable activeStage.targetPercentage: {shown}") from exc


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or error.get("code") or response.text[:200])
    except (ValueError, AttributeError):
        return response.text[:200] or "no reason given"


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return default


def build(settings: dict[str, Any], **context: Any) -> VercelRouter:
    parsed = validate_settings(Settings, settings, "vercel router")
    plan = context.get("plan")
    if parsed.stages is None and plan is not None:
        parsed = Settings.model_validate({**settings, "stages": [step.weight for step in plan.canary.steps]})
    if plan is not None and parsed.stages is not None:
        steps = Settings.model_validate({**settings, "stages": [step.weight for step in plan.canary.steps]}).stages
        if steps != parsed.stages:
            raise UsageError(f"vercel router: stages {parsed.stages} differ from the plan's canary steps {steps}; "
                             "leave stages out to use the plan's, or make them equal")
    token = os.environ.get(parsed.token_env, "")
    if not token:
        raise RouterError(f"vercel router: no token — set the environment variable {parsed.token_env} to a Vercel "
                          "access token (vercel.com/account/tokens), or name another one with token_env")
    return VercelRouter(parsed, token, transport=context.get("transport"))
