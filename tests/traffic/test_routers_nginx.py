"""The nginx router against a real nginx from Debian on loopback, with the demo service as its two
upstreams: weights written, ``nginx -t`` checked, reloads that change the real split, and a
rejected config that leaves the old one live."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import httpx
import pytest

from launch_control.errors import RouterError, UsageError
from launch_control.plane.traffic import TrafficRouter, build_router
from launch_control.plane.traffic.nginx import MARKER, format_percent, parse_weight
from launch_control.web.servers import ChildProcess, ServerThread, free_port, wait_for_http

NGINX = os.environ.get("LAUNCH_CONTROL_TEST_NGINX", "/usr/sbin/nginx")
TOKEN = "nginx-test-token"

MAIN_CONF = """\
{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {split};
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://$launch_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Served-By $launch_upstream always;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, root: Path, upstreams: dict[str, str]):
        self.prefix = root / "nginx"
        (self.prefix / "tmp").mkdir(parents=True)
        self.port = free_port()
        self.conf = self.prefix / "nginx.conf"
        self.split = self.prefix / "conf.d" / "launch-split.conf"
        # Running as root, workers would drop to "nobody", who cannot enter pytest's 0700 tmp dirs.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(MAIN_CONF.format(user=user, prefix=self.prefix, split=self.split, port=self.port))
        self.settings = {
            "type": "nginx",
            "config_path": str(self.split),
            "nginx": NGINX,
            "conf": str(self.conf),
            "prefix": str(self.prefix),
            "pid_file": str(self.prefix / "nginx.pid"),
            "stable": upstreams["stable"],
            "canary": upstreams["canary"],
            "health_url": f"http://127.0.0.1:{self.port}/health",
        }
        self.process: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def router(self, **overrides: object):
        return build_router({**self.settings, **overrides})

    def start(self) -> None:
        self.process = ChildProcess([NGINX, "-p", str(self.prefix), "-c", str(self.conf)], name="nginx")
        if not wait_for_http(self.url + "/health", timeout=10):
            raise RuntimeError(f"nginx did not start: {(self.prefix / 'error.log').read_text()}")

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def split_seen(self, orgs: list[str | None]) -> dict[str, str | None]:
        """Which version served each org (a fresh connection: no keep-alive into old workers)."""
        served: dict[str, str | None] = {}
        with httpx.Client(timeout=5) as client:
            for i, org in enumerate(orgs):
                headers = {"X-Org-Id": org} if org else {}
                response = client.get(self.url + "/api/analytics", headers=headers)
                assert response.status_code == 200, response.text
                served[org or f"anon-{i}"] = response.headers["X-Version"]
        return served


@pytest.fixture(scope="module")
def upstreams():
    from launch_control.plane.demo.service import create_app

    stable = ServerThread(create_app("v2.9.0", admin_token=TOKEN)).start()
    canary = ServerThread(create_app("v3.0.0", admin_token=TOKEN)).start()
    yield {"stable": f"127.0.0.1:{stable.port}", "canary": f"127.0.0.1:{canary.port}"}
    stable.stop()
    canary.stop()


def unavailable(request: pytest.FixtureRequest, reason: str) -> None:
    """tests/conftest.py's ``unavailable`` (skip here, fail under CI), as pytest loaded it."""
    root_conftest = request.config.pluginmanager.get_plugin(str(Path(__file__).parents[1] / "conftest.py"))
    root_conftest.unavailable(reason)


@pytest.fixture
def nginx(request, tmp_path, upstreams):
    if not (Path(NGINX).exists() or shutil.which(NGINX)):
        unavailable(request, f"nginx not installed at {NGINX} (apt-get install -y nginx)")
    server = Nginx(tmp_path, upstreams)
    server.router().prepare(0)
    server.start()
    yield server
    server.stop()


ORGS = [f"org-{i}" for i in range(400)]


def _canary(served: dict[str, str | None]) -> set[str]:
    return {org for org, version in served.items() if version == "v3.0.0"}


def test_reload_changes_the_real_split_and_orgs_stay_sticky(nginx):
    router = nginx.router()
    assert isinstance(router, TrafficRouter)
    assert router.get_weight() == 0.0 and router.healthy()
    assert _canary(nginx.split_seen(ORGS[:100])) == set()

    router.set_weight(30)
    assert router.get_weight() == 30.0
    at_30 = _canary(nginx.split_seen(ORGS))
    assert 0.23 * len(ORGS) < len(at_30) < 0.37 * len(ORGS)
    assert _canary(nginx.split_seen(ORGS)) == at_30  # sticky: the same orgs, every time

    router.set_weight(60)
    at_60 = _canary(nginx.split_seen(ORGS))
    assert at_30 < at_60  # raising the weight only moves orgs onto the canary
    assert 0.52 * len(ORGS) < len(at_60) < 0.68 * len(ORGS)

    router.set_weight(100)
    assert len(_canary(nginx.split_seen(ORGS[:50]))) == 50
    # no org id: split per request, not all on one side
    router.set_weight(50)
    anonymous = Counter(nginx.split_seen([None] * 200).values())
    assert anonymous["v2.9.0"] > 50 and anonymous["v3.0.0"] > 50


def test_same_weight_is_a_success_without_a_reload(nginx):
    router = nginx.router()
    router.set_weight(12.34)
    workers = router._workers()
    text = nginx.split.read_text()
    router.set_weight(12.34)
    assert router._workers() == workers and nginx.split.read_text() == text
    assert router.get_weight() == 12.34


def test_config_failing_nginx_t_leaves_the_old_config_live(nginx):
    good = nginx.router()
    good.set_weight(30)
    before = nginx.split.read_text()
    live = _canary(nginx.split_seen(ORGS[:200]))
    assert 30 < len(live) < 90
    bad = nginx.router(canary="127.0.0.1:99999")  # a typo nginx catches, not us
    with pytest.raises(RouterError, match=r"nginx -t rejected.*invalid port.*previous config was restored") as info:
        bad.set_weight(80)
    assert "99999" in str(info.value)
    assert nginx.split.read_text() == before and good.get_weight() == 30.0
    assert _canary(nginx.split_seen(ORGS[:200])) == live  # nginx still routes by the old split
    assert nginx.process.alive()
    assert list(nginx.split.parent.glob("*.tmp")) == []


def test_reload_without_a_running_nginx_restores_the_file(nginx):
    router = nginx.router(timeout=3)
    router.set_weight(10)
    nginx.stop()
    with pytest.raises(RouterError, match="reload failed.*is nginx running.*restored"):
        router.set_weight(50)
    assert router.get_weight() == 10.0
    assert not router.healthy()  # health_url no longer answers


def test_render_and_parse():
    assert [format_percent(v) for v in (0, 5, 5.5, 5.556, 12.3456, 100)] == ["0", "5", "5.5", "5.56", "12.35", "100"]
    from launch_control.plane.traffic.nginx import NginxRouter

    router = NginxRouter("/nonexistent/split.conf", stable=["127.0.0.1:1"], canary=["127.0.0.1:2", "127.0.0.1:3"])
    for weight in (0, 0.01, 5, 33.33, 99.99, 100):
        text = router.render(weight)
        assert text.startswith(MARKER)
        assert parse_weight(text) == pytest.approx(weight)
    assert "server 127.0.0.1:3;" in router.render(5)
    with pytest.raises(RouterError, match="not written by the nginx router"):
        parse_weight("upstream x { server 1.2.3.4; }")
    with pytest.raises(RouterError, match="does not exist yet"):
        router.get_weight()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"stable": "a:1", "canary": "b:1"}, "set config_path"),
        ({"config_path": "/tmp/x.conf", "canary": "b:1"}, "set stable"),
        ({"config_path": "/tmp/x.conf", "stable": "a:1", "canary": "b:1; evil"}, "is not an address"),
        ({"config_path": "/tmp/x.conf", "stable": "a:1", "canary": "b:1", "name": "x-y"}, "nginx identifier"),
        ({"config_path": "/tmp/x.conf", "stable": "a:1", "canary": "b:1", "split_key": "org"}, "one nginx variable"),
        ({"config_path": "/tmp/x.conf", "stable": "a:1", "canary": "b:1", "reload": True}, "unknown setting"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(UsageError, match=message):
        build_router({"type": "nginx", **settings})
