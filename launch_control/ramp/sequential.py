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

The mixture is weighted over ``LAMBDAS``, a doubling grid 1/1024 … 2: the best grid point gets at
least 83 % of the optimal exponent, at a cost of ``log(1 / weight)`` nats of evidence (~1.8 for
the main bets 1/8 … 2, which cover relative effects from about +13 % to ×7: the best bet against
a rate ``p0`` when the truth is ``p1`` is ``l = log(p1 / p0)``); the small bets keep the bound
narrowing with n. Stable's share of Psi is the smaller of the sub-Poisson and Bennett bounds.

Pure Python (``math`` only): cheap enough to run on every interval of thousands of simulated
canaries (``bench/gate_detection.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# Mixture grid over the bet size lambda: a doubling grid 1/1024 … 2, weighted. The best bet against
# a null rate p0 when the truth is p1 is l = log(p1 / p0); the main points 1/8 (a rate ~13 % above
# the null's — the tolerances a plan uses: 0.2 points over a 1 % baseline is +20 %) … 2 (a canary
# ~7× worse) carry 82 % of the weight, so detection pays log(1/0.165) ≈ 1.8 nats where the old
# uniform five-point grid paid log 5 ≈ 1.6. The small bets 1/16 … 1/1024 carry the rest, with
# weights falling off slowly: a bound built on the mixture keeps narrowing like sqrt(log n / n)
# because for n requests the bet ~ 1/sqrt(n) is on the grid. Without them (the grid stopped at
# 1/8) the bound stopped narrowing at about ±4.7 points on 50 % streams, whatever n (issue 16).
# Validity does not depend on the grid or the weights (any mixture of e-processes is one).
LAMBDAS: tuple[float, ...] = tuple(2.0**k for k in range(-10, 2))
_RAW_WEIGHTS = tuple(1.0 if k >= -3 else 0.55 / (-2 - k) ** 0.9 for k in range(-10, 2))
WEIGHTS: tuple[float, ...] = tuple(w / sum(_RAW_WEIGHTS) for w in _RAW_WEIGHTS)
_LOG_WEIGHTS: tuple[float, ...] = tuple(math.log(w) for w in WEIGHTS)

Decision = Literal["fail", "pass", "continue"]


def _phi(u: float) -> float:
    """e^u - 1 - u, accurate near 0 (the Poisson cumulant of a centred count)."""
    if abs(u) < 1e-5:
        return 0.5 * u * u
    return math.expm1(u) - u


def _kappa(lam: float, p: float) -> float:
    """sup over q <= p of log E exp(lam (X - q)), X ~ Bernoulli(q): the canary's share of Psi.

    For any X in [0, 1] with mean q, E e^{lam X} <= 1 - q + q e^lam (convexity), so the
    Bernoulli cumulant bounds bounded scores too. It is never above the Poisson bound
    q * phi(lam) and far below it when q is not small: a latency threshold near stable's median
    is exceeded by half of all requests, where the Poisson bound would double the variance.
    The cumulant rises in q only up to q* = 1/lam - 1/(e^lam - 1) (~0.34-0.66 on the grid), so
    the worst case over the null's rates q <= p is taken at min(p, q*).
    """
    if p <= 0.0 or lam == 0.0:
        return 0.0
    q = min(p, 1.0 / lam - 1.0 / math.expm1(lam))
    return math.log1p(q * math.expm1(lam)) - lam * q


def _logmeanexp(values: list[float]) -> float:
    """log of the mean of exp(values): the log of an equal-weight mixture of e-values."""
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def _logmix(values: list[float]) -> float:
    """log of the ``WEIGHTS``-weighted mixture of exp(values), one value per point of ``LAMBDAS``."""
    logs = [v + w for v, w in zip(values, _LOG_WEIGHTS, strict=True)]
    top = max(logs)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in logs))


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

    def __init__(self, alpha: float, tolerance: float = 0.0, margin: float | None = None):
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie strictly between 0 and 1 (got {alpha})")
        self.alpha = alpha
        self.tolerance = tolerance  # fail: worse than stable by more than this
        self.margin = tolerance if margin is None else margin  # pass: proven no worse than stable + this
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

    def _stable_var0(self) -> float:
        """Stable's per-request variance p (1 - p) for Bennett's bound: its largest value within one sd."""
        n = max(self.stable_n, 1.0)
        x = self.stable_x + 1.0
        sd = math.sqrt(x) / n
        lo, hi = max(0.0, self.stable_x / n - sd), min(1.0, x / n + sd)
        p = 0.5 if lo <= 0.5 <= hi else (hi if hi < 0.5 else lo)
        return p * (1.0 - p)

    def _stable_psi(self, poisson: float, bennett: float, p_s0: float, v_s0: float) -> float:
        """Stable's share of Psi: the smaller of two valid bounds on the same cumulant.

        Sub-Poisson (p phi(u)) is tight for rare events; Bennett's (p (1 - p) phi(|u|), valid for
        any outcome in [0, 1]) where half the requests are bad — at 50 % the Poisson bound doubles
        stable's variance, which widened the bound on p50 latency streams by ~20 %.
        """
        return min(p_s0 * poisson, v_s0 * bennett)

    def log_evidence_fail(self, tolerance: float | None = None) -> float:
        """log E_fail for H0: difference <= tolerance."""
        if self.canary_n <= 0:
            return -math.inf
        tol = self.tolerance if tolerance is None else tolerance
        p_s0, v_s0 = self._stable_p0(), self._stable_var0()
        p_c0 = min(1.0, max(p_s0 + tol, 1e-9))
        excess = self.canary_x - self.expected - self.canary_n * tol
        return _logmix(
            [
                lam * excess - self.canary_n * _kappa(lam, p_c0) - self._stable_psi(sf, sp, p_s0, v_s0)
                for lam, sf, sp in zip(LAMBDAS, self._stable_fail, self._stable_pass, strict=True)
            ]
        )

    def log_evidence_pass(self, tolerance: float | None = None) -> float:
        """log E_pass for H0': difference >= margin (canary worse by at least the promotion margin)."""
        if self.canary_n <= 0:
            return -math.inf
        tol = self.margin if tolerance is None else tolerance
        p_s0, v_s0 = self._stable_p0(), self._stable_var0()
        p_c0 = min(1.0, max(p_s0 + tol, 1e-9))
        shortfall = self.canary_n * tol + self.expected - self.canary_x
        return _logmix(
            [
                lam * shortfall - self.canary_n * _kappa(-lam, p_c0) - self._stable_psi(sp, sp, p_s0, v_s0)
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

    # --- persistence: a resumed engine continues the step with the same evidence -------------------

    _CONFIG = ("alpha", "tolerance", "margin", "log_threshold")

    def snapshot(self) -> dict:
        """The accumulated evidence, JSON-safe (every attribute but the test's configuration)."""
        return {k: list(v) if isinstance(v, list) else v for k, v in vars(self).items() if k not in self._CONFIG}

    def restore(self, data: dict) -> None:
        """Continue from a ``snapshot()`` (of a test with the same configuration)."""
        self.reset()
        for key, value in (data or {}).items():
            if key not in self._CONFIG and hasattr(self, key):
                setattr(self, key, list(value) if isinstance(value, list) else value)


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


# Where the latency test looks: histogram bounds near these quantiles of stable's latency.
QUANTILES: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95, 0.99)
PRIMARY_QUANTILE = 0.95  # early promotion needs "no worse" proven here


class LatencyTest:
    """Is the canary slower than stable by more than ``tolerance`` (relative) anywhere from p50 to p99?

    At the first interval where stable has ``min_reference`` requests, five **pairs of histogram
    bounds** are fixed for the step, one near each of stable's p50, p75, p90, p95 and p99: a
    canary bound ``b`` and a stable reference ``r <= b / (1 + tolerance)``, both bounds of the
    histogram. Canary's bad requests are those slower than ``b``, stable's those slower than
    ``r``. If every canary quantile were at most ``(1 + tolerance)`` times stable's, then
    P(canary > b) <= P(stable > b / (1 + tolerance)) <= P(stable > r) — so each pair is a
    two-stream test with zero tolerance of "no more than ``tolerance`` slower", with no assumption
    about the shape of the distribution and **no interpolation**: both shares are exact counts.
    (Interpolating stable's share at ``b / (1 + tolerance)`` inside a bucket, as an earlier version
    did, is guesswork in a wide bucket: with 2.5×-wide buckets a canary exactly 20 % slower was
    "more than 20 % slower" in every run.) The price is that the test checks ``b / r - 1``, the
    *effective* tolerance, at least the plan's: among the bounds next to stable's quantile the
    pair with the smallest ratio is taken — with the gateway's E24 bounds (~10 % apart) 10-13 %
    for a 10 % tolerance, 20-25 % for 20 %; with coarse buckets (Prometheus' defaults) far more,
    and the reason says so.

    * **fail**: the *average* of the pairs' e-values reaches 1/alpha. An average of e-processes
      is one (valid under H0 at every pair), so looking at five places costs log 5 nats, not a
      five-fold alpha. A uniform slowdown shows most at the middle (a p75 threshold carries ~2×
      the information of a p95 one: more requests near it); a slowdown of the tail only shows at
      p95/p99 — the average finds whichever speaks.
    * **pass**: "no more than ``margin`` slower" proven at the p95 bound (the latency a launch's
      SLO names); ``margin`` defaults to the tolerance. With a wider margin the p95 bound gets a
      second stream whose stable reference is the bound at or below ``b / (1 + margin)``.

    ``min_delta`` (seconds) is an absolute floor: a slowdown counts only when it is both more
    than ``tolerance`` relative and more than ``min_delta`` — H0 becomes "every canary quantile
    <= max((1 + tolerance) q, q + min_delta)", so the reference is at or below
    ``min(b / (1 + tolerance), b - min_delta)``. On a 2 ms service, two processes differ by 20 %
    from scheduling alone; that is not a regression anyone should roll back for. Where the floor
    decides, the canary's bound moves up to stable's quantile + ``min_delta`` (``_anchor``), so a
    large slowdown of a fast service is still caught.
    """

    def __init__(
        self,
        alpha: float,
        tolerance: float,
        *,
        margin: float | None = None,
        min_delta: float = 0.0,
        quantiles: tuple[float, ...] = QUANTILES,
        min_reference: int = 100,
    ):
        self.alpha = alpha
        self.tolerance = tolerance
        self.margin = tolerance if margin is None else margin
        self.min_delta = min_delta
        self.quantiles = quantiles
        self.min_reference = min_reference
        self.log_threshold = math.log(1.0 / alpha)
        self.reset()

    def reset(self) -> None:
        self.tests: dict[float, TwoStreamTest] = {}  # canary bound b -> its two-stream test
        self.refs: dict[float, float] = {}  # b -> stable's reference bound r
        self.labels: dict[float, str] = {}  # b -> "p75" (the stable quantile it stands for)
        self.primary: float | None = None  # the p95 pair's b
        self.promotion: TwoStreamTest | None = None  # p95 against the margin's reference, when margin != tolerance
        self.promotion_ref: float | None = None
        self.failed = False

    @property
    def bound(self) -> float | None:
        """The p95 pair's canary bound (the one early promotion is judged on)."""
        return self.primary

    def reference(self, bound: float, relative: float) -> float:
        """The latency stable's slow share at ``bound`` is held to, before rounding down to a bound."""
        return max(0.0, min(bound / (1.0 + relative), bound - self.min_delta))

    def bounds_by_label(self) -> dict[str, float]:
        """{"p50": 0.33, …}: the canary bounds fixed for this step, by the stable quantile each stands for."""
        return {self.labels[b]: b for b in sorted(self.tests)}

    @staticmethod
    def _at_or_below(x: float, bounds: list[float]) -> float | None:
        below = [b for b in bounds if b <= x * (1 + 1e-9)]
        return below[-1] if below else None

    def _anchor(self, stable_q: float, bounds: list[float]) -> float | None:
        """Where the canary's bound for stable's quantile ``stable_q`` starts: itself, unless the floor decides.

        Where ``stable_q - min_delta`` is below ``stable_q / (1 + tolerance)`` (a fast service), a
        bound at ``stable_q`` would be held to a reference near 0 and could never fail: the test
        moves to the first bound at or above ``stable_q + min_delta`` — "slower than stable's
        quantile by more than the floor" — whose reference is then about ``stable_q`` again.
        """
        if self.min_delta <= 0 or stable_q - self.min_delta >= stable_q / (1.0 + self.tolerance):
            return stable_q
        return next((b for b in bounds if b >= stable_q + self.min_delta), None)

    def _pair(self, anchor: float, bounds: list[float]) -> tuple[float, float] | None:
        """(b, r) near ``anchor`` with the smallest ratio b / r: the tightest exact test available."""
        i = bounds.index(anchor)
        best: tuple[tuple[float, int], float, float] | None = None
        for j in range(max(0, i - 1), min(len(bounds), i + 3)):  # the anchor and its neighbours
            b = bounds[j]
            r = self._at_or_below(self.reference(b, self.tolerance), bounds)
            if r is not None and r > 0 and (best is None or (b / r, abs(j - i)) < best[0]):
                best = ((b / r, abs(j - i)), b, r)
        return None if best is None else (best[1], best[2])

    def _choose_bounds(self, stable_buckets: list[tuple[float, int]]) -> None:
        finite = [float(b) for b, _ in stable_buckets if not math.isinf(float(b))]
        # p95 first, so a pair it shares with a neighbour carries its name; then from the tail down
        for q in sorted(self.quantiles, key=lambda q: (q != PRIMARY_QUANTILE, -q)):
            stable_q = reference_bound(stable_buckets, q)
            anchor = None if stable_q is None else self._anchor(stable_q, finite)
            pair = None if anchor is None else self._pair(anchor, finite)
            if pair is None:
                continue
            b, r = pair
            if b not in self.tests:
                self.tests[b] = TwoStreamTest(self.alpha, 0.0)
                self.refs[b] = r
                self.labels[b] = f"p{q * 100:g}"
            if q == PRIMARY_QUANTILE:
                self.primary = b
        if self.primary is None and self.tests:  # no pair near p95 (a nearly empty tail): the slowest
            self.primary = max(self.tests)
        if self.primary is not None and self.margin != self.tolerance:
            ref = self._at_or_below(self.reference(self.primary, self.margin), finite)
            if ref is not None and ref > 0:
                self.promotion, self.promotion_ref = TwoStreamTest(self.alpha, 0.0), ref

    @staticmethod
    def _slower(buckets: list[tuple[float, int]], total: float, bound: float) -> float | None:
        at_or_under = cumulative_at(buckets, bound)
        return None if at_or_under is None else total - at_or_under

    def update(
        self,
        canary_n: int,
        canary_buckets: list[tuple[float, int]] | None,
        stable_n: int,
        stable_buckets: list[tuple[float, int]] | None,
    ) -> None:
        if not canary_buckets or not stable_buckets or canary_n <= 0 or stable_n <= 0:
            return
        if not self.tests:
            if stable_n < self.min_reference:
                return
            self._choose_bounds(stable_buckets)
            if not self.tests:
                return
        canary_total = float(canary_buckets[-1][1])
        stable_total = float(stable_buckets[-1][1])
        if canary_total <= 0 or stable_total <= 0:
            return
        pairs = [(test, b, self.refs[b]) for b, test in self.tests.items()]
        if self.promotion is not None and self.primary is not None and self.promotion_ref is not None:
            pairs.append((self.promotion, self.primary, self.promotion_ref))
        for test, b, r in pairs:
            slow_c = self._slower(canary_buckets, canary_total, b)
            slow_s = self._slower(stable_buckets, stable_total, r)
            if slow_c is not None and slow_s is not None:
                test.update(canary_total, slow_c, stable_total, slow_s)

    @property
    def active(self) -> bool:
        return self.primary is not None and self.tests[self.primary].canary_n > 0

    def coarse_tolerance(self) -> float | None:
        """The smallest slowdown the pairs can see, when the buckets make it well over the tolerance.

        Only pairs where the relative tolerance (not the absolute floor) sets the reference count:
        with Prometheus' default 0.25/0.5/1/2.5 s buckets this is 1.0 — slowdowns under 100 % are
        invisible, and a launch lead should know. None when the buckets are fine enough.
        """
        relative = [
            b / r - 1.0
            for b, r in self.refs.items()
            if r > 0 and b / (1.0 + self.tolerance) <= b - self.min_delta
        ]
        if not relative or min(relative) <= 1.5 * self.tolerance + 0.05:
            return None
        return min(relative)

    def log_evidence_fail(self) -> float:
        """log of the average of the pairs' e-values of a slowdown."""
        if not self.tests:
            return -math.inf
        return _logmeanexp([t.log_evidence_fail() for t in self.tests.values()])

    def result(self, *, with_bounds: bool | None = None) -> StreamResult:
        """The decision now; rates and bounds are those of the pair that speaks loudest for it."""
        log_fail = self.log_evidence_fail()
        if log_fail >= self.log_threshold:
            self.failed = True
        assert self.primary is not None
        primary = self.tests[self.primary]
        # the pair to report: the strongest evidence of a slowdown when failing, else p95's
        telling = (
            max(self.tests, key=lambda b: self.tests[b].log_evidence_fail()) if self.failed else self.primary
        )
        res = self.tests[telling].result(with_bounds=with_bounds)
        pass_log = (self.promotion or primary).log_evidence_pass()
        res.decision = "fail" if self.failed else ("pass" if pass_log >= self.log_threshold else "continue")
        res.evidence_fail = math.exp(min(log_fail, 700.0))
        res.evidence_pass = math.exp(min(pass_log, 700.0))
        ref = self.refs[telling]
        res.extra = {
            "coarse_tolerance": self.coarse_tolerance(),
            "bound": telling,
            "reference": ref,
            "quantile": self.labels[telling],
            "tolerance": self.tolerance,
            "effective_tolerance": telling / ref - 1.0 if ref > 0 else None,
            "margin": self.margin,
            "bounds": self.bounds_by_label(),
        }
        return res


    # --- persistence: a resumed engine continues the step with the same evidence -------------------

    def snapshot(self) -> dict:
        """The step's chosen bounds and each pair's evidence, JSON-safe (float keys as pairs)."""
        return {
            "tests": [[b, t.snapshot()] for b, t in self.tests.items()],
            "refs": [[b, r] for b, r in self.refs.items()],
            "labels": [[b, label] for b, label in self.labels.items()],
            "primary": self.primary,
            "promotion": self.promotion.snapshot() if self.promotion else None,
            "promotion_ref": self.promotion_ref,
            "failed": self.failed,
        }

    def restore(self, data: dict) -> None:
        self.reset()
        if not data:
            return
        for b, saved in data.get("tests") or []:
            test = TwoStreamTest(self.alpha, 0.0)
            test.restore(saved)
            self.tests[float(b)] = test
        self.refs = {float(b): float(r) for b, r in data.get("refs") or []}
        self.labels = {float(b): str(label) for b, label in data.get("labels") or []}
        self.primary = data.get("primary")
        if data.get("promotion"):
            self.promotion = TwoStreamTest(self.alpha, 0.0)
            self.promotion.restore(data["promotion"])
        self.promotion_ref = data.get("promotion_ref")
        self.failed = bool(data.get("failed"))


# --- how many requests a decision needs (reasons, feasibility) ----------------------------------------


def _requests_for(gains: list[float], alpha: float) -> float | None:
    """Requests at which the mixture's expected log-evidence reaches log(1/alpha), from per-request gains."""
    need = [
        (math.log(1.0 / alpha) - log_w) / g for g, log_w in zip(gains, _LOG_WEIGHTS, strict=True) if g > 1e-15
    ]
    return min(need) if need else None


def _stable_per_canary(lam: float, p: float, ratio: float, *, fail: bool) -> float:
    """Stable's share of Psi per canary request when the canary gets ``ratio`` requests per stable one."""
    u = lam * ratio
    var = p * (1.0 - p)
    poisson = p * _phi(-u if fail else u)
    return min(poisson, var * _phi(u)) / ratio


def requests_to_prove(
    p_stable: float, margin: float, alpha: float, *, difference: float = 0.0, canary_share: float = 0.05
) -> float | None:
    """Canary requests the pass side needs (in expectation) to prove "canary - stable <= margin".

    ``difference`` is the canary's true excess over stable (0: as good as stable); ``canary_share``
    its share of the traffic. None when no proof is possible (the canary is at or beyond the margin).
    An estimate for reasons and the feasibility check, not part of any decision.
    """
    if difference >= margin or not 0 < canary_share < 1:
        return None
    ratio = canary_share / (1.0 - canary_share)
    p = min(max(p_stable, 1e-6), 1.0)
    p_c0 = min(1.0, p + margin)
    gains = [
        lam * (margin - difference) - _kappa(-lam, p_c0) - _stable_per_canary(lam, p, ratio, fail=False)
        for lam in LAMBDAS
    ]
    return _requests_for(gains, alpha)


def requests_to_detect(
    p_stable: float, tolerance: float, alpha: float, *, difference: float, canary_share: float = 0.05
) -> float | None:
    """Canary requests the fail side needs (in expectation) to find a canary worse by ``difference``."""
    if difference <= tolerance or not 0 < canary_share < 1:
        return None
    ratio = canary_share / (1.0 - canary_share)
    p = min(max(p_stable, 1e-6), 1.0)
    p_c0 = min(1.0, p + tolerance)
    gains = [
        lam * (difference - tolerance) - _kappa(lam, p_c0) - _stable_per_canary(lam, p, ratio, fail=True)
        for lam in LAMBDAS
    ]
    return _requests_for(gains, alpha)
