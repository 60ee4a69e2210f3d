"""The plan's incident-response sections: SEV policies, the on-call roster and its escalation,
and the notification channels incidents and rollbacks tell.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from launch_control.plan.fields import Adapter, Duration, Identifier, PositiveDuration, Strict, no_duplicates

# --- incidents, notifications, on-call ---------------------------------------------------------


class SeverityPolicy(Strict):
    respond_within: PositiveDuration
    rollback: bool = False
    notify: list[str] = Field(default_factory=list)
    description: str = ""


class IncidentResponse(Strict):
    severities: dict[Literal["SEV-1", "SEV-2", "SEV-3"], SeverityPolicy]
    auto_resolve_after: PositiveDuration = 900.0

    @model_validator(mode="after")
    def _sev1_answered_first(self) -> IncidentResponse:
        given = [(sev, self.severities[sev]) for sev in ("SEV-1", "SEV-2", "SEV-3") if sev in self.severities]
        for (strict, a), (loose, b) in zip(given, given[1:], strict=False):
            if a.respond_within > b.respond_within:
                raise ValueError(
                    f"severities.{strict}.respond_within is longer than {loose}'s: SEV-1 is the most severe, "
                    f"so it must be answered soonest"
                )
        return self


class OnCallPerson(Strict):
    role: str
    name: str
    contact: str = ""


class Escalation(Strict):
    after: Duration
    to: str


class OnCall(Strict):
    roster: list[OnCallPerson] = Field(default_factory=list)
    escalation: list[Escalation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _escalate_to_known_roles(self) -> OnCall:
        roles = {p.role for p in self.roster}
        for step in self.escalation:
            if step.to not in roles:
                raise ValueError(f"escalation to {step.to!r}: no one in the roster has that role")
        return self


class Channel(Adapter):
    name: Identifier


class Notifications(Strict):
    channels: list[Channel] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: list[Channel]) -> list[Channel]:
        no_duplicates([c.name for c in channels], "notification channel")
        return channels
