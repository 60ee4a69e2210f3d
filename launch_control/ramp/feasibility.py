"""Feasibility up front: can each canary step, at the traffic it will get, decide within its hold?

From a request rate (``--rate``, or the traffic recorded in the store) and stable's error rate,
estimate per step how many canary requests — and so how long — the sequential test needs

* to **prove** the canary within the promotion margin (what early promotion needs), for a canary
  as good as stable, and
* to **detect** a regression of the plan's size: a canary worse than stable by twice the
  error-rate tolerance (at exactly the tolerance nothing can be detected: it is the null),

and say plainly when that is longer than the hold: "at 0.5 canary req/s, proving ≤ +0.5 points
needs ~5,600 requests ≈ 3.1 h; the hold is 30 min: raise the weight, lengthen the hold, or
loosen the tolerance". The figures are expected values from the test's own mixture
(``sequential.requests_to_prove`` / ``requests_to_detect``): about the median run, not a bound.

Used by ``launch-control plan check``, ``launch-control preflight`` and the engine at each step's
start (``at_step_start``). Pure except ``recorded_traffic`` and ``at_step_start`` (read the store)
and ``observed_traffic`` (watches the plan's metric source).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from launch_control.ramp.bets import requests_to_detect, requests_to_prove

DEFAULT_STABLE_ERROR = 0.01  # when nothing is recorded: a typical service's 1 %


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _rate(per_second: float) -> str:
    return f"{per_second:.2g}" if per_second < 10 else f"{per_second:,.0f}"


@dataclass
class StepFeasibility:
    step: int  # 0-based
    weight: float  # percent
    hold: float  # seconds
    canary_rate: float  # canary requests per second at this weight
    stable_error: float
    margin: float  # what a proof shows: canary - stable <= margin
    tolerance: float
    prove_requests: float | None  # None: the sequential test is off
    detect_requests: float | None
    per_interval: float  # canary requests per analysis interval
    min_requests: int

    @property
    def prove_seconds(self) -> float | None:
        return None if self.prove_requests is None or self.canary_rate <= 0 else self.prove_requests / self.canary_rate

    @property
    def detect_seconds(self) -> float | None:
        if self.detect_requests is None or self.canary_rate <= 0:
            return None
        return self.detect_requests / self.canary_rate

    @property
    def can_prove(self) -> bool:
        return self.prove_seconds is not None and self.prove_seconds <= self.hold

    @property
    def can_detect(self) -> bool:
        return self.detect_seconds is not None and self.detect_seconds <= self.hold

    @property
    def ok(self) -> bool:
        return self.can_prove and self.can_detect

    def words(self) -> str:
        """One plain paragraph: what the step needs and, if it is more than the hold, what to change."""
        head = f"step {self.step + 1} ({self.weight:g}%, hold {_duration(self.hold)})"
        if self.canary_rate <= 0:
            return f"{head}: no canary traffic at this rate — nothing can be decided; check the rate"
        at = f"at {_rate(self.canary_rate)} canary req/s"
        parts = []
        if self.prove_requests is not None:
            parts.append(
                f"proving ≤ +{self.margin * 100:g} points needs ~{self.prove_requests:,.0f} requests "
                f"≈ {_duration(self.prove_seconds or 0.0)}"
            )
        if self.detect_requests is not None:
            parts.append(
                f"detecting a canary {2 * self.tolerance * 100:+.1f} points worse needs ~{self.detect_requests:,.0f} "
                f"≈ {_duration(self.detect_seconds or 0.0)}"
            )
        if not parts:
            return f"{head}: {at}; the sequential test is off, so only the absolute limits judge this step"
        text = f"{head}: {at}, " + " and ".join(parts)
        if self.per_interval < self.min_requests:
            pooled = math.ceil(self.min_requests / max(self.per_interval, 1e-9))  # 18 a window of 20 needs: 2
            text += (f"; intervals carry ~{self.per_interval:.2g} canary requests (< min_requests "
                     f"{self.min_requests}): they are pooled, ~{pooled:,} intervals per judged window")
        if self.ok:
            return text + " — both within the hold"
        short = [what for what, fine in (("a proof", self.can_prove), ("detection", self.can_detect)) if not fine]
        return (f"{text}; the hold is {_duration(self.hold)}, too short for {' or '.join(short)}: raise the weight, "
                f"lengthen the hold, or loosen the tolerance")


def step_feasibility(
    analysis: Any, step: int, weight: float, hold: float, total_rate: float, stable_error: float | None = None,
    *, interval: float | None = None,
) -> StepFeasibility:
    """The estimate for one step: ``weight`` in percent, ``hold`` and ``interval`` in seconds, rate in req/s."""
    seq = analysis.sequential
    share = min(max(weight / 100.0, 0.0), 1.0)
    p = DEFAULT_STABLE_ERROR if stable_error is None else min(max(stable_error, 0.0), 1.0)
    prove = detect = None
    if seq.enabled and 0 < share < 1:
        prove = requests_to_prove(p, seq.error_margin, seq.alpha, canary_share=share)
        detect = requests_to_detect(
            p, seq.error_rate_tolerance, seq.alpha, difference=2 * seq.error_rate_tolerance, canary_share=share
        )
    canary_rate = max(total_rate, 0.0) * share
    return StepFeasibility(
        step, weight, hold, canary_rate, p, seq.error_margin, seq.error_rate_tolerance, prove, detect,
        canary_rate * (interval or analysis.interval), analysis.min_requests,
    )


def plan_feasibility(
    plan: Any, total_rate: float, stable_error: float | None = None, *, time_scale: float = 1.0
) -> list[StepFeasibility]:
    """Every canary step with a hold (the 100 % step has none): ``time_scale`` as the engine's."""
    interval = plan.analysis.interval / time_scale
    return [
        step_feasibility(plan.analysis, i, s.weight, s.hold / time_scale, total_rate, stable_error, interval=interval)
        for i, s in enumerate(plan.canary.steps)
        if s.hold and s.weight < 100
    ]


def recorded_traffic(store: Any) -> tuple[float, float | None] | None:
    """(requests per second over both versions, stable's error rate) from the store's samples, or None."""
    stable = store.sample_stats("request_rate", version="stable")
    if not stable.get("count") or not stable.get("avg"):
        return None
    canary = store.sample_stats("request_rate", version="canary")
    rate = float(stable["avg"]) + float(canary.get("avg") or 0.0)
    requests = store.sample_stats("requests", version="stable").get("sum") or 0.0
    errors = store.sample_stats("errors", version="stable").get("sum") or 0.0
    return rate, (errors / requests if requests else None)


def observed_traffic(plan: Any, seconds: float, *, sleep: Any = None) -> tuple[float, float | None]:
    """(requests per second over both versions, stable's error rate) watched on the plan's metric source.

    Two observations ``seconds`` apart (a scraping source needs a baseline). Raises ``UsageError``
    naming the source when it gives no numbers, so ``plan check --observe`` exits 2 with a reason.
    """
    import time

    from launch_control.errors import UsageError
    from launch_control.plane.metrics import build_source

    source = build_source(plan.analysis.metric_source, probes=[])
    source.observe(seconds)  # baseline
    (sleep or time.sleep)(seconds)
    obs = source.observe(seconds)
    if obs.error:
        raise UsageError(f"could not observe traffic on the plan's metric source: {obs.error}; "
                         f"give the expected rate instead, e.g. --rate 50")
    windows = [w for w in (obs.stable, obs.canary) if w is not None]
    requests = sum(w.requests for w in windows)
    elapsed = obs.interval or seconds
    if requests <= 0:
        raise UsageError(f"no requests seen on the plan's metric source in {elapsed:.0f} s; "
                         f"give the expected rate instead, e.g. --rate 50")
    stable = obs.stable
    error = stable.errors / stable.requests if stable is not None and stable.requests else None
    return requests / elapsed, error


def at_step_start(plan: Any, store: Any, step: int, time_scale: float = 1.0) -> str | None:
    """The engine's note at a step's start when the recorded traffic cannot decide within the hold (never raises)."""
    try:
        traffic = recorded_traffic(store)
        s = plan.canary.steps[step]
        if traffic is None or not s.hold or s.weight >= 100:
            return None
        rate, error = traffic
        found = step_feasibility(plan.analysis, step, s.weight, s.hold / time_scale, rate, error,
                                 interval=plan.analysis.interval / time_scale)
        return None if found.ok else "feasibility: " + found.words()
    except Exception:  # an estimate must never stop a ramp
        return None
