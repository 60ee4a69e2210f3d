"""Simulation study: how soon, and how falsely, three gate rules roll back a canary step.

Thousands of simulated canary steps — healthy, or degraded by 1.5×/2×/5× stable's error rate or
by +20 %/+50 % latency (every quantile scaled, so p95 too) — at 1 % and 5 % of 50 req/s, one
analysis interval a minute, held as long as the plan holds that step (1 % → 30 min, 5 % → 1 h).
Each step is judged by:

  (a0) raw limits the plan's fixed gate with ``absolute_confidence: 0``: an error-rate SEV limit
                  fails on the observed rate alone (the gate before significance-aware limits);
  (a) thresholds  the plan's fixed gate every interval: SEV limits (error rate: only when credible
                  at ``absolute_confidence``) + compare_to_stable, failure_limit consecutive
                  failing intervals — exactly ``Gate`` with the sequential test off;
  (b) flagger     a Flagger-style threshold count: a check fails when the canary's error rate
                  or p95 exceeds a fixed limit; rollback after 5 failed checks (Flagger's
                  ``threshold: 5``); intervals with fewer than min_requests are skipped (Flagger
                  would fail them: "no values"). The two limits are tuned the way an operator
                  would, on separate healthy runs: the tightest pair whose combined count rolls
                  back <= alpha of them;
  (c) sequential  the full gate with the sequential test on (absolute limits still fire);
  (o) oracle      an SPRT that knows the true alternative: the canary's exact error rate or latency
                  distribution against the closest point of the null (stable + the error tolerance;
                  every latency ``1 + latency_tolerance`` × stable's), rejecting when the likelihood
                  ratio reaches 1/alpha (Ville: still at most alpha false alarms). No real rule can
                  know the alternative; its median detection time is the physical limit at that alpha,
                  and every rule's median is also reported as a ratio to it (target for (c): <= 1.3×).

Printed per scenario and rule: the rollback rate within the hold (for healthy steps: the false-
rollback rate), and the median and p95 time to rollback — "never" when fewer than half (or 95 %)
of runs rolled back within the hold. Every rule's time is counted the same way: in intervals from
the step's start, at the interval whose verdict rolls back. For (c) on healthy steps: the share
promoted early and when. The "2× sooner" target is checked against the better of (a) and (b),
the issue's two baselines; (a0) is shown for the record (the plan's gate before credible limits).

``--horizon MIN`` judges every step for MIN minutes instead of the plan's hold (Flagger re-tuned
for that horizon): how long each rule needs when the canary stays at that traffic level, and what
looking for longer does to each rule's false rollbacks.

    .venv/bin/python bench/gate_detection.py              # the plan's settings (study tolerances)
    .venv/bin/python bench/gate_detection.py --plan-tolerances --runs 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launch_control.plane.gateway.app import LATENCY_BUCKETS as BUCKETS  # noqa: E402  (the histogram simulated)
from launch_control.ramp.analysis import Gate  # noqa: E402
from launch_control.ramp.observations import Observation, VersionWindow  # noqa: E402
from launch_control.ramp.pooling import histogram_quantile  # noqa: E402  (the one the gate pools with)
from launch_control.store.lastgood import load_plan  # noqa: E402

RATE = 50.0  # requests per second over both versions
STABLE_ERROR = 0.01
LAT_MEDIAN, LAT_SIGMA = 0.3, 0.5  # lognormal: p95 ≈ 0.68 s
AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

SCENARIOS = [
    ("healthy", 1.0, 1.0),
    ("errors 1.5x", 1.5, 1.0),
    ("errors 2x", 2.0, 1.0),
    ("errors 5x", 5.0, 1.0),
    ("p95 +20%", 1.0, 1.2),
    ("p95 +50%", 1.0, 1.5),
]


def bucket_probs(scale: float) -> np.ndarray:
    """Probability of each histogram bucket (and +Inf) for the lognormal latency scaled by ``scale``."""
    cdf = [0.5 * (1 + math.erf(math.log(b / (LAT_MEDIAN * scale)) / (LAT_SIGMA * math.sqrt(2)))) for b in BUCKETS]
    edges = np.array([0.0, *cdf, 1.0])
    return np.diff(edges)


def simulate(rng: np.random.Generator, runs: int, hold: int, weight: float, err_mult: float, lat_mult: float):
    """Per run and interval: requests, errors and cumulative histograms of both versions."""
    per = RATE * 60
    nc = rng.poisson(per * weight, (runs, hold))
    ns = rng.poisson(per * (1 - weight), (runs, hold))
    xc = rng.binomial(nc, min(1.0, STABLE_ERROR * err_mult))
    xs = rng.binomial(ns, STABLE_ERROR)
    hc = np.cumsum(rng.multinomial(nc, bucket_probs(lat_mult)), axis=-1)
    hs = np.cumsum(rng.multinomial(ns, bucket_probs(1.0)), axis=-1)
    return nc, ns, xc, xs, hc, hs


def window(n: int, x: int, cum_row: np.ndarray) -> VersionWindow:
    cum = [(b, int(c)) for b, c in zip((*BUCKETS, math.inf), cum_row, strict=True)]
    return VersionWindow(
        requests=int(n),
        errors=int(x),
        latency_p50=histogram_quantile(0.5, cum),
        latency_p95=histogram_quantile(0.95, cum),
        latency_p99=histogram_quantile(0.99, cum),
        latency_buckets=cum,
    )


def run_gate(analysis, data, hold: int) -> tuple[np.ndarray, np.ndarray]:
    """Interval (1-based) of rollback and of early promotion per run; 0 = never within the hold."""
    nc, ns, xc, xs, hc, hs = data
    runs = nc.shape[0]
    rollback = np.zeros(runs, dtype=int)
    promote = np.zeros(runs, dtype=int)
    gate = Gate(analysis)
    for r in range(runs):
        gate.reset()
        for k in range(hold):
            obs = Observation(
                at=AT,
                interval=60.0,
                stable=window(ns[r, k], xs[r, k], hs[r, k]),
                canary=window(nc[r, k], xc[r, k], hc[r, k]),
            )
            verdict = gate.judge(obs)
            if verdict.promote and not promote[r]:
                promote[r] = k + 1
            if verdict.rollback:
                rollback[r] = k + 1
                break
    return rollback, promote


def p95_array(cum: np.ndarray) -> np.ndarray:
    """histogram_quantile(0.95) over [..., bucket] cumulative counts, vectorised; NaN without requests."""
    total = cum[..., -1].astype(float)
    rank = 0.95 * total
    bounds = np.array([0.0, *BUCKETS])
    idx = np.argmax(cum >= rank[..., None], axis=-1)  # first bucket whose count reaches the rank
    idx = np.minimum(idx, len(BUCKETS) - 1)  # +Inf bucket: report the last finite bound
    upper = bounds[idx + 1]
    lower = bounds[idx]
    prev = np.where(idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], -1)[..., 0], 0)
    here = np.take_along_axis(cum, idx[..., None], -1)[..., 0]
    share = np.where(here > prev, (rank - prev) / np.maximum(here - prev, 1), 0.0)
    out = lower + (upper - lower) * np.clip(share, 0, 1)
    return np.where(total > 0, out, np.nan)


def flagger_checks(data, min_requests: int, error_limit: float, p95_limit: float) -> np.ndarray:
    """Failed checks per (run, interval): canary error rate or p95 above its limit."""
    nc, ns, xc, xs, hc, hs = data
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(nc > 0, xc / np.maximum(nc, 1), 0.0)
    p95 = np.nan_to_num(p95_array(hc), nan=0.0)
    return (nc >= min_requests) & ((err > error_limit) | (p95 > p95_limit))


def first_reaching(failed: np.ndarray, threshold: int) -> np.ndarray:
    """Interval (1-based) where the running count of failed checks reaches ``threshold``; 0 = never."""
    count = np.cumsum(failed, axis=1)
    hit = count >= threshold
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)


ERROR_LIMITS = (0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3)
P95_MULTIPLES = (1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4, 1.5, 1.6, 1.75, 2.0, 2.25, 2.5, 3.0, 4.0, 6.0)


def calibrate_flagger(rng, runs: int, hold: int, weight: float, min_requests: int, alpha: float, threshold: int = 5):
    """Tune Flagger's two limits as an operator would, on separate healthy runs: the tightest pair
    whose *combined* rule (both checks feed one failed-check count) rolls back <= alpha of them.

    (Tuning each limit alone to alpha/2 is not enough: failed checks of both kinds add up to the
    threshold, and such a pair rolled back 9-13 % of healthy steps — over alpha, an unfair baseline.)
    """
    data = simulate(rng, runs, hold, weight, 1.0, 1.0)
    baseline = LAT_MEDIAN * math.exp(1.6449 * LAT_SIGMA)
    pairs = sorted(
        ((i, j) for i in range(len(ERROR_LIMITS)) for j in range(len(P95_MULTIPLES))),
        key=lambda ij: (ij[0] + ij[1], abs(ij[0] - ij[1])),
    )
    for i, j in pairs:
        limits = (ERROR_LIMITS[i], P95_MULTIPLES[j] * baseline)
        if np.mean(first_reaching(flagger_checks(data, min_requests, *limits), threshold) > 0) <= alpha:
            return limits
    return ERROR_LIMITS[-1], P95_MULTIPLES[-1] * baseline


def summarise(times: np.ndarray) -> tuple[float, str, str]:
    """(share that happened, median, p95) with never-happened runs counted as infinitely late."""
    t = np.where(times > 0, times.astype(float), np.inf)
    rate = float(np.mean(times > 0))

    def fmt(q: float) -> str:
        v = float(np.quantile(t, q, method="higher"))
        return "never" if math.isinf(v) else f"{v:.0f} min"

    return rate, fmt(0.5), fmt(0.95)


def median_minutes(times: np.ndarray) -> float:
    t = np.where(times > 0, times.astype(float), np.inf)
    return float(np.quantile(t, 0.5, method="higher"))


def oracle_times(data, hold: int, err_mult: float, lat_mult: float, error_tolerance: float,
                 latency_tolerance: float, alpha: float) -> np.ndarray:
    """Interval (1-based) where the oracle SPRT's log-likelihood ratio reaches log(1/alpha); 0 = never."""
    nc, _ns, xc, _xs, hc, _hs = data
    runs = nc.shape[0]
    if err_mult > 1.0:
        p1, p0 = min(1.0, STABLE_ERROR * err_mult), STABLE_ERROR + error_tolerance
        if p1 <= p0:
            return np.zeros(runs, dtype=int)
        step = xc * math.log(p1 / p0) + (nc - xc) * math.log((1 - p1) / (1 - p0))
    elif lat_mult > 1.0:
        q1, q0 = bucket_probs(lat_mult), bucket_probs(1.0 + latency_tolerance)
        if lat_mult <= 1.0 + latency_tolerance:
            return np.zeros(runs, dtype=int)
        log_ratio = np.log(np.maximum(q1, 1e-300) / np.maximum(q0, 1e-300))
        counts = np.diff(hc, axis=-1, prepend=0)  # per bucket, per run and interval
        step = (counts * log_ratio).sum(axis=-1)
    else:
        return np.zeros(runs, dtype=int)
    hit = np.cumsum(step, axis=1)[:, :hold] >= math.log(1.0 / alpha)
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)


def judge_scenario(task: tuple) -> tuple:
    """One (traffic level, scenario): simulate its runs and judge them by the four rules (a worker)."""
    seed, index, weight, hold, name, err_mult, lat_mult, runs, rules, flagger, min_requests, oracle = task
    rng = np.random.default_rng([seed, index])
    data = simulate(rng, runs, hold, weight, err_mult, lat_mult)
    raw, thresholds, sequential = rules
    a0_times, _ = run_gate(raw, data, hold)
    a_times, _ = run_gate(thresholds, data, hold)
    b_times = first_reaching(flagger_checks(data, min_requests, *flagger), 5)
    c_times, c_promote = run_gate(sequential, data, hold)
    o_times = oracle_times(data, hold, err_mult, lat_mult, *oracle)
    return weight, name, runs, (a0_times, a_times, b_times, c_times), c_promote, o_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300, help="simulated steps per degraded scenario and traffic level")
    parser.add_argument("--healthy-runs", type=int, default=1000, help="simulated healthy steps per traffic level")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--error-tolerance", type=float, default=0.002, help="sequential error-rate tolerance")
    parser.add_argument("--latency-tolerance", type=float, default=0.1, help="sequential latency tolerance")
    parser.add_argument(
        "--error-margin", type=float, default=0.005, help="early promotion's error-rate margin (the plan's tolerance)"
    )
    parser.add_argument(
        "--latency-margin", type=float, default=0.2, help="early promotion's latency margin (the plan's tolerance)"
    )
    parser.add_argument("--plan-tolerances", action="store_true", help="use the plan's tolerances unchanged")
    parser.add_argument(
        "--horizon",
        type=int,
        default=0,
        metavar="MIN",
        help="judge every step for MIN minutes instead of the plan's hold (Flagger re-tuned for that horizon)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: every core)")
    args = parser.parse_args()

    plan = load_plan()
    base = plan.analysis
    seq = base.sequential
    if not args.plan_tolerances:
        seq = seq.model_copy(
            update={
                "error_rate_tolerance": args.error_tolerance,
                "latency_tolerance": args.latency_tolerance,
                "error_rate_promotion_margin": max(args.error_margin, args.error_tolerance),
                "latency_promotion_margin": max(args.latency_margin, args.latency_tolerance),
            }
        )
    seq = seq.model_copy(update={"early_promotion": True})
    sequential = base.model_copy(update={"sequential": seq})
    thresholds = base.model_copy(update={"sequential": seq.model_copy(update={"enabled": False})})
    raw = thresholds.model_copy(update={"absolute_confidence": 0.0})
    rng = np.random.default_rng(args.seed)
    holds = {0.01: int(plan.canary.steps[0].hold // 60), 0.05: int(plan.canary.steps[1].hold // 60)}
    if args.horizon:
        holds = dict.fromkeys(holds, args.horizon)

    print(
        f"stable error rate {STABLE_ERROR:.0%}, latency lognormal median {LAT_MEDIAN} s (p95 "
        f"{LAT_MEDIAN * math.exp(1.6449 * LAT_SIGMA):.2f} s), {RATE:g} req/s, 1-minute intervals, "
        f"the gateway's {len(BUCKETS)} histogram bounds"
    )
    print(
        f"plan: failure_limit {base.failure_limit}, min_requests {base.min_requests}; sequential alpha {seq.alpha:g}, "
        f"error tolerance {seq.error_rate_tolerance * 100:g} points, latency tolerance {seq.latency_tolerance:.0%}, "
        f"promotion margins {seq.error_margin * 100:g} points and {seq.latency_margin:.0%}, "
        f"min_samples {seq.min_samples}, early promotion on; absolute_confidence {base.absolute_confidence:g}"
    )
    print(
        "each step judged for "
        + ", ".join(f"{h} min at {w:.0%}" for w, h in holds.items())
        + (" (--horizon: longer than the plan holds it)" if args.horizon else " (the plan's holds)")
    )
    started = time.perf_counter()
    flagger = {
        w: calibrate_flagger(rng, args.healthy_runs, h, w, base.min_requests, seq.alpha) for w, h in holds.items()
    }
    baseline = LAT_MEDIAN * math.exp(1.6449 * LAT_SIGMA)
    for w, (e, p) in flagger.items():
        print(
            f"flagger at {w:.0%}: error rate > {e:.1%} or p95 > {p:.2f} s ({p / baseline:.2f}x baseline) fails a "
            f"check; 5 failed checks roll back (tuned on separate healthy runs: <= alpha false rollbacks)"
        )
    tasks = []
    for weight, hold in holds.items():
        for name, err_mult, lat_mult in SCENARIOS:
            runs = args.healthy_runs if name == "healthy" else args.runs
            tasks.append(
                (args.seed, len(tasks), weight, hold, name, err_mult, lat_mult, runs,
                 (raw, thresholds, sequential), flagger[weight], base.min_requests,
                 (seq.error_rate_tolerance, seq.latency_tolerance, seq.alpha))
            )
    with multiprocessing.Pool(max(1, args.workers)) as pool:
        results = pool.map(judge_scenario, tasks, chunksize=1)

    missed: list[str] = []
    header = f"{'scenario':<13} {'traffic':>7} {'runs':>5}  " + "  ".join(
        f"{name:^27}" for name in ("(a0) raw limits", "(a) thresholds", "(b) flagger", "(c) sequential")
    )
    print()
    print(header)
    print(f"{'':<13} {'':>7} {'':>5}  " + "  ".join(f"{'rollback  median     p95':^27}" for _ in range(4)))
    for weight, name, runs, all_times, c_promote, _o in results:
        a0_times, a_times, b_times, c_times = all_times
        cells = []
        for times in all_times:
            rate, med, p95 = summarise(times)
            cells.append(f"{rate:>7.1%}  {med:>7}  {p95:>7}")
        print(f"{name:<13} {weight:>7.0%} {runs:>5}  " + "  ".join(f"{c:^27}" for c in cells))
        if name == "healthy":
            rate, med, _ = summarise(c_promote)
            print(f"{'':<13} {'':>7} {'':>5}  (c) promoted early in {rate:.1%} of healthy runs, median {med}")
            if float(np.mean(c_times > 0)) > seq.alpha:
                missed.append(f"{weight:.0%} healthy: sequential false-rollback rate above alpha")
            if rate <= 0.5:
                missed.append(f"{weight:.0%} healthy: early promotion in {rate:.1%} of runs (target: most)")
        else:
            c_med = median_minutes(c_times)
            best_other = min(median_minutes(a_times), median_minutes(b_times))
            if math.isinf(c_med):
                missed.append(f"{weight:.0%} {name}: sequential median detection 'never' within {holds[weight]} min")
            elif not math.isinf(best_other) and c_med * 2 > best_other:
                missed.append(
                    f"{weight:.0%} {name}: sequential median {c_med:.0f} min is not 2x sooner than "
                    f"{best_other:.0f} min"
                )
    print("\nmedian detection time against the oracle SPRT (rule median / oracle median; 'never': the rule's")
    print("median is beyond the horizon; '—': the oracle's is too)")
    print(f"{'scenario':<13} {'traffic':>7}  {'oracle':>8}  " + "  ".join(f"{n:>15}" for n in
                                                                  ("(a0) raw", "(a) thresholds", "(b) flagger",
                                                                   "(c) sequential")))
    for weight, name, _runs, all_times, _p, o_times in results:
        if name == "healthy":
            continue
        o_med = median_minutes(o_times)
        cells = []
        for times in all_times:
            med = median_minutes(times)
            if math.isinf(med):
                cells.append("never")
            elif math.isinf(o_med):
                cells.append(f"{med:.0f} min (—)")
            else:
                cells.append(f"{med:.0f} min {med / o_med:.1f}×")
        oracle_cell = "never" if math.isinf(o_med) else f"{o_med:.0f} min"
        print(f"{name:<13} {weight:>7.0%}  {oracle_cell:>8}  " + "  ".join(f"{c:>15}" for c in cells))
        c_med = median_minutes(all_times[3])
        if not math.isinf(o_med) and (math.isinf(c_med) or c_med > 1.3 * o_med):
            ratio = "never" if math.isinf(c_med) else f"{c_med / o_med:.1f}×"
            missed.append(
                f"{weight:.0%} {name}: sequential median {ratio} the oracle's {o_med:.0f} min (target <= 1.3×)"
            )
    print(f"\n{time.perf_counter() - started:.0f} s")
    print("targets missed:" if missed else "targets: all met")
    for line in missed:
        print(f"  - {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
