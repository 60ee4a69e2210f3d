"""Generic JSON webhook: one POST per message, for pagers, chat bridges and status relays.

Settings: ``url_env`` (or ``url``), optional ``headers`` (mapping), ``token_env`` (sent as
``Authorization: Bearer ...``), ``audience`` (default ``team``). The body is
``{"kind", "subject", "text", "launch_id", "incident_id", "sent_at", "context"}``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from launch_control.plan.settings_types import EnvName, HttpUrl, validate_settings
from launch_control.respond.notify.base import ChannelSettings, EndpointChannel, Message, post_json, setting_from_env


class WebhookChannel(EndpointChannel):
    type, endpoint = "webhook", "url"

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        headers = settings.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError(f"webhook channel {name!r}: headers must be a mapping of header → value")
        self.headers = {str(k): str(v) for k, v in headers.items()}

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
        url = setting_from_env(self.settings, "url", self.name)
        headers = dict(self.headers)
        if (token_env := self.settings.get("token_env")) and (token := os.environ.get(str(token_env))):
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(self.payload(message), default=str)
        post_json(self.name, url, body, timeout, headers)
        return body



class Settings(ChannelSettings):
    url: HttpUrl | None = None
    url_env: EnvName | None = None
    headers: dict[str, str] | None = None
    token_env: EnvName | None = None


def build(settings: dict[str, Any], *, channel: str = "webhook", **_: Any) -> WebhookChannel:
    validate_settings(Settings, settings, "webhook channel")
    return WebhookChannel(channel, settings)
