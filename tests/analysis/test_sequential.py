"""The sequential tests: false alarms stay under alpha however often they are checked; power grows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from launch_control.sequential import LatencyTest, TwoStreamTest, cumulative_at, reference_bound

ALPHA = 0.05
PER_MINUTE = 50 * 60


def _runs(rng, runs, intervals, weight, p_stable, p_canary, tolerance):
    """(rate of fail decisions, rate of pass decisions) over ``runs`` simulated steps, peeking every interval."""
    nc = rng.poisson(PER_MINUTE * weight, (runs, intervals))
    ns = rng.poisson(PER_MINUTE * (1 - weight), (runs, intervals))
    xc = rng.binomial(nc, p_canary)
    xs = rng.binomial(ns, p_stable)
    fails = passes = 0
    for r in range(runs):
        test = TwoStreamTest(ALPHA, tolerance)
        passed = False
        for k in range(intervals):
            test.update(nc[r, k], xc[r, k], ns[r, k], xs[r, k])
            decision = test.result(with_bounds=False).decision
            if decision == "fail":
                fails += 1
                break
            passed = passed or decision == "pass"
        passes += passed
    return fails / runs, passes / runs


@pytest.mark.parametrize(
    ("weight", "p_stable", "tolerance"), [(0.05, 0.01, 0.005), (0.01, 0.01, 0.0), (0.25, 0.002, 0.0)]
)
def test_false_alarms_stay_under_alpha_over_many_peeks(weight, p_stable, tolerance):
    # The hardest null: the canary sits exactly on the tolerance. 800 steps × 40 peeks each.
    rng = np.random.default_rng(7)
    fail_rate, _ = _runs(rng, 800, 40, weight, p_stable, p_stable + tolerance, tolerance)
    assert fail_rate <= ALPHA


def test_false_promotions_stay_under_alpha():
    # A canary worse by exactly the tolerance must not be "proven no worse" more often than alpha.
    rng = np.random.default_rng(11)
    _, pass_rate = _runs(rng, 800, 40, 0.05, 0.01, 0.015, 0.005)
    assert pass_rate <= ALPHA


def test_power_rises_with_effect_size():
    rng = np.random.default_rng(3)
    rates = [_runs(rng, 150, 30, 0.05, 0.01, 0.01 * m, 0.002)[0] for m in (1.0, 1.5, 2.0, 3.0, 5.0)]
    assert rates[0] <= ALPHA
    assert rates == sorted(rates)
    assert rates[-1] >= 0.99 and rates[2] >= 0.5


def test_healthy_canary_is_proven_no_worse_with_enough_traffic():
    rng = np.random.default_rng(5)
    _, pass_rate = _runs(rng, 200, 60, 0.25, 0.01, 0.01, 0.005)
    assert pass_rate >= 0.9


def test_zero_traffic_zero_errors_and_silent_versions_give_no_nan():
    test = TwoStreamTest(ALPHA, 0.005)
    res = test.result()
    assert res.decision == "continue" and res.canary_rate is None and res.difference is None
    for nc, xc, ns, xs in [(0, 0, 0, 0), (100, 0, 0, 0), (0, 0, 100, 5), (100, 0, 100, 0), (100, 100, 100, 100)]:
        test.update(nc, xc, ns, xs)
        res = test.result(with_bounds=True)
        for value in res.as_dict().values():
            if isinstance(value, float):
                assert math.isfinite(value), res
    test.update(10, float("nan"), 10, 1)  # a broken source: ignored, not poisoning the sums
    assert math.isfinite(test.log_evidence_fail())


def test_bounds_bracket_the_estimate_and_tighten():
    test = TwoStreamTest(ALPHA, 0.0)
    widths = []
    for _ in range(5):
        for _ in range(10):
            test.update(150, 3, 2850, 29)
        lower, upper = test.bounds()
        assert lower < test.difference() < upper
        widths.append(upper - lower)
    assert widths == sorted(widths, reverse=True)


def test_fail_is_final_for_the_step():
    test = TwoStreamTest(ALPHA, 0.0)
    test.update(150, 60, 2850, 28)
    assert test.result().decision == "fail"
    for _ in range(20):
        test.update(150, 1, 2850, 28)
    assert test.result().decision == "fail"
    test.reset()
    assert test.result().decision == "continue"


BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _histogram(rng, n, scale):
    latencies = 0.3 * scale * np.exp(0.5 * rng.standard_normal(n))
    return [(b, int(np.sum(latencies <= b))) for b in BOUNDS] + [(math.inf, n)]


def test_histogram_helpers():
    buckets = [(0.1, 10), (0.5, 60), (1.0, 95), (math.inf, 100)]
    assert cumulative_at(buckets, 0.5) == 60
    assert cumulative_at(buckets, 0.05) == pytest.approx(5)
    assert 60 < cumulative_at(buckets, 0.7) < 95
    assert cumulative_at(buckets, 5.0) == 95  # beyond the last finite bound: no more than known
    assert cumulative_at([], 1.0) is None
    assert reference_bound(buckets) == 1.0  # 5 % slower than 1 s: exactly the p95 share
    assert reference_bound([(0.1, 0), (math.inf, 0)]) is None


@pytest.mark.parametrize(("scale", "expect_fail"), [(1.0, False), (1.6, True)])
def test_latency_test_on_histograms(scale, expect_fail):
    rng = np.random.default_rng(int(scale * 10))
    failures = 0
    for _ in range(40):
        test = LatencyTest(ALPHA, 0.2)
        for _ in range(20):
            test.update(150, _histogram(rng, 150, scale), 2850, _histogram(rng, 2850, 1.0))
            if test.result(with_bounds=False).decision == "fail":
                failures += 1
                break
    if expect_fail:
        assert failures >= 36
    else:
        assert failures <= 2
