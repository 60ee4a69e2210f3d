"""Detection bench for the whole engine (router, metric source, gate, incident policy, rollback).

Part 1 — detection delay on the embedded stack (real gateway, services, metric scrape, gate):
the canary at 5%, load 200 req/s, a 2 s analysis interval (min_requests 5; the plan's SEV limits,
compare-to-stable and sequential settings otherwise), and after two green intervals the canary
starts failing 10%, 20% or 30% of its requests. Printed: seconds and analysis intervals from the
fault to the rollback's trigger, per run and as the median.

Part 2 — false rollbacks over 50 healthy ramps of the shipped plan (1% 30 min → 5% 1 h → 25% 2 h
→ 100%, one-minute intervals: 210 judged intervals each) through the real Engine and Gate with a
noop router, a fake clock (the ramps run in seconds, not hours) and a *simulated* metric source
with realistic noise: 50 req/s, Poisson traffic, 1% baseline errors on both versions with
occasional shared blips (a dependency hiccup triples both versions' errors for an interval, 2% of
intervals), log-normal latencies (median 250 ms). Target: 0 false rollbacks.

Usage: .venv/bin/python bench/detection_bench.py [--part detection|false|both] [--runs 3] [--ramps 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launch_control.ramp.observations import Observation, VersionWindow  # noqa: E402

BOUNDS = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


# --- part 1: the real stack ---------------------------------------------------------------------------


def detection(runs: int, rps: float) -> None:
    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="lc-detect-"))
    os.environ["LAUNCH_CONTROL_DATA_DIR"] = str(tmp / "data")
    import httpx

    from launch_control.commands.demo import demo_plan
    from launch_control.plan.model import dump_plan, parse_plan
    from launch_control.plane.demo.stack import DemoStack
    from launch_control.ramp.engine import Engine
    from launch_control.store.db import Store, utcnow
    from launch_control.store.lastgood import load_plan

    base = load_plan()
    results: dict[float, list[tuple[float, int] | None]] = {}
    with DemoStack(base, free_ports=True) as stack:
        stack.start_load(rps)
        plan, _ = demo_plan(base, stack, tmp)
        data = dump_plan(plan)
        data["canary"]["steps"] = [{"weight": w, "hold": "10m"} for w in ("5%", "25%", "50%")] + [{"weight": "100%"}]
        data["analysis"].update(interval="2s", min_requests=5)
        data["notifications"]["channels"] = []
        for sev in (data.get("incident_response") or {}).get("severities", {}).values():
            sev["notify"] = []
        data["rollback"]["notify"] = []
        plan = parse_plan(data, tmp / "plan.yaml")
        (tmp / "plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        admin = {"Authorization": f"Bearer {stack.admin_token}"}
        print(f"part 1: stack at {stack.gateway_url}, {rps:g} req/s, canary 5%, interval 2 s, {runs} runs per rate")
        for rate in (0.10, 0.20, 0.30):
            results[rate] = []
            for run in range(runs):
                stack.set_fault("canary", clear=True)
                httpx.put(stack.gateway_url + "/admin/weights", json={"canary": 0}, headers=admin, timeout=5)
                store = Store(f"sqlite:///{tmp / f'detect-{rate}-{run}.db'}", launch_id=plan.launch_id)
                engine = Engine(plan, store, notifier=False, out=lambda _line: None)
                outcome: dict = {}
                thread = threading.Thread(target=lambda e=engine, o=outcome: o.update(r=e.run()), daemon=True)
                thread.start()
                deadline = time.monotonic() + 60
                while len([d for d in store.decisions() if d["verdict"] == "pass"]) < 2:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                fault_at = utcnow()
                stack.set_fault("canary", error_rate=rate)
                thread.join(90)
                result = outcome.get("r")
                if result is None or result.outcome not in ("rolled_back", "rollback_failed"):
                    store.update_state(paused=True)  # not detected within the wait: stop this run
                    results[rate].append(None)
                    print(f"  {rate:.0%} run {run + 1}: not rolled back within 90 s")
                    continue
                started = store.rollbacks()[-1]["started_at"]
                intervals = len([d for d in store.decisions() if d["at"] >= fault_at])
                delay = (started - fault_at).total_seconds()
                results[rate].append((delay, intervals))
                print(
                    f"  {rate:.0%} run {run + 1}: rollback {delay:.1f} s after the fault "
                    f"({intervals} interval(s)); reason: {result.reason[:90]}"
                )
        stack.set_fault("canary", clear=True)
    print("\ndetection delay at 5% weight (fault → rollback trigger):")
    for rate, rows in results.items():
        found = [r for r in rows if r]
        if found:
            print(
                f"  {rate:.0%} errors: median {statistics.median(r[0] for r in found):.1f} s, "
                f"median {statistics.median(r[1] for r in found):g} intervals, max {max(r[0] for r in found):.1f} s "
                f"({len(found)}/{len(rows)} detected)"
            )
        else:
            print(f"  {rate:.0%} errors: not detected in {len(rows)} runs")


# --- part 2: simulated healthy ramps ----------------------------------------------------------------------


class NoisySource:
    """Healthy canary and stable with the same behaviour and realistic interval-to-interval noise."""

    name = "simulated"

    def __init__(self, rng: np.random.Generator, router, rps: float = 50.0, base_error: float = 0.01):
        self.rng, self.router, self.rps, self.base_error = rng, router, rps, base_error
        self.t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def _window(self, n: int, error: float) -> VersionWindow:
        if n == 0:
            return VersionWindow(requests=0)
        latencies = self.rng.lognormal(mean=np.log(0.25), sigma=0.5, size=n)
        counts = [int((latencies <= b).sum()) for b in BOUNDS] + [n]
        return VersionWindow(
            requests=n,
            errors=int(self.rng.binomial(n, error)),
            latency_avg=float(latencies.mean()),
            latency_p50=float(np.quantile(latencies, 0.5)),
            latency_p95=float(np.quantile(latencies, 0.95)),
            latency_p99=float(np.quantile(latencies, 0.99)),
            latency_buckets=list(zip([*BOUNDS, float("inf")], counts, strict=True)),
        )

    def observe(self, interval: float) -> Observation:
        self.t += dt.timedelta(seconds=interval)
        weight = self.router.weight / 100.0
        total = int(self.rng.poisson(self.rps * interval))
        canary = int(self.rng.binomial(total, weight))
        blip = 3.0 if self.rng.random() < 0.02 else 1.0  # a shared dependency hiccups
        error = min(1.0, self.base_error * blip)
        return Observation(
            at=self.t,
            interval=interval,
            stable=self._window(total - canary, error),
            canary=self._window(canary, error),
            source=self.name,
        )

    def is_online(self) -> bool:
        return True


class InstantClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def false_rollbacks(ramps: int, seed: int) -> None:
    from launch_control.plane.traffic.noop import NoopRouter
    from launch_control.ramp.engine import Engine
    from launch_control.store.db import Store
    from launch_control.store.lastgood import load_plan

    plan = load_plan()
    rng = np.random.default_rng(seed)
    tmp = Path(tempfile.mkdtemp(prefix="lc-false-"))
    outcomes, holds, fails, seconds = [], 0, 0, []
    print(f"\npart 2: {ramps} healthy ramps of the shipped plan, simulated noisy source (seed {seed})")
    for i in range(ramps):
        store = Store(f"sqlite:///{tmp / f'ramp-{i}.db'}", launch_id=plan.launch_id)
        router = NoopRouter()
        started = time.monotonic()
        engine = Engine(
            plan,
            store,
            router=router,
            source=NoisySource(rng, router),
            clock=InstantClock(),
            notifier=False,
            incidents=False,
            out=lambda _line: None,
            rollback=lambda **kw: (_ for _ in ()).throw(AssertionError("rollback")),
        )
        try:
            result = engine.run()
            outcomes.append(result.outcome)
        except AssertionError:
            outcomes.append("FALSE ROLLBACK")
            print(f"  ramp {i + 1}: FALSE ROLLBACK — {store.decisions()[-1]['reason'][:120]}")
        seconds.append(time.monotonic() - started)
        decisions = store.decisions()
        holds += sum(d["verdict"] == "hold" for d in decisions)
        fails += sum(d["verdict"] == "fail" for d in decisions)
        store.close()
    completed = outcomes.count("completed")
    false = outcomes.count("FALSE ROLLBACK")
    print(
        f"  completed {completed}/{ramps}, false rollbacks {false} (target 0); single failing intervals "
        f"{fails}, holds {holds}; {statistics.mean(seconds):.1f} s of CPU per ramp (fake clock)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("detection", "false", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3, help="real-stack runs per error rate")
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--ramps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.part in ("detection", "both"):
        detection(args.runs, args.rps)
    if args.part in ("false", "both"):
        false_rollbacks(args.ramps, args.seed)


if __name__ == "__main__":
    main()
