"""HAProxy as a third target of ``bench/gateway_vs_nginx.py``, plus how fast the haproxy router
moves the split.

``start_haproxy(...)`` runs a real haproxy (one thread, like the gateway's one worker and nginx's
one worker process) with the config fragment of ``launch_control.plane.traffic.haproxy`` in front of
the bench's two upstreams, and sets the 5 % split through the router (the Runtime API, as in
production). ``gateway_vs_nginx.py`` calls it and measures haproxy beside the gateway and nginx.

Run alone, it measures the router itself (``set_weight`` through the stats socket, and the time
from the call until the next request lands on the new side):

    .venv/bin/python bench/haproxy_bench.py            # 200 weight changes
"""

from __future__ import annotations

import http.client
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launch_control.web.servers import ChildProcess, free_port, port_open  # noqa: E402

HOST = "127.0.0.1"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)


def haproxy_conf(tmp: Path, port: int, stable: int, canary: int, *, connections: int = 64) -> tuple[str, Any]:
    """(haproxy.cfg text, router settings) for a split in front of the two upstream ports."""
    from launch_control.plane.traffic.haproxy import Settings, config_fragment

    settings = Settings(socket=str(tmp / "haproxy.sock"), map_path=str(tmp / "launch-canary.map"))
    (tmp / "launch-canary.map").write_text("canary 0\n")
    fragment = config_fragment(settings)
    fragment = fragment.replace("global\n", "global\n    nbthread 1\n    maxconn 8192\n")
    fragment = fragment.replace("frontend launch\n", f"frontend launch\n    bind {HOST}:{port}\n")
    defaults = textwrap.dedent(
        """
        defaults
            mode http
            timeout connect 2s
            timeout client 60s
            timeout server 60s
            timeout http-keep-alive 60s
            http-reuse always
        """
    )
    backends = textwrap.dedent(
        f"""
        backend launch_stable
            server stable {HOST}:{stable} maxconn {connections}
        backend launch_canary
            server canary {HOST}:{canary} maxconn {connections}
        """
    )
    return fragment.replace("\nfrontend", defaults + "\nfrontend", 1) + backends, settings


def start_haproxy(tmp: Path, port: int, stable: int, canary: int, percent: float, start: Any = None,
                  cpus: set[int] | None = None) -> ChildProcess | None:
    """Start haproxy on ``port`` splitting ``percent`` to the canary; None when haproxy is missing.
    ``start(argv, name, cpus, log)`` is the bench's process starter (pinning, logs)."""
    if not HAPROXY:
        return None
    from launch_control.plane.traffic.haproxy import HAProxyRouter

    text, settings = haproxy_conf(tmp, port, stable, canary)
    conf = tmp / "haproxy.cfg"
    conf.write_text(text)
    argv = [HAPROXY, "-db", "-f", str(conf)]
    if start is not None:
        process = start(argv, "haproxy", cpus, tmp / "haproxy.log")
    else:
        log = open(tmp / "haproxy.log", "ab")  # noqa: SIM115 - closed with the process
        process = ChildProcess(argv, name="haproxy", stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while not (port_open(HOST, port) and os.path.exists(settings.socket)):
        if time.monotonic() > deadline or not process.alive():
            process.stop()
            raise SystemExit(f"haproxy did not start:\n{(tmp / 'haproxy.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.02)
    HAProxyRouter(settings).set_weight(percent)  # the split goes in the way it does in production
    return process


def router_figures(changes: int = 200) -> int:
    """``set_weight`` latency through the stats socket and the time until a request sees it."""
    from launch_control.plane.traffic.haproxy import HAProxyRouter

    if not HAPROXY:
        print("haproxy not installed (bash scripts/test-services.sh)")
        return 1
    with tempfile.TemporaryDirectory(prefix="lc-haproxy-") as name:
        tmp = Path(name)
        server = ROOT / "tests" / "traffic" / "version_server.py"
        ports = {"stable": free_port(), "canary": free_port(), "haproxy": free_port()}
        upstreams = [ChildProcess([sys.executable, str(server), str(ports[v]), v]) for v in ("stable", "canary")]
        process = None
        try:
            deadline = time.monotonic() + 20
            while not all(port_open(HOST, ports[v]) for v in ("stable", "canary")):
                if time.monotonic() > deadline:
                    raise SystemExit("upstreams did not start")
                time.sleep(0.05)
            process = start_haproxy(tmp, ports["haproxy"], ports["stable"], ports["canary"], 0)
            _, settings = haproxy_conf(tmp, ports["haproxy"], ports["stable"], ports["canary"])
            router = HAProxyRouter(settings)
            connection = http.client.HTTPConnection(HOST, ports["haproxy"], timeout=5)

            def served() -> str:
                connection.request("GET", "/", headers={"X-Org-Id": "org-0001"})
                response = connection.getresponse()
                response.read()
                return str(response.getheader("X-Version"))

            calls, effect = [], []
            for i in range(changes):
                weight, expect = (100, "canary") if i % 2 == 0 else (0, "stable")
                started = time.perf_counter()
                router.set_weight(weight)
                calls.append(time.perf_counter() - started)
                while served() != expect:
                    pass
                effect.append(time.perf_counter() - started)
            connection.close()
        finally:
            if process:
                process.stop()
            for upstream in upstreams:
                upstream.stop()

    def q(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    print(f"haproxy router, {changes} weight changes (0 % ↔ 100 %) through the Runtime API, no reload:")
    print(f"  set_weight (set map + show map + map file): p50 {q(calls, 0.5):.2f} ms, p99 {q(calls, 0.99):.2f} ms")
    print(f"  call → next request on the new side:       p50 {q(effect, 0.5):.2f} ms, p99 {q(effect, 0.99):.2f} ms,"
          f" max {max(effect) * 1000:.2f} ms (target < 100 ms)")
    print(f"  median {statistics.median(effect) * 1000:.2f} ms; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(router_figures())
