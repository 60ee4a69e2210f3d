"""Ops console: each page's AppTest run time on a 72-hour launch (10-second samples).

Builds the data set once (stable and canary, 12 metrics, ~330k sample rows, plus decisions,
incidents, ticks and timeline) in a SQLite file under the temp directory, then renders every
page with ``streamlit.testing.v1.AppTest`` as a signed-in lead: the first render of each page
(cold caches) and the median of warm re-renders. Target: <= 1.5 s per page.

    .venv/bin/python bench/console_bench.py [--runs 5] [--resolution 10] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")

PAGES = {
    "overview": "pages/launch/overview.py",
    "checklist": "pages/launch/checklist.py",
    "timeline": "pages/launch/timeline.py",
    "metrics (last hour)": "pages/observe/metrics.py",
    "rate_limits": "pages/observe/rate_limits.py",
    "incidents": "pages/respond/incidents.py",
    "controls": "pages/respond/controls.py",
    "criteria": "pages/review/criteria.py",
}
TARGET = 1.5


def build(url: str, resolution: float) -> int:
    from launch_control.console.lib.sample_launch import write_full_launch

    from launch_control.store.db import Store, metric_samples
    from launch_control.store.lastgood import load_plan

    plan = load_plan()
    store = Store(url, launch_id=plan.launch_id)
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(metric_samples)).scalar() or 0
    if not rows:
        started = time.perf_counter()
        data = write_full_launch(store, plan, resolution=resolution)
        rows = data.rows
        print(f"built {rows:,} sample rows in {time.perf_counter() - started:.1f} s at {store.describe()}")
    store.close()
    return int(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm re-renders per page (median reported)")
    parser.add_argument("--resolution", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--postgres", metavar="URL", help="use this PostgreSQL database instead of SQLite")
    args = parser.parse_args()

    url = args.postgres or f"sqlite:///{Path(tempfile.gettempdir()) / f'lc-console-bench-{args.resolution:g}s.db'}"
    rows = build(url, args.resolution)
    os.environ["LAUNCH_CONTROL_DATABASE_URL"] = url
    os.environ["LAUNCH_CONTROL_CONSOLE_REFRESH"] = "0"
    os.environ.pop("PREFECT_API_URL", None)

    from streamlit.testing.v1 import AppTest

    app = ROOT / "console" / "app.py"
    results = []
    for name, page in [*PAGES.items(), ("metrics (72 hours)", PAGES["metrics (last hour)"])]:
        at = AppTest.from_file(str(app), default_timeout=60)
        at.session_state["lc_user"] = {"name": "bench", "role": "lead", "source": "local"}
        at.run()
        at.switch_page(page)
        if name == "metrics (72 hours)":
            at.session_state["metrics_range"] = "72 hours"
        started = time.perf_counter()
        at.run()
        first = time.perf_counter() - started
        assert not at.exception, at.exception
        warm = []
        for _ in range(args.runs):
            started = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - started)
        results.append((name, first, statistics.median(warm), max(warm)))

    print(f"\nconsole pages, AppTest, {rows:,} sample rows ({args.resolution:g} s resolution, 72 h), "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"{'page':<22} {'first run':>10} {'warm median':>12} {'warm max':>9}  target {TARGET} s")
    for name, first, median, worst in results:
        flag = "ok" if max(first, median) <= TARGET else "SLOW"
        print(f"{name:<22} {first:>9.3f}s {median:>11.3f}s {worst:>8.3f}s  {flag}")


if __name__ == "__main__":
    main()
