"""Always-valid sequential tests of canary against stable, checked every analysis interval.

Both tests compare two *binomial streams*: per interval, ``n`` requests per version and ``x`` of
them "bad" — an error, or (for latency) slower than a reference bound read off the latency
histograms. The canary is judged against the hypothesis

    H0 (no regression beyond tolerance):  p_canary - p_stable <= tolerance

with two e-processes built from the running sums, each a finite mixture of exponential
supermartingales (Robbins' method of mixtures; Howard et al., 2021):

* **fail** when the evidence of a regression, ``E_fail``, reaches ``1/alpha``: by Ville's
  inequality the chance this ever happens under H0 — however often it is checked — is at most
  ``alpha``;
* **pass** (proven no worse) when the evidence against "worse by at least the tolerance",
  ``E_pass``, reaches ``1/alpha``: a wrongly promoted regression is likewise bounded by ``alpha``.

The statistic is the canary's *excess* of bad requests over what stable's rate predicts,
``M = sum_k (x_ck - n_ck * x_sk / n_sk) - N_c * tolerance``. Each Bernoulli outcome is
sub-Poisson (``log E exp(l (X - p)) <= p (e^l - 1 - l)`` for every real ``l``), so
``exp(l M - Psi(l))`` with

    Psi_fail(l) = p_c0 * N_c * phi(l) + p_s0 * sum_k n_sk * phi(-l * n_ck / n_sk),  phi(u) = e^u - 1 - u

is a supermartingale under H0 at every ``l >= 0`` — exact for rare events, where a Gaussian
boundary would be too eager on the canary's right-skewed error counts. ``p_c0 = p_s0 +
tolerance`` is the worst case of the null; stable's rate ``p_s0`` is a plug-in estimate nudged
one Poisson standard deviation upward (conservative: ``Psi`` grows with it). The only
approximation is that plug-in; stable usually carries 75–99 % of the traffic, so it is tight.

The mixture is uniform over ``LAMBDAS``, a doubling grid: the best grid point gets at least 83 %
of the optimal exponent, at a cost of ``log(len(LAMBDAS))`` nats of evidence. The grid is sized
for the effects a canary gate is for: the best bet against a rate ``p0`` when the truth is
``p1`` is ``l = log(p1 / p0)``, so 1/8 … 2 covers relative effects from about +13 % to ×7.

Pure Python (``math`` only): cheap enough to run on every interval of thousands of simulated
canaries (``bench/gate_detection.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# Mixture grid over the bet size lambda: 1/8 (a rate ~13 % above the null's — the scale of the
# tolerances a plan uses: 0.2 points over a 1 % baseline is +20 %) … 2 (a canary ~7× worse).
# Doubling steps keep the best point within a factor sqrt(2) of the optimum; five points cost
# log(5) ≈ 1.6 nats of evidence. The earlier 1/32 … 2 grid spent 0.3 nats more on bets (+3 %,
# +6 % effects) no gate needs to see: measured, 2× errors at 5 % traffic were caught a median
# 2 min later and healthy steps proved safe ~3 min later (docs/analysis.md). Smaller effects are
# still detected — with the 1/8 bet, at a lower rate — never falsely.
LAMBDAS: tuple[float, ...] = tuple(2.0**k for k in range(-3, 2))
_LOG_N = math.log(len(LAMBDAS))

Decision = Literal["fail", "pass", "continue"]


def _phi(u: float) -> float:
    """e^u - 1 - u, accurate near 0 (the Poisson cumulant of a centred count)."""
    if abs(u) < 1e-5:
        return 0.5 * u * u
    return math.expm1(u) - u


def _logmeanexp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in values)) - _LOG_N


@dataclass
class StreamResult:
    """Where a two-stream test stands after the latest interval."""

    decision: Decision
    canary_rate: float | None  # canary's bad share so far
    stable_rate: float | None  # stable's bad share, weighted like the canary's traffic
    difference: float | None  # canary - stable
    canary_n: float
    stable_n: float
    evidence_fail: float  # e-value of a regression beyond tolerance (1/alpha decides)
    evidence_pass: float  # e-value of "no worse than tolerance" (1/alpha decides)
    threshold: float  # 1/alpha
    lower: float | None = None  # always-valid (1 - alpha) lower bound on the difference (on decisions)
    upper: float | None = None  # always-valid (1 - alpha) upper bound on the difference (on decisions)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = {
            "decision": self.decision,
            "canary_rate": self.canary_rate,
            "stable_rate": self.stable_rate,
            "difference": self.difference,
            "canary_n": self.canary_n,
            "stable_n": self.stable_n,
            "evidence_fail": _finite(self.evidence_fail),
            "evidence_pass": _finite(self.evidence_pass),
            "threshold": self.threshold,
            "lower": self.lower,
            "upper": self.upper,
        }
        data.update(self.extra)
        return data


def _finite(value: float) -> float:
    """JSON has no infinity: cap e-values at a huge finite number."""
    return value if math.isfinite(value) else 1e300


class TwoStreamTest:
    """Sequential test of H0: p_canary - p_stable <= tolerance on two binomial streams."""

    def __init__(self, alpha: float, tolerance: float = 0.0):
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie strictly between 0 and 1 (got {alpha})")
        self.alpha = alpha
        self.tolerance = tolerance
        self.log_threshold = math.log(1.0 / alpha)
        self.reset()

    def reset(self) -> None:
        self.canary_n = 0.0  # N_c
        self.canary_x = 0.0  # X_c
        self.stable_n = 0.0  # N_s
        self.stable_x = 0.0  # X_s
        self.expected = 0.0  # sum_k n_ck * x_sk / n_sk: canary's bad count if it behaved like stable
        self.intervals = 0
        self.failed = False  # once the evidence of a regression crossed 1/alpha, the test has decided
        # sum_k n_sk * phi(∓ l n_ck / n_sk) per grid point: stable's share of Psi for each side.
        self._stable_fail = [0.0] * len(LAMBDAS)
        self._stable_pass = [0.0] * len(LAMBDAS)

    def update(self, canary_n: float, canary_x: float, stable_n: float, stable_x: float) -> None:
        """Add one interval. Intervals where either version saw nothing carry no comparison: skipped."""
        if not (canary_n > 0 and stable_n > 0) or not all(map(math.isfinite, (canary_x, stable_x))):
            return
        canary_x = min(max(canary_x, 0.0), canary_n)
        stable_x = min(max(stable_x, 0.0), stable_n)
        ratio = canary_n / stable_n
        self.canary_n += canary_n
        self.canary_x += canary_x
        self.stable_n += stable_n
        self.stable_x += stable_x
        self.expected += canary_n * stable_x / stable_n
        self.intervals += 1
        for j, lam in enumerate(LAMBDAS):
            u = lam * ratio
            self._stable_fail[j] += stable_n * _phi(-u)
            self._stable_pass[j] += stable_n * _phi(u)

    # --- evidence -------------------------------------------------------------------------------

    def _stable_p0(self) -> float:
        """Stable's bad rate for Psi: the estimate plus one Poisson sd (never 0, never above 1)."""
        x = self.stable_x + 1.0
        return min(1.0, (x + math.sqrt(x)) / max(self.stable_n, 1.0))

    def log_evidence_fail(self, tolerance: float | None = None) -> float:
        """log E_fail for H0: difference <= tolerance."""
        if self.canary_n <= 0:
            return -math.inf
        tol = self.tolerance if tolerance is None else tolerance
        p_s0 = self._stable_p0()
        p_c0 = min(1.0, max(p_s0 + tol, 1e-9))
        excess = self.canary_x - self.expected - self.canary_n * tol
        return _logmeanexp(
            [
                lam * excess - p_c0 * self.canary_n * _phi(lam) - p_s0 * sf
                for lam, sf in zip(LAMBDAS, self._stable_fail, strict=True)
            ]
        )

    def log_evidence_pass(self, tolerance: float | None = None) -> float:
        """log E_pass for H0': difference >= tolerance (canary worse by at least the tolerance)."""
        if self.canary_n <= 0:
            return -math.inf
        tol = self.tolerance if tolerance is None else tolerance
        p_s0 = self._stable_p0()
        p_c0 = min(1.0, max(p_s0 + tol, 1e-9))
        shortfall = self.canary_n * tol + self.expected - self.canary_x
        return _logmeanexp(
            [
                lam * shortfall - p_c0 * self.canary_n * _phi(-lam) - p_s0 * sp
                for lam, sp in zip(LAMBDAS, self._stable_pass, strict=True)
            ]
        )

    def bounds(self) -> tuple[float, float]:
        """Always-valid bounds on the difference: the tolerances the two tests would still reject."""
        est = self.difference() or 0.0
        lower = self._solve(lambda t: self.log_evidence_fail(t) - self.log_threshold, -1.0, est, decreasing=True)
        upper = self._solve(lambda t: self.log_evidence_pass(t) - self.log_threshold, est, 1.0, decreasing=False)
        return lower, upper

    @staticmethod
    def _solve(f, lo: float, hi: float, *, decreasing: bool) -> float:  # type: ignore[no-untyped-def]
        """Bisection for the root of a monotone f on [lo, hi] (clamped to the ends)."""
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            positive = f(mid) > 0
            if positive == decreasing:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def difference(self) -> float | None:
        if self.canary_n <= 0:
            return None
        return (self.canary_x - self.expected) / self.canary_n

    def result(self, *, with_bounds: bool | None = None) -> StreamResult:
        """The decision now. Bounds are computed on decisions (or when asked): they cost a bisection."""
        log_fail = self.log_evidence_fail()
        log_pass = self.log_evidence_pass()
        decision: Decision = "continue"
        if self.failed or log_fail >= self.log_threshold:
            decision = "fail"
            self.failed = True
        elif log_pass >= self.log_threshold:
            decision = "pass"
        canary_rate = self.canary_x / self.canary_n if self.canary_n else None
        stable_rate = self.expected / self.canary_n if self.canary_n else None
        res = StreamResult(
            decision=decision,
            canary_rate=canary_rate,
            stable_rate=stable_rate,
            difference=self.difference(),
            canary_n=self.canary_n,
            stable_n=self.stable_n,
            evidence_fail=math.exp(min(log_fail, 700.0)),
            evidence_pass=math.exp(min(log_pass, 700.0)),
            threshold=1.0 / self.alpha,
        )
        if (with_bounds or (with_bounds is None and decision != "continue")) and self.canary_n > 0:
            res.lower, res.upper = self.bounds()
        return res


# --- latency: exceedance of a histogram bound --------------------------------------------------------


def cumulative_at(buckets: list[tuple[float, int]] | list[list[float]], x: float) -> float | None:
    """How many requests took <= x seconds, from a cumulative histogram [(upper bound, count ≤ bound)].

    Between two bounds the count is interpolated linearly in log(latency) (below the first bound,
    linearly from 0). In a histogram's right tail, where the density falls, this *under*-counts,
    i.e. it over-states the share slower than x: the conservative side for a reference rate.
    """
    if not buckets:
        return None
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        bound, count = float(bound), float(count)
        if x == bound:
            return count
        if x < bound:
            if math.isinf(bound):
                return prev_count  # beyond the last finite bound: say no more than we know
            # Linear from 0 in the first bucket, linear in log(latency) in the others.
            share = x / bound if prev_bound <= 0 else math.log(x / prev_bound) / math.log(bound / prev_bound)
            return prev_count + share * (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_count


def reference_bound(buckets: list[tuple[float, int]] | list[list[float]], quantile: float = 0.95) -> float | None:
    """The finite histogram bound nearest the given quantile, judged by the share slower than it.

    With coarse buckets (0.25, 0.5, 1, 2.5 s …) the bound just above p95 may see under 1 % of
    requests — few events, little power — so the bound whose slower share is closest to
    ``1 - quantile`` on a log scale is taken, whichever side of the quantile it lies.
    """
    if not buckets:
        return None
    total = float(buckets[-1][1])
    if total <= 0:
        return None
    target = 1.0 - quantile
    best: tuple[float, float] | None = None
    for bound, count in buckets:
        if math.isinf(float(bound)):
            break
        slower = (total - float(count)) / total
        if slower <= 0 or slower >= 1:
            continue
        distance = abs(math.log(slower / target))
        if best is None or distance < best[0]:
            best = (distance, float(bound))
    return best[1] if best else None


class LatencyTest:
    """Is the canary slower than stable by more than ``tolerance`` (relative), in its tail?

    The reference bound ``b`` is the histogram bound nearest stable's p95, fixed for the
    step at the first interval where stable has ``min_reference`` requests. Canary's bad requests
    are those slower than ``b``; stable's are those slower than ``b / (1 + tolerance)``. If every
    canary quantile were at most ``(1 + tolerance)`` times stable's, P(canary > b) <=
    P(stable > b / (1 + tolerance)) — so a two-stream test with zero tolerance on these
    exceedances tests "no more than ``tolerance`` slower" without any distribution assumption.
    """

    def __init__(self, alpha: float, tolerance: float, *, quantile: float = 0.95, min_reference: int = 100):
        self.tolerance = tolerance
        self.quantile = quantile
        self.min_reference = min_reference
        self.stream = TwoStreamTest(alpha, 0.0)
        self.bound: float | None = None

    def reset(self) -> None:
        self.stream.reset()
        self.bound = None

    @property
    def reference(self) -> float | None:
        return None if self.bound is None else self.bound / (1.0 + self.tolerance)

    def update(
        self,
        canary_n: int,
        canary_buckets: list[tuple[float, int]] | None,
        stable_n: int,
        stable_buckets: list[tuple[float, int]] | None,
    ) -> None:
        if not canary_buckets or not stable_buckets or canary_n <= 0 or stable_n <= 0:
            return
        if self.bound is None:
            if stable_n < self.min_reference:
                return
            self.bound = reference_bound(stable_buckets, self.quantile)
            if self.bound is None:
                return
        canary_total = float(canary_buckets[-1][1])
        stable_total = float(stable_buckets[-1][1])
        fast_c = cumulative_at(canary_buckets, self.bound)
        fast_s = cumulative_at(stable_buckets, self.reference or 0.0)
        if fast_c is None or fast_s is None or canary_total <= 0 or stable_total <= 0:
            return
        self.stream.update(canary_total, canary_total - fast_c, stable_total, stable_total - fast_s)

    @property
    def active(self) -> bool:
        return self.bound is not None and self.stream.canary_n > 0

    def result(self, *, with_bounds: bool | None = None) -> StreamResult:
        res = self.stream.result(with_bounds=with_bounds)
        res.extra = {"bound": self.bound, "reference": self.reference, "tolerance": self.tolerance}
        return res
