"""The launch plan: one YAML file that holds everything a launch is, loaded into a typed model.

``load_plan(path)`` reads and validates a plan; a bad plan raises ``PlanError`` whose message
names the file, the field path and what is wrong. Everything else in Launch Control (engine,
rollback, flows, console, limiter) reads its settings from the ``Plan`` returned here.

Units: weights are percentages (0–100, ``"5%"`` or ``5``); ratios such as error rates are
fractions (``"5%"`` → 0.05); durations are seconds (``"30m"`` → 1800.0); rates are
(requests, window seconds) (``"60/min"`` → (60, 60)).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from launch_control.errors import UsageError
from launch_control.units import parse_duration, parse_fraction, parse_percent, parse_rate, parse_size

DEFAULT_PLAN = Path(__file__).resolve().parent.parent / "checklist" / "promptforge-v3.yaml"
PLAN_ENV = "LAUNCH_CONTROL_PLAN"

Duration = Annotated[float, BeforeValidator(parse_duration)]
Percent = Annotated[float, BeforeValidator(parse_percent)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
Size = Annotated[int, BeforeValidator(parse_size)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


def _rate(value: object) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return parse_rate(value)


Rate = Annotated[tuple[float, float], BeforeValidator(_rate)]


class PlanError(UsageError):
    """A plan that cannot be used. ``str()`` is the message to show a person."""

    def __init__(self, path: str | os.PathLike[str], problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: invalid launch plan ({len(problems)} problem{'s' * (len(problems) != 1)})"]
        lines += [f"  - {where}: {what}" for where, what in problems]
        super().__init__("\n".join(lines))


class Strict(BaseModel):
    """Base for every plan section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Adapter(BaseModel):
    """An adapter choice (router, deployer, metric source, notifier): ``type`` plus its settings.

    The settings are the adapter's own; its module validates them when it is built.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    type: Identifier

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# --- release and ramp -------------------------------------------------------------------------


class Release(Strict):
    product: str = Field(min_length=1)
    version: str = Field(min_length=1)
    stable_version: str = Field(min_length=1)
    branch: str = "main"
    tag: str | None = None
    repository: str = "."

    @property
    def tag_name(self) -> str:
        return self.tag or self.version


class CanaryStep(Strict):
    weight: Percent
    hold: Duration = 0.0
    go_no_go: bool | None = None  # per-step override of canary.go_no_go


class Canary(Strict):
    steps: list[CanaryStep] = Field(min_length=1)
    acceptance: str = ""
    go_no_go: bool = False
    go_no_go_timeout: Duration = 3600.0

    @field_validator("steps")
    @classmethod
    def _weights_rise_to_100(cls, steps: list[CanaryStep]) -> list[CanaryStep]:
        for before, after in zip(steps, steps[1:], strict=False):
            if after.weight <= before.weight:
                raise ValueError(
                    f"weights must rise step after step: {after.weight:g}% follows {before.weight:g}%"
                )
        if steps[-1].weight != 100:
            raise ValueError(f"the last step must send 100% of traffic to the release (it is {steps[-1].weight:g}%)")
        if steps[0].weight <= 0:
            raise ValueError("the first step must send some traffic to the canary (weight > 0)")
        return steps


# --- analysis ---------------------------------------------------------------------------------


class MetricKind(StrEnum):
    ratio = "ratio"
    duration = "duration"


# The metrics the engine knows how to measure, and the unit their thresholds are written in.
METRICS: dict[str, MetricKind] = {
    "error_rate": MetricKind.ratio,
    "latency_avg": MetricKind.duration,
    "latency_p50": MetricKind.duration,
    "latency_p95": MetricKind.duration,
    "latency_p99": MetricKind.duration,
    "cpu": MetricKind.ratio,
    "memory": MetricKind.ratio,
    "availability": MetricKind.ratio,
}
SEVERITIES = ("sev1", "sev2", "sev3")


def _parse_metric_value(metric: str, value: object) -> float:
    kind = METRICS[metric]
    return parse_fraction(value) if kind is MetricKind.ratio else parse_duration(value)


class MetricThreshold(Strict):
    """SEV limits for one metric. ``direction: above`` means values above the limit are bad."""

    direction: Literal["above", "below"] = "above"
    sev3: float | None = None
    sev2: float | None = None
    sev1: float | None = None
    description: str = ""

    def breached(self, value: float) -> str | None:
        """The most severe level ``value`` breaches (``"sev1"`` … ``"sev3"``), or None."""
        for level in SEVERITIES:
            limit = getattr(self, level)
            if limit is None:
                continue
            if (self.direction == "above" and value > limit) or (self.direction == "below" and value < limit):
                return level
        return None


class CompareToStable(Strict):
    """A canary clearly worse than stable fails even under the absolute limits."""

    enabled: bool = True
    max_error_rate_ratio: float = Field(default=2.0, gt=1)
    min_error_rate_delta: Fraction = 0.01
    max_latency_ratio: float = Field(default=1.5, gt=1)
    min_latency_delta: Duration = 0.1
    significance: float = Field(
        default=0.01, gt=0, lt=0.5, description="one-sided p-value below which a canary's excess errors are not noise"
    )


class Sequential(Strict):
    """Always-valid sequential test of canary against stable (see docs/analysis.md)."""

    enabled: bool = True
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    error_rate_tolerance: Fraction = 0.005
    latency_tolerance: float = Field(default=0.2, ge=0, description="relative, 0.2 = 20% slower")
    early_promotion: bool = False
    min_samples: int = Field(default=200, ge=1)
    # Early promotion proves "no worse than stable + margin"; a margin wider than the tolerance lets
    # a tight tolerance catch small regressions while a healthy canary is still promoted early.
    error_rate_promotion_margin: Fraction | None = Field(
        default=None, description="early promotion proves the error rate within this of stable's (default: tolerance)"
    )
    latency_promotion_margin: float | None = Field(
        default=None, ge=0, description="early promotion proves p95 latency within this, relative (default: tolerance)"
    )
    latency_min_delta: Duration = Field(
        default=0.005,
        description="a slowdown also has to exceed this (absolute) to count: on a 2 ms service, two processes "
        "differ by 20 % from scheduling alone",
    )

    @model_validator(mode="after")
    def _margins_not_below_tolerances(self) -> Sequential:
        for kind, tolerance, margin in (
            ("error_rate", self.error_rate_tolerance, self.error_rate_promotion_margin),
            ("latency", self.latency_tolerance, self.latency_promotion_margin),
        ):
            if margin is not None and margin < tolerance:
                raise ValueError(
                    f"{kind}_promotion_margin ({margin * 100:g}%) is below {kind}_tolerance ({tolerance * 100:g}%): "
                    f"a canary between the two could be neither rolled back nor promoted; make the margin at least "
                    f"the tolerance"
                )
        return self

    @property
    def error_margin(self) -> float:
        margin = self.error_rate_promotion_margin
        return self.error_rate_tolerance if margin is None else margin

    @property
    def latency_margin(self) -> float:
        return self.latency_tolerance if self.latency_promotion_margin is None else self.latency_promotion_margin


class Analysis(Strict):
    interval: Duration = 60.0
    min_requests: int = Field(default=20, ge=0)
    failure_limit: int = Field(default=2, ge=1, description="consecutive failing intervals before rollback")
    inconclusive_limit: int = Field(default=10, ge=1, description="consecutive holds before the step pauses")
    absolute_confidence: float = Field(
        default=0.99,
        ge=0,
        lt=1,
        description="an error-rate SEV limit fails only when an exact binomial test puts the canary's rate over "
        "it at this confidence (0 = fail on the observed rate alone); see docs/analysis.md",
    )
    metric_source: Adapter = Field(default_factory=lambda: Adapter(type="gateway"))
    probes: list[str] = Field(default_factory=list, description="health URLs for availability")
    metrics: dict[str, MetricThreshold]
    compare_to_stable: CompareToStable = Field(default_factory=CompareToStable)
    sequential: Sequential = Field(default_factory=Sequential)

    @model_validator(mode="before")
    @classmethod
    def _parse_thresholds(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            return data
        parsed: dict[str, Any] = {}
        for name, spec in data["metrics"].items():
            if name not in METRICS:
                raise ValueError(f"metrics.{name}: unknown metric; known metrics are {', '.join(METRICS)}")
            if not isinstance(spec, dict):
                raise ValueError(f"metrics.{name}: expected a mapping such as {{sev3: 5%, sev2: 10%}}")
            spec = dict(spec)
            for level in SEVERITIES:
                if level in spec and spec[level] is not None:
                    try:
                        spec[level] = _parse_metric_value(name, spec[level])
                    except ValueError as exc:
                        raise ValueError(f"metrics.{name}.{level}: {exc}") from None
            parsed[name] = spec
        return {**data, "metrics": parsed}

    @field_validator("metrics")
    @classmethod
    def _at_least_one_limit(cls, metrics: dict[str, MetricThreshold]) -> dict[str, MetricThreshold]:
        for name, threshold in metrics.items():
            if all(getattr(threshold, level) is None for level in SEVERITIES):
                raise ValueError(f"metrics.{name}: give at least one of sev1, sev2, sev3")
        return metrics


# --- rollback ---------------------------------------------------------------------------------


class HealthCheck(Strict):
    name: str
    url: str
    expect_status: int = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    timeout: Duration = 2.0


class Rollback(Strict):
    ttr_budget: Duration = 120.0
    router: Adapter = Field(default_factory=lambda: Adapter(type="gateway"))
    deployer: Adapter = Field(default_factory=lambda: Adapter(type="gateway"))
    health_checks: list[HealthCheck] = Field(default_factory=list)
    gradual_steps: list[Percent] = Field(default_factory=lambda: [25.0, 5.0, 0.0])
    gradual_hold: Duration = 60.0
    notify: list[str] = Field(default_factory=list, description="notification channels to tell")


# --- protection -------------------------------------------------------------------------------


class RateLimitPolicy(Strict):
    name: Identifier
    path: str = Field(pattern=r"^/")
    limit: Rate
    burst: int = Field(default=0, ge=0)
    methods: list[str] = Field(default_factory=list)
    critical: bool = False

    @property
    def rate(self) -> float:
        return self.limit[0]

    @property
    def window(self) -> float:
        return self.limit[1]


class OrgWideLimit(Strict):
    limit: Rate
    burst: int = Field(default=0, ge=0)


class RateLimits(Strict):
    org_header: str = "X-Org-Id"
    org_pattern: str = r"^[A-Za-z0-9_.:-]{1,64}$"
    api_keys: dict[str, str] = Field(default_factory=dict, description="API key → org id")
    failure_mode: Literal["open", "closed"] = "open"
    expected_instances: int = Field(default=1, ge=1)
    redis_timeout: Duration = 0.05
    shadow: bool = False
    policies: list[RateLimitPolicy] = Field(default_factory=list)
    org_wide: OrgWideLimit | None = None
    phases: dict[str, dict[str, Fraction]] = Field(
        default_factory=dict, description="launch phase → policy name → scale of its rate"
    )

    @model_validator(mode="after")
    def _phase_policies_exist(self) -> RateLimits:
        names = [p.name for p in self.policies]
        if len(set(names)) != len(names):
            raise ValueError(f"policies: duplicate policy names in {names}")
        for phase, scales in self.phases.items():
            for name in scales:
                if name not in names:
                    raise ValueError(f"phases.{phase}.{name}: no rate-limit policy of that name")
        try:
            re.compile(self.org_pattern)
        except re.error as exc:
            raise ValueError(f"org_pattern: not a regular expression ({exc})") from None
        return self


class WafRoute(Strict):
    path: str = Field(pattern=r"^/")
    methods: list[str] = Field(default_factory=list)
    max_body: Size | None = None
    max_json_depth: int | None = Field(default=None, ge=1)


class Waf(Strict):
    enabled: bool = True
    max_body: Size = 1_000_000
    max_json_depth: int = Field(default=32, ge=1)
    max_headers: int = Field(default=100, ge=1)
    max_header_bytes: Size = 16_384
    blocked_ips: list[str] = Field(default_factory=list)
    blocked_orgs: list[str] = Field(default_factory=list)
    routes: list[WafRoute] = Field(default_factory=list)


class RetryPolicy(Strict):
    attempts: int = Field(default=3, ge=1, le=20)
    base_delay: Duration = 0.2
    max_delay: Duration = 2.0
    total_timeout: Duration = 5.0


class CircuitBreakerPolicy(Strict):
    failure_threshold: int = Field(default=5, ge=1)
    reset_timeout: Duration = 30.0
    half_open_max_calls: int = Field(default=1, ge=1)


class Degradation(Strict):
    live_model_url: str | None = None
    live_model_timeout: Duration = 10.0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    circuit_breaker: CircuitBreakerPolicy = Field(default_factory=CircuitBreakerPolicy)
    simulated_mode: bool = True
    simulated_message: str = "The live model is unavailable; this is a simulated response."


# --- timeline, checklist, criteria ------------------------------------------------------------

TIMELINE_ACTIONS = (
    "preflight",
    "freeze_and_tag",
    "deploy_canary",
    "canary_ramp",
    "canary_step",
    "full_rollout",
    "post_launch_monitoring",
    "status_check",
    "manual",
)


class TimelineEntry(Strict):
    id: Identifier
    at: dt.time
    day: int = Field(default=0, ge=0, le=7, description="days after the launch date")
    title: str
    action: Literal[TIMELINE_ACTIONS]  # type: ignore[valid-type]
    step: int | None = Field(default=None, ge=0, description="for canary_step: index into canary.steps")
    scheduled: bool = True

    @field_validator("at", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):  # YAML reads 08:30 as sexagesimal
            return dt.time(value // 60 % 24, value % 60)
        if isinstance(value, str) and not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
            raise ValueError(f"expected a clock time such as 09:30, got {value!r}")
        return value


class PostLaunchPhase(Strict):
    name: Identifier
    start: Duration
    end: Duration
    every: Duration

    @model_validator(mode="after")
    def _ordered(self) -> PostLaunchPhase:
        if self.end <= self.start:
            raise ValueError("end must come after start")
        if self.every <= 0:
            raise ValueError("every must be positive")
        return self


class Timeline(Strict):
    timezone: str
    date: dt.date | None = None
    entries: list[TimelineEntry] = Field(min_length=1)
    post_launch: list[PostLaunchPhase] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value

    @field_validator("entries")
    @classmethod
    def _unique_ids(cls, entries: list[TimelineEntry]) -> list[TimelineEntry]:
        _no_duplicates([e.id for e in entries], "timeline entry")
        return entries

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def planned_at(self, entry: TimelineEntry, launch_date: dt.date | None = None) -> dt.datetime:
        """When ``entry`` is planned, as an aware datetime in the plan's zone."""
        day = launch_date or self.date or dt.datetime.now(self.tz).date()
        return dt.datetime.combine(day + dt.timedelta(days=entry.day), entry.at, tzinfo=self.tz)


class Check(Strict):
    """An automatic check of a checklist item."""

    type: Literal["http", "sql", "command", "smoke"]
    url: str | None = None
    expect_status: int = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None
    database_url: str | None = Field(default=None, description="default: the store's database")
    expect: Any = None
    run: str | None = None
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _has_target(self) -> Check:
        needed = {"http": "url", "sql": "query", "command": "run"}.get(self.type)
        if needed and not getattr(self, needed):
            raise ValueError(f"a {self.type} check needs {needed!r}")
        return self


class ChecklistItem(Strict):
    id: Identifier
    title: str
    owner: str
    group: str = ""
    check: Check | None = None


class Checklist(Strict):
    pre_launch: list[ChecklistItem] = Field(default_factory=list, alias="pre-launch")
    launch_day: list[ChecklistItem] = Field(default_factory=list, alias="launch-day")
    post_launch: list[ChecklistItem] = Field(default_factory=list, alias="post-launch")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> Checklist:
        _no_duplicates([item.id for _, item in self.items()], "checklist item")
        return self

    def sections(self) -> list[tuple[str, list[ChecklistItem]]]:
        return [("pre-launch", self.pre_launch), ("launch-day", self.launch_day), ("post-launch", self.post_launch)]

    def items(self) -> list[tuple[str, ChecklistItem]]:
        return [(phase, item) for phase, items in self.sections() for item in items]

    def get(self, item_id: str) -> ChecklistItem | None:
        return next((item for _, item in self.items() if item.id == item_id), None)


class SmokeRequest(Strict):
    name: str
    method: Literal["GET", "POST", "PUT", "DELETE", "HEAD"] = "GET"
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    expect_status: int = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    expect_fields: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SmokeTests(Strict):
    base_url: str = "http://127.0.0.1:8080"
    timeout: Duration = 5.0
    requests: list[SmokeRequest] = Field(default_factory=list)


# Success-criteria measures and the unit their targets are written in.
CRITERIA_MEASURES: dict[str, str] = {
    "error_rate": "ratio",
    "latency_avg": "duration",
    "latency_p95": "duration",
    "latency_p99": "duration",
    "availability": "ratio",
    "rollback_ttr": "duration",
    "incident_count": "count",
    "incident_resolution_avg": "duration",
    "user_complaints": "count",
    "support_tickets": "count",
}


class Criterion(Strict):
    id: Identifier
    title: str
    measure: str | None = Field(default=None, description="computed from recorded data; omit for a reviewer's verdict")
    op: Literal["<", "<=", ">", ">="] = "<"
    target: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse_target(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("measure") is None:
            return data
        measure = data["measure"]
        if measure not in CRITERIA_MEASURES:
            raise ValueError(f"measure: unknown measure {measure!r}; known: {', '.join(CRITERIA_MEASURES)}")
        if data.get("target") is None:
            raise ValueError(f"target: a criterion on {measure} needs a target")
        unit = CRITERIA_MEASURES[measure]
        target = data["target"]
        try:
            if unit == "ratio":
                value: float = parse_fraction(target)
            elif unit == "duration":
                value = parse_duration(target)
            elif isinstance(target, bool) or not isinstance(target, (int, float)):
                raise ValueError(f"expected a number, got {target!r}")
            else:
                value = float(target)
        except ValueError as exc:
            raise ValueError(f"target: {exc}") from None
        return {**data, "target": value}

    def passes(self, value: float) -> bool:
        assert self.target is not None
        return {
            "<": value < self.target,
            "<=": value <= self.target,
            ">": value > self.target,
            ">=": value >= self.target,
        }[self.op]


class SuccessCriteria(Strict):
    technical: list[Criterion] = Field(default_factory=list)
    business: list[Criterion] = Field(default_factory=list)
    operational: list[Criterion] = Field(default_factory=list)
    launch_week: Duration = 7 * 86400.0

    @model_validator(mode="after")
    def _unique_ids(self) -> SuccessCriteria:
        _no_duplicates([c.id for c in self.all()], "success criterion")
        return self

    def all(self) -> list[Criterion]:
        return [*self.technical, *self.business, *self.operational]


# --- incidents, notifications, on-call ---------------------------------------------------------


class SeverityPolicy(Strict):
    respond_within: Duration
    rollback: bool = False
    notify: list[str] = Field(default_factory=list)
    description: str = ""


class IncidentResponse(Strict):
    severities: dict[Literal["SEV-1", "SEV-2", "SEV-3"], SeverityPolicy]
    auto_resolve_after: Duration = 900.0


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
        _no_duplicates([c.name for c in channels], "notification channel")
        return channels


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


def _no_duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ValueError(f"duplicate {what} id {item_id!r}")
        seen.add(item_id)


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
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        problems.append((_location(loc), message))
    return problems


def plan_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The plan to use: the argument, else ``$LAUNCH_CONTROL_PLAN``, else the shipped default."""
    chosen = path or os.environ.get(PLAN_ENV) or DEFAULT_PLAN
    return Path(chosen)


def parse_plan(data: Any, source: str | os.PathLike[str] = "<plan>") -> Plan:
    if not isinstance(data, dict):
        raise PlanError(source, [("(top level)", "a plan is a YAML mapping of sections")])
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(source, _problems(exc)) from None
    return plan.model_copy(update={"source": str(source)})


def load_plan(path: str | os.PathLike[str] | None = None) -> Plan:
    """Read and validate a plan; raise ``PlanError`` with file, field path and reason."""
    target = plan_path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(target, [("(file)", "no such file; pass --plan PATH or set LAUNCH_CONTROL_PLAN")]) from None
    except OSError as exc:
        raise PlanError(target, [("(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise PlanError(target, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    return parse_plan(data, target)


def dump_plan(plan: Plan) -> dict[str, Any]:
    """The plan as plain data that ``parse_plan`` reads back to an equal plan."""
    return plan.model_dump(mode="json", by_alias=True, exclude_none=True)
