"""The plan's protection sections: rate-limit policies, the WAF's limits and the degradation
settings (retry, circuit breaker, simulated mode) the protect room reads.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from launch_control.plan.fields import (
    Count,
    Duration,
    Fraction,
    Identifier,
    PositiveDuration,
    Rate,
    Size,
    Strict,
    Url,
)

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
