"""The binomial tail and the Clopper–Pearson bound on scipy.stats answer as the hand-written ones
they replaced (kept below as the reference: an exact log-space sum and a bisection on it), over
small and large n, tails near 1 and far below 1e-12, and the gate's confidence levels; and scipy
stays off the paths that must start fast."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from launch_control.ramp.analysis import binomial_lower_bound, binomial_upper_tail, credibility


def reference_upper_tail(k: int, n: int, p: float) -> float:
    """The hand-written P(Binomial(n, p) >= k) that analysis.py had before scipy, for 0 < k <= n and
    0 < p < 1 (its edge cases were the ones binomial_upper_tail still has, checked below)."""
    log_p, log_q = math.log(p), math.log1p(-p)
    lg_n1 = math.lgamma(n + 1)
    total = 0.0
    first = None
    for i in range(k, n + 1):
        term = lg_n1 - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        if first is None:
            first = term
        total += math.exp(term - first)
        if i > n * p and math.exp(term - first) < 1e-12:
            break
    return min(1.0, math.exp(first + math.log(total))) if first is not None else 0.0


def reference_lower_bound(k: int, n: int, level: float) -> float:
    """The hand-written one-sided Clopper–Pearson lower bound (bisection on the tail, verbatim)."""
    if k <= 0 or n <= 0:
        return 0.0
    lo, hi = 0.0, k / n
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if reference_upper_tail(k, n, mid) > level:
            hi = mid
        else:
            lo = mid
    return lo


CASES = [  # (k, n): one request, thin traffic, the gate's usual windows, a big backtest window
    (1, 1), (1, 10), (3, 10), (10, 10), (0, 50), (2, 150), (45, 150), (150, 150),
    (7, 1_000), (30, 1_000), (12, 20_000), (400, 20_000), (5_000, 200_000),
]  # fmt: skip
RATES = [1e-6, 0.001, 0.01, 0.05, 0.3, 0.5, 0.97]
LEVELS = [0.2, 0.05, 0.01, 0.001, 1e-6]


def complement_of_lower_tail(k: int, n: int, p: float) -> float:
    """1 - P(Binomial(n, p) < k), summed upwards from 0: the reference where the old sum overflowed."""
    log_p, log_q, lg_n1 = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    terms = (lg_n1 - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q for i in range(k))
    return 1.0 - math.fsum(math.exp(t) for t in terms)


@pytest.mark.parametrize(("k", "n"), CASES)
def test_upper_tail_matches_the_hand_written_sum(k: int, n: int) -> None:
    for p in RATES:
        ours = binomial_upper_tail(k, n, p)
        if k == 0:
            assert ours == 1.0
            continue
        try:
            ref = reference_upper_tail(k, n, p)
        except OverflowError:  # k far below the mode: the old sum's terms grew past a float
            ref = complement_of_lower_tail(k, n, p)
        # relative agreement wherever the tail is representable; the old sum stopped at terms
        # 1e-12 below its first one, so that is the precision both share
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-300), (k, n, p)
        assert 0.0 <= ours <= 1.0


@pytest.mark.parametrize(("k", "n"), CASES)
def test_clopper_pearson_bound_matches_the_bisection(k: int, n: int) -> None:
    for level in LEVELS:
        ours, ref = binomial_lower_bound(k, n, level), reference_lower_bound(k, n, level)
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15), (k, n, level)
        if 0 < k <= n:  # the defining equation: at the bound, the tail is exactly the level
            assert binomial_upper_tail(k, n, ours) == pytest.approx(level, rel=1e-6)


def test_a_clean_history_then_a_breach_is_judged_not_crashed() -> None:
    # Seven clean intervals then one over the limit: pooled over eight, the errors sit far below
    # the limit's mode, where the hand-written sum raised OverflowError out of the gate.
    history = [(5000, 0)] * 7 + [(5000, 300)]
    with pytest.raises(OverflowError):
        reference_upper_tail(300, 40_000, 0.05)
    verdict = credibility(history, 0.05, 0.99)
    assert verdict.credible and verdict.intervals == 1 and verdict.lower > 0.05


def test_edges_answer_as_before() -> None:
    assert binomial_upper_tail(0, 10, 0.3) == 1.0 and binomial_upper_tail(11, 10, 0.3) == 0.0
    assert binomial_upper_tail(3, 10, 0.0) == 0.0 and binomial_upper_tail(3, 10, 1.0) == 1.0
    assert binomial_lower_bound(0, 10, 0.01) == 0.0 and binomial_lower_bound(3, 0, 0.01) == 0.0
    # more errors than requests (counters out of step): the old bisection converged to k / n
    assert binomial_lower_bound(12, 10, 0.01) == 1.2
    assert isinstance(binomial_upper_tail(3, 10, 0.2), float)


def test_scipy_is_imported_only_when_a_tail_is_computed() -> None:
    code = (
        "import sys\n"
        "import launch_control.ramp.analysis as a\n"
        "assert 'scipy' not in sys.modules, 'analysis imports scipy at import time'\n"
        "a.binomial_upper_tail(3, 10, 0.2)\n"
        "assert 'scipy.stats' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
