"""Backtesting recorded launches: the replay on both stores, and the CLI on a store and on files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from launch_control.errors import UsageError
from launch_control.ramp.backtest import load_samples_file, override, replay, rows_from_store
from launch_control.ramp.observations import Observation, VersionWindow
from launch_control.store.db import Store

T0 = dt.datetime(2025, 6, 1, 9, 0, tzinfo=dt.UTC)


def record_launch(store: Store) -> None:
    """Step 1 (1 %): 6 healthy minutes. Step 2 (5 %): healthy, then 16.7 % canary errors from 09:08."""
    for k in range(12):
        at = T0 + dt.timedelta(minutes=k)
        step = 0 if k < 6 else 1
        canary = VersionWindow(requests=30, errors=0, latency_p95=0.41) if step == 0 else VersionWindow(
            requests=150, errors=1 if k < 8 else 25, latency_p95=0.42
        )
        observation = Observation(at=at, interval=60, stable=VersionWindow(requests=3000, errors=30, latency_p95=0.4),
                                  canary=canary)
        store.record_samples(observation.samples())
        store.record_decision("pass", "recorded pass", step=step, weight=[1.0, 5.0][step],
                              at=at + dt.timedelta(seconds=0.5))


def test_replay_from_store(store, plan):
    record_launch(store)
    rows, decisions = rows_from_store(store)
    steps = replay(plan.analysis, rows, decisions)
    assert [(s.step, s.weight, s.recorded_intervals) for s in steps] == [(0, 1.0, 6), (1, 5.0, 6)]
    assert steps[0].counts() == {"pass": 6, "hold": 0, "fail": 0} and steps[0].stopped is None
    at, verdict = steps[1].first_flag("rollback")
    assert at == T0 + dt.timedelta(minutes=8)
    assert verdict.reason.startswith("canary error rate 16.7% > 10% (SEV-2)")
    assert steps[1].stopped == "rollback" and len(steps[1].verdicts) == 3
    assert len(steps[1].recorded) == 6


def test_override_validates(plan):
    for setting, message in (("nope=1", "analysis has no setting 'nope'"), ("alpha", "write KEY=VALUE"),
                             ("sequential.nope=1", "no setting 'sequential.nope'")):
        with pytest.raises(UsageError, match=message):
            override(plan.analysis, [setting])
    changed = override(plan.analysis, ["sequential.alpha=0.01", "failure_limit=3", "metrics.error_rate.sev2=8%"])
    assert changed.sequential.alpha == 0.01 and changed.failure_limit == 3
    assert changed.metrics["error_rate"].sev2 == 0.08


def _cli_store(cli_env) -> Store:
    return Store(f"sqlite:///{Path(cli_env['LAUNCH_CONTROL_DATA_DIR']) / 'launch-control.db'}",
                 launch_id="promptforge-v3")


@pytest.mark.slow  # seven CLI runs at ~1.5 s each
def test_backtest_cli_on_the_store_and_on_exported_files(cli, cli_env, tmp_path):
    store = _cli_store(cli_env)
    record_launch(store)
    store.close()
    result = cli("backtest")
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())  # rich wraps lines
    assert "step 1 (1%): judged 6 of 6 recorded intervals 09:00:00–09:05:00 — 6 pass, 0 hold, 0 fail" in out
    assert "would hold to the end of the recorded data without rolling back" in out
    assert "step 2 (5%): judged 3 of 6 recorded intervals" in out
    assert "would roll back at 09:08:00: canary error rate 16.7% > 10% (SEV-2)" in out
    assert "recorded: 6 pass; last: recorded pass" in out

    stricter = cli("backtest", "--set", "failure_limit=3", "--set", "sequential.enabled=false", "--every")
    assert stricter.returncode == 0, stricter.stderr
    text = " ".join(stricter.stdout.split())
    assert "09:08:00 fail canary error rate 16.7% > 10% (SEV-2)" in text and "1 of 3 intervals" in text
    assert "would roll back at 09:10:00" in text and "3 of 3 intervals" in text  # two minutes later

    for name in ("samples.csv", "samples.json"):
        path = tmp_path / name
        exported = cli("export-samples", "--out", str(path))
        assert exported.returncode == 0, exported.stderr
        assert "wrote 144 samples of launch promptforge-v3" in exported.stdout
        replayed = cli("backtest", "--samples", str(path))
        assert replayed.returncode == 0, replayed.stderr
        again = " ".join(replayed.stdout.split())
        assert "would roll back at 09:08:00: canary error rate 16.7% > 10% (SEV-2)" in again
        assert "step 1 (1%): judged 6 of 6" in again
    data = json.loads((tmp_path / "samples.json").read_text())
    assert len(data["decisions"]) == 12 and data["samples"][0]["step"] == 0
    rows, decisions = load_samples_file(tmp_path / "samples.json")
    assert len(rows) == 144 and len(decisions) == 12

    as_json = cli("backtest", "--json")
    steps = json.loads(as_json.stdout)["steps"]
    assert steps[1]["rollback"]["at"] == "2025-06-01T09:08:00+00:00" and steps[1]["counts"]["fail"] == 1


def test_backtest_cli_bad_input(cli, cli_env, tmp_path):
    empty = cli("backtest")
    assert empty.returncode == 2 and "no recorded samples in launch promptforge-v3" in empty.stderr
    missing = cli("backtest", "--samples", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("at,version,metric,value\n2025-06-01T09:00:00+00:00,canary,requests,lots\n")
    result = cli("backtest", "--samples", str(bad))
    assert result.returncode == 2 and "line 2: value must be a number, got 'lots'" in result.stderr
    wrong_role = tmp_path / "role.json"
    wrong_role.write_text(json.dumps([{"at": "2025-06-01T09:00:00Z", "version": "v3", "metric": "requests",
                                       "value": 1}]))
    result = cli("backtest", "--samples", str(wrong_role))
    assert result.returncode == 2 and "version must be one of stable, canary" in result.stderr
    store = _cli_store(cli_env)
    record_launch(store)
    store.close()
    result = cli("backtest", "--set", "sequential.alpha=2")
    assert result.returncode == 2 and "the analysis settings are not valid" in result.stderr, result.stderr
    result = cli("export-samples", "--out", str(tmp_path / "x.txt"))
    assert result.returncode == 2 and "give a file ending in .csv or .json" in result.stderr
    assert "Traceback" not in result.stderr


def _lognormal_histogram(rng, n: int, scale: float) -> list[tuple[float, int]]:
    import math

    import numpy as np

    from launch_control.plane.gateway.app import LATENCY_BUCKETS

    latencies = 0.3 * scale * np.exp(0.5 * rng.standard_normal(n))
    return [(b, int(np.sum(latencies <= b))) for b in LATENCY_BUCKETS] + [(math.inf, n)]


def record_slow_launch(store: Store, *, histograms: bool = True) -> None:
    """One 5 % step: no errors, canary every request 40 % slower — p95 0.95 s vs 0.68 s, under
    every SEV latency limit and compare-to-stable's ratio; only the latency histograms show it."""
    import numpy as np

    rng = np.random.default_rng(5)
    for k in range(20):
        at = T0 + dt.timedelta(minutes=k)
        stable = VersionWindow(requests=2850, latency_p95=0.68, latency_buckets=_lognormal_histogram(rng, 2850, 1.0))
        canary = VersionWindow(requests=150, latency_p95=0.95, latency_buckets=_lognormal_histogram(rng, 150, 1.4))
        observation = Observation(at=at, interval=60, stable=stable, canary=canary)
        store.record_samples(observation.samples(histograms=histograms))
        store.record_decision("pass", "recorded pass", step=1, weight=5.0, at=at + dt.timedelta(seconds=0.5))


def test_replay_uses_the_recorded_latency_histograms(store, plan, tmp_path):
    from launch_control.ramp.backtest import export_samples

    record_slow_launch(store)
    rows, decisions = rows_from_store(store)
    assert any(r.metric.startswith("latency_le_") for r in rows)
    assert len(rows) < 20 * 2 * 40  # only the informative bounds are stored, not all 52 per version
    steps = replay(plan.analysis, rows, decisions)
    at, verdict = steps[0].first_flag("rollback")
    assert verdict.details["failed_by"] == ["sequential"] and verdict.details["metric"] == "latency"
    assert "sequential test: canary latency more than 20% and 5 ms worse than stable" in verdict.reason
    assert at < T0 + dt.timedelta(minutes=10)
    # the same replay from an exported CSV file
    path = tmp_path / "slow.csv"
    export_samples(store, path)
    file_rows, file_decisions = load_samples_file(path)
    again = replay(plan.analysis, file_rows, file_decisions)
    assert again[0].first_flag("rollback")[0] == at


def test_replay_without_histograms_cannot_see_a_latency_shift(store, plan):
    record_slow_launch(store, histograms=False)  # what post-launch monitoring stores
    rows, decisions = rows_from_store(store)
    assert not any(r.metric.startswith("latency_le_") for r in rows)
    steps = replay(plan.analysis, rows, decisions)
    assert steps[0].first_flag("rollback") is None
