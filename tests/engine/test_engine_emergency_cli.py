"""``emergency-rollback`` as a person types it: verbatim invocations, stage lines, exit status,
and no prefect / streamlit / pandas / scipy / pybreaker on the emergency path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from engine_helpers import health_app

from launch_control.plan.model import dump_plan
from launch_control.web.servers import ServerThread

HEAVY = ("prefect", "streamlit", "pandas", "scipy", "pybreaker")


@pytest.fixture
def health():
    state: dict = {"status": 200}
    with ServerThread(health_app(state)) as server:
        state["url"] = server.url + "/health"
        yield state


@pytest.fixture
def plan_file(plan, health, tmp_path):
    data = dump_plan(plan)
    data["rollback"].update(
        ttr_budget="3s",
        router={"type": "noop"},
        deployer={"type": "noop"},
        health_checks=[{"name": "gateway-health", "url": health["url"]}],
    )
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def env(cli_env, plan_file):
    return {**cli_env, "LAUNCH_CONTROL_PLAN": str(plan_file)}


def run(entry_args, env, entry="emergency-rollback"):
    from pathlib import Path

    script = Path(sys.executable).parent / entry
    return subprocess.run([str(script), *entry_args], env=env, capture_output=True, text=True, timeout=60)


def test_reason_only_verbatim(env):
    done = run(["Critical issue detected"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for stage in ("trigger", "traffic", "deploy", "verify", "notify"):
        assert stage in out
    assert "TTR" in out and "Critical issue detected" in out and "v2.9.0" in out


def test_version_and_reason_verbatim(env):
    done = run(["v2.9.0", "Rollback to stable version"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "→ v2.9.0: Rollback to stable version" in done.stdout
    status = run(["--status"], env, entry="launch-control")
    assert "last rollback" in status.stdout and "Rollback to stable version" in status.stdout


def test_failed_verification_exits_non_zero(env, health):
    health["status"] = 500
    done = run(["Critical issue detected"], env)
    assert done.returncode == 1
    assert "ROLLBACK FAILED" in done.stdout and "500" in done.stdout


def test_bad_input_exits_2(env):
    done = run(["v2.9.0", "too", "many words"], env)
    assert done.returncode == 2 and "quote the reason" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_emergency_path_imports_no_prefect_streamlit_or_pandas(env):
    code = (
        "import sys, json\n"
        "from launch_control.cli import _guarded\n"
        "from launch_control.commands.emergency import run_emergency\n"
        "rc = _guarded(lambda: run_emergency(['Critical issue detected']))\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print('RESULT', json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.split(" ", 1)[1])
    assert result == {"rc": 0, "heavy": []}
    # and python -X importtime agrees, for the real entry point
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c",
         "from launch_control.cli import emergency_main; emergency_main(['Critical issue detected'])"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert timed.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in timed.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY)
