"""Gate.snapshot()/restore(): a gate rebuilt from a JSON snapshot judges exactly as the gate
that kept running, so a resumed engine continues a step with the same evidence."""

from __future__ import annotations

import json
import random

from launch_control.ramp.analysis import Gate
from launch_control.ramp.observations import Observation, VersionWindow

BOUNDS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, float("inf")]


def histogram(n: int, slow: float, rng: random.Random) -> list[tuple[float, int]]:
    counts = [0] * len(BOUNDS)
    for _ in range(n):
        value = rng.expovariate(1 / (0.02 * slow))
        counts[next(i for i, b in enumerate(BOUNDS) if value <= b)] += 1
    cumulative, total = [], 0
    for bound, count in zip(BOUNDS, counts, strict=True):
        total += count
        cumulative.append((bound, total))
    return cumulative


def observation(i: int, rng: random.Random) -> Observation:
    import datetime as dt

    canary_n, stable_n = 60, 1200
    return Observation(
        at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i),
        interval=60.0,
        stable=VersionWindow(requests=stable_n, errors=rng.randint(0, 3), latency_avg=0.02,
                             latency_buckets=histogram(stable_n, 1.0, rng)),
        canary=VersionWindow(requests=canary_n, errors=rng.randint(0, 1), latency_avg=0.022,
                             latency_buckets=histogram(canary_n, 1.1, rng)),
    )


def test_snapshot_round_trips_through_json_and_judges_the_same(plan):
    rng = random.Random(7)
    observations = [observation(i, rng) for i in range(12)]
    running = Gate(plan.analysis)
    for obs in observations[:6]:
        running.judge(obs)
    snapshot = json.loads(json.dumps(running.snapshot()))
    assert snapshot["intervals"] == 6 and snapshot["errors"]["canary_n"] == 6 * 60
    assert snapshot["latency"]["tests"], "the latency test chose its bounds (its evidence is in the snapshot)"
    resumed = Gate(plan.analysis)
    resumed.restore(snapshot)
    assert resumed.snapshot() == snapshot
    for obs in observations[6:]:
        a, b = running.judge(obs), resumed.judge(obs)
        assert (a.outcome, a.reason) == (b.outcome, b.reason)
    assert resumed.snapshot() == json.loads(json.dumps(running.snapshot()))
    fresh = Gate(plan.analysis)
    fresh.restore(None)  # nothing saved: a fresh step
    assert fresh.snapshot()["intervals"] == 0
