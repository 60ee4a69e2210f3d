"""The front ends agree: --status, --monitor and the console show one figure for time left
(before and during a pause); each operation writes the same audit action whichever front end
performs it; and importing the core (even with every CLI command registered) pulls in neither
prefect nor streamlit nor plotly, and no module of the core imports them, not even inside a function."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from launch_control.control import operations as ops
from launch_control.store.db import Store
from launch_control.web.auth import User

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def quiet_plan(tmp_path, monkeypatch):
    """The shipped plan with the dry-run noop router and no notification channels."""
    from launch_control.plan.model import DEFAULT_PLAN
    from launch_control.store.lastgood import load_plan

    data = yaml.safe_load(DEFAULT_PLAN.read_text())
    data["rollback"]["router"] = {"type": "noop"}
    data["notifications"]["channels"] = []
    data["rollback"]["notify"] = []
    data.pop("incident_response", None)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{tmp_path / 'fronts.db'}"
    monkeypatch.setenv("LAUNCH_CONTROL_PLAN", str(path))
    monkeypatch.setenv("LAUNCH_CONTROL_DATABASE_URL", url)
    monkeypatch.setenv("LAUNCH_CONTROL_CONSOLE_REFRESH", "0")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    plan = load_plan(path)
    return plan, Store(url, launch_id=plan.launch_id)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAUNCH_CONTROL_ACTOR": "cli:priya"}
    script = Path(sys.executable).parent / "launch-control"
    done = subprocess.run([str(script), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def console_overview():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "console" / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return "\n".join(m.value for m in at.markdown)  # the page header: "hold: 59m48s left"


LEFT = re.compile(r"(\d+m\d+s|\d+s) (?:of green time )?left")


def test_status_monitor_and_console_show_the_same_time_left_before_and_during_a_pause(quiet_plan):
    import time

    plan, store = quiet_plan
    evidence = {"step": 1, "green_seconds": 12.0, "intervals": 12, "passes": 12}
    extra = {"time_scale": 1, "evidence": evidence}
    store.update_state(phase="ramping", current_step=1, canary_weight=5.0, extra=extra)
    figures = []
    for moment in ("before", "during"):
        if moment == "during":
            ops.pause(ops.Control(plan, store), ops.Actor("lena", "console"), "looking at a latency bump")
            time.sleep(1.5)  # a paused hold does not count down
        status = cli("--status").stdout
        monitor = cli("monitor", "--once").stdout
        console = console_overview()
        seen = [LEFT.search(text) for text in (status, monitor, console)]
        assert all(seen), (status, monitor, console)
        figures.append({m.group(1) for m in seen})
        if moment == "during":
            assert all("frozen while paused" in text for text in (status, monitor, console))
    assert figures == [{"59m48s"}, {"59m48s"}], figures  # 1 h hold − 12 s green, the same everywhere


def _actions_of(store: Store, since_id: int) -> list[str]:
    # (the dry-run noop router records its own "router.noop.set_weight": the adapter, not the operation)
    return sorted(e["action"] for e in store.events(limit=None)
                  if e["id"] > since_id and not e["action"].startswith("router."))  # fmt: skip


def _last_id(store: Store) -> int:
    events = store.events(limit=1)
    return events[0]["id"] if events else 0


def test_each_operation_writes_one_audit_name_from_every_front_end(quiet_plan):
    from launch_control.console.lib import controls

    plan, store = quiet_plan
    lena = User("lena", "lead")
    store.update_state(phase="ramping", current_step=1, canary_weight=5.0)
    first = store.open_incident("SEV-3", "canary:latency", "slow", "engine")
    second = store.open_incident("SEV-3", "canary:errors", "errors", "engine")
    from_cli = {
        "pause": lambda: cli("--reason", "hold on", "pause"),
        "resume": lambda: cli("--reason", "go on", "resume"),
        "set_traffic": lambda: cli("--traffic", "5", "--yes", "--reason", "back to the step"),
        "ack_incident": lambda: cli("incident", "ack", str(first), "--wait", "0"),
        "resolve_incident": lambda: cli("incident", "resolve", str(first), "--note", "fixed", "--wait", "0"),
    }
    from_console = {
        "pause": lambda: controls.set_paused(plan, store, lena, True, "hold on"),
        "resume": lambda: controls.set_paused(plan, store, lena, False, "go on"),
        "set_traffic": lambda: controls.set_traffic(plan, store, lena, 5.0, "back to the step"),
        "ack_incident": lambda: controls.ack_incident(plan, store, lena, second),
        "resolve_incident": lambda: controls.resolve_incident(plan, store, lena, second, "fixed"),
    }
    seen: dict[str, list[list[str]]] = {op: [] for op in from_cli}
    for front in (from_cli, from_console):  # each front end runs the whole sequence
        for op, act in front.items():
            before = _last_id(store)
            result = act()
            assert getattr(result, "ok", True), result
            seen[op].append(_actions_of(store, before))
    for op, (by_cli, by_console) in seen.items():
        assert by_cli == by_console == [ops.ACTIONS[op]], (op, by_cli, by_console)
    actors = {e["actor"] for e in store.events(action="launch.pause")}
    vias = {e["details"]["via"] for e in store.events(action="launch.pause")}
    assert actors == {"cli:priya", "lena"} and vias == {"cli", "console"}


FRONT_END_LIBRARIES = ("prefect", "streamlit", "plotly")  # the flows' and the console's, never the core's


def test_importing_the_core_and_every_command_pulls_in_neither_prefect_nor_streamlit():
    # console/ and flows/ install as launch_control.console / launch_control.flows: layers over the
    # core that the core never imports (the flows only through control/seams.py, at run time)
    layers = ("launch_control.console", "launch_control.flows")
    code = "import launch_control, launch_control.commands"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    modules = {name.split(".")[0] for name in names}
    assert "launch_control" in modules
    assert not modules & set(FRONT_END_LIBRARIES), sorted(modules & set(FRONT_END_LIBRARIES))
    assert not [n for n in names if n.startswith(layers)], sorted(n for n in names if n.startswith(layers))
    # and with every command module registered (what each CLI start imports)
    code = ("import sys; from launch_control.cli import build_parser; build_parser(); "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FRONT_END_LIBRARIES} "
            f"or m.startswith({layers})); "
            "print(bad); sys.exit(1 if bad else 0)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_module_of_the_core_imports_prefect_streamlit_or_plotly():
    # Read, not imported: a function-local import (a chart built only when the report asks) counts too.
    # plotly's figures are the console's (console/lib/charts.py); the report draws its SVG without it.
    found = []
    for path in sorted((ROOT / "launch_control").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FRONT_END_LIBRARIES]
    assert found == []
    assert (ROOT / "launch_control" / "review" / "svg_charts.py").is_file()  # the walk reached the review room


def test_preflight_from_the_cli_runs_as_a_timeline_stage(quiet_plan, capsys):
    # `launch-control preflight` imported run_stage from where it no longer lives (mypy found it).
    from launch_control import cli as lc_cli

    plan, store = quiet_plan
    code = lc_cli.run(["preflight"])
    out = capsys.readouterr().out
    assert code == 1 and "preflight FAILED" in out  # nothing listens on the plan's health URL
    marked = [e["status"] for e in store.timeline_events()]  # the plan's timeline entry of action preflight
    assert marked == ["running", "failed"], store.timeline_events()
