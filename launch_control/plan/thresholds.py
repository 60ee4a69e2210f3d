"""The plan's analysis section: the metrics a plan may set SEV limits on, the limits, the
comparison with stable and the sequential test the ramp's analysis reads.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_serializer, field_validator, model_validator

from launch_control.plan.fields import (
    Adapter,
    Count,
    Duration,
    Fraction,
    PositiveDuration,
    Strict,
    Url,
    strict_units,
)
from launch_control.plan.metrics import GATE_METRICS, is_fraction
from launch_control.plan.units import (
    duration_text,
    fraction_text,
    parse_duration,
    parse_duration_strict,
    parse_fraction,
    parse_fraction_strict,
)

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
