"""The mixture behind the sequential tests: the bet grid, its weights, the cumulants they pay, and how
many requests a decision needs in expectation (reasons and the feasibility check).

Pure Python (``math`` only). Any mixture of e-processes is one, so validity never depends on the grid
or the weights here — only how soon a decision comes.
"""

from __future__ import annotations

import math

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


# --- how many requests a decision needs (reasons, feasibility) ----------------------------------------


def _requests_for(gains: list[float], alpha: float) -> float | None:
    """Requests at which the mixture's expected log-evidence reaches log(1/alpha), from per-request gains."""
    need = [(math.log(1.0 / alpha) - log_w) / g for g, log_w in zip(gains, _LOG_WEIGHTS, strict=True) if g > 1e-15]
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
