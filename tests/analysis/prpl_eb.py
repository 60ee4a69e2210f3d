"""Reference bound: the predictable plug-in empirical-Bernstein confidence sequence (PrPl-EB).

The published formula of Waudby-Smith & Ramdas ("Estimating means of bounded random variables
by betting", JRSS-B 2023, Theorem 2; Howard et al. 2021 for the empirical-Bernstein
supermartingale) — what ``confseq.predmix.predmix_empbern_cs`` computes. confseq itself builds
here only with apt's libboost-dev, ``numpy<2`` and ``pip install --no-build-isolation``: too
fragile for a test dependency, so its formula is carried here instead (vectorised with numpy),
and the gate's bound (``launch_control.ramp.sequential``) is measured against it in
``tests/analysis/test_bound_width.py`` and ``bench/bound_width.py``.

For X_1 … X_t in [0, 1] and a one-sided level alpha:

    mu_t      = (1/2 + sum_{i<=t} X_i) / (t + 1)
    sigma2_t  = (1/4 + sum_{i<=t} (X_i - mu_i)^2) / (t + 1)
    lambda_t  = min( sqrt(2 log(1/alpha) / (sigma2_{t-1} t log(1 + t))), 1/2 )
    v_t       = 4 (X_t - mu_{t-1})^2,   psi_E(l) = (-log(1 - l) - l) / 4
    bound_t   = sum lambda_i X_i / sum lambda_i  ±  (log(1/alpha) + sum v_i psi_E(lambda_i)) / sum lambda_i

(the two-sided version uses log(2/alpha); the comparison here is one-sided at alpha each side,
as the gate's fail and pass tests are).
"""

from __future__ import annotations

import numpy as np


def prpl_eb_bounds(x: np.ndarray, alpha: float, truncation: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) after every observation of ``x`` (values in [0, 1]), one-sided at ``alpha`` each."""
    x = np.asarray(x, dtype=float)
    t = np.arange(1, len(x) + 1, dtype=float)
    mu = (0.5 + np.cumsum(x)) / (t + 1)
    sigma2 = (0.25 + np.cumsum((x - mu) ** 2)) / (t + 1)
    mu_prev = np.concatenate(([0.5], mu[:-1]))
    sigma2_prev = np.concatenate(([0.25], sigma2[:-1]))
    log_a = np.log(1.0 / alpha)
    lam = np.minimum(np.sqrt(2 * log_a / (sigma2_prev * t * np.log1p(t))), truncation)
    v = 4 * (x - mu_prev) ** 2
    psi = (-np.log1p(-lam) - lam) / 4
    sum_lam = np.cumsum(lam)
    centre = np.cumsum(lam * x) / sum_lam
    margin = (log_a + np.cumsum(v * psi)) / sum_lam
    return np.maximum(centre - margin, 0.0), np.minimum(centre + margin, 1.0)


def paired_difference_width(canary: np.ndarray, stable: np.ndarray, alpha: float) -> float:
    """Width (in rate units) of the PrPl-EB bound on p_canary - p_stable from paired 0/1 outcomes.

    The pairs' differences D in {-1, 0, 1} are mapped to (D + 1) / 2 in [0, 1]; the bound on the
    mean difference is twice the bound on that mean, minus 1.
    """
    lower, upper = prpl_eb_bounds((np.asarray(canary, float) - np.asarray(stable, float) + 1.0) / 2.0, alpha)
    return float(2.0 * (upper[-1] - lower[-1]))
