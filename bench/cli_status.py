"""How fast `launch-control --status` and `plan validate` answer (wall time per invocation).

Target (issue 13): ``--status`` ≤ 0.25 s (the interpreter's own start-up is ~35 ms). The plan is
validated once first, so ``--status`` starts from the compiled last-good copy; "cold" rows
change the plan file before every run, so the plan is parsed (YAML + pydantic) as it would be
right after an edit. Prints p50/p95 over N runs on a private data directory.
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
ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str], runs: int, before: object = None) -> list[float]:
    times = []
    for _ in range(runs):
        if callable(before):
            before()
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        plan = Path(data) / "plan.yaml"
        text = (ROOT / "checklist" / "promptforge-v3.yaml").read_text()
        plan.write_text(text)
        env = {**os.environ, "LAUNCH_CONTROL_DATA_DIR": data, "LAUNCH_CONTROL_PLAN": str(plan)}
        lc = str(BIN / "launch-control")
        subprocess.run([lc, "plan", "validate"], env=env, check=True, capture_output=True)
        subprocess.run([lc, "--status"], env=env, check=True, capture_output=True)  # creates the store
        edits = iter(range(10**6))

        def touch() -> None:  # a new comment: the file's hash changes, its meaning does not
            plan.write_text(text + f"\n# edit {next(edits)}\n")

        rows = (
            ("launch-control --status", [lc, "--status"], None),
            ("launch-control --status (plan just edited)", [lc, "--status"], touch),
            ("launch-control plan validate", [lc, "plan", "validate"], None),
            ("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"], None),
        )
        print(f"{'command':<46} {'p50':>8} {'p95':>8}  (n={args.runs})")
        results = {}
        for label, argv, before in rows:
            t = sorted(timed(argv, env, args.runs, before))
            p95 = t[min(len(t) - 1, round(0.95 * (len(t) - 1)))]
            results[label] = p95
            print(f"{label:<46} {statistics.median(t) * 1000:>6.0f}ms {p95 * 1000:>6.0f}ms")
        ok = results["launch-control --status"] <= 0.25
        print(f"target --status p95 ≤ 0.25 s: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
