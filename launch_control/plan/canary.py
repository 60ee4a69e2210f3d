"""The plan's release, canary and rollback sections: what is released, the steps the ramp
climbs, and where a rollback sends traffic and how it verifies health.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from launch_control.plan.fields import Adapter, Duration, HttpStatus, Percent, PositiveDuration, Strict, Url

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
