"""``kill -9`` of ``launch-control up`` / ``demo`` leaves no process behind: the watchdog
(``launch_control.web.reaper``) stops every child process group — grandchildren included — when
the parent dies without running a single line of cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from launch_control.web.servers import free_port

LAUNCH = str(Path(sys.executable).parent / "launch-control")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing


def wait_file(path: Path, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the command exited early with {proc.returncode}"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.2)
    raise AssertionError(f"{path} did not appear within {timeout:g} s")


def kill_and_check(proc: subprocess.Popen, expected: set[int], timeout: float = 10.0) -> None:
    watched = descendants(proc.pid) | expected
    children = {pid for pid in watched if alive(pid)}
    reaper = {pid for pid in children if b"launch_control.web.reaper" in Path(f"/proc/{pid}/cmdline").read_bytes()}
    assert expected <= children, f"expected children {expected} not all running: {children}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.1)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:80] for pid in children if alive(pid)}
    assert not left, f"left running after kill -9 of the parent: {left}"
    assert reaper, "the watchdog should have been running"


@pytest.mark.timeout(120)
def test_kill_9_of_up_leaves_nothing_running(cli_env) -> None:
    ports = {name: free_port() for name in ("gateway", "stable", "canary", "model")}
    argv = [LAUNCH, "up", "--load", "5"] + [x for name, port in ports.items() for x in (f"--{name}-port", str(port))]
    proc = subprocess.Popen(argv, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        state = wait_file(Path(cli_env["LAUNCH_CONTROL_DATA_DIR"]) / "stack.json", proc, 60)
        time.sleep(0.5)  # the load generator starts right after the stack
        kill_and_check(proc, set(state["processes"].values()))
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.timeout(150)
def test_kill_9_of_demo_leaves_nothing_running(cli_env) -> None:
    argv = [LAUNCH, "demo", "--no-prefect", "--no-console", "--free-ports", "--minutes", "5"]
    proc = subprocess.Popen(argv, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        state = wait_file(Path(cli_env["LAUNCH_CONTROL_DATA_DIR"]) / "stack.json", proc, 90)
        time.sleep(1.0)  # the load generator, the plan, the ramp
        kill_and_check(proc, set(state["processes"].values()))
    finally:
        if proc.poll() is None:
            proc.kill()


def test_grandchildren_in_a_child_group_die_too(tmp_path) -> None:
    """A child that starts its own children (as Prefect's server does): the whole group goes."""
    script = textwrap.dedent(
        """
        import sys, time
        from launch_control.web.servers import ChildProcess
        ChildProcess(["sh", "-c", "sleep 120 & sleep 120 & wait"])
        print("ready", flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sleeps = {p for p in descendants(proc.pid) if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"sleep")}
            if len(sleeps) == 2:
                break
            time.sleep(0.05)
        assert len(sleeps) == 2
        kill_and_check(proc, sleeps)
    finally:
        if proc.poll() is None:
            proc.kill()
