"""The sequential tests: false alarms stay under alpha however often they are checked; power grows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from launch_control.ramp.latency_test import LatencyTest, cumulative_at, reference_bound
from launch_control.ramp.sequential import TwoStreamTest

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


@pytest.mark.parametrize(("scale", "expect_fail"), [(1.0, False), (1.2, False), (3.0, True)])
def test_latency_test_on_coarse_histograms_stays_valid(scale, expect_fail):
    # 2-2.5x-wide buckets. A canary exactly 20 % slower sits on the null with a 20 % tolerance: it
    # must not fail (interpolating stable's share inside a wide bucket failed it in every run).
    # Such buckets can only test a much larger effective tolerance, so a 3x slowdown is caught.
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
    assert test.result().extra["effective_tolerance"] >= 1.0  # what coarse buckets can test: 2x and more


# --- rates far from zero: the Bernoulli cumulant (latency thresholds near stable's median) -----------


@pytest.mark.parametrize(("weight", "p_stable"), [(0.05, 0.5), (0.25, 0.3), (0.05, 0.9)])
def test_false_alarms_stay_under_alpha_when_half_the_requests_are_bad(weight, p_stable):
    # A threshold near the median is exceeded by half of all requests: the regime where the exact
    # Bernoulli cumulant (not the Poisson bound) sets the boundary. Canary exactly on the null.
    rng = np.random.default_rng(13)
    fail_rate, _ = _runs(rng, 800, 40, weight, p_stable, p_stable, 0.0)
    assert fail_rate <= ALPHA


def test_bernoulli_cumulant_is_tighter_where_it_matters():
    # Same data, same null; only the cumulant differs. Half-bad streams: the evidence of a real
    # +5 point shift must be far stronger than the Poisson bound would allow, or p50 thresholds are useless.
    test = TwoStreamTest(ALPHA, 0.0)
    for _ in range(10):
        test.update(150, 83, 2850, 1425)  # 55 % vs 50 %
    poisson = max(
        lam * (test.canary_x - test.expected) - test._stable_p0() * test.canary_n * (math.expm1(lam) - lam)
        for lam in (0.125, 0.25, 0.5, 1.0, 2.0)
    )
    assert test.log_evidence_fail() > poisson + 1.0


# --- latency: five thresholds from stable's p50 to p99 -------------------------------------------------

from launch_control.plane.gateway.app import LATENCY_BUCKETS  # noqa: E402  (the bounds the gateway exports)


def _bucket_probs(scale, tail_share=0.0, tail_scale=1.0, median=0.3):
    """P(each gateway bucket, +Inf) for lognormal latency (median 0.3 s × scale, sigma 0.5); optionally
    a share of requests ``tail_scale`` times slower (a slowdown of the tail only)."""

    def cdf(b, s):
        return 0.5 * (1 + math.erf(math.log(b / (median * s)) / (0.5 * math.sqrt(2))))

    c = [(1 - tail_share) * cdf(b, scale) + tail_share * cdf(b, scale * tail_scale) for b in LATENCY_BUCKETS]
    return np.diff(np.array([0.0, *c, 1.0]))


def _hist(rng, n, probs):
    """A cumulative histogram [(bound, count <= bound), …, (inf, n)] of n requests."""
    return list(zip((*LATENCY_BUCKETS, math.inf), np.cumsum(rng.multinomial(n, probs)).tolist(), strict=True))


def _latency_runs(rng, runs, intervals, weight, tolerance, canary_probs, stable_probs=None, **kwargs):
    """Interval of the first fail per run (0 = never) and whether the p95 'no worse' proof came."""
    stable_probs = _bucket_probs(1.0) if stable_probs is None else stable_probs
    fails, passes = np.zeros(runs, dtype=int), np.zeros(runs, dtype=bool)
    for r in range(runs):
        test = LatencyTest(ALPHA, tolerance, **kwargs)
        for k in range(intervals):
            nc, ns = rng.poisson(PER_MINUTE * weight), rng.poisson(PER_MINUTE * (1 - weight))
            test.update(nc, _hist(rng, nc, canary_probs), ns, _hist(rng, ns, stable_probs))
            if not test.active:
                continue
            decision = test.result(with_bounds=False).decision
            if decision == "fail":
                fails[r] = k + 1
                break
            passes[r] |= decision == "pass"
    return fails, passes


@pytest.mark.parametrize(("weight", "scale"), [(0.05, 1.0), (0.05, 1.1), (0.01, 1.1)])
def test_latency_false_alarms_stay_under_alpha(weight, scale):
    # scale 1.1 with tolerance 10 %: every quantile exactly on the null's boundary.
    rng = np.random.default_rng(17)
    fails, _ = _latency_runs(rng, 400, 30, weight, 0.1, _bucket_probs(scale))
    assert np.mean(fails > 0) <= ALPHA


def test_latency_thresholds_span_p50_to_p99_and_find_a_uniform_slowdown_sooner():
    rng = np.random.default_rng(19)
    test = LatencyTest(ALPHA, 0.1)
    hs = _hist(rng, 3000, _bucket_probs(1.0))
    test.update(150, hs, 3000, hs)
    assert set(test.bounds_by_label()) == {"p50", "p75", "p90", "p95", "p99"}
    assert test.bound == test.bounds_by_label()["p95"]
    assert 0.56 <= test.bound <= 0.82  # stable's p95 is 0.68 s

    # +20 % everywhere (tolerance 10 %) at 5 % traffic: five thresholds vs the p95 one alone.
    five, _ = _latency_runs(rng, 100, 30, 0.05, 0.1, _bucket_probs(1.2))
    p95_only, _ = _latency_runs(rng, 100, 30, 0.05, 0.1, _bucket_probs(1.2), quantiles=(0.95,))
    assert np.mean(five > 0) >= 0.95
    assert np.median(np.where(five > 0, five, 99)) < np.median(np.where(p95_only > 0, p95_only, 99))


def test_latency_slowdown_of_the_tail_only_is_caught_and_named():
    # 8 % of canary requests three times slower: p50 barely moves, p95/p99 do.
    rng = np.random.default_rng(23)
    fails, _ = _latency_runs(rng, 60, 30, 0.05, 0.1, _bucket_probs(1.0, tail_share=0.08, tail_scale=3.0))
    assert np.mean(fails > 0) >= 0.9
    test = LatencyTest(ALPHA, 0.1)
    for _ in range(15):
        test.update(150, _hist(rng, 150, _bucket_probs(1.0, 0.08, 3.0)), 2850, _hist(rng, 2850, _bucket_probs(1.0)))
    res = test.result()
    assert res.decision == "fail"
    assert res.extra["quantile"] in {"p90", "p95", "p99"}  # the threshold that speaks is in the tail


def test_healthy_latency_is_proven_no_worse_at_p95():
    rng = np.random.default_rng(29)
    fails, passes = _latency_runs(rng, 60, 40, 0.25, 0.2, _bucket_probs(1.0))
    assert np.mean(fails > 0) <= ALPHA and np.mean(passes) >= 0.9


def test_latency_min_delta_ignores_a_large_relative_slowdown_of_a_fast_service():
    # A 2 ms service whose canary is 40 % slower (0.8 ms): over a 20 % tolerance, under a 5 ms floor.
    rng = np.random.default_rng(41)
    stable, slower = _bucket_probs(1.0, median=0.002), _bucket_probs(1.4, median=0.002)
    relative_only, _ = _latency_runs(rng, 40, 30, 0.05, 0.2, slower, stable)
    with_floor, _ = _latency_runs(rng, 40, 30, 0.05, 0.2, slower, stable, min_delta=0.005)
    assert np.mean(relative_only > 0) >= 0.9  # the relative test alone calls it a regression
    assert np.mean(with_floor > 0) == 0.0
    # +20 ms on the same service is over both: still caught with the floor.
    much_slower = _bucket_probs(11.0, median=0.002)
    caught, _ = _latency_runs(rng, 20, 10, 0.05, 0.2, much_slower, stable, min_delta=0.005)
    assert np.mean(caught > 0) == 1.0


def test_latency_reference_is_the_more_lenient_of_relative_and_absolute():
    test = LatencyTest(ALPHA, 0.2, min_delta=0.005)
    assert test.reference(1.0, 0.2) == pytest.approx(1.0 / 1.2)  # 1 s: 20 % (167 ms) is the larger allowance
    assert test.reference(0.012, 0.2) == pytest.approx(0.007)  # 12 ms: 5 ms is larger than 20 % (2 ms)
    assert test.reference(0.004, 0.2) == 0.0  # under the floor itself: nothing can count against the canary


# --- latency: the ladder, one score over every bound from stable's p50 to p99 -------------------------


def _without_ladder(test):
    test.ladder.rungs = []  # what the five pairs alone decide (the ladder takes no part without rungs)
    return test


def test_the_ladder_spans_p50_to_p99_with_tight_pairs_and_stays_out_of_coarse_histograms():
    rng = np.random.default_rng(43)
    test = LatencyTest(ALPHA, 0.1)
    hs = _hist(rng, 3000, _bucket_probs(1.0))
    test.update(150, hs, 3000, hs)
    rungs = test.ladder.rungs
    assert len(rungs) >= 5 and len(rungs) > len(test.tests) - 1
    assert 0.28 <= rungs[0][0] <= 0.33 and 0.85 <= rungs[-1][0] <= 0.98  # stable's p50 0.30 s, p99 0.96 s
    assert all(1.1 * (1 - 1e-9) <= b / r <= 1.1 * 1.025 for b, r in rungs)  # exact bounds, effective tolerance ~10 %
    coarse = LatencyTest(ALPHA, 0.2)
    coarse.update(150, _histogram(rng, 150, 1.0), 2850, _histogram(rng, 2850, 1.0))
    assert coarse.ladder.rungs == []  # 2-2.5x-wide buckets: no tight pairs, the five pairs decide alone


def test_the_ladder_finds_a_uniform_slowdown_sooner_than_the_five_pairs():
    # +20 % everywhere, tolerance 10 %, 1 % traffic: the same simulated steps judged both ways.
    rng = np.random.default_rng(47)
    steps = []
    for _ in range(150):
        n = rng.poisson(PER_MINUTE * 0.01, 30), rng.poisson(PER_MINUTE * 0.99, 30)
        steps.append(
            [
                (nc, _hist(rng, nc, _bucket_probs(1.2)), ns, _hist(rng, ns, _bucket_probs(1.0)))
                for nc, ns in zip(*n, strict=True)
            ]
        )

    def median_first_fail(with_ladder):
        out = []
        for step in steps:
            test, hit = LatencyTest(ALPHA, 0.1), 99
            for k, interval in enumerate(step):
                test.update(*interval)
                if not with_ladder:
                    _without_ladder(test)
                if test.active and test.result(with_bounds=False).decision == "fail":
                    hit = k + 1
                    break
            out.append(hit)
        return np.median(out)

    with_ladder, pairs_only = median_first_fail(True), median_first_fail(False)
    assert with_ladder <= 0.85 * pairs_only, (with_ladder, pairs_only)


@pytest.mark.parametrize(("weight", "scale"), [(0.05, 1.1), (0.01, 1.1), (0.25, 1.1)])
def test_the_ladder_alone_keeps_false_alarms_under_alpha(weight, scale):
    # Every quantile exactly on the null's boundary (10 % slower, tolerance 10 %), checked every interval.
    rng = np.random.default_rng(53)
    fails = 0
    for _ in range(400):
        test = LatencyTest(ALPHA, 0.1)
        for _ in range(30):
            nc, ns = rng.poisson(PER_MINUTE * weight), rng.poisson(PER_MINUTE * (1 - weight))
            test.update(nc, _hist(rng, nc, _bucket_probs(scale)), ns, _hist(rng, ns, _bucket_probs(1.0)))
            if test.ladder.log_evidence_fail() >= math.log(1 / ALPHA):
                fails += 1
                break
    assert test.ladder.rungs
    assert fails / 400 <= ALPHA


def test_the_ladder_resumes_with_the_same_evidence():
    rng = np.random.default_rng(59)
    test = LatencyTest(ALPHA, 0.1)
    for _ in range(5):
        test.update(150, _hist(rng, 150, _bucket_probs(1.15)), 2850, _hist(rng, 2850, _bucket_probs(1.0)))
    resumed = LatencyTest(ALPHA, 0.1)
    resumed.restore(json.loads(json.dumps(test.snapshot())))
    assert resumed.ladder.rungs == test.ladder.rungs
    assert resumed.log_evidence_fail() == pytest.approx(test.log_evidence_fail())
    assert test.ladder.log_evidence_fail() > -math.inf


def test_the_ladder_reads_a_missing_bound_on_the_conservative_side():
    from launch_control.ramp.ladder import _slow_counts

    buckets = [(0.1, 10), (0.2, 50), (0.4, 90), (math.inf, 100)]
    assert _slow_counts(buckets, [0.2, 0.4]) == [50.0, 10.0]  # bounds it has: exact
    assert _slow_counts(buckets, [0.3]) == [10.0]  # the canary: the next bound up, fewer slow
    assert _slow_counts(buckets, [0.3], stable=True) == [50.0]  # stable's reference: the next down, more slow
