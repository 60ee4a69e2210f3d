"""Figures for incidents and the review: Notifier.send latency with a hung channel, incident
report()/touch cost, status-page summary time, and the review report's render time and size
for a full 72-hour launch (samples every minute, both versions).

    .venv/bin/python bench/incidents_bench.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import tempfile
import time

from launch_control.plan.model import dump_plan, parse_plan
from launch_control.respond.incidents import IncidentManager
from launch_control.respond.notify import Notifier, RetryPolicy
from launch_control.respond.statuspage import summary
from launch_control.review.report import render_report
from launch_control.store.db import Store, utcnow
from launch_control.store.lastgood import load_plan
from launch_control.web.servers import ServerThread


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def hung(scope, receive, send):  # an endpoint that never answers in time
    if scope["type"] != "http":
        return
    await asyncio.sleep(30)


def main() -> None:
    import logging

    logging.getLogger("launch_control.respond.notify").setLevel(logging.ERROR)  # the hung channel fails by design
    tmp = tempfile.mkdtemp()
    plan = load_plan()
    store = Store(f"sqlite:///{tmp}/bench.db", launch_id="bench")

    with ServerThread(hung) as server:
        os.environ["BENCH_HUNG"] = server.url + "/hook"
        data = dump_plan(plan)
        data["notifications"] = {"channels": [{"name": "hung", "type": "webhook", "url_env": "BENCH_HUNG",
                                               "timeout": 0.5, "attempts": 1}]}
        data["incident_response"] = None
        data["rollback"]["notify"] = []
        p = parse_plan(data, plan.source)
        notifier = Notifier(p, store, retry=RetryPolicy(1, 0.01, 0.01, 0.5))
        times = []
        for _ in range(200):
            t = time.perf_counter()
            notifier.send("bench", "s", "t")
            times.append((time.perf_counter() - t) * 1e6)
        print(f"Notifier.send with a hung channel: p50 {statistics.median(times):.0f} µs, "
              f"p99 {pct(times, 0.99):.0f} µs, max {max(times):.0f} µs (200 sends)")
        notifier.flush(0.1)

    manager = IncidentManager(plan, store)
    t = time.perf_counter()
    for i in range(50):
        manager.report(f"bench:{i}", "SEV-3", "bench")
    open_ms = (time.perf_counter() - t) / 50 * 1000
    t = time.perf_counter()
    for _ in range(50):
        manager.report("bench:0", "SEV-3", "bench")
    touch_ms = (time.perf_counter() - t) / 50 * 1000
    print(f"IncidentManager.report (SQLite, no notifier): open {open_ms:.1f} ms, repeat (touch) {touch_ms:.1f} ms")

    t = time.perf_counter()
    for _ in range(20):
        summary(plan, store)
    print(f"status page summary with 50 active incidents: {(time.perf_counter() - t) / 20 * 1000:.1f} ms")

    start = utcnow() - dt.timedelta(hours=72)
    rows = []
    for minute in range(72 * 60):
        at = start + dt.timedelta(minutes=minute)
        for role in ("stable", "canary"):
            for metric, value in (("error_rate", 0.004), ("latency_avg", 0.12), ("latency_p95", 0.3),
                                  ("latency_p99", 0.6), ("request_rate", 40.0), ("availability", 1.0)):
                rows.append({"at": at, "version": role, "metric": metric, "value": value})
    t = time.perf_counter()
    store.record_samples(rows)
    print(f"recorded {len(rows):,} samples in {time.perf_counter() - t:.1f} s")
    for i in range(300):
        store.record_decision("pass", "within limits", step=i % 4, weight=[1, 5, 25, 100][i % 4],
                              at=start + dt.timedelta(minutes=i))
    t = time.perf_counter()
    html = render_report(plan, store)
    print(f"review report for a 72-hour launch: {time.perf_counter() - t:.2f} s, {len(html) / 1024:.0f} KB "
          f"({len(rows):,} samples, 300 decisions, 50 incidents)")


if __name__ == "__main__":
    main()
