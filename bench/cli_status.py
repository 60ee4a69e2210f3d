"""How fast `launch-control --status` and `plan validate` answer (wall time per invocation).

Target (issue 2): --status well under a second. Prints p50/p95 over N runs on a private store.
Usage: python bench/cli_status.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "LAUNCH_CONTROL_DATA_DIR": data}
        print(f"{'command':<40} {'p50':>8} {'p95':>8}  (n={args.runs})")
        for label, argv in (
            ("launch-control --status", [str(BIN / "launch-control"), "--status"]),
            ("launch-control plan validate", [str(BIN / "launch-control"), "plan", "validate"]),
            ("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"]),
        ):
            t = sorted(timed(argv, env, args.runs))
            p95 = t[min(len(t) - 1, round(0.95 * (len(t) - 1)))]
            print(f"{label:<40} {statistics.median(t) * 1000:>6.0f}ms {p95 * 1000:>6.0f}ms")


if __name__ == "__main__":
    main()
