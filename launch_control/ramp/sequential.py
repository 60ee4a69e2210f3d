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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from launch_control.ramp.bets import LAMBDAS, _kappa, _logmix, _phi

Decision = Literal["fail", "pass", "continue"]


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
    def _solve(f: Callable[[float], float], lo: float, hi: float, *, decreasing: bool) -> float:
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
