"""The gateway with ``--workers 2``: one split, one weight and one set of metrics across worker
processes, and a supervisor that restarts a killed worker. Real processes, real sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_gateway_proxy import requests_by

from launch_control.plane.demo.loadgen import run
from launch_control.plane.gateway.split import choose
from launch_control.web.servers import ChildProcess, ServerThread, free_port, wait_for_http

TOKEN = "workers-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _hello(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def gateway_workers(tmp_path: Path, *extra: str, env: dict[str, str] | None = None):
    """A 2-worker gateway in front of two trivial upstreams: (url, supervisor process)."""
    with ServerThread(_hello) as stable, ServerThread(_hello) as canary:
        port = free_port()
        argv = [sys.executable, "-m", "launch_control.plane.gateway", "--workers", "2", "--port", str(port)]
        argv += ["--upstream", f"v2.9.0={stable.url}", "--upstream", f"v3.0.0={canary.url}"]
        argv += ["--stable", "v2.9.0", "--canary", "v3.0.0", "--canary-weight", "5", *extra]
        env = {
            **os.environ,
            "LAUNCH_CONTROL_ADMIN_TOKEN": TOKEN,
            "LAUNCH_CONTROL_DATA_DIR": str(tmp_path),
            **(env or {}),
        }
        log = open(tmp_path / "gateway.log", "wb")  # noqa: SIM115 - closed below
        gateway = ChildProcess(argv, env=env, stdout=log, stderr=log, name="gateway")
        url = f"http://127.0.0.1:{port}"
        try:
            assert wait_for_http(url + "/health", timeout=30, expect=200), (tmp_path / "gateway.log").read_text()
            for _, client in by_worker(url).values():  # both workers answer before the test starts
                client.close()
            yield url, gateway
        finally:
            gateway.stop()
            log.close()


@pytest.fixture
def workers(tmp_path) -> Iterator[tuple[str, ChildProcess]]:
    with gateway_workers(tmp_path) as plane:
        yield plane


def by_worker(url: str, want: int = 2, timeout: float = 20.0) -> dict[int, tuple[int, httpx.Client]]:
    """One keep-alive client per worker: {worker index: (pid, client on a connection to it)}."""
    found: dict[int, tuple[int, httpx.Client]] = {}
    deadline = time.monotonic() + timeout
    while len(found) < want and time.monotonic() < deadline:
        client = httpx.Client(base_url=url, headers=AUTH, timeout=5, limits=httpx.Limits(max_connections=1))
        try:
            worker = client.get("/admin/health").json()["worker"]
        except (httpx.HTTPError, KeyError, ValueError):
            client.close()
            time.sleep(0.1)
            continue
        if worker["index"] in found:
            client.close()
        else:
            found[worker["index"]] = (worker["pid"], client)
    assert len(found) == want, f"only workers {sorted(found)} answered within {timeout} s"
    return found


def test_two_workers_split_20000_requests_from_2000_orgs_stickily_and_count_them_all(workers):
    url, _ = workers
    summary = run(url, rps=1500, count=20_000, orgs=2000, org_order="cycle", max_in_flight=20_000, timeout=120)
    assert summary.requests == 20_000 and summary.skipped == 0
    assert summary.statuses == {"200": 20_000}, summary.to_dict()
    seen = summary.to_dict()["versions"]
    share = seen["canary"]["requests"] / 20_000 * 100
    assert 4.0 <= share <= 6.0, share
    assert summary.orgs_on_both == []  # every org on one version, whichever worker
    expected = sum(1 for i in range(2000) if choose(f"org-{i:04d}", 5) == "canary") * 10
    assert seen["canary"]["requests"] == expected  # the very orgs the bucket function puts on the canary
    # /metrics (whichever worker answers) sums both workers' counters: exactly what the client saw
    for _ in range(4):
        metrics = requests_by(httpx.get(url + "/metrics", timeout=5).text)
        assert metrics == {("stable", "200"): seen["stable"]["requests"], ("canary", "200"): seen["canary"]["requests"]}


def test_a_weight_change_through_one_worker_is_served_by_every_worker_within_100_ms(workers):
    url, _ = workers
    clients = by_worker(url)
    try:
        org = next(f"org-{i}" for i in range(10_000) if choose(f"org-{i}", 5) == "stable")
        for weight, role in ((100, "canary"), (0, "stable"), (100, "canary")):
            writer = clients[0][1]
            answer = writer.put("/admin/weights", json={"canary": weight})
            changed = time.monotonic()
            assert answer.json() == {"stable": 100.0 - weight, "canary": float(weight)}  # read back from shared state
            for index, (_, client) in clients.items():
                served = client.get("/hello", headers={"X-Org-Id": org}).headers["x-served-by"]
                assert served == role, (index, weight)
                assert client.get("/admin/weights").json()["canary"] == weight
            assert time.monotonic() - changed < 0.1
    finally:
        for _, client in clients.values():
            client.close()


def test_killing_a_worker_leaves_the_other_serving_and_the_supervisor_restarts_it(workers):
    url, gateway = workers
    clients = by_worker(url)
    pids = {index: pid for index, (pid, _) in clients.items()}
    for _, client in clients.values():
        client.close()
    before = sum(requests_by(httpx.get(url + "/metrics", timeout=5).text).values())
    os.kill(pids[0], signal.SIGKILL)
    time.sleep(0.2)  # the killed worker's socket leaves the port's group
    statuses = [httpx.get(url + "/hello", headers={"X-Org-Id": f"o{i}"}, timeout=5).status_code for i in range(50)]
    assert statuses == [200] * 50  # fresh connections each: all served by the live worker
    assert gateway.alive()
    deadline = time.monotonic() + 20
    restarted = None
    while time.monotonic() < deadline:
        found = by_worker(url, timeout=20)
        restarted = found[0][0]
        for _, client in found.values():
            client.close()
        if restarted != pids[0]:
            break
    assert restarted is not None and restarted != pids[0], "worker 0 was not restarted"
    after = sum(requests_by(httpx.get(url + "/metrics", timeout=5).text).values())
    assert after >= before + 50  # counters carry on across the restart (the slot is kept)


def _tight_plan(tmp_path: Path) -> Path:
    """The shipped plan with /api/analytics at 60/min, burst 9: 10 admitted at once, then 1 a second."""
    text = (Path(__file__).resolve().parents[2] / "checklist" / "promptforge-v3.yaml").read_text()
    shipped = "{name: analytics, path: /api/analytics, limit: 120/min, burst: 20, methods: [GET]}"
    assert shipped in text
    plan = tmp_path / "plan.yaml"
    plan.write_text(text.replace(shipped, shipped.replace("120/min, burst: 20", "60/min, burst: 9")))
    return plan


def _admitted(url: str, org: str, count: int) -> tuple[int, float]:
    """(requests admitted, seconds taken) for ``count`` requests of ``org``, each on a new connection."""
    started = time.monotonic()
    statuses = [
        httpx.get(url + "/api/analytics", headers={"X-Org-Id": org}, timeout=5).status_code for _ in range(count)
    ]
    assert set(statuses) <= {200, 429}, statuses
    return statuses.count(200), time.monotonic() - started


def test_rate_limits_are_exact_per_org_across_workers_with_redis(tmp_path, redis_url):
    with gateway_workers(
        tmp_path, "--plan", str(_tight_plan(tmp_path)), env={"LAUNCH_CONTROL_REDIS_URL": redis_url}
    ) as (
        url,
        _,
    ):
        admitted, seconds = _admitted(url, f"rl-{uuid.uuid4().hex[:12]}", 30)
    # burst + 1 at once, then one a second — shared by both workers (each alone would admit 10 more)
    assert 10 <= admitted <= 10 + int(seconds) + 1, (admitted, seconds)


def test_memory_limits_give_each_worker_its_share(tmp_path):
    with gateway_workers(tmp_path, "--plan", str(_tight_plan(tmp_path))) as (url, _):
        admitted, seconds = _admitted(url, "rl-memory-org", 30)
    # each of 2 workers: 30/min, burst 4 → 5 at once; together about the plan's 10, never 2 × 10
    assert admitted <= 10 + 2 * (int(seconds) + 1), (admitted, seconds)
    assert admitted >= 5
