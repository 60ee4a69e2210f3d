"""Downsampling in the database: bucket means match the raw samples on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from launch_control.console.lib.data import bucket_for


def test_bucket_means_match_raw_samples(store):
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    rows = [
        {"at": start + dt.timedelta(seconds=10 * i), "version": version, "metric": "error_rate", "value": value}
        for i in range(360)  # one hour at 10 s
        for version, value in (("stable", 0.01 * (i % 6)), ("canary", 0.5))
    ]
    store.record_samples(rows)
    store.record_samples([{"at": start, "version": "stable", "metric": "cpu", "value": 9.0}])
    assert store.sample_span() == (start, start + dt.timedelta(seconds=3590))
    buckets = store.bucketed_samples(["error_rate"], start, start + dt.timedelta(hours=1), 60.0)
    stable = [b for b in buckets if b["version"] == "stable"]
    canary = [b for b in buckets if b["version"] == "canary"]
    assert len(stable) == len(canary) == 60
    assert [b["at"] for b in stable] == [start + dt.timedelta(minutes=m) for m in range(60)]
    assert all(b["count"] == 6 for b in stable)
    assert abs(stable[0]["mean"] - 0.025) < 1e-9 and abs(stable[0]["max"] - 0.05) < 1e-9
    assert all(b["mean"] == 0.5 for b in canary)
    assert {b["metric"] for b in buckets} == {"error_rate"}, "other metrics are left out"
    later = store.bucketed_samples(["error_rate"], start + dt.timedelta(minutes=30), start + dt.timedelta(hours=1), 60)
    assert len(later) == 60 and later[0]["at"] == start + dt.timedelta(minutes=30)


def test_empty_and_other_launches(store):
    assert store.sample_span() == (None, None)
    other = store.with_launch("someone-else")
    other.record_samples([{"at": dt.datetime.now(dt.UTC), "version": "stable", "metric": "cpu", "value": 1.0}])
    now = dt.datetime.now(dt.UTC)
    assert store.bucketed_samples(["cpu"], now - dt.timedelta(hours=1), now, 10) == []


def test_bucket_widths():
    assert bucket_for(3600) == 10.0
    assert bucket_for(86400) == 300.0
    assert bucket_for(72 * 3600) == 900.0
