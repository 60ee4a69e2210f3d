"""Atlassian Statuspage (REST API v1): incidents and component states on a hosted status page.

Settings: ``api_key_env`` (or ``api_key``; sent as ``Authorization: OAuth <key>``), ``page_id``
(or ``page_id_env``), ``components`` (our component name → Statuspage component id, e.g.
``{api: 8kbf7d35c070}``), ``base_url`` (or ``base_url_env``; default https://api.statuspage.io),
``audience`` (default ``public``).

What each message does (endpoints as in developer.statuspage.io):
  incident.open / incident.escalate   POST  /v1/pages/{page_id}/incidents (first time), else
                                      PATCH /v1/pages/{page_id}/incidents/{id} with the new impact
  incident.ack                        PATCH .../incidents/{id}  status "identified"
  incident.resolve                    PATCH .../incidents/{id}  status "resolved", components operational
  status_check                        PATCH /v1/pages/{page_id}/components/{component_id} per component
The Statuspage incident id is kept in the store's shared status under
``statuspage:<channel>:<incident id>`` so later messages update the same incident.
"""

from __future__ import annotations

import json
from typing import Any

from launch_control.plan.settings_types import EnvName, HttpUrl, validate_settings
from launch_control.respond.notify.base import (
    ChannelSettings,
    EndpointChannel,
    Message,
    NotifyError,
    http_error,
    setting_from_env,
)

# Our severities → Statuspage's incident impact and the affected component's status: the same maps
# our own status page serves (launch_control.respond.statuspage), so both pages say the same.
from launch_control.respond.statuspage import FROM_SEVERITY as COMPONENT_STATUS
from launch_control.respond.statuspage import IMPACT, STATUS_LABELS

DEFAULT_BASE_URL = "https://api.statuspage.io"
COMPONENT_STATUSES = tuple(STATUS_LABELS)
INCIDENT_STATUS = {
    "incident.open": "investigating",
    "incident.escalate": "investigating",
    "incident.ack": "identified",
    "incident.resolve": "resolved",
}


class StatuspageChannel(EndpointChannel):
    type, endpoint, default_audience = "statuspage", "api_key", "public"

    def __init__(self, name: str, settings: dict[str, Any], store: Any = None):
        super().__init__(name, settings)
        self.store = store
        components = settings.get("components") or {}
        if not isinstance(components, dict):
            raise ValueError(f"statuspage channel {name!r}: components must map component name → Statuspage id")
        self.components = {str(k): str(v) for k, v in components.items()}
        if not (settings.get("page_id") or settings.get("page_id_env")):
            raise ValueError(f"statuspage channel {name!r} needs page_id (or page_id_env)")

    # --- plumbing -----------------------------------------------------------------------------

    def _base(self) -> str:
        if self.settings.get("base_url") or self.settings.get("base_url_env"):
            return setting_from_env(self.settings, "base_url", self.name).rstrip("/")
        return DEFAULT_BASE_URL

    def _request(self, method: str, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        import httpx

        key = setting_from_env(self.settings, "api_key", self.name)
        url = self._base() + path
        try:
            response = httpx.request(
                method,
                url,
                content=json.dumps(body),
                headers={"Authorization": f"OAuth {key}", "Content-Type": "application/json"},
                timeout=timeout,
            )
            response.raise_for_status()
            return response.json() if response.content else {}
        except httpx.HTTPError as exc:
            raise http_error(exc, self.name, f"{method} {path}") from exc
        except ValueError as exc:
            raise NotifyError(f"{self.name}: {method} {path} answered with non-JSON: {exc}") from exc

    def _key(self, incident_id: int | None) -> str:
        return f"statuspage:{self.name}:{incident_id}"

    # --- messages -----------------------------------------------------------------------------

    def send(self, message: Message, timeout: float) -> str:
        page = setting_from_env(self.settings, "page_id", self.name)
        sent: list[dict[str, Any]] = []
        if message.kind in INCIDENT_STATUS and message.incident_id is not None:
            sent.append(self._incident(page, message, timeout))
        elif message.kind == "status_check":
            states = dict(message.context.get("components") or {})
            for component, status in states.items():
                if component in self.components and status in COMPONENT_STATUSES:
                    path = f"/v1/pages/{page}/components/{self.components[component]}"
                    body = {"component": {"status": status}}
                    self._request("PATCH", path, body, timeout)
                    sent.append({"PATCH": path, **body})
        return json.dumps(sent)

    def _incident(self, page: str, message: Message, timeout: float) -> dict[str, Any]:
        incident = dict(message.context.get("incident") or {})
        severity = str(incident.get("severity") or "SEV-3")
        component = str(incident.get("component") or "api")
        status = INCIDENT_STATUS[message.kind]
        body: dict[str, Any] = {"name": message.subject, "status": status, "body": message.text}
        component_id = self.components.get(component)
        if component_id:
            state = "operational" if status == "resolved" else COMPONENT_STATUS.get(severity, "major_outage")
            body["component_ids"] = [component_id]
            body["components"] = {component_id: state}
        if status != "resolved":
            body["impact_override"] = IMPACT.get(severity, "major")
        known = self.store.get_status(self._key(message.incident_id)) if self.store is not None else None
        if known:
            path = f"/v1/pages/{page}/incidents/{known}"
            body.pop("name", None)  # keep the public title the incident was opened with
            self._request("PATCH", path, {"incident": body}, timeout)
            return {"PATCH": path, "incident": body}
        if status == "resolved" and self.store is not None:
            # Nothing was ever posted for this incident (e.g. the page was down): do not open one
            # just to resolve it.
            return {"skipped": "no Statuspage incident to resolve"}
        path = f"/v1/pages/{page}/incidents"
        created = self._request("POST", path, {"incident": {**body, "deliver_notifications": True}}, timeout)
        if self.store is not None and created.get("id"):
            self.store.set_status(self._key(message.incident_id), created["id"])
        return {"POST": path, "incident": body, "id": created.get("id")}



class Settings(ChannelSettings):
    api_key: str | None = None
    api_key_env: EnvName | None = None
    page_id: str | None = None
    page_id_env: EnvName | None = None
    base_url: HttpUrl | None = None
    base_url_env: EnvName | None = None
    components: dict[str, str] | None = None


def build(settings: dict[str, Any], *, channel: str = "statuspage", store: Any = None, **_: Any) -> StatuspageChannel:
    validate_settings(Settings, settings, "statuspage channel")
    return StatuspageChannel(channel, settings, store)
