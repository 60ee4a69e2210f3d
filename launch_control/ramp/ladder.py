"""The latency ladder: one score test over every histogram bound from stable's p50 to p99, so a
uniform slowdown is judged on all the bounds at once instead of on the loudest of five pairs.

Pure Python (``math`` only). Used by ``launch_control.ramp.latency_test``, whose fail evidence mixes
this test with its five pairs (the pairs still catch a slowdown of the tail alone).

Each rung is a pair of histogram bounds ``(b, r)`` with ``r`` the bound at or below
``b / (1 + tolerance)`` (or ``b - min_delta``, the floor): the same exact, shape-free pairs the five-
pair test uses. A request's *score* is the share of rungs it is slower than: the canary's counted at
the ``b``s, ``X = (1/m) sum_j 1{latency > b_j}``; stable's at the ``r``s, ``Y = (1/m) sum_j 1{latency >
r_j}``. With the gateway's log-spaced bounds ``X`` is close to the canary's clipped log-latency — the
statistic a likelihood ratio for "every latency scaled by a factor" uses — so the evidence of all
rungs adds up, where an average of separate tests pays ``log m`` and hears only one.

Validity (H0: every canary quantile up to p99 is at most ``(1 + tolerance)`` times stable's; the
five pairs look at five of them): couple the canary's latency ``c <= (1 + tolerance) s`` with a
stable latency ``s``; then ``1{c > b_j} <= 1{s > b_j / (1 + tolerance)} <= 1{s > r_j}`` for every
rung, so ``X <= Y`` and ``E exp(l X) <= E exp(l Y)`` for every bet ``l >= 0``. The test is the
two-stream test of ``sequential`` with scores instead of 0/1 outcomes, ``M = sum_k (X_ck - n_ck *
Ybar_sk)``, and the canary's cumulant is that of stable's score distribution, read off stable's
pooled histogram (a plug-in, nudged like the error test's: each rung's slow count one Poisson sd up,
and the larger of the nudged and raw cumulants is used). The exact cumulant of a spread-out score is
far below the Bernoulli bound of its mean (about a third at the quantile ladder p50-p99), which is
what makes one score test worth having.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from launch_control.ramp.bets import LAMBDAS, _logmix, _phi

# A rung's reference may lie at most this far below the ideal b / (1 + tolerance): a looser pair
# checks a larger effective tolerance than the plan's (the five-pair test takes the tightest
# pair near each quantile anyway, so a coarse histogram just gets no ladder).
SLACK = 1.025


def _slow_counts(buckets: list[tuple[float, float]], bounds: list[float], *, stable: bool = False) -> list[float]:
    """Requests slower than each of ``bounds`` (bounds of the histogram: exact, no interpolation).

    A bound the histogram lacks (its buckets changed mid-step) is read at the conservative
    neighbour: for the canary the next bound up (fewer slow requests), for stable's references the
    next bound down (more slow requests).
    """
    total = float(buckets[-1][1])
    at = {float(b): float(c) for b, c in buckets}
    out = []
    for bound in bounds:
        count = at.get(bound)
        if count is None and stable:
            count = max((float(c) for b, c in buckets if float(b) <= bound * (1 + 1e-9)), default=0.0)
        elif count is None:
            count = next((float(c) for b, c in buckets if float(b) >= bound * (1 - 1e-9)), total)
        out.append(total - count)
    return out


class LadderTest:
    """The fail side only: is the canary slower than stable by more than ``tolerance``, on the ladder?"""

    def __init__(self, alpha: float):
        self.log_threshold = math.log(1.0 / alpha)
        self.rungs: list[tuple[float, float]] = []  # (b, r), ascending
        self.canary_n = 0.0
        self.stable_n = 0.0
        self.excess = 0.0  # M: the canary's score sum minus what stable's mean score predicts
        self.stable_slow: list[float] = []  # pooled stable requests slower than each r
        self._stable_psi = [0.0] * len(LAMBDAS)  # sum_k n_sk * phi(l n_ck / n_sk): stable's share (Bennett)

    def choose(
        self,
        stable_buckets: list[tuple[float, float]],
        reference: Callable[[float], float],
        quantiles: tuple[float, ...],
    ) -> None:
        """Fix the rungs for the step from stable's histogram: every bound between stable's lowest and
        highest of ``quantiles`` (p50 … p99) with a tight reference; ``reference(b)`` is the ideal r."""
        slowest, fastest = 1.0 - max(quantiles), 1.0 - min(quantiles)  # stable's slow share at the ends
        total = float(stable_buckets[-1][1])
        finite = [float(b) for b, _ in stable_buckets if not math.isinf(float(b))]
        rungs = []
        for b, slow in zip(finite, _slow_counts(stable_buckets, finite, stable=True), strict=True):
            share = slow / total
            if not max(slowest, 1.0 / total) <= share <= fastest:
                continue
            ideal = reference(b)
            below = [x for x in finite if x <= ideal * (1 + 1e-9)]
            if ideal > 0 and below and below[-1] * SLACK >= ideal:
                rungs.append((b, below[-1]))
        # Fewer than three rungs is no ladder: the five pairs already look there.
        self.rungs = rungs if len(rungs) >= 3 else []
        self.stable_slow = [0.0] * len(self.rungs)

    def update(self, canary_buckets: list[tuple[float, float]], stable_buckets: list[tuple[float, float]]) -> None:
        if not self.rungs:
            return
        nc, ns = float(canary_buckets[-1][1]), float(stable_buckets[-1][1])
        if nc <= 0 or ns <= 0:
            return
        m = len(self.rungs)
        canary_score = sum(_slow_counts(canary_buckets, [b for b, _ in self.rungs])) / m
        slow = _slow_counts(stable_buckets, [r for _, r in self.rungs], stable=True)
        self.excess += canary_score - nc * sum(slow) / (m * ns)
        self.canary_n += nc
        self.stable_n += ns
        self.stable_slow = [a + s for a, s in zip(self.stable_slow, slow, strict=True)]
        for j, lam in enumerate(LAMBDAS):
            self._stable_psi[j] += ns * _phi(lam * nc / ns)

    def _score_pmf(self, nudge: bool) -> list[float]:
        """P(Y = k/m), k = 0 … m, from stable's pooled slow counts at the rungs' references."""
        n = max(self.stable_n, 1.0)
        shares = [min(1.0, ((s + 1.0 + math.sqrt(s + 1.0)) if nudge else s) / n) for s in self.stable_slow]
        for j in range(1, len(shares)):  # P(Y >= j/m) cannot rise with j (the references ascend)
            shares[j] = min(shares[j], shares[j - 1])
        return [1.0 - shares[0], *(shares[k] - shares[k + 1] for k in range(len(shares) - 1)), shares[-1]]

    @staticmethod
    def _cumulants(pmf: list[float]) -> tuple[list[float], float]:
        """Per bet on LAMBDAS: log E exp(l (Y - mean)); and Y's variance."""
        m = len(pmf) - 1
        mean = sum(p * k / m for k, p in enumerate(pmf))
        var = sum(p * (k / m - mean) ** 2 for k, p in enumerate(pmf))
        cgf = [math.log(sum(p * math.exp(lam * (k / m - mean)) for k, p in enumerate(pmf) if p > 0)) for lam in LAMBDAS]
        return cgf, var

    def log_evidence_fail(self) -> float:
        if not self.rungs or self.canary_n <= 0:
            return -math.inf
        raw, var_raw = self._cumulants(self._score_pmf(False))
        nudged, var_nudged = self._cumulants(self._score_pmf(True))
        var = max(var_raw, var_nudged)
        return _logmix(
            [
                lam * self.excess - self.canary_n * max(a, b) - var * psi
                for lam, a, b, psi in zip(LAMBDAS, raw, nudged, self._stable_psi, strict=True)
            ]
        )

    # --- persistence -------------------------------------------------------------------------------

    def snapshot(self) -> dict:
        return {
            "rungs": [list(r) for r in self.rungs],
            "canary_n": self.canary_n,
            "stable_n": self.stable_n,
            "excess": self.excess,
            "stable_slow": list(self.stable_slow),
            "stable_psi": list(self._stable_psi),
        }

    def restore(self, data: dict) -> None:
        self.rungs = [(float(b), float(r)) for b, r in data.get("rungs") or []]
        self.canary_n = float(data.get("canary_n", 0.0))
        self.stable_n = float(data.get("stable_n", 0.0))
        self.excess = float(data.get("excess", 0.0))
        self.stable_slow = [float(s) for s in data.get("stable_slow") or [0.0] * len(self.rungs)]
        self._stable_psi = [float(s) for s in data.get("stable_psi") or [0.0] * len(LAMBDAS)]
