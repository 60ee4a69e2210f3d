"""Severities and their policy: ``SEV-1`` … ``SEV-3``, the plan's policy for each, and the
response times measured against it.

Shared by incidents, the on-call ladder and the message templates (launch_control.respond.incidents,
.oncall, .templates), which is why it lives apart from all three: each imports it, none imports
another for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from launch_control.errors import UsageError

SEVERITIES = ("SEV-1", "SEV-2", "SEV-3")


def normalise_severity(value: object) -> str:
    """``"sev1"``, ``"SEV1"``, ``"SEV-1"``, ``1`` → ``"SEV-1"``; anything else is a UsageError."""
    text = str(value).strip().upper().replace("_", "-")
    digits = text.removeprefix("SEV").lstrip("-")
    if digits in ("1", "2", "3"):
        return f"SEV-{digits}"
    raise UsageError(f"unknown severity {value!r}; use SEV-1 (most severe), SEV-2 or SEV-3")


def rank(severity: str) -> int:
    """1 for SEV-1 … 3 for SEV-3: lower is more severe."""
    return SEVERITIES.index(normalise_severity(severity)) + 1


def policy_for(plan: Any, severity: str) -> Any:
    """The plan's ``SeverityPolicy`` for ``severity`` (None when the plan has none)."""
    if plan.incident_response is None:
        return None
    return plan.incident_response.severities.get(normalise_severity(severity))


@dataclass(frozen=True)
class ResponseTimes:
    target: float | None  # respond_within, seconds
    time_to_acknowledge: float | None
    time_to_resolve: float | None
    duration: float  # opened → resolved, or → now while active
    acknowledge_met: bool | None  # None: not acknowledged yet (and target not yet missed)
    resolve_met: bool | None


def response_times(plan: Any, incident: Mapping[str, Any], now: dt.datetime | None = None) -> ResponseTimes:
    """Time to acknowledge and to resolve, against the severity's ``respond_within``.

    An incident resolved without an acknowledgement counts as acknowledged when resolved.
    """
    policy = policy_for(plan, incident["severity"])
    target = policy.respond_within if policy else None
    opened = incident["opened_at"]
    now = now or dt.datetime.now(dt.UTC)
    resolved = incident.get("resolved_at")
    acked = incident.get("acknowledged_at") or resolved
    tta = (acked - opened).total_seconds() if acked else None
    ttr = (resolved - opened).total_seconds() if resolved else None
    duration = ((resolved or now) - opened).total_seconds()

    def met(value: float | None) -> bool | None:
        if target is None:
            return None
        if value is None:
            return False if duration > target else None
        return value <= target

    return ResponseTimes(target, tta, ttr, duration, met(tta), met(ttr))
