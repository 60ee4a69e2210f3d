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
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str], runs: int, before: object = None) -> tuple[list[float], list[float]]:
    """(wall times, CPU times) per run. CPU time (user + sys of the child) is what the command
    costs; on a busy machine the wall time adds the wait for a core."""
    times, cpus = [], []
    for _ in range(runs):
        if callable(before):
            before()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
    return times, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        plan = Path(data) / "plan.yaml"
        text = (ROOT / "checklist" / "promptforge-v3.yaml").read_text()
        plan.write_text(text)
        env = {**os.environ, "LAUNCH_CONTROL_DATA_DIR": data, "LAUNCH_CONTROL_PLAN": str(plan)}
        # As installed: byte-code cached (this VM sets PYTHONDONTWRITEBYTECODE, which would make
        # every run compile every module from source, ~0.1-0.2 s).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(data) / "pycache")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "launch_control")], env=env, check=True)
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
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'command':<46} {'wall p50':>9} {'p95':>8} {'CPU p50':>9} {'p95':>8}  (n={args.runs})")
        results = {}
        for label, argv, before in rows:
            wall, cpu = (sorted(x) for x in timed(argv, env, args.runs, before))
            p95, cpu95 = (x[min(len(x) - 1, round(0.95 * (len(x) - 1)))] for x in (wall, cpu))
            results[label] = p95
            print(
                f"{label:<46} {statistics.median(wall) * 1000:>7.0f}ms {p95 * 1000:>6.0f}ms "
                f"{statistics.median(cpu) * 1000:>7.0f}ms {cpu95 * 1000:>6.0f}ms"
            )
        ok = results["launch-control --status"] <= 0.25
        print(f"target --status p95 ≤ 0.25 s (wall): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
