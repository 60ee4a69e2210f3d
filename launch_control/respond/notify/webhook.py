"""Generic JSON webhook: one POST per message, for pagers, chat bridges and status relays.

Settings: ``url_env`` (or ``url``), optional ``headers`` (mapping), ``token_env`` (sent as
``Authorization: Bearer ...``), ``audience`` (default ``team``). The body is
``{"kind", "subject", "text", "launch_id", "incident_id", "sent_at", "context"}``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import Field

from launch_control.plan.settings_types import Audience, EnvName, HttpUrl, Seconds, SettingsModel, validate_settings
from launch_control.respond.notify.base import Message, check_audience, http_error, redact, setting_from_env


class WebhookChannel:
    type = "webhook"

    def __init__(self, name: str, settings: dict[str, Any]):
        self.name = name
        self.settings = settings
        self.audience = check_audience(settings.get("audience"), name, "team")
        headers = settings.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError(f"webhook channel {name!r}: headers must be a mapping of header → value")
        self.headers = {str(k): str(v) for k, v in headers.items()}
        if not (settings.get("url") or settings.get("url_env")):
            raise ValueError(f"webhook channel {name!r} needs url_env (or url)")

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "kind": message.kind,
            "subject": message.subject,
            "text": message.text,
            "launch_id": message.launch_id,
            "incident_id": message.incident_id,
            "sent_at": message.at.isoformat(),
            "context": dict(message.context),
        }

    def send(self, message: Message, timeout: float) -> str:
        import httpx

        url = setting_from_env(self.settings, "url", self.name)
        headers = {"Content-Type": "application/json", **self.headers}
        if (token_env := self.settings.get("token_env")) and (token := os.environ.get(str(token_env))):
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(self.payload(message), default=str)
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise http_error(exc, self.name, redact(url)) from exc
        return body



class Settings(SettingsModel):
    url: HttpUrl | None = None
    url_env: EnvName | None = None
    headers: dict[str, str] | None = None
    token_env: EnvName | None = None
    audience: Audience | None = None
    attempts: int = Field(default=3, ge=1, le=20)
    timeout: Seconds = 5.0


def build(settings: dict[str, Any], *, channel: str = "webhook", **_: Any) -> WebhookChannel:
    validate_settings(Settings, settings, "webhook channel")
    return WebhookChannel(channel, settings)
