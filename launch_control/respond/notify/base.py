"""The notification-channel interface: one ``Message`` in, delivered or an error out.

A channel is built from the plan's ``notifications.channels`` entry by its module's
``build(settings, name=..., store=...)``. ``send`` delivers one message once (the ``Notifier``
retries); it raises ``NotifyError`` (``retryable`` says whether trying again can help) and
``NotConfigured`` when its endpoint's environment variable is unset — that is a skip, not a
failure: a laptop rehearsal has no Slack webhook.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import Field

from launch_control.errors import AdapterError
from launch_control.plan.settings_types import Audience, Seconds, SettingsModel

AUDIENCES = ("team", "public", "customers")

# What each audience may see of a message's context (and of what its templates are rendered
# with): an allow-list, so a field added to the incident context later stays internal until it
# is listed here. ``team`` sees everything. Never public: the cause, the summary's internals, who
# opened/acknowledged/resolved it, notes, the on-call roster, the rollback reason, the history.
_PUBLIC_INCIDENT = ("id", "severity", "status", "component", "opened_at", "acknowledged_at", "resolved_at", "duration")
AUDIENCE_FIELDS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "public": {
        "incident": _PUBLIC_INCIDENT,
        "components": None,  # component → status: what a status page shows
        "launch": ("product", "version"),
        "now": None,
    },
    "customers": {
        # enterprise customers also get the summary (their email names what they saw) and
        # whether the release was rolled back
        "incident": (*_PUBLIC_INCIDENT, "summary", "rollback", "time_to_resolve"),
        "components": None,
        "launch": ("product", "version", "stable_version"),
        "now": None,
    },
}
# An incident's "event" words for the outside: "resolved by alice: <note>" is internal.
_PUBLIC_EVENT = {"open": "investigating", "acknowledged": "identified", "resolved": "resolved"}


def audience_context(context: Mapping[str, Any], audience: str) -> dict[str, Any]:
    """``context`` cut down to what ``audience`` may see (``team``: all of it; unknown: public)."""
    if audience == "team":
        return dict(context)
    allowed = AUDIENCE_FIELDS.get(audience, AUDIENCE_FIELDS["public"])
    out: dict[str, Any] = {}
    for key, fields in allowed.items():
        if key not in context:
            continue
        value = context[key]
        if fields is not None and isinstance(value, Mapping):
            value = {name: value[name] for name in fields if name in value}
        elif fields is not None:
            continue  # an allow-listed mapping that is not one: say nothing rather than guess
        out[key] = value
    incident = out.get("incident")
    if isinstance(incident, dict) and "status" in incident:
        incident["event"] = _PUBLIC_EVENT.get(str(incident["status"]), str(incident["status"]))
    return out


class NotifyError(AdapterError):
    """A channel could not deliver a message. ``retryable``: a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class NotConfigured(NotifyError):
    """The channel's endpoint is not configured on this machine (its env var is unset)."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class Message:
    """What is said, to whom it is about: kind (``incident.open``, ``status_check``...), text."""

    kind: str
    subject: str
    text: str
    launch_id: str = ""
    incident_id: int | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@runtime_checkable
class Channel(Protocol):
    name: str
    type: str
    audience: str

    def send(self, message: Message, timeout: float) -> str:
        """Deliver once within ``timeout`` seconds; return the body sent (for the record)."""


def setting_from_env(settings: Mapping[str, Any], key: str, channel: str) -> str:
    """A setting given directly (``url``) or through an environment variable (``url_env``).

    Raises ``NotConfigured`` naming the variable when it is unset, so the send is recorded as
    skipped with the fix in the message.
    """
    if settings.get(key):
        return str(settings[key])
    env_name = settings.get(f"{key}_env")
    if not env_name:
        raise ValueError(f"channel {channel!r} needs {key!r} or {key + '_env'!r} (an environment variable name)")
    value = os.environ.get(str(env_name), "").strip()
    if not value:
        raise NotConfigured(f"not configured: set {env_name} to enable channel {channel!r}")
    return value


class ChannelSettings(SettingsModel):
    """What every channel's settings share: who may read it, and the Notifier's delivery policy."""

    audience: Audience | None = None
    attempts: int = Field(default=3, ge=1, le=20)
    timeout: Seconds = 5.0


def check_audience(value: object, channel: str, default: str) -> str:
    audience = str(value or default)
    if audience not in AUDIENCES:
        raise ValueError(f"channel {channel!r}: audience must be one of {', '.join(AUDIENCES)} (got {audience!r})")
    return audience


class EndpointChannel:
    """What the shipped channels share when built: their name, settings and audience, and an endpoint
    (or credential) setting ``endpoint`` that must be given directly or as ``<endpoint>_env``."""

    type = ""
    endpoint = ""
    default_audience = "team"

    def __init__(self, name: str, settings: dict[str, Any]):
        self.name = name
        self.settings = settings
        self.audience = check_audience(settings.get("audience"), name, self.default_audience)
        if not (settings.get(self.endpoint) or settings.get(f"{self.endpoint}_env")):
            raise ValueError(f"{self.type} channel {name!r} needs {self.endpoint}_env (or {self.endpoint})")


def http_error(exc: Exception, channel: str, url: str) -> NotifyError:
    """An httpx failure as a NotifyError: 4xx (but 408/429) is not worth retrying."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        body = exc.response.text[:200]
        retryable = code >= 500 or code in (408, 429)
        return NotifyError(f"{channel}: {url} answered HTTP {code}: {body}", retryable=retryable)
    if isinstance(exc, httpx.TimeoutException):
        return NotifyError(f"{channel}: {url} timed out ({type(exc).__name__})")
    return NotifyError(f"{channel}: cannot reach {url}: {exc}")


def post_json(channel: str, url: str, body: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
    """POST one JSON ``body`` to a webhook ``url`` (a secret: an error names only its host)."""
    import httpx

    try:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json", **(headers or {})}, timeout=timeout
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise http_error(exc, channel, redact(url)) from exc


def redact(url: str) -> str:
    """A webhook URL is a secret (Slack's path is the credential): keep scheme and host only."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "(url)"
