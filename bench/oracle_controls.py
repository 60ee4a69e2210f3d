"""Control runs for the oracle ratio of the error-rate test: what the sequential test would need to know
to come within 1.3x of the oracle SPRT (issue 16).

On the exact steps ``bench/gate_detection.py`` simulates (same seed and per-cell streams), the error
test alone (``TwoStreamTest``, checked every interval, decisions as the gate takes them) is run with:

  shipped      the mixture the gate uses (the weighted bet grid of ``launch_control.ramp.bets``);
  fitted       a prior fitted to this study: one bet at each of the three error effects the study
               simulates (1.5x, 2x, 5x), a third each — what no real gate can know in advance;
  told         one bet at the true effect of the cell, ``l = log(p1 / p0)`` (knows the alternative);
  told+stable  the same, and stable's true rate instead of the plug-in nudged one sd up.

The oracle is the study's: an SPRT of the true canary rate against stable + the tolerance. Medians
in minutes (intervals); "never": fewer than half the runs decided within the hold.

    .venv/bin/python bench/oracle_controls.py            # the study's settings, 300 runs a cell
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gate_detection as study  # noqa: E402  (the study's simulation and oracle)

import launch_control.ramp.bets as bets  # noqa: E402
import launch_control.ramp.sequential as sequential  # noqa: E402

CELLS = [(0.01, 3), (0.05, 7), (0.05, 8), (0.05, 9)]  # (traffic, index of the scenario in the study's tasks)
STUDY_EFFECTS = (1.5, 2.0, 5.0)


def with_prior(lambdas: tuple[float, ...], weights: tuple[float, ...]):  # type: ignore[no-untyped-def]
    """Swap the mixture's grid and weights (module state of the pure-Python test) for one run."""
    total = sum(weights)
    sequential.LAMBDAS = bets.LAMBDAS = lambdas
    bets._LOG_WEIGHTS = tuple(math.log(w / total) for w in weights)


def first_fails(data, hold: int, tolerance: float, alpha: float, *, true_stable: float | None) -> np.ndarray:
    nc, ns, xc, xs, _hc, _hs = data
    out = np.zeros(nc.shape[0], dtype=int)
    for r in range(nc.shape[0]):
        test = sequential.TwoStreamTest(alpha, tolerance)
        if true_stable is not None:
            test._stable_p0 = lambda: true_stable  # type: ignore[method-assign]
        for k in range(hold):
            test.update(nc[r, k], xc[r, k], ns[r, k], xs[r, k])
            if test.log_evidence_fail() >= test.log_threshold:
                out[r] = k + 1
                break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--error-tolerance", type=float, default=0.002)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    shipped = (bets.LAMBDAS, bets.WEIGHTS)
    holds = {0.01: 30, 0.05: 60}
    p0 = study.STABLE_ERROR + args.error_tolerance
    fitted = tuple(math.log(study.STABLE_ERROR * m / p0) for m in STUDY_EFFECTS)
    print(f"{'cell':<16} {'oracle':>7}  " + "  ".join(f"{n:>13}" for n in ("shipped", "fitted", "told", "told+stable")))
    for weight, index in CELLS:
        name, err_mult, lat_mult = study.SCENARIOS[index % len(study.SCENARIOS)]
        hold = holds[weight]
        data = study.simulate(np.random.default_rng([args.seed, index]), args.runs, hold, weight, err_mult, lat_mult)
        oracle = study.median_minutes(
            study.oracle_times(data, hold, err_mult, lat_mult, args.error_tolerance, 0.1, args.alpha)
        )
        told = (math.log(study.STABLE_ERROR * err_mult / p0),)
        cells = []
        for prior, stable in ((shipped, None), ((fitted, (1.0,) * 3), None), ((told, (1.0,)), None),
                              ((told, (1.0,)), study.STABLE_ERROR)):  # fmt: skip
            with_prior(*prior)
            med = study.median_minutes(first_fails(data, hold, args.error_tolerance, args.alpha, true_stable=stable))
            cells.append("never" if math.isinf(med) else f"{med:.0f} ({med / oracle:.2f}x)")
        with_prior(*shipped)
        print(f"{name + f' {weight:.0%}':<16} {oracle:>5.0f} m  " + "  ".join(f"{c:>13}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
