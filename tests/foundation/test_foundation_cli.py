"""The CLI as a user runs it: exit codes, messages, and a fast --status with no heavy imports."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import yaml

from launch_control.plan.model import DEFAULT_PLAN


def test_status_on_a_fresh_store(cli):
    result = cli("--status")
    assert result.returncode == 0, result.stderr
    assert "PromptForge v3.0.0" in result.stdout and "phase:   planned" in result.stdout
    assert "canary v3.0.0 0%" in result.stdout and "incidents: none open" in result.stdout


def test_status_imports_nothing_heavy(cli_env):
    """--status must answer at once: prefect, streamlit, pandas, scipy and pybreaker stay unimported."""
    code = (
        "import sys; from launch_control.cli import run; run(['--status']); "
        "heavy = [m for m in ('prefect', 'streamlit', 'pandas', 'plotly', 'scipy', 'pybreaker') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_status_reflects_the_store(cli, cli_env):
    from launch_control.store.db import Store

    store = Store(launch_id="promptforge-v3")
    store.update_state(phase="ramping", current_step=1, canary_weight=5.0)
    store.open_incident("SEV-2", "canary.error_rate", "errors", "auto")
    result = cli("--status")
    assert "canary v3.0.0 5%" in result.stdout and "step:    2 of 4 (5%)" in result.stdout
    assert "1 open" in result.stdout and "SEV-2" in result.stdout


def test_traffic_out_of_range_or_not_a_number_exits_2(cli):
    for bad in ("150", "abc", "-5"):
        result = cli("--traffic", bad)
        assert result.returncode == 2, (bad, result.stdout, result.stderr)
        assert "--traffic" in result.stderr and "Traceback" not in result.stderr


def test_plan_flags_parse(cli):
    # the plan's own invocations are accepted by the parser (their behaviour is tested where built)
    result = cli("--help")
    for flag in ("--status", "--validate", "--traffic", "--start-canary", "--monitor", "--plan"):
        assert flag in result.stdout


def test_plan_validate_ok_and_bad(cli, tmp_path: Path):
    ok = cli("plan", "validate", str(DEFAULT_PLAN))
    assert ok.returncode == 0 and "ok" in ok.stdout and "1% → 5% → 25% → 100%" in ok.stdout
    data = yaml.safe_load(DEFAULT_PLAN.read_text())
    broken = copy.deepcopy(data)
    broken["canary"]["steps"][1]["weight"] = "0.5%"
    bad = tmp_path / "bad-plan.yaml"
    bad.write_text(yaml.safe_dump(broken))
    result = cli("plan", "validate", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "canary.steps" in result.stderr and "must rise" in result.stderr
    assert "Traceback" not in result.stderr
    # the global --plan flag reaches every command
    status = cli("--plan", str(bad), "--status")
    assert status.returncode == 2 and "must rise" in status.stderr


def test_missing_plan_file(cli, tmp_path: Path):
    result = cli("--plan", str(tmp_path / "nope.yaml"), "--status")
    assert result.returncode == 2 and "no such file" in result.stderr


def test_plan_show(cli):
    result = cli("plan", "show")
    assert result.returncode == 0
    assert "Canary ramp" in result.stdout and "error_rate" in result.stdout and "America/Los_Angeles" in result.stdout
    as_json = cli("plan", "show", "--json")
    assert json.loads(as_json.stdout)["release"]["version"] == "v3.0.0"


def test_no_arguments_prints_usage_and_exits_2(cli):
    result = cli()
    assert result.returncode == 2 and "usage:" in result.stderr


def test_validate_judges_recorded_data(cli, cli_env):
    import datetime as dt

    from launch_control.store.db import Sample, Store, utcnow

    store = Store(launch_id="promptforge-v3")
    failing = cli("--validate")
    assert failing.returncode == 1 and "pending" in failing.stdout
    now = utcnow()
    rows = []
    for i in range(10):
        at = now - dt.timedelta(minutes=10 - i)
        rows += [
            Sample(at, "canary", "requests", 1000),
            Sample(at, "canary", "errors", 5),
            Sample(at, "canary", "latency_p95", 0.4),
            Sample(at, "stable", "availability", 1.0),
        ]
    store.record_samples(rows)
    rid = store.start_rollback(trigger="drill", reason="drill", actor="t", target_version="v2.9.0", started_at=now)
    store.update_rollback(rid, finished_at=now, verified_at=now, ttr_seconds=1.2, ok=True)
    passing = cli("--validate")
    assert passing.returncode == 0, passing.stdout
    assert "0.50%" in passing.stdout and "technical: pass" in passing.stdout
    store.record_samples([Sample(now, "canary", "latency_p95", 60.0) for _ in range(20)])
    assert cli("--validate").returncode == 1
