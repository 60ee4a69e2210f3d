"""``launch-control up`` as a user runs it: starts the plane, answers, and Ctrl-C / SIGTERM stop
everything — every child process gone, every port free."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from launch_control.web.servers import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)])
def test_up_starts_and_stops_cleanly(cli_env, tmp_path, sig, workers):
    ports = {name: free_port() for name in ("gateway", "stable", "canary", "model")}
    argv = [str(Path(sys.executable).parent / "launch-control"), "up", "--canary-weight", "20", "--load", "50"]
    argv += ["--workers", str(workers)]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    proc = subprocess.Popen(
        argv, env=cli_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("ready"):
                break
        assert lines and lines[-1].startswith("ready"), "".join(lines) + proc.stderr.read()
        output = "".join(lines)
        assert f"http://127.0.0.1:{ports['gateway']}" in output and "v3.0.0" in output

        state = json.loads((Path(cli_env["LAUNCH_CONTROL_DATA_DIR"]) / "stack.json").read_text())
        pids = list(state["processes"].values())
        assert set(state["processes"]) == {"model", "stable", "canary", "gateway"}
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        health = httpx.get(gateway + "/health", timeout=5).json()
        assert health["status"] == "ok" and health["weights"] == {"stable": 80.0, "canary": 20.0}
        time.sleep(1.0)  # let the load generator send some requests
        assert "launch_gateway_requests_total" in httpx.get(gateway + "/metrics", timeout=5).text
        token = (Path(cli_env["LAUNCH_CONTROL_DATA_DIR"]) / "admin-token").read_text().strip()
        weights = httpx.get(gateway + "/admin/weights", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert weights.status_code == 200
        if workers > 1:  # every worker process answers, and each is stopped with the rest
            seen: dict[int, int] = {}
            deadline = time.monotonic() + 20
            while len(seen) < workers and time.monotonic() < deadline:
                with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5) as fresh:
                    health = fresh.get(gateway + "/admin/health").json()
                assert health["workers"] == workers
                seen[health["worker"]["index"]] = health["worker"]["pid"]
            assert len(seen) == workers, seen
            pids += list(seen.values())

        os.killpg(proc.pid, sig)  # what Ctrl-C in a terminal does: the signal to the foreground group
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, out + err
        assert "ports freed" in out and "Traceback" not in err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert all(_gone(pid) for pid in pids)
    assert not any(port_open("127.0.0.1", port) for port in ports.values())
    assert not (Path(cli_env["LAUNCH_CONTROL_DATA_DIR"]) / "stack.json").exists()


def test_up_refuses_a_busy_port(cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        result = cli("up", "--gateway-port", str(port), "--stable-port", str(free_port()))
    assert result.returncode == 2
    assert "already in use" in result.stderr and str(port) in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 15


def test_up_refuses_bad_arguments(cli):
    result = cli("up", "--load", "0")
    assert result.returncode == 2 and "--load" in result.stderr
    result = cli("up", "--canary-weight", "150")
    assert result.returncode == 2 and "0-100" in result.stderr
