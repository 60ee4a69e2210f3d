"""The haproxy router against a real Debian haproxy started here on free loopback ports, with two
real HTTP upstreams (tests/traffic/version_server.py, one process per version): the split moves
through the Runtime API with no reload, lands where it should, is sticky and monotone per org,
takes effect at once on a rollback, and a dead socket is a clear error."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from launch_control.errors import RouterError, UsageError
from launch_control.plane.traffic import TrafficRouter, build_router
from launch_control.plane.traffic.haproxy import Settings, config_fragment, threshold
from launch_control.web.servers import ChildProcess, free_port, port_open, wait_for_http

HAPROXY = os.environ.get("LAUNCH_CONTROL_TEST_HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"
SERVER = Path(__file__).with_name("version_server.py")
STABLE, CANARY = "v2.9.0", "v3.0.0"


def unavailable(request: pytest.FixtureRequest, reason: str) -> None:
    root_conftest = request.config.pluginmanager.get_plugin(str(Path(__file__).parents[1] / "conftest.py"))
    root_conftest.unavailable(reason)


@pytest.fixture(scope="module")
def upstreams():
    ports = {STABLE: free_port(), CANARY: free_port()}
    children = [ChildProcess([sys.executable, str(SERVER), str(port), version]) for version, port in ports.items()]
    try:
        for port in ports.values():
            assert wait_for_http(f"http://127.0.0.1:{port}/", timeout=20, expect=200)
        yield ports
    finally:
        for child in children:
            child.stop()


class HAProxy:
    def __init__(self, root: Path, upstreams: dict[str, int]):
        self.root = root
        self.port = free_port()
        self.socket = str(root / "admin.sock")
        self.map = root / "launch-canary.map"
        self.map.write_text("canary 0\n")
        self.settings = {"type": "haproxy", "socket": self.socket, "map_path": str(self.map)}
        fragment = config_fragment(Settings(socket=self.socket, map_path=str(self.map)))
        # the README's fragment, plus what a real config has around it: defaults, bind, backends
        fragment = fragment.replace("frontend launch\n", f"frontend launch\n    bind 127.0.0.1:{self.port}\n")
        fragment = fragment.replace("global\n", "global\n    nbthread 1\n")
        self.conf = root / "haproxy.cfg"
        self.conf.write_text(
            fragment.replace("\nfrontend", "\ndefaults\n    mode http\n    timeout connect 2s\n"
                             "    timeout client 30s\n    timeout server 30s\n\nfrontend")
            + f"\nbackend launch_stable\n    server s1 127.0.0.1:{upstreams[STABLE]}\n"
            + f"\nbackend launch_canary\n    server c1 127.0.0.1:{upstreams[CANARY]}\n"
        )
        self.process: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def router(self, **overrides: object):
        return build_router({**self.settings, **overrides})

    def start(self) -> None:
        log = open(self.root / "haproxy.log", "ab")  # noqa: SIM115 - closed when the process ends
        self.process = ChildProcess([HAPROXY, "-db", "-f", str(self.conf)], name="haproxy", stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not (port_open("127.0.0.1", self.port) and os.path.exists(self.socket)):
            if time.monotonic() > deadline or not self.process.alive():
                raise RuntimeError(f"haproxy did not start: {(self.root / 'haproxy.log').read_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@pytest.fixture
def haproxy(request, tmp_path, upstreams):
    if not (Path(HAPROXY).exists() or shutil.which(HAPROXY)):
        unavailable(request, f"haproxy not installed at {HAPROXY} (bash scripts/test-services.sh)")
    server = HAProxy(tmp_path, upstreams)
    server.start()
    yield server
    server.stop()


async def _served(url: str, orgs: list[str | None], connections: int = 32) -> list[str]:
    """The version that served each request, in order (keep-alive connections, many in flight)."""
    import aiohttp

    out: list[str] = [""] * len(orgs)
    queue = iter(range(len(orgs)))
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for i in queue:
                headers = {"X-Org-Id": orgs[i]} if orgs[i] else {}
                async with session.get(url, headers=headers) as response:
                    assert response.status == 200, await response.text()
                    await response.read()
                    out[i] = response.headers["X-Version"]

        await asyncio.gather(*(worker() for _ in range(connections)))
    return out


def served(url: str, orgs: list[str | None]) -> list[str]:
    return asyncio.run(_served(url, orgs))


ORGS = [f"org-{i:04d}" for i in range(2000)]


def on_canary(url: str, orgs: list[str]) -> set[str]:
    return {org for org, version in zip(orgs, served(url, orgs), strict=True) if version == CANARY}


def test_five_percent_of_20000_requests_from_2000_orgs_within_one_point_and_sticky(haproxy):
    router = haproxy.router()
    assert isinstance(router, TrafficRouter) and router.healthy()
    assert router.get_weight() == 0.0
    router.set_weight(5)
    assert router.get_weight() == 5.0
    requests = [ORGS[(i * 7919) % len(ORGS)] for i in range(20_000)]  # every org 10 times, interleaved
    versions = served(haproxy.url, requests)
    share = versions.count(CANARY) / len(versions) * 100
    print(f"haproxy 5 %: {share:.2f} % of {len(versions)} requests from {len(set(requests))} orgs on the canary")
    assert 4.0 <= share <= 6.0, f"{share:.2f} % on the canary"
    by_org: dict[str, set[str]] = {}
    for org, version in zip(requests, versions, strict=True):
        by_org.setdefault(org, set()).add(version)
    assert all(len(v) == 1 for v in by_org.values()), "an org was split across versions"
    # the map file on disk follows, so a reload keeps the split
    assert "canary 500" in haproxy.map.read_text()


def test_ramp_only_moves_orgs_onto_the_canary_without_a_reload(haproxy):
    router = haproxy.router()
    pid = haproxy.process.pid
    uptime_before = router.command("show info")
    seen: list[set[str]] = []
    for weight in (1, 5, 25, 50, 100):
        router.set_weight(weight)
        seen.append(on_canary(haproxy.url, ORGS))
        assert abs(len(seen[-1]) / len(ORGS) * 100 - weight) <= 2.5, (weight, len(seen[-1]))
    for before, after in zip(seen, seen[1:], strict=False):
        assert before < after, "an org left the canary while the weight rose"
    assert len(seen[-1]) == len(ORGS)
    # same process, same haproxy start: no reload happened
    assert haproxy.process.pid == pid and haproxy.process.alive()
    assert _field(router.command("show info"), "Pid") == _field(uptime_before, "Pid")
    assert _field(router.command("show info"), "Start_time_sec") == _field(uptime_before, "Start_time_sec")
    # requests without an org id are split per request
    router.set_weight(50)
    anonymous = Counter(served(haproxy.url, [None] * 400))
    assert anonymous[STABLE] > 120 and anonymous[CANARY] > 120


def _field(info: str, name: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith(f"{name}:"))


def test_rollback_to_zero_takes_effect_within_100_ms(haproxy):
    import http.client

    router = haproxy.router()
    router.set_weight(100)
    # one keep-alive connection opened before the change keeps working and sees the new split
    connection = http.client.HTTPConnection("127.0.0.1", haproxy.port, timeout=5)

    def version(org: str) -> str:
        connection.request("GET", "/", headers={"X-Org-Id": org})
        response = connection.getresponse()
        response.read()
        return response.getheader("X-Version")

    assert version("org-0001") == CANARY
    started = time.perf_counter()
    router.set_weight(0)
    first = version("org-0001")
    took = time.perf_counter() - started
    assert first == STABLE
    print(f"haproxy rollback to 0 %: next request on stable after {took * 1000:.1f} ms")
    assert took < 0.100, f"rollback took {took * 1000:.1f} ms"
    assert {version(org) for org in ORGS[:300]} == {STABLE}
    connection.close()
    assert router.get_weight() == 0.0


def test_a_map_without_the_entry_gets_it_added(haproxy):
    router = haproxy.router(persist=False)
    assert router.command(f"del map {haproxy.map} canary").strip() == ""
    with pytest.raises(RouterError, match="no 'canary' entry yet"):
        router.get_weight()
    router.set_weight(12.5)  # set map finds no entry: add map, still no reload
    assert router.get_weight() == 12.5
    assert haproxy.map.read_text() == "canary 0\n"  # persist: false leaves the file alone


def test_the_manual_fallback_command_works_on_the_real_haproxy(haproxy):
    from launch_control.store.lastgood import manual_steps

    router = haproxy.router()
    router.set_weight(40)
    steps = manual_steps(haproxy.settings)
    line = next(line for line in steps.splitlines() if "set map" in line)
    command = line.split("'")[1]
    assert command == f"set map {haproxy.map} canary 0" and f"socat stdio {haproxy.socket}" in line
    assert router.command(command).strip() == ""  # what socat would send
    assert router.get_weight() == 0.0


def test_dead_socket_and_wrong_map_are_clear_errors(haproxy, tmp_path):
    missing = haproxy.router(socket=str(tmp_path / "no-such.sock"))
    with pytest.raises(RouterError, match=r"not answering.*stats socket .*level admin"):
        missing.set_weight(5)
    assert missing.healthy() is False
    wrong_map = haproxy.router(map_path="/etc/haproxy/not-in-the-config.map")
    with pytest.raises(RouterError, match=r"has no map /etc/haproxy/not-in-the-config.map.*map_str_int"):
        wrong_map.set_weight(5)
    live = haproxy.router()
    live.set_weight(7.5)
    haproxy.stop()
    with pytest.raises(RouterError, match="not answering"):
        live.get_weight()
    assert live.healthy() is False


def test_thresholds_and_settings():
    assert [threshold(p) for p in (0, 0.01, 5, 33.33, 100)] == [0, 1, 500, 3333, 10_000]
    fragment = config_fragment(Settings(socket="127.0.0.1:9999", header="X-Team"))
    assert "stats socket ipv4@127.0.0.1:9999 mode 660 level admin" in fragment
    assert "req.hdr(X-Team),crc32(1),mod(10000)" in fragment
    with pytest.raises(UsageError, match="reload"):
        build_router({"type": "haproxy", "socket": "/run/haproxy/admin.sock", "reload": True})
    with pytest.raises(UsageError, match="socket"):
        build_router({"type": "haproxy"})
    with pytest.raises(UsageError, match="absolute path"):
        build_router({"type": "haproxy", "socket": "/s", "map_path": "canary.map"})
    with pytest.raises(UsageError, match="between 0 and 100"):
        build_router({"type": "haproxy", "socket": "/s"}).set_weight(120)
