"""The gate: hold reasons, SEV fails and the failure limit, compare-to-stable, shared trouble, promotion."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from analysis_helpers import obs, window

from launch_control.ramp.analysis import (
    Gate,
    Verdict,
    binomial_lower_bound,
    binomial_upper_tail,
    classify,
    credibility,
    format_value,
)
from launch_control.store.lastgood import load_plan


@pytest.fixture(scope="module")
def analysis():
    return load_plan().analysis


def _with(analysis, **sequential):
    return analysis.model_copy(update={"sequential": analysis.sequential.model_copy(update=sequential)})


def _json_clean(verdict: Verdict) -> None:
    json.dumps(verdict.details, allow_nan=False)  # raises on NaN / inf


STABLE = window(3000, 30, latency_p95=0.40)


def test_classify(analysis):
    assert classify("error_rate", 0.124, analysis) == "SEV-2"
    assert classify("error_rate", 0.25, analysis) == "SEV-1"
    assert classify("error_rate", 0.01, analysis) is None
    assert classify("availability", 0.40, analysis) == "SEV-1"  # direction: below
    assert classify("latency_p95", 3.5, analysis) == "SEV-3"
    assert classify("latency_p99", 3.5, analysis) is None  # p99 has no SEV-3 limit
    assert classify("unknown_metric", 1.0, analysis) is None
    assert classify("error_rate", float("nan"), analysis) is None
    assert classify("error_rate", None, analysis) is None


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        (obs(None, None, error="gateway scrape failed: connection refused"),
         "metric source down: gateway scrape failed: connection refused"),
        (obs(window(0), window(0)), "no data: 0 requests in the last 60 s"),
        (obs(None, None), "no data: 0 requests in the last 60 s"),
        (obs(STABLE, None), "no data: 0 canary requests in the last 60 s (3,000 stable)"),
        # a thin interval is pooled with the next ones, not held as "not enough traffic"
        (obs(STABLE, window(7, 0)), "gathering evidence: 7 of 20 canary requests pooled over 1 interval"),
    ],
)
def test_hold_reasons(analysis, observation, expected):
    verdict = Gate(analysis).judge(observation)
    assert verdict.outcome == "hold"
    assert verdict.reason.startswith(expected)
    assert not verdict.rollback and not verdict.promote and verdict.severity is None
    _json_clean(verdict)


def test_holds_never_count_toward_failure_and_report_the_inconclusive_limit(analysis):
    gate = Gate(analysis)
    for i in range(analysis.inconclusive_limit):
        verdict = gate.judge(obs(None, None, error="down", minute=i))
        assert verdict.outcome == "hold" and not verdict.rollback
    assert verdict.details["inconclusive"] is True
    assert verdict.reason.endswith(f"{analysis.inconclusive_limit} holds in a row (inconclusive limit "
                                   f"{analysis.inconclusive_limit})")


def test_sev_fail_and_consecutive_failure_limit(analysis):
    gate = Gate(_with(analysis, enabled=False))
    bad = obs(window(3000, 30), window(500, 62))  # 12.4 %
    first = gate.judge(bad)
    assert first.outcome == "fail" and first.severity == "SEV-2" and not first.rollback
    assert first.reason.startswith("canary error rate 12.4% > 10% (SEV-2)")
    assert first.reason.endswith(", 1 of 2 intervals")
    assert first.details["metric"] == "error_rate"
    # A hold in between neither counts nor breaks the streak.
    assert gate.judge(obs(None, None, error="scrape timeout")).outcome == "hold"
    second = gate.judge(bad)
    assert second.rollback and second.reason.endswith(", 2 of 2 intervals")
    assert re.fullmatch(r"canary error rate 12\.4% > 10% \(SEV-2\).*, 2 of 2 intervals", second.reason)


def test_a_pass_resets_the_streak_and_reset_starts_a_new_step(analysis):
    gate = Gate(_with(analysis, enabled=False))
    bad = obs(window(3000, 30), window(500, 62))
    assert gate.judge(bad).reason.endswith("1 of 2 intervals")
    assert gate.judge(obs(window(3000, 30), window(500, 5))).outcome == "pass"
    assert gate.judge(bad).reason.endswith("1 of 2 intervals")
    gate.reset()
    assert gate.judge(bad).reason.endswith("1 of 2 intervals")


def test_sev1_rolls_back_at_once(analysis):
    verdict = Gate(_with(analysis, enabled=False)).judge(obs(STABLE, window(200, 50)))
    assert verdict.outcome == "fail" and verdict.severity == "SEV-1" and verdict.rollback
    assert "canary error rate 25.0% > 20% (SEV-1)" in verdict.reason
    assert verdict.reason.endswith("1 of 2 intervals; SEV-1 rolls back at once")


def test_non_request_metrics_and_worst_severity(analysis):
    canary = window(500, 40, cpu=0.9, availability=0.3)  # 8 % errors SEV-3, CPU SEV-3, availability SEV-1
    verdict = Gate(_with(analysis, enabled=False)).judge(obs(window(3000, 30, cpu=0.2, availability=1.0), canary))
    assert verdict.severity == "SEV-1" and verdict.rollback
    assert verdict.reason.startswith("canary availability 30.0% < 50% (SEV-1)")
    assert "canary CPU 90.0% > 80% (SEV-3)" in verdict.reason


def test_compare_to_stable_fails_a_clearly_worse_canary_under_the_limits(analysis):
    gate = Gate(_with(analysis, enabled=False))
    verdict = gate.judge(obs(window(3000, 30), window(1000, 40)))  # 4 % vs 1 %: under SEV-3's 5 %
    assert verdict.outcome == "fail" and verdict.severity == "SEV-3"
    assert verdict.reason.startswith("canary error rate 4.0% vs stable 1.0% (over 2× and +3.00 points, p = ")
    assert verdict.details["failed_by"] == ["compare_to_stable"]


def test_compare_to_stable_ignores_small_count_noise(analysis):
    # One error in 30 canary requests is 3.3 % — over 2× stable and +2.3 points, but not evidence.
    verdict = Gate(_with(analysis, enabled=False)).judge(obs(window(3000, 30), window(30, 1)))
    assert verdict.outcome == "pass"


def test_compare_to_stable_latency(analysis):
    gate = Gate(_with(analysis, enabled=False))
    verdict = gate.judge(obs(window(3000, 30, latency_p95=0.4), window(500, 5, latency_p95=0.9)))
    assert verdict.outcome == "fail"
    assert "canary p95 latency 900 ms vs stable 400 ms (over 1.5× and +500 ms)" in verdict.reason
    # Too few requests for a p95 to mean anything: no comparison.
    thin = gate.judge(obs(window(3000, 30, latency_p95=0.4), window(40, 0, latency_p95=0.9)))
    assert thin.outcome == "pass"


def test_both_versions_bad_is_a_shared_problem(analysis):
    verdict = Gate(_with(analysis, enabled=False)).judge(obs(window(3000, 360), window(150, 18)))
    assert verdict.outcome == "hold" and verdict.severity == "SEV-2" and not verdict.rollback
    assert verdict.reason.startswith(
        "both versions breach: canary error rate 12.0% > 10% (SEV-2) but stable error rate 12.0% > 10% (SEV-2)"
    )
    assert "a shared dependency, not the canary" in verdict.reason
    # ... unless the canary is clearly worse than stable too.
    worse = Gate(_with(analysis, enabled=False)).judge(obs(window(3000, 180), window(1000, 250)))
    assert worse.outcome == "fail" and worse.severity == "SEV-1"
    assert "stable breaches too: stable error rate 6.0% > 5% (SEV-3)" in worse.reason


def test_stable_silent_judges_on_absolute_limits(analysis):
    verdict = Gate(analysis).judge(obs(None, window(200, 1, latency_p95=0.3)))
    assert verdict.outcome == "pass"
    assert verdict.reason.startswith("canary healthy over 200 requests: error rate 0.5%, p95 latency 300 ms")
    assert verdict.reason.endswith("stable silent: absolute limits only")
    bad = Gate(analysis).judge(obs(window(0), window(200, 20)))
    assert bad.outcome == "fail" and bad.severity == "SEV-3"
    assert bad.reason.startswith("canary error rate 10.0% > 5% (SEV-3), 20 of 200 requests, lower bound 5.")
    _json_clean(bad)
    # 16 of 200 (8 %) is over the limit, but not credibly: it holds.
    doubtful = Gate(analysis).judge(obs(window(0), window(200, 16)))
    assert doubtful.outcome == "hold" and doubtful.severity is None


def test_zero_errors_and_zero_traffic_are_clean(analysis):
    gate = Gate(analysis)
    for stable, canary in [(window(0), window(0)), (window(3000), window(150)), (window(0), window(150)),
                           (window(3000), window(0)), (window(3000, 3000), window(150, 150))]:
        verdict = gate.judge(obs(stable, canary))
        _json_clean(verdict)
        assert "nan" not in verdict.reason.lower()


def test_pass_reason_tells_the_evidence_so_far(analysis):
    verdict = Gate(analysis).judge(obs(window(3000, 30, latency_p95=0.4), window(150, 2, latency_p95=0.42)))
    assert verdict.outcome == "pass" and not verdict.promote
    assert verdict.reason.startswith(
        "canary healthy over 150 requests: error rate 1.3% (stable 1.0%), p95 latency 420 ms (stable 400 ms); "
        "errors: undecided, 3% of the evidence a proof of no worse than stable + 0.5 points needs (~5,"
    )
    # one sentence per test; the e-values stay in the details
    assert "1.3% vs 1.0% over 150 canary requests" in verdict.reason and "evidence of harm" not in verdict.reason
    assert verdict.details["sequential"]["error_rate"]["threshold"] == 20


def test_sequential_fail_rolls_back_at_once_even_under_the_limits(analysis):
    # 3 % vs 1 %: under every absolute limit, and each interval alone is not "clearly worse".
    gate = Gate(analysis)
    for minute in range(30):
        verdict = gate.judge(obs(window(2850, 28), window(150, 4 + minute % 2), minute=minute))
        if verdict.outcome == "fail":
            break
    assert verdict.outcome == "fail" and verdict.rollback and verdict.details["failed_by"] == ["sequential"]
    assert re.search(
        r"sequential test: canary error rate worse than stable by more than 0\.5 points — \d+\.\d% vs 1\.0% over "
        r"[\d,]+ canary requests \(always-valid 95% bound: at least \+\d\.\d\d points\), 1 of 2 intervals; "
        r"the sequential test weighs the whole step, so it rolls back at once",
        verdict.reason,
    ), verdict.reason
    assert minute < 29


@pytest.mark.parametrize("allowed", [True, False])
def test_early_promotion_only_when_the_plan_allows(analysis, allowed):
    gate = Gate(_with(analysis, early_promotion=allowed))
    buckets_s = [(0.25, 1500), (0.5, 2700), (1.0, 2990), (math.inf, 3000)]
    buckets_c = [(0.25, 375), (0.5, 675), (1.0, 748), (math.inf, 750)]
    promoted = None
    for minute in range(60):
        verdict = gate.judge(
            obs(window(3000, 15, latency_buckets=buckets_s), window(750, 3, latency_buckets=buckets_c), minute=minute)
        )
        assert verdict.outcome == "pass"
        if verdict.details.get("proven_no_worse"):
            promoted = verdict
            break
    assert promoted is not None
    assert "errors: proven no worse than stable + 0.5 points" in promoted.reason
    assert "latency p95: proven no more than 20% slower" in promoted.reason
    assert promoted.promote is allowed
    assert promoted.reason.endswith("promoting early" if allowed else "early promotion is off in the plan")


def test_binomial_tail_and_formatting():
    assert binomial_upper_tail(0, 10, 0.1) == 1.0
    assert binomial_upper_tail(11, 10, 0.1) == 0.0
    assert binomial_upper_tail(1, 10, 0.1) == pytest.approx(1 - 0.9**10)
    assert binomial_upper_tail(10, 10, 0.5) == pytest.approx(0.5**10)
    assert format_value("error_rate", 0.124) == "12.4%"
    assert format_value("error_rate", 0.1, precise=False) == "10%"
    assert format_value("latency_p95", 0.42) == "420 ms"
    assert format_value("latency_p95", 3.0, precise=False) == "3 s"


# --- significance-aware absolute error-rate limits ----------------------------------------------------


def test_small_sample_noise_over_an_error_limit_holds_and_never_fails(analysis):
    # The false rollback the engine bench found: 2 errors in 31 requests (6.5 %) twice at 1 % traffic.
    gate = Gate(_with(analysis, enabled=False))
    for minute in range(12):
        verdict = gate.judge(obs(window(3000, 30), window(31, 2), minute=minute))
        assert verdict.outcome == "hold" and not verdict.rollback and verdict.severity is None
    assert verdict.reason.startswith(
        "canary error rate 6.5% > 5% (SEV-3) — 2 of 31 requests, not yet significant: holding"
    ), verdict.reason
    assert verdict.details["not_yet_significant"] == ["error_rate"]
    _json_clean(verdict)


def test_a_credible_breach_fails_with_the_evidence_and_the_observed_severity(analysis):
    verdict = Gate(_with(analysis, enabled=False)).judge(obs(window(3000, 30), window(150, 45)))
    assert verdict.outcome == "fail" and verdict.severity == "SEV-1" and verdict.rollback
    assert re.match(
        r"canary error rate 30\.0% > 20% \(SEV-1\), 45 of 150 requests, lower bound 2\d\.\d% > 5%", verdict.reason
    ), verdict.reason
    cred = verdict.details["breaches"][0]["credibility"]
    assert cred["credible"] and cred["p_value"] <= cred["level"] == pytest.approx(0.01)


def test_thin_intervals_pool_into_a_credible_breach(analysis):
    # 10 % errors on 30 requests a minute: no single interval is credible, a few pooled are.
    gate = Gate(_with(analysis, enabled=False))
    outcomes = [gate.judge(obs(None, window(30, 3), minute=m)) for m in range(10)]  # stable silent: limits only
    assert outcomes[0].outcome == "hold"
    fails = [v for v in outcomes if v.outcome == "fail"]
    assert fails and "requests over the last" in fails[0].reason
    assert any(v.rollback for v in outcomes)


def test_confidence_zero_fails_on_the_observed_rate(analysis):
    plain = analysis.model_copy(update={"absolute_confidence": 0.0})
    verdict = Gate(_with(plain, enabled=False)).judge(obs(window(3000, 30), window(31, 2)))
    assert verdict.outcome == "fail" and verdict.reason == "canary error rate 6.5% > 5% (SEV-3), 1 of 2 intervals"


def test_credibility_false_alarms_stay_under_one_minus_confidence_at_the_limit():
    # The hardest case: the canary's true rate sits exactly on the limit, 30 requests a minute.
    rng = np.random.default_rng(13)
    n = rng.poisson(30, 4000)
    x = rng.binomial(n, 0.05)
    history, credible = [], 0
    for k in range(len(n)):
        history = (history + [(int(n[k]), int(x[k]))])[-8:]
        credible += credibility(history, 0.05, 0.99).credible
    assert credible / len(n) <= 0.01


def test_binomial_lower_bound_is_the_clopper_pearson_bound():
    lower = binomial_lower_bound(45, 150, 0.01)
    assert binomial_upper_tail(45, 150, lower) == pytest.approx(0.01, rel=1e-6)
    assert 0.2 < lower < 0.3
    assert binomial_lower_bound(0, 150, 0.01) == 0.0 and binomial_lower_bound(3, 0, 0.01) == 0.0


def test_the_sequential_fail_does_not_wait_for_min_samples(analysis):
    # min_samples guards early *promotion*; an always-valid test may fail at any sample size.
    quiet = analysis.model_copy(update={"compare_to_stable": analysis.compare_to_stable.model_copy(
        update={"enabled": False})})
    verdict = Gate(quiet).judge(obs(window(2850, 28), window(150, 12)))
    assert verdict.outcome == "fail" and verdict.rollback
    assert verdict.details["failed_by"] == ["sequential"]
    assert verdict.details["sequential"]["error_rate"]["canary_n"] < analysis.sequential.min_samples


def test_promotion_margin_promotes_sooner_and_keeps_the_tight_tolerance_for_fails(analysis):
    # Fail if worse by more than 0.2 points; promote early once proven within 0.5 points.
    def minutes_to_promotion(**settings):
        gate = Gate(_with(analysis, early_promotion=True, **settings))
        rng = np.random.default_rng(31)
        for minute in range(120):
            verdict = gate.judge(obs(window(2850, int(rng.binomial(2850, 0.01))),
                                     window(150, int(rng.binomial(150, 0.01))), minute=minute))
            if verdict.promote:
                return minute + 1, verdict
        return None, None

    tight, _ = minutes_to_promotion(error_rate_tolerance=0.002)
    minute, verdict = minutes_to_promotion(error_rate_tolerance=0.002, error_rate_promotion_margin=0.005)
    assert minute is not None and (tight is None or minute < tight)
    assert "errors: proven no worse than stable + 0.5 points" in verdict.reason

    # The fail side still uses 0.2 points: a canary at +0.8 points is caught.
    gate = Gate(_with(analysis, error_rate_tolerance=0.002, error_rate_promotion_margin=0.005))
    rng = np.random.default_rng(37)
    failed = None
    for minute in range(120):
        verdict = gate.judge(obs(window(2850, int(rng.binomial(2850, 0.01))),
                                 window(150, int(rng.binomial(150, 0.018))), minute=minute))
        if verdict.rollback:
            failed = verdict
            break
    assert failed is not None and "by more than 0.2 points" in failed.reason


def test_a_promotion_margin_below_the_tolerance_is_refused():
    from pydantic import ValidationError

    from launch_control.plan.model import Sequential

    with pytest.raises(ValidationError, match="error_rate_promotion_margin .* is below error_rate_tolerance"):
        Sequential(error_rate_tolerance="0.5%", error_rate_promotion_margin="0.2%")
    with pytest.raises(ValidationError, match="latency_promotion_margin .* is below latency_tolerance"):
        Sequential(latency_tolerance=0.2, latency_promotion_margin=0.1)
    assert Sequential(error_rate_tolerance="0.2%").error_margin == 0.002  # default: the tolerance


@pytest.mark.parametrize("coarse", [True, False])
def test_the_reason_warns_when_latency_buckets_are_too_coarse_for_the_tolerance(analysis, coarse):
    from launch_control.plane.gateway.app import LATENCY_BUCKETS

    bounds = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0) if coarse else LATENCY_BUCKETS  # Prometheus' defaults vs the gateway's
    rng = np.random.default_rng(43)

    def histogram(n):
        latencies = 0.3 * np.exp(0.5 * rng.standard_normal(n))
        return [(b, int(np.sum(latencies <= b))) for b in bounds] + [(math.inf, n)]

    gate = Gate(analysis)
    verdict = gate.judge(obs(window(2850, 28, latency_buckets=histogram(2850)),
                             window(150, 1, latency_buckets=histogram(150))))
    latency = verdict.details["sequential"]["latency"]
    if coarse:
        assert latency["coarse_tolerance"] >= 1.0
        assert "buckets are too coarse to see a slowdown under 100%" in verdict.reason
    else:
        assert latency["coarse_tolerance"] is None and "too coarse" not in verdict.reason
        assert 0.2 <= latency["effective_tolerance"] <= 0.25  # E24 bounds: the plan's 20 %, give or take a bucket
