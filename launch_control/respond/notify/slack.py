"""Slack incoming webhook: ``{"text": ..., "blocks": [...]}`` POSTed to the webhook URL.

Settings: ``webhook_url_env`` (or ``webhook_url``), optional ``channel`` (shown in the
message context — modern incoming webhooks post to the channel they were created for),
``audience`` (default ``team``). Slack answers ``200 ok``; 4xx means a bad or revoked hook.
"""

from __future__ import annotations

from typing import Any

from launch_control.plan.settings_types import EnvName, HttpUrl, validate_settings
from launch_control.respond.notify.base import ChannelSettings, EndpointChannel, Message, post_json, setting_from_env

HEADER_LIMIT = 150  # Slack's limit for a header block's plain_text
SECTION_LIMIT = 3000  # and for a section's text


class SlackChannel(EndpointChannel):
    type, endpoint = "slack", "webhook_url"

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.channel = str(settings.get("channel", ""))

    def payload(self, message: Message) -> dict[str, Any]:
        context = [f"*{message.launch_id}*" if message.launch_id else "", f"`{message.kind}`"]
        if message.incident_id is not None:
            context.append(f"incident #{message.incident_id}")
        if self.channel:
            context.append(self.channel)
        return {
            # text is the notification/fallback line; blocks are what the channel shows.
            "text": f"{message.subject}\n{message.text}"[:SECTION_LIMIT],
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.subject[:HEADER_LIMIT]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": message.text[:SECTION_LIMIT] or " "}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(c for c in context if c)}]},
            ],
        }

    def send(self, message: Message, timeout: float) -> str:
        import json

        body = json.dumps(self.payload(message))
        post_json(self.name, setting_from_env(self.settings, "webhook_url", self.name), body, timeout)
        return body



class Settings(ChannelSettings):
    webhook_url: HttpUrl | None = None
    webhook_url_env: EnvName | None = None
    channel: str = ""


def build(settings: dict[str, Any], *, channel: str = "slack", **_: Any) -> SlackChannel:
    validate_settings(Settings, settings, "slack channel")
    return SlackChannel(channel, settings)
