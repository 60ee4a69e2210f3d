"""The launch plan: one YAML file that holds everything a launch is, loaded into a typed model.

``load_plan(path)`` reads and validates a plan; a bad plan raises ``PlanError`` whose message
names the file, the field path and what is wrong. Everything else in Launch Control (engine,
rollback, flows, console, limiter) reads its settings from the ``Plan`` returned here.

Units: weights are percentages (0–100, ``"5%"``); ratios such as error rates are fractions
(``"5%"`` → 0.05); durations are seconds (``"30m"`` → 1800.0); rates are (requests, window
seconds) (``"60/min"`` → (60, 60)). A plan *file* must write durations with a unit (``hold: 30``
is refused: 30 seconds or 30 minutes?) and shares with ``%`` (a bare number from 0 to 1 is
refused as ambiguous; above 1 it is a percentage, for weights and ratios alike). Python callers
of ``parse_plan`` may pass plain numbers (seconds, percent for weights, fractions for ratios);
``dump_plan`` writes the unit-ful text a file needs. File-level limits (size, nesting, aliases,
duplicate keys, encoding) live in ``launch_control.plan.planfile``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from launch_control.plan.metrics import GATE_METRICS, is_fraction
from launch_control.plan.planfile import (  # noqa: F401 - PLAN_ENV, PlanError, plan_path are re-exported
    DEFAULT_PLAN,
    PLAN_ENV,
    PlanError,
    load_data,
    plan_path,
)
from launch_control.plan.units import (
    check_url,
    duration_text,
    fraction_text,
    parse_duration,
    parse_duration_strict,
    parse_fraction,
    parse_fraction_strict,
    parse_percent,
    parse_percent_strict,
    parse_rate,
    parse_size,
    percent_text,
)

STRICT = {"strict_units": True}  # validation context of a plan read from a file


def strict_units(info: ValidationInfo | None) -> bool:
    return bool(info is not None and info.context and info.context.get("strict_units"))


def _duration(value: object, info: ValidationInfo) -> float:
    return (parse_duration_strict if strict_units(info) else parse_duration)(value)


def _percent(value: object, info: ValidationInfo) -> float:
    return (parse_percent_strict if strict_units(info) else parse_percent)(value)


def _fraction(value: object, info: ValidationInfo) -> float:
    return (parse_fraction_strict if strict_units(info) else parse_fraction)(value)


_JSON_DURATION = PlainSerializer(duration_text, when_used="json")
Duration = Annotated[float, BeforeValidator(_duration), _JSON_DURATION]
PositiveDuration = Annotated[float, BeforeValidator(_duration), Field(gt=0), _JSON_DURATION]
Percent = Annotated[float, BeforeValidator(_percent), PlainSerializer(percent_text, when_used="json")]
Fraction = Annotated[float, BeforeValidator(_fraction), PlainSerializer(fraction_text, when_used="json")]
Url = Annotated[str, BeforeValidator(check_url)]
# Counts are bounded: `min_requests: 1e38` is a typo, never a plan.
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
Size = Annotated[int, BeforeValidator(parse_size)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


def _rate(value: object) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return parse_rate(value)


Rate = Annotated[tuple[float, float], BeforeValidator(_rate)]


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
    hold: Duration = 0.0  # positive below 100% (checked in Canary); the 100% step may omit it
    go_no_go: bool | None = None  # per-step override of canary.go_no_go


class Canary(Strict):
    steps: list[CanaryStep] = Field(min_length=1)
    acceptance: str = ""
    go_no_go: bool = False
    go_no_go_timeout: PositiveDuration = 3600.0

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
        for index, step in enumerate(steps):
            if step.weight < 100 and step.hold <= 0:
                raise ValueError(
                    f"step [{index}]: a step below 100% needs a positive hold (e.g. 30m): with none the "
                    f"ramp would pass {step.weight:g}% without watching it"
                )
        return steps


# --- analysis ---------------------------------------------------------------------------------


class MetricKind(StrEnum):
    ratio = "ratio"
    duration = "duration"


# The metrics a plan may set limits on (the catalogue's gate metrics), and the unit their
# thresholds are written in.
METRICS: dict[str, MetricKind] = {
    name: MetricKind.ratio if is_fraction(name) else MetricKind.duration for name in GATE_METRICS
}
SEVERITIES = ("sev1", "sev2", "sev3")


def _parse_metric_value(metric: str, value: object, strict: bool = False) -> float:
    if METRICS[metric] is MetricKind.ratio:
        return (parse_fraction_strict if strict else parse_fraction)(value)
    return (parse_duration_strict if strict else parse_duration)(value)


def _sev_order(metric: str, threshold: MetricThreshold) -> None:
    """SEV-1 is the most severe level: its limit lies furthest from healthy (ties allowed)."""
    levels = ("sev3", "sev2", "sev1")
    given = [(level, getattr(threshold, level)) for level in levels if getattr(threshold, level) is not None]
    above = threshold.direction == "above"
    for (low, a), (high, b) in zip(given, given[1:], strict=False):
        if (above and b < a) or (not above and b > a):
            raise ValueError(
                f"metrics.{metric}: {high} ({_metric_text(metric, b)}) is less severe than {low} "
                f"({_metric_text(metric, a)}); with direction {threshold.direction}, SEV-1 must lie furthest from "
                f"healthy (e.g. {'sev3: 5%, sev2: 10%, sev1: 20%' if above else 'sev3: 99%, sev2: 90%, sev1: 50%'})"
            )


def _metric_text(metric: str, value: float) -> str:
    return fraction_text(value) if METRICS.get(metric) is MetricKind.ratio else duration_text(value)


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
    min_samples: int = Field(default=200, ge=1, le=1_000_000_000)
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
    interval: PositiveDuration = 60.0
    min_requests: Count = 20
    failure_limit: int = Field(default=2, ge=1, le=1000, description="consecutive failing intervals before rollback")
    inconclusive_limit: int = Field(
        default=10, ge=1, le=100_000, description="consecutive holds before the step pauses"
    )
    absolute_confidence: float = Field(
        default=0.99,
        ge=0,
        lt=1,
        description="an error-rate SEV limit fails only when an exact binomial test puts the canary's rate over "
        "it at this confidence (0 = fail on the observed rate alone); see docs/analysis.md",
    )
    metric_source: Adapter = Field(default_factory=lambda: Adapter(type="gateway"))
    probes: list[Url] = Field(default_factory=list, description="health URLs for availability")
    metrics: dict[str, MetricThreshold]
    compare_to_stable: CompareToStable = Field(default_factory=CompareToStable)
    sequential: Sequential = Field(default_factory=Sequential)

    @model_validator(mode="before")
    @classmethod
    def _parse_thresholds(cls, data: Any, info: ValidationInfo) -> Any:
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
                        spec[level] = _parse_metric_value(name, spec[level], strict_units(info))
                    except ValueError as exc:
                        raise ValueError(f"metrics.{name}.{level}: {exc}") from None
            parsed[name] = spec
        return {**data, "metrics": parsed}

    @field_serializer("metrics", when_used="json")
    def _thresholds_text(self, metrics: dict[str, MetricThreshold]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, threshold in metrics.items():
            spec = threshold.model_dump(mode="json", exclude_none=True)
            for level in SEVERITIES:
                if level in spec:
                    spec[level] = _metric_text(name, spec[level])
            out[name] = spec
        return out

    @field_validator("metrics")
    @classmethod
    def _at_least_one_limit(cls, metrics: dict[str, MetricThreshold]) -> dict[str, MetricThreshold]:
        for name, threshold in metrics.items():
            if all(getattr(threshold, level) is None for level in SEVERITIES):
                raise ValueError(f"metrics.{name}: give at least one of sev1, sev2, sev3")
            _sev_order(name, threshold)
        return metrics


# --- rollback ---------------------------------------------------------------------------------


class HealthCheck(Strict):
    name: str
    url: Url
    expect_status: HttpStatus = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    timeout: PositiveDuration = 2.0


class Rollback(Strict):
    ttr_budget: PositiveDuration = 120.0
    router: Adapter = Field(default_factory=lambda: Adapter(type="gateway"))
    deployer: Adapter = Field(default_factory=lambda: Adapter(type="gateway"))
    health_checks: list[HealthCheck] = Field(default_factory=list)
    gradual_steps: list[Percent] = Field(default_factory=lambda: [25.0, 5.0, 0.0])
    gradual_hold: PositiveDuration = 60.0
    notify: list[str] = Field(default_factory=list, description="notification channels to tell")


# --- protection -------------------------------------------------------------------------------


class RateLimitPolicy(Strict):
    name: Identifier
    path: str = Field(pattern=r"^/")
    limit: Rate
    burst: Count = 0
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
    burst: Count = 0


class RateLimits(Strict):
    org_header: str = "X-Org-Id"
    org_pattern: str = r"^[A-Za-z0-9_.:-]{1,64}$"
    api_keys: dict[str, str] = Field(default_factory=dict, description="API key → org id")
    failure_mode: Literal["open", "closed"] = "open"
    expected_instances: int = Field(default=1, ge=1, le=10_000)
    redis_timeout: PositiveDuration = 0.05
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
    max_json_depth: int | None = Field(default=None, ge=1, le=10_000)


class Waf(Strict):
    enabled: bool = True
    max_body: Size = 1_000_000
    max_json_depth: int = Field(default=32, ge=1, le=10_000)
    max_headers: int = Field(default=100, ge=1, le=100_000)
    max_header_bytes: Size = 16_384
    blocked_ips: list[str] = Field(default_factory=list)
    blocked_orgs: list[str] = Field(default_factory=list)
    routes: list[WafRoute] = Field(default_factory=list)


class RetryPolicy(Strict):
    attempts: int = Field(default=3, ge=1, le=20)
    base_delay: Duration = 0.2
    max_delay: Duration = 2.0
    total_timeout: PositiveDuration = 5.0


class CircuitBreakerPolicy(Strict):
    failure_threshold: int = Field(default=5, ge=1, le=1_000_000)
    reset_timeout: PositiveDuration = 30.0
    half_open_max_calls: int = Field(default=1, ge=1, le=10_000)


class Degradation(Strict):
    live_model_url: Url | None = None
    live_model_timeout: PositiveDuration = 10.0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    circuit_breaker: CircuitBreakerPolicy = Field(default_factory=CircuitBreakerPolicy)
    simulated_mode: bool = True
    simulated_message: str = "The live model is unavailable; this is a simulated response."


# --- timeline, checklist, criteria ------------------------------------------------------------

TimelineAction = Literal[
    "preflight",
    "freeze_and_tag",
    "deploy_canary",
    "canary_ramp",
    "canary_step",
    "full_rollout",
    "post_launch_monitoring",
    "status_check",
    "manual",
]
TIMELINE_ACTIONS: tuple[str, ...] = get_args(TimelineAction)


class TimelineEntry(Strict):
    id: Identifier
    at: dt.time
    day: int = Field(default=0, ge=0, le=7, description="days after the launch date")
    title: str
    action: TimelineAction
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
    every: PositiveDuration

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
    url: Url | None = None
    expect_status: HttpStatus = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None
    database_url: str | None = Field(default=None, description="default: the store's database")
    expect: Any = None
    run: str | None = None
    timeout: PositiveDuration = 10.0

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
    expect_status: HttpStatus = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    expect_fields: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SmokeTests(Strict):
    base_url: Url = "http://127.0.0.1:8080"
    timeout: PositiveDuration = 5.0
    requests: list[SmokeRequest] = Field(default_factory=list)


# Success-criteria measures and the unit their targets are written in: five of the catalogue's
# metrics over the whole release, and the review's own measures.
CRITERIA_MEASURES: dict[str, str] = {
    **{name: METRICS[name].value
       for name in ("error_rate", "latency_avg", "latency_p95", "latency_p99", "availability")},
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
    def _parse_target(cls, data: Any, info: ValidationInfo) -> Any:
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
            strict = strict_units(info)
            if unit == "ratio":
                value: float = (parse_fraction_strict if strict else parse_fraction)(target)
            elif unit == "duration":
                value = (parse_duration_strict if strict else parse_duration)(target)
            elif isinstance(target, bool) or not isinstance(target, (int, float)):
                raise ValueError(f"expected a number, got {target!r}")
            else:
                value = float(target)
        except ValueError as exc:
            raise ValueError(f"target: {exc}") from None
        return {**data, "target": value}

    @model_serializer(mode="wrap")
    def _target_text(self, handler: Any, info: Any) -> Any:
        data = handler(self)
        if info.mode == "json" and isinstance(data, dict) and data.get("target") is not None and self.measure:
            unit = CRITERIA_MEASURES.get(self.measure)
            if unit == "ratio":
                data["target"] = fraction_text(data["target"])
            elif unit == "duration":
                data["target"] = duration_text(data["target"])
        return data

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
    launch_week: PositiveDuration = 7 * 86400.0

    @model_validator(mode="after")
    def _unique_ids(self) -> SuccessCriteria:
        _no_duplicates([c.id for c in self.all()], "success criterion")
        return self

    def all(self) -> list[Criterion]:
        return [*self.technical, *self.business, *self.operational]


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


def load_plan(path: str | os.PathLike[str] | None = None, *, remember: bool = True) -> Plan:
    """Read and validate a plan file; raise ``PlanError`` with file, field path and reason.

    A plan that loads is kept, compiled, as the last good plan in the data directory
    (``launch_control.store.lastgood``): emergency-rollback falls back to it when the file is later
    broken, and the hot commands start from it without parsing."""
    target, raw, data = load_data(path)
    plan = parse_plan(data, target, strict_units=True)
    if remember:
        from launch_control.store import lastgood

        lastgood.remember(plan, raw)
    return plan


def dump_plan(plan: Plan) -> dict[str, Any]:
    """The plan as plain data that ``parse_plan`` reads back to an equal plan."""
    return plan.model_dump(mode="json", by_alias=True, exclude_none=True)
