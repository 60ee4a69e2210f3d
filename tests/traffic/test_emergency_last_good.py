"""``emergency-rollback`` never depends on today's plan parsing, against a real gateway on loopback.

A plan that loaded once is kept compiled in the data directory (mode 0600: it holds the router's
token); when the file is later broken or gone, the rollback uses that copy, says so, and still
sends all traffic to stable, verified. With neither, it prints the manual command and exits 3.
An unchanged plan is read from the compiled copy, so the hot path imports no YAML, pydantic,
SQLAlchemy or httpx. A rollback that did not verify keeps no verified time and no TTR.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from launch_control.plan.model import dump_plan

HEAVY_FOR_THE_HOT_PATH = ("sqlalchemy", "pydantic", "httpx", "yaml", "prefect", "streamlit", "pandas")


@pytest.fixture
def setup(plan, traffic_plane, tmp_path, cli_env):
    gateway = traffic_plane.gateway_url
    data = dump_plan(plan)
    data["notifications"]["channels"] = []
    for sev in data["incident_response"]["severities"].values():
        sev["notify"] = []
    data["rollback"].update(
        ttr_budget="10s",
        notify=[],
        router={"type": "gateway", "url": gateway, "token": traffic_plane.admin_token},
        deployer={"type": "gateway", "url": gateway, "token": traffic_plane.admin_token},
        health_checks=[{"name": "gateway-health", "url": gateway + "/health"}],
    )
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**cli_env, "LAUNCH_CONTROL_PLAN": str(path)}
    return traffic_plane, path, env


def cli(*args: str, env: dict[str, str], entry: str = "emergency-rollback") -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / entry
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=60)


def rollbacks(env: dict[str, str]) -> list[dict]:
    from launch_control.store.db import Store

    url = f"sqlite:///{Path(env['LAUNCH_CONTROL_DATA_DIR']) / 'launch-control.db'}"
    return Store(url, launch_id="promptforge-v3").rollbacks()


def break_weights(path: Path) -> None:
    text = path.read_text()
    broken = text.replace("weight: 5%", "weight: 3%").replace("weight: 25%", "weight: 2%")
    assert broken != text
    path.write_text(broken)


def test_a_broken_plan_after_a_good_one_still_rolls_back(setup):
    plane, path, env = setup
    assert cli("plan", "validate", env=env, entry="launch-control").returncode == 0  # the good plan, used once
    break_weights(path)
    assert cli("plan", "validate", env=env, entry="launch-control").returncode == 2  # really broken now
    plane.set_weight(25)

    done = cli("Critical issue detected", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "weights must rise" in done.stdout  # what is wrong with today's file, said plainly
    assert "USING THE LAST GOOD PLAN" in done.stdout and "used the last good plan" in done.stdout
    assert plane.gateway.canary_weight == 0.0  # traffic to stable
    last = rollbacks(env)[-1]
    assert last["ok"] is True and last["verified_at"] is not None and last["ttr_seconds"] > 0


def test_a_missing_plan_falls_back_too(setup):
    plane, path, env = setup
    assert cli("plan", "validate", env=env, entry="launch-control").returncode == 0
    path.unlink()
    plane.set_weight(25)
    done = cli("Critical issue detected", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no such file" in done.stdout and "USING THE LAST GOOD PLAN" in done.stdout
    assert plane.gateway.canary_weight == 0.0


def test_no_plan_and_no_copy_prints_the_manual_command(setup):
    plane, path, env = setup
    break_weights(path)  # broken before it ever loaded: nothing to fall back to
    plane.set_weight(25)
    done = cli("Critical issue detected", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "weights must rise" in done.stderr
    # the exact router call, for the router the (readable) plan names
    assert f"curl -fsS -X PUT {plane.gateway_url}/admin/weights" in done.stderr
    assert '{"canary": 0}' in done.stderr
    assert plane.gateway.canary_weight == 25.0  # it did not pretend to roll back


def test_the_compiled_copy_is_private_and_names_its_source(setup):
    _plane, path, env = setup
    assert cli("plan", "validate", env=env, entry="launch-control").returncode == 0
    folder = Path(env["LAUNCH_CONTROL_DATA_DIR"]) / "last-good"
    copies = sorted(folder.glob("*.json"))
    assert copies and stat.S_IMODE(folder.stat().st_mode) == 0o700
    import hashlib

    for copy in copies:
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # it holds the router's token
        data = json.loads(copy.read_text())
        assert data["source"] == str(path.resolve())
        assert data["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_unchanged_plan_takes_the_hot_path(setup):
    plane, _path, env = setup
    assert cli("Critical issue detected", env=env).returncode == 0  # first run: parses, keeps the copy
    plane.set_weight(25)
    code = "from launch_control.cli import emergency_main; emergency_main(['Critical issue detected'])"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY_FOR_THE_HOT_PATH), imported & set(HEAVY_FOR_THE_HOT_PATH)
    assert plane.gateway.canary_weight == 0.0
    # what the stdlib store wrote reads back through the real Store, row for row
    rows = rollbacks(env)
    assert len(rows) == 2 and rows[-1]["ok"] is True and rows[-1]["verified_at"].tzinfo is not None
    assert rows[-1]["details"]["stages"][1]["name"] == "traffic"
    from launch_control.store.db import Store

    url = f"sqlite:///{Path(env['LAUNCH_CONTROL_DATA_DIR']) / 'launch-control.db'}"
    state = Store(url, launch_id="promptforge-v3").state()
    assert state["phase"] == "rolled_back" and state["canary_weight"] == 0.0


def test_a_rollback_that_did_not_verify_has_no_ttr(setup):
    """Health answers, but the router cannot be reached: not verified, so no verified time, no TTR."""
    plane, path, env = setup
    data = yaml.safe_load(path.read_text())
    data["rollback"]["router"]["url"] = "http://127.0.0.1:9"  # nothing listens there
    data["rollback"]["ttr_budget"] = "2s"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = cli("Critical issue detected", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not verified after" in done.stdout and "curl -fsS -X PUT http://127.0.0.1:9/admin/weights" in done.stdout
    assert "✓ verify" not in done.stdout
    last = rollbacks(env)[-1]
    assert last["ok"] is False and last["verified_at"] is None and last["ttr_seconds"] is None
    status = cli("--status", env=env, entry="launch-control")
    assert status.returncode == 0 and "not verified after" in status.stdout, status.stdout + status.stderr
    for command in (["--validate"], ["report"]):
        judged = cli(*command, env=env, entry="launch-control")
        assert "Traceback" not in judged.stderr and "OverflowError" not in judged.stderr, judged.stderr
        assert judged.returncode in (0, 1), judged.stdout + judged.stderr
