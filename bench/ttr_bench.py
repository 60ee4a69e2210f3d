"""TTR bench: ``emergency-rollback "Critical issue detected"`` on the embedded stack, 20 runs.

Starts the demo stack (model, stable, canary, gateway on free loopback ports) with load, points a
copy of the shipped plan at it, and for each run sets the canary to 25% and invokes the real
``emergency-rollback`` command in a new process. Prints, per run and as p50/p95:

* invocation → verified: from just before the process is started (Python start-up, imports,
  plan and store included) to the verified-health time recorded in the store — what a person
  pressing Enter waits for (target p95 ≤ 0.5 s, issue 13; the plan's budget is 120 s);
* recorded TTR: trigger → verified health, as the rollback record keeps it;
* process exit: invocation → the command has printed everything and exited.

The plan is validated once first (``plan validate``), as it is on launch day: every run then
starts from the compiled last-good copy (no YAML, pydantic, SQLAlchemy or httpx imported).
``--cold`` skips that, so the first run parses the plan.

Usage: .venv/bin/python bench/ttr_bench.py [--runs 20] [--rps 100] [--cold]
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

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--cold", action="store_true", help="do not validate the plan first")
    parser.add_argument("--verbose", action="store_true", help="print each run's output")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lc-ttr-"))
    os.environ["LAUNCH_CONTROL_DATA_DIR"] = str(tmp / "data")
    from launch_control.commands.demo import demo_plan
    from launch_control.plan.model import dump_plan
    from launch_control.plane.demo.stack import DemoStack
    from launch_control.store.db import Store, utcnow
    from launch_control.store.lastgood import load_plan

    base = load_plan()
    with DemoStack(base, free_ports=True) as stack:
        stack.start_load(args.rps)
        plan, _ = demo_plan(base, stack, tmp)
        data = dump_plan(plan)
        data["notifications"]["channels"] = []  # no webhooks configured here: nothing to wait for
        for sev in (data.get("incident_response") or {}).get("severities", {}).values():
            sev["notify"] = []
        data["rollback"]["notify"] = []
        path = tmp / "plan.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        env = {**os.environ, "LAUNCH_CONTROL_PLAN": str(path), "LAUNCH_CONTROL_ACTOR": "bench"}
        # As installed: byte-code cached (this VM sets PYTHONDONTWRITEBYTECODE, which would make
        # every run compile every module from source, ~0.1-0.2 s). The validate run warms it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "launch_control")], env=env, check=True)
        store = Store(launch_id=plan.launch_id)
        admin = {"Authorization": f"Bearer {stack.admin_token}"}
        script = Path(sys.executable).parent / "emergency-rollback"
        if not args.cold:
            lc = Path(sys.executable).parent / "launch-control"
            subprocess.run([str(lc), "plan", "validate"], env=env, check=True, capture_output=True)
        to_verified, recorded, exits, cpus = [], [], [], []
        print(f"stack up at {stack.gateway_url}, load {args.rps:g} req/s; {args.runs} runs of emergency-rollback")
        for i in range(args.runs):
            httpx.put(stack.gateway_url + "/admin/weights", json={"canary": 25}, headers=admin, timeout=5)
            time.sleep(0.3)
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            invoked, t0 = utcnow(), time.monotonic()
            done = subprocess.run([str(script), "Critical issue detected"], env=env, capture_output=True, text=True)
            exits.append(time.monotonic() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
            if args.verbose:
                print(done.stdout, done.stderr)
            row = store.rollbacks()[-1]
            if done.returncode != 0 or row["verified_at"] is None:
                print(f"run {i + 1}: FAILED (exit {done.returncode})\n{done.stdout}\n{done.stderr}")
                continue
            to_verified.append((row["verified_at"] - invoked).total_seconds())
            recorded.append(row["ttr_seconds"])
            weight = httpx.get(stack.gateway_url + "/admin/weights", headers=admin, timeout=5).json()["canary"]
            print(
                f"run {i + 1:2d}: invocation→verified {to_verified[-1]:.3f} s, recorded TTR {recorded[-1]:.3f} s, "
                f"exit {exits[-1]:.3f} s (CPU {cpus[-1]:.3f} s), canary now {weight:g}%"
            )
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end")
    rows = (("invocation → verified", to_verified), ("recorded TTR", recorded), ("process exit", exits),
            ("CPU time of the command", cpus))  # fmt: skip
    for name, values in rows:
        if values:
            print(
                f"{name:<24} p50 {statistics.median(values):.3f} s  p95 {pct(values, 95):.3f} s  "
                f"max {max(values):.3f} s  (n={len(values)})"
            )
    ok = to_verified and pct(to_verified, 95) <= 0.5
    print(f"target p95 invocation→verified ≤ 0.5 s: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
