"""Installed the way Python users install a tool: the wheel built from this checkout, installed into a
fresh venv outside it, runs ``--status``, ``plan validate``, ``plan show``, ``console --help`` and
``demo --help`` from there, with the shipped plan, runbook and templates read from site-packages and
the console's app file rendered by Streamlit from its installed location.

Kept fast and offline: the wheel is built with ``--no-build-isolation`` (the dev venv's setuptools),
and the fresh venv borrows the dev venv's dependencies through a ``.pth`` line instead of downloading
them; only ``launch-control`` itself is installed there, from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a source distribution of the project holds: the build must not read anything else.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "launch_control", "console", "flows", "checklist")
TEMPLATES = {"all-clear", "enterprise-email", "post-mortem", "status-check", "status-page", "war-room"}


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (a build in the checkout leaves build/ behind, whose
    stale files a later build would ship)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "-q", "-w", str(out), str(src)])  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("launch_control-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv outside the checkout with only launch-control installed (from the wheel)."""
    home = tmp_path_factory.mktemp("venv") / "tool"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(home)])
    assert made.returncode == 0, made.stderr
    python = home / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # the dev venv's dependencies, after the new venv's own site-packages (a plain path line: the dev
    # venv's .pth files, among them the editable install's finder, are not run)
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "dev-venv-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                      "-q", str(wheel)])  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return home


@pytest.fixture
def tool(venv, tmp_path):
    """Run a command of the installed tool from a directory outside the checkout, with its own data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCH_CONTROL_", "PYTHON"))}
    env.update(LAUNCH_CONTROL_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path), NO_COLOR="1", COLUMNS="120")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return _run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=tmp_path, env=env)

    return run


def test_the_wheel_ships_one_top_level_package_with_the_plan_runbook_templates_console_and_flows(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"launch_control"}
    assert not [n for n in names if n.startswith(("console/", "flows/", "checklist/"))]
    for shipped in ("checklist/promptforge-v3.yaml", "checklist/runbook.md", "console/app.py",
                    "console/pages/launch/overview.py", "console/lib/context.py", "flows/launch_day.py",
                    "flows/deployments.py", "protect/ratelimit/gcra.lua", "plane/demo/static/index.html"):  # fmt: skip
        assert f"launch_control/{shipped}" in names, shipped
    folder = "launch_control/checklist/templates/"
    assert {Path(n).name.removesuffix(".md.j2") for n in names if n.startswith(folder)} == TEMPLATES


def test_the_installed_tool_runs_status_and_plan_from_site_packages(tool, venv):
    status = tool("launch-control", "--status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "PromptForge" in status.stdout, status.stdout
    valid = tool("launch-control", "plan", "validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert str(venv) in valid.stdout and "promptforge-v3.yaml" in valid.stdout, valid.stdout
    show = tool("launch-control", "plan", "show")
    assert show.returncode == 0, show.stdout + show.stderr
    assert "PromptForge" in show.stdout and "checklist" in show.stdout.lower(), show.stdout
    for command in ("console", "demo"):
        helped = tool("launch-control", command, "--help")
        assert helped.returncode == 0, helped.stdout + helped.stderr
        assert f"usage: launch-control {command}" in helped.stdout, helped.stdout


def test_the_installed_package_data_and_layers_resolve_inside_the_venv(tool, venv):
    code = """
import importlib.resources, json, sys, launch_control
from launch_control.commands.console import app_path
from launch_control.control import seams
from launch_control.plan.model import DEFAULT_PLAN
from launch_control.store.lastgood import load_plan
from launch_control.respond.templates import find_template
plan = load_plan()
print(json.dumps({
    "package": launch_control.__file__,
    "plan": str(DEFAULT_PLAN),
    "resources": str(importlib.resources.files("launch_control.checklist") / "promptforge-v3.yaml"),
    "runbook": str(plan.resolve(plan.runbook)),
    "templates": [str(find_template(plan, name)) for name in sys.argv[1:]],
    "app": str(app_path()),
    "flows": seams.flows_part("deployments").__file__,
}))
"""
    done = tool("python", "-c", code, *sorted(TEMPLATES))
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    inside = str(venv.resolve())
    paths = [found[key] for key in ("package", "plan", "resources", "runbook", "app", "flows")] + found["templates"]
    for path in paths:
        assert str(Path(path).resolve()).startswith(inside), (path, inside)
        assert Path(path).is_file(), path
    assert str(ROOT) not in done.stdout
    assert found["plan"] == found["resources"]


def test_streamlit_renders_the_installed_console(tool):
    code = """
from streamlit.testing.v1 import AppTest
from launch_control.commands.console import app_path
at = AppTest.from_file(str(app_path()), default_timeout=60).run()
assert not at.exception, [e.value for e in at.exception]
print("TITLE", [t.value for t in at.title], "MARKDOWN", [m.value for m in at.markdown])
"""
    done = tool("python", "-c", code)
    assert done.returncode == 0, done.stdout + done.stderr
    # the default page (pages/launch/overview.py, beside the installed app.py) rendered the shipped plan
    assert "TITLE ['Launch overview']" in done.stdout and "Canary v3.0.0" in done.stdout, done.stdout
