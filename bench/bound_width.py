"""How wide is the gate's always-valid bound on canary − stable, against the PrPl-EB reference?

Per base rate (1 %, 10 %, 50 %) and sample size (4k, 20k, 100k requests per version), healthy
paired streams (canary and stable Bernoulli at the same rate, equal traffic, 100 intervals) are
fed to ``TwoStreamTest``; its bound's width (upper − lower, each one-sided at alpha) is compared
with the predictable plug-in empirical-Bernstein confidence sequence (Waudby-Smith & Ramdas,
the formula ``confseq.predmix`` implements; carried in ``tests/analysis/prpl_eb.py`` because
confseq does not build here without libboost-dev and numpy<2) on the same pairs.

    .venv/bin/python bench/bound_width.py [--runs 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "analysis"))

from prpl_eb import paired_difference_width  # noqa: E402

from launch_control.ramp.sequential import TwoStreamTest  # noqa: E402

ALPHA = 0.05
RATES = (0.01, 0.1, 0.5)
SIZES = (4_000, 20_000, 100_000)


def widths(rng: np.random.Generator, p: float, n: int, intervals: int = 100) -> tuple[float, float]:
    """(gate's width, reference width) in rate units on one simulated pair of streams."""
    c = rng.random(n) < p
    s = rng.random(n) < p
    test = TwoStreamTest(ALPHA, 0.0)
    per = n // intervals
    for k in range(intervals):
        sl = slice(k * per, (k + 1) * per)
        test.update(per, float(c[sl].sum()), per, float(s[sl].sum()))
    lower, upper = test.bounds()
    return upper - lower, paired_difference_width(c[: per * intervals], s[: per * intervals], ALPHA)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="simulated stream pairs per cell")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(f"alpha {ALPHA} one-sided each side; median over {args.runs} stream pairs; width in points")
    print(f"{'base rate':>9} {'requests':>9} {'gate':>8} {'PrPl-EB':>8} {'ratio':>6}")
    worst = 0.0
    for p in RATES:
        for n in SIZES:
            pairs = np.array([widths(rng, p, n) for _ in range(args.runs)])
            gate, ref = np.median(pairs[:, 0]), np.median(pairs[:, 1])
            worst = max(worst, gate / ref)
            print(f"{p:>9.0%} {n:>9,} {gate * 100:>8.2f} {ref * 100:>8.2f} {gate / ref:>6.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.1); {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
