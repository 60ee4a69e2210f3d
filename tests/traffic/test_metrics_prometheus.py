"""The prometheus metric source: canned HTTP API answers served over loopback (success, "no values",
NaN, errors), and a real Prometheus from Debian scraping the real gateway when it is installed."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
import traffic_client as stack_mod
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from launch_control.errors import UsageError
from launch_control.plane.metrics import MetricSource, build_source
from launch_control.plane.metrics.prometheus import DEFAULT_QUERIES, render
from launch_control.web.servers import ChildProcess, ServerThread, free_port, wait_for_http

FIXTURES = Path(__file__).parent / "fixtures" / "prometheus"


def canned(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


class CannedPrometheus:
    """A loopback HTTP server answering /api/v1/query from a {query: (status, fixture)} table."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, str]] = {"1": (200, "scalar_1")}
        self.asked: list[str] = []
        self.server = ServerThread(Starlette(routes=[Route("/api/v1/query", self.query)]))

    async def query(self, request: Request) -> Response:
        promql = request.query_params.get("query", "")
        self.asked.append(promql)
        status, fixture = self.answers.get(promql, (400, "error_bad_data"))
        return Response(canned(fixture), status, media_type="application/json")

    def answer(self, metric: str, role: str, fixture: str, interval: float = 30, status: int = 200) -> None:
        self.answers[render(DEFAULT_QUERIES[metric], role, interval)] = (status, fixture)


@pytest.fixture
def prom():
    canned_server = CannedPrometheus()
    with canned_server.server:
        yield canned_server


def test_success_no_values_and_nan(prom):
    prom.answer("requests", "stable", "vector_1000")
    prom.answer("errors", "stable", "vector_5")
    prom.answer("rate_limited", "stable", "empty")  # no 429 series: none were limited
    prom.answer("latency_avg", "stable", "vector_0.0421")
    for metric in ("latency_p50", "latency_p95", "latency_p99"):
        prom.answer(metric, "stable", "vector_0.1875")
    # the canary: no traffic at all — "no values" for counts, NaN for quantiles
    for metric in ("requests", "errors", "rate_limited"):
        prom.answer(metric, "canary", "empty")
    for metric in ("latency_avg", "latency_p50", "latency_p95", "latency_p99"):
        prom.answer(metric, "canary", "vector_nan")

    source = build_source({"type": "prometheus", "url": prom.server.url + "/"})
    assert isinstance(source, MetricSource) and source.is_online()
    obs = source.observe(30)
    assert obs.error is None and obs.source == "prometheus" and obs.interval == 30
    assert (obs.stable.requests, obs.stable.errors, obs.stable.rate_limited) == (1000, 5, 0)
    assert obs.stable.error_rate == 0.005
    assert obs.stable.latency_avg == 0.0421 and obs.stable.latency_p95 == 0.1875
    assert obs.canary.requests == 0 and obs.canary.error_rate is None and obs.canary.latency_p99 is None
    assert 'version="canary"' in prom.asked[-1] and "[30s]" in prom.asked[-1]


def test_error_answer_is_an_error_observation(prom):
    prom.answer("requests", "stable", "error_bad_data", status=400)
    obs = build_source({"type": "prometheus", "url": prom.server.url}).observe(30)
    assert obs.stable is None and obs.canary is None
    assert obs.error.startswith("metric source error: Prometheus refused")
    assert "bad_data" in obs.error and "parse error" in obs.error and "HTTP 400" in obs.error


@pytest.mark.parametrize(
    "fixture, message",
    [("two_series", "returned 2 series; aggregate it"), ("matrix", "returned a matrix")],
)
def test_answers_that_are_not_one_number_are_refused(prom, fixture, message):
    prom.answer("requests", "stable", fixture)
    obs = build_source({"type": "prometheus", "url": prom.server.url}).observe(30)
    assert message in obs.error


def test_prometheus_down_or_not_prometheus():
    obs = build_source({"type": "prometheus", "url": f"http://127.0.0.1:{free_port()}", "timeout": 0.5}).observe(10)
    assert obs.error.startswith("metric source down: Prometheus at") and "unreachable" in obs.error
    not_prom = ServerThread(Starlette(routes=[Route("/api/v1/query", lambda r: Response("busy", 503))]))
    with not_prom:
        source = build_source({"type": "prometheus", "url": not_prom.url})
        assert "answered HTTP 503 without a JSON body" in source.observe(10).error
        assert not source.is_online()


def test_query_overrides_and_placeholders(prom):
    source = build_source(
        {
            "type": "prometheus",
            "url": prom.server.url,
            "queries": {
                "requests": 'sum(increase(http_requests_total{app="pf",track="{version}"}[{interval}]))',
                "errors": None,  # dropped
                "latency_p50": None,
                "latency_p95": None,
                "latency_p99": None,
                "latency_avg": None,
                "rate_limited": None,
                "cpu": 'sum(rate(process_cpu_seconds_total{track="{version}"}[{interval}]))',
            },
        }
    )
    prom.answers['sum(increase(http_requests_total{app="pf",track="stable"}[10s]))'] = (200, "vector_1000")
    prom.answers['sum(increase(http_requests_total{app="pf",track="canary"}[10s]))'] = (200, "vector_5")
    prom.answers['sum(rate(process_cpu_seconds_total{track="stable"}[10s]))'] = (200, "vector_0.1875")
    prom.answers['sum(rate(process_cpu_seconds_total{track="canary"}[10s]))'] = (200, "vector_nan")
    obs = source.observe(9.6)
    assert obs.error is None
    assert (obs.stable.requests, obs.stable.cpu, obs.canary.requests, obs.canary.cpu) == (1000, 0.1875, 5, None)
    assert len(prom.asked) == 4


def test_bad_settings():
    with pytest.raises(UsageError, match="no url given"):
        build_source({"type": "prometheus"})
    with pytest.raises(UsageError, match=r"unknown metric\(s\) \['p95'\]"):
        build_source({"type": "prometheus", "url": "http://x", "queries": {"p95": "q"}})


# --- a real Prometheus --------------------------------------------------------------------------

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"




def _instant(url: str, promql: str) -> float | None:
    result = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _wait_for_total(url: str, expected: float, timeout: float = 15.0) -> None:
    """Until Prometheus has scraped a gateway that counted ``expected`` requests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _instant(url, "sum(launch_gateway_requests_total)") == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"Prometheus never saw {expected} requests")


@pytest.mark.slow  # Prometheus starts in ~2 s and needs a few 1 s scrapes
def test_real_prometheus_scraping_the_gateway(tmp_path, plane_factory, service_unavailable):
    if not Path(PROMETHEUS).exists():
        service_unavailable("Debian's prometheus is not installed (apt-get install -y prometheus, ~10 s)")
    plane = plane_factory(canary_weight=50)
    port = free_port()
    host_port = plane.gateway_url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [{"job_name": "gateway", "static_configs": [{"targets": [host_port]}]}],
            }
        )
    )
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=error",
    ]
    with ChildProcess(argv, name="prometheus", stderr=(tmp_path / "prometheus.log").open("w")):
        url = f"http://127.0.0.1:{port}"
        assert wait_for_http(url + "/-/ready", timeout=20, expect=200), (tmp_path / "prometheus.log").read_text()
        plane.set_fault("canary", error_rate=1.0)
        stack_mod.send(plane, 40)  # creates every series; increase() counts from a series' first sample
        _wait_for_total(url, 40)
        seen = stack_mod.send(plane, 200, start=40)
        _wait_for_total(url, 240)

        source = build_source({"type": "prometheus", "url": url})
        assert source.is_online()
        obs = source.observe(30)
        assert obs.error is None, obs.error
        for role in ("stable", "canary"):
            window = obs.window(role)
            sent = seen.requests(role)
            # increase() extrapolates to the range's edges: an estimate, not an exact count
            assert 0.8 * sent <= window.requests <= 2.5 * sent, (role, window.requests, sent)
            assert window.latency_p50 is not None and window.latency_avg is not None
        assert obs.stable.errors == 0 and obs.stable.error_rate == 0.0
        assert obs.canary.error_rate == pytest.approx(1.0, abs=0.02)
