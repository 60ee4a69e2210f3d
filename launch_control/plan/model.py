"""The launch plan: one YAML file that holds everything a launch is, loaded into a typed model.

``parse_plan(data)`` validates a plan (``launch_control.store.lastgood.load_plan(path)`` reads one from
its file and keeps it as the last good plan); a bad plan raises ``PlanError`` whose message
names the file, the field path and what is wrong. Everything else in Launch Control (engine,
rollback, flows, console, limiter) reads its settings from the ``Plan`` defined here.

Units: weights are percentages (0–100, ``"5%"``); ratios such as error rates are fractions
(``"5%"`` → 0.05); durations are seconds (``"30m"`` → 1800.0); rates are (requests, window
seconds) (``"60/min"`` → (60, 60)). A plan *file* must write durations with a unit (``hold: 30``
is refused: 30 seconds or 30 minutes?) and shares with ``%`` (a bare number from 0 to 1 is
refused as ambiguous; above 1 it is a percentage, for weights and ratios alike). Python callers
of ``parse_plan`` may pass plain numbers (seconds, percent for weights, fractions for ratios);
``dump_plan`` writes the unit-ful text a file needs. File-level limits (size, nesting, aliases,
duplicate keys, encoding) live in ``launch_control.plan.planfile``.

The sections live by concern in sibling modules: ``fields`` (field types, the ``Strict`` base),
``canary`` (release, canary, rollback), ``thresholds`` (analysis), ``protection`` (rate limits,
WAF, degradation), ``schedule`` (timeline, checklist, smoke tests), ``success`` (success
criteria) and ``response`` (incidents, on-call, notifications). This module assembles them into
``Plan`` and reads, validates and writes plans; every section's name stays importable from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

# The sections and field types are re-exported: callers import them from launch_control.plan.model.
from launch_control.plan.canary import Canary, CanaryStep, HealthCheck, Release, Rollback
from launch_control.plan.fields import (
    STRICT,
    Adapter,
    Count,
    Duration,
    Fraction,
    HttpStatus,
    Identifier,
    Percent,
    PositiveDuration,
    Rate,
    Size,
    Strict,
    Url,
    strict_units,
)
from launch_control.plan.planfile import DEFAULT_PLAN, PLAN_ENV, PlanError, plan_path
from launch_control.plan.protection import (
    CircuitBreakerPolicy,
    Degradation,
    OrgWideLimit,
    RateLimitPolicy,
    RateLimits,
    RetryPolicy,
    Waf,
    WafRoute,
)
from launch_control.plan.response import (
    Channel,
    Escalation,
    IncidentResponse,
    Notifications,
    OnCall,
    OnCallPerson,
    SeverityPolicy,
)
from launch_control.plan.schedule import (
    TIMELINE_ACTIONS,
    Check,
    Checklist,
    ChecklistItem,
    PostLaunchPhase,
    SmokeRequest,
    SmokeTests,
    Timeline,
    TimelineAction,
    TimelineEntry,
)
from launch_control.plan.success import CRITERIA_MEASURES, Criterion, SuccessCriteria
from launch_control.plan.thresholds import (
    METRICS,
    SEVERITIES,
    Analysis,
    CompareToStable,
    MetricKind,
    MetricThreshold,
    Sequential,
)

__all__ = [
    "CRITERIA_MEASURES", "DEFAULT_PLAN", "METRICS", "PLAN_ENV", "SEVERITIES", "STRICT", "TIMELINE_ACTIONS",
    "Adapter", "Analysis", "Canary", "CanaryStep", "Channel", "Check", "Checklist", "ChecklistItem",
    "CircuitBreakerPolicy", "CompareToStable", "Count", "Criterion", "Degradation", "Duration", "Escalation",
    "Fraction", "HealthCheck", "HttpStatus", "Identifier", "IncidentResponse", "MetricKind", "MetricThreshold",
    "Notifications", "OnCall", "OnCallPerson", "OrgWideLimit", "Percent", "Plan", "PlanError",
    "PositiveDuration", "PostLaunchPhase", "Rate", "RateLimitPolicy", "RateLimits", "Release", "RetryPolicy",
    "Rollback", "Sequential", "SeverityPolicy", "Size", "SmokeRequest", "SmokeTests", "Strict", "SuccessCriteria",
    "Timeline", "TimelineAction", "TimelineEntry", "Url", "Waf", "WafRoute", "dump_plan",
    "parse_plan", "plan_path", "strict_units",
]  # fmt: skip


# --- the plan -----------------------------------------------------------------------------------


class Plan(Strict):
    name: Identifier
    release: Release
    canary: Canary
    analysis: Analysis
    rollback: Rollback = Field(default_factory=Rollback)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    waf: Waf = Field(default_factory=Waf)
    degradation: Degradation = Field(default_factory=Degradation)
    timeline: Timeline
    checklist: Checklist = Field(default_factory=Checklist)
    smoke_tests: SmokeTests = Field(default_factory=SmokeTests)
    success_criteria: SuccessCriteria = Field(default_factory=SuccessCriteria)
    incident_response: IncidentResponse | None = None
    notifications: Notifications = Field(default_factory=Notifications)
    on_call: OnCall = Field(default_factory=OnCall)
    runbook: str | None = Field(default=None, description="path of the runbook, relative to the plan")
    templates: str | None = Field(default=None, description="folder of communication templates")

    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _cross_references(self) -> Plan:
        if self.release.version == self.release.stable_version:
            raise ValueError("release.version and release.stable_version must differ")
        for entry in self.timeline.entries:
            if entry.action == "canary_step" and (entry.step is None or entry.step >= len(self.canary.steps)):
                raise ValueError(
                    f"timeline entry {entry.id!r}: step must index canary.steps (0–{len(self.canary.steps) - 1})"
                )
        channels = {c.name for c in self.notifications.channels}
        if self.incident_response:
            for sev, policy in self.incident_response.severities.items():
                for name in policy.notify:
                    if name not in channels:
                        raise ValueError(f"incident_response.severities.{sev}.notify: no channel named {name!r}")
        for name in self.rollback.notify:
            if name not in channels:
                raise ValueError(f"rollback.notify: no channel named {name!r}")
        return self

    @property
    def launch_id(self) -> str:
        return f"{self.name}"

    def base_dir(self) -> Path:
        return Path(self.source).parent if self.source else DEFAULT_PLAN.parent

    def resolve(self, relative: str) -> Path:
        """A path written in the plan, relative to the plan file."""
        path = Path(relative)
        return path if path.is_absolute() else self.base_dir() / path


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors():
        message = error["msg"]
        message = message.removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; unknown keys are not allowed)"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] in ("int_parsing_size", "int_from_float") or (
            error["type"] == "less_than_equal" and isinstance(error.get("input"), (int, float))
        ):
            bound = error.get("ctx", {}).get("le")
            limit = f" (at most {bound:,})" if bound else ""
            message = f"{error.get('input')!r} is out of bounds{limit}; a typo?"
        elif error["type"] == "greater_than":
            bound = error.get("ctx", {}).get("gt")
            message = f"must be greater than {bound}" + (" (give a positive value such as 30s)" if bound == 0 else "")
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        problems.append((_location(loc), message))
    return problems


def _required_sections(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Sections that may not default. A ramp can always run (canary.steps is required), so the
    rollback must be spelled out: a default router and no health check would leave
    emergency-rollback unable to act or to verify. A launch without a single checklist item has
    nothing for a person to sign off."""
    problems = []
    rollback = data.get("rollback")
    if not isinstance(rollback, dict):
        problems.append(
            ("rollback", "required (a router and at least one health check): emergency-rollback needs to know "
             "where to send traffic and how to verify health")
        )  # fmt: skip
    else:
        if not rollback.get("router"):
            problems.append(("rollback.router", "required: the router emergency-rollback sets to 0% canary"))
        if not rollback.get("health_checks"):
            problems.append(
                ("rollback.health_checks", "give at least one (name, url): a rollback is done only when health "
                 "is verified")
            )  # fmt: skip
    checklist = data.get("checklist")
    if not isinstance(checklist, dict) or not any(isinstance(v, list) and v for v in checklist.values()):
        problems.append(("checklist", "give at least one item (pre-launch, launch-day or post-launch)"))
    return problems


def parse_plan(data: Any, source: str | os.PathLike[str] = "<plan>", *, strict_units: bool = False) -> Plan:
    """Validate plan data. ``strict_units`` (plan files): durations need a unit, shares a ``%``."""
    if not isinstance(data, dict):
        raise PlanError(source, [("(top level)", "a plan is a YAML mapping of sections")])
    problems = _required_sections(data)
    try:
        plan = Plan.model_validate(data, context=STRICT if strict_units else None)
    except ValidationError as exc:
        problems += _problems(exc)
    except RecursionError:
        problems.append(("(file)", "nested too deeply to check; flatten the plan"))
    if problems:
        raise PlanError(source, problems)
    return plan.model_copy(update={"source": str(source)})


def dump_plan(plan: Plan) -> dict[str, Any]:
    """The plan as plain data that ``parse_plan`` reads back to an equal plan."""
    return plan.model_dump(mode="json", by_alias=True, exclude_none=True)
