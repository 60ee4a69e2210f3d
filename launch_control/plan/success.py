"""The plan's success criteria: the measures a criterion may name, the unit its target is
written in, and the technical, business and operational criteria the review scores.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_serializer, model_validator

from launch_control.plan.fields import Identifier, PositiveDuration, Strict, no_duplicates, strict_units
from launch_control.plan.thresholds import METRICS
from launch_control.plan.units import (
    duration_text,
    fraction_text,
    parse_duration,
    parse_duration_strict,
    parse_fraction,
    parse_fraction_strict,
)

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
        no_duplicates([c.id for c in self.all()], "success criterion")
        return self

    def all(self) -> list[Criterion]:
        return [*self.technical, *self.business, *self.operational]
