"""Charts tell what the gate saw: a recorded launch with one 27 % canary error interval shows a point
≥ 20 % on the Metrics page's error chart (peaks beside the means), and a 3 ms-latency launch gets a
latency axis under 1 s (not one stretched to the 10 s SEV-1 line)."""

from __future__ import annotations

import datetime as dt
import json


def _record(store, *, error_at_spike: float = 0.006, latency: float = 0.2) -> None:
    """Two hours of 10-second gate intervals at 5 % canary; one interval at ``error_at_spike``."""
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    store.update_state(phase="rolled_back", current_step=1, canary_weight=0.0, launch_started_at=t0)
    rows = []
    for i in range(720):
        at = t0 + dt.timedelta(seconds=10 * i)
        for role, err in (("stable", 0.004), ("canary", 0.27 if i == 500 else error_at_spike)):
            rows += [{"at": at, "version": role, "metric": "error_rate", "value": err},
                     {"at": at, "version": role, "metric": "latency_p95", "value": latency},
                     {"at": at, "version": role, "metric": "latency_avg", "value": latency * 0.6}]
    store.record_samples(rows)
    rb = store.start_rollback(trigger="gate", reason="SEV-1 error rate 27% > 20%", actor="engine",
                              target_version="v2.9.0", started_at=t0 + dt.timedelta(seconds=5010))
    store.update_rollback(rb, ttr_seconds=None, ok=None)


def values(data) -> list[float]:
    """A trace's y values: plotly sends numpy arrays as base64 typed arrays ({dtype, bdata})."""
    if isinstance(data, dict) and "bdata" in data:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def _chart(at, title_start: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"]["title"]["text"].startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


def test_a_27_percent_interval_shows_above_20_percent(empty_store, console):
    _record(empty_store)
    at = console("metrics")
    assert not at.exception
    spec = _chart(at, "Error rate")
    canary = [t for t in spec["data"] if t["name"].startswith("canary")]
    assert max(max(values(t["y"])) for t in canary) >= 20, "the gate's 27 % is visible"
    means = next(t for t in canary if t["name"] == "canary mean")
    assert max(values(means["y"])) < 20, "the mean alone hides it: that is why peaks are drawn"
    assert spec["layout"]["yaxis"]["range"][1] >= 27
    texts = [a["text"] for a in spec["layout"]["annotations"]]
    assert "SEV-1 20%" in texts, "the SEV-1 line is drawn when it is in range"
    assert "rollback (TTR not verified)" in texts, "no made-up 'TTR 0s'"


def test_millisecond_latency_gets_a_millisecond_axis(empty_store, console):
    _record(empty_store, latency=0.003)
    at = console("metrics")
    spec = _chart(at, "Latency")
    assert spec["layout"]["yaxis"]["range"][1] < 1.0
    texts = [a["text"] for a in spec["layout"]["annotations"]]
    assert any(t.startswith("off-scale above: SEV-3 3 s") for t in texts)


def test_chart_times_are_in_the_plans_zone_and_empty_series_say_so(empty_store, console, plan):
    _record(empty_store)
    at = console("metrics")
    spec = _chart(at, "Error rate")
    first = dt.datetime.fromisoformat(spec["data"][0]["x"][0])
    assert first.tzinfo is None, "wall-clock times, no offset for plotly.js to drop"
    start = empty_store.state()["launch_started_at"]
    expected = start.astimezone(plan.timeline.tz).replace(tzinfo=None)
    assert abs((first - expected).total_seconds()) < 15 * 60, "drawn in the plan's zone, not UTC"
    cpu = _chart(at, "CPU")
    assert any(a["text"] == "no data from the source" for a in cpu["layout"]["annotations"])
