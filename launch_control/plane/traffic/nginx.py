"""The ``nginx`` traffic router: owns one include file with the upstreams and a ``split_clients``
split, checks every change with ``nginx -t`` and applies it with ``nginx -s reload``.

Settings:
  config_path  the include file this router owns (rewritten whole on every change), included in
               nginx's ``http {}`` block
  stable       upstream server(s) of the stable version: "host:port" or a list
  canary       upstream server(s) of the canary
  nginx        the nginx binary (default /usr/sbin/nginx)
  conf         the main config for ``-c`` (default: nginx's own)
  prefix       the prefix for ``-p`` (default: nginx's own)
  pid_file     nginx's pid file; when given, ``set_weight`` waits until nginx runs the new config
  name         prefix of the names it defines (default "launch": upstreams ``launch_stable`` and
               ``launch_canary``, variable ``$launch_upstream``)
  split_key    what the split hashes (default ``$http_x_org_id``: sticky per org); requests without
               it are split per request (hashed on ``$request_id``), as the gateway does
  keepalive    idle keep-alive connections per upstream (default 32)
  health_url   optional URL through nginx that ``healthy()`` checks answers 2xx
  timeout      seconds for each nginx command and for the reload to apply (default 10)

The main config routes with ``proxy_pass http://$launch_upstream;``. ``split_clients`` hashes the
key into one range and gives the canary its first ``p``%; raising the weight only widens that
range, so an org on the canary stays there — the gateway's stickiness, as far as nginx allows
(its resolution is 0.01%, like the gateway's 10,000 buckets).

A change that fails ``nginx -t`` (or the reload) puts the previous file back, so the config that
is live stays live and on disk, and raises ``RouterError`` with nginx's own reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from launch_control.errors import RouterError, UsageError
from launch_control.plan.settings_types import HttpUrl, Seconds, SettingsModel, required, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.plane.traffic.base import check_percent

DEFAULT_NGINX = "/usr/sbin/nginx"
DRAIN_WAIT = 2.0  # seconds to wait for old workers to retire after a reload
MARKER = "# Managed by Launch Control (nginx router)"
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SERVER = re.compile(r"[^\s;{}#'\"]+")


def format_percent(value: float) -> str:
    """nginx's split_clients takes up to two decimals."""
    return f"{round(value, 2):.2f}".rstrip("0").rstrip(".")


class NginxRouter:
    name = "nginx"

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        *,
        stable: list[str],
        canary: list[str],
        nginx: str = DEFAULT_NGINX,
        conf: str | None = None,
        prefix: str | None = None,
        pid_file: str | None = None,
        name: str = "launch",
        split_key: str = "$http_x_org_id",
        keepalive: int = 32,
        health_url: str | None = None,
        timeout: float = 10.0,
    ):
        self.config_path = Path(config_path)
        self.stable, self.canary = stable, canary
        self.nginx, self.conf, self.prefix = nginx, conf, prefix
        self.pid_file = Path(pid_file) if pid_file else None
        self.prefix_name, self.split_key, self.keepalive = name, split_key, keepalive
        self.health_url, self.timeout = health_url, timeout
        self._lock = threading.Lock()

    # -- the file -------------------------------------------------------------------------------

    def render(self, canary_percent: float) -> str:
        n = self.prefix_name
        percent = format_percent(canary_percent)
        if percent == "0":
            split = f"    * {n}_stable;"
        elif percent == "100":
            split = f"    * {n}_canary;"
        else:
            split = f"    {percent}% {n}_canary;\n    * {n}_stable;"

        def upstream(role: str, servers: list[str]) -> str:
            lines = "".join(f"    server {s};\n" for s in servers)
            return f"upstream {n}_{role} {{\n{lines}    keepalive {self.keepalive};\n}}\n"

        return (
            f"{MARKER}: canary {percent}%.\n"
            "# Rewritten whole on every weight change; edits here are lost.\n"
            f"{upstream('stable', self.stable)}{upstream('canary', self.canary)}"
            "# No split key (no org): split per request, as the gateway does.\n"
            f'map {self.split_key} ${n}_split_key {{\n    "" $request_id;\n    default {self.split_key};\n}}\n'
            f'split_clients "${n}_split_key" ${n}_upstream {{\n{split}\n}}\n'
        )

    def _read(self) -> str | None:
        try:
            return self.config_path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RouterError(f"cannot read nginx split config {self.config_path}: {exc}") from exc

    def _write(self, text: str | None) -> None:
        """Replace the file atomically (``None`` removes it), so nginx never reads half a file."""
        try:
            if text is None:
                self.config_path.unlink(missing_ok=True)
                return
            self.config_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.config_path.parent, prefix=f".{self.config_path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.config_path)
        except OSError as exc:
            raise RouterError(f"cannot write nginx split config {self.config_path}: {exc}") from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One change at a time, across threads and processes."""
        lock_path = self.config_path.with_name(f".{self.config_path.name}.lock")
        with self._lock:
            try:
                lock_path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(lock_path, "a")  # noqa: SIM115 - held for the whole change
            except OSError as exc:
                raise RouterError(f"cannot lock {lock_path}: {exc}") from exc
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
            finally:
                handle.close()

    # -- nginx ----------------------------------------------------------------------------------

    def _command(self, *args: str) -> list[str]:
        argv = [self.nginx]
        if self.prefix:
            argv += ["-p", self.prefix]
        if self.conf:
            argv += ["-c", self.conf]
        return [*argv, *args]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = self._command(*args)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError as exc:
            raise RouterError(f"nginx binary {self.nginx} not found; install nginx or set the router's nginx") from exc
        except subprocess.TimeoutExpired as exc:
            raise RouterError(f"{' '.join(argv)} did not finish within {self.timeout} s") from exc

    def _workers(self) -> set[int] | None:
        """The nginx master's child PIDs (Linux /proc), or None when they cannot be read."""
        if self.pid_file is None:
            return None
        try:
            master = int(self.pid_file.read_text().strip())
            return {int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()}
        except (OSError, ValueError):
            return None

    def _reload(self) -> None:
        before = self._workers()
        result = self._run("-s", "reload")
        if result.returncode != 0:
            raise RouterError(f"nginx -s reload failed: {_reason(result)}; is nginx running with this conf/prefix?")
        if before is None:
            return
        # A reload starts new workers with the new config and retires the old ones: a new PID
        # means the split is live. Without it, nginx refused the config at load time.
        deadline = time.monotonic() + self.timeout
        while True:
            now = self._workers()
            if now is not None and now - before:
                break
            if time.monotonic() > deadline:
                raise RouterError(
                    f"nginx did not start workers with the new config within {self.timeout} s; see its error log"
                )
            time.sleep(0.02)
        # Old workers keep accepting until they act on their QUIT signal; waiting for them (briefly:
        # a busy one drains its open requests on the old split) makes the next connection use the
        # new split. Measured here: idle workers are gone within ~10-50 ms.
        drained = time.monotonic() + min(self.timeout, DRAIN_WAIT)
        while time.monotonic() < drained:
            now = self._workers()
            if now is None or not now & before:
                return
            time.sleep(0.01)

    # -- the protocol ---------------------------------------------------------------------------

    def set_weight(self, canary_percent: float) -> None:
        new = self.render(check_percent(canary_percent))
        with self._locked():
            old = self._read()
            if old == new:
                return  # already live: setting the same weight is a success
            self._write(new)
            test = self._run("-t")
            if test.returncode != 0:
                self._write(old)
                raise RouterError(
                    f"nginx -t rejected the split config for canary {format_percent(float(canary_percent))}%: "
                    f"{_reason(test)}; the previous config was restored and stays live — fix the router's "
                    "settings (upstream addresses, name) or the main nginx config"
                )
            try:
                self._reload()
            except RouterError as exc:
                self._write(old)
                raise RouterError(f"{exc}; the previous split config was restored") from exc

    def prepare(self, canary_percent: float = 0.0) -> None:
        """Write and ``nginx -t`` the split file without reloading: for a first install, before
        nginx runs with a main config that includes it. A failing test restores the old file."""
        new = self.render(check_percent(canary_percent))
        with self._locked():
            old = self._read()
            self._write(new)
            test = self._run("-t")
            if test.returncode != 0:
                self._write(old)
                raise RouterError(f"nginx -t rejected the split config: {_reason(test)}; nothing was changed")

    def get_weight(self) -> float:
        text = self._read()
        if text is None:
            raise RouterError(f"nginx split config {self.config_path} does not exist yet; set a weight first")
        return parse_weight(text, self.prefix_name, self.config_path)

    def healthy(self) -> bool:
        if self.health_url:
            import httpx

            try:
                return httpx.get(self.health_url, timeout=self.timeout).is_success
            except httpx.HTTPError:
                return False
        try:
            return self._run("-t").returncode == 0
        except RouterError:
            return False


def parse_weight(text: str, name: str = "launch", where: object = "config") -> float:
    """The canary share written in a split config this router rendered."""
    body = re.search(r"split_clients\s+\S+\s+\$\S+\s*\{(.*?)\}", text, re.S)
    if not text.startswith(MARKER) or not body:
        raise RouterError(f"{where} was not written by the nginx router (no split_clients block of its own)")
    split = body.group(1)
    if re.search(rf"\*\s+{name}_canary\s*;", split):
        return 100.0
    match = re.search(rf"([0-9.]+)%\s+{name}_canary\s*;", split)
    return float(match.group(1)) if match else 0.0


def _reason(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    important = [line for line in lines if re.search(r"\[(emerg|alert|crit|error)\]", line)]
    return " / ".join(important or lines[-2:]) or f"exit status {result.returncode}"


def _servers(settings: dict[str, Any], role: str) -> list[str]:
    value = settings.get(role)
    servers = [value] if isinstance(value, str) else value
    if not servers or not isinstance(servers, list) or not all(isinstance(s, str) and s for s in servers):
        raise UsageError(f'nginx router: set {role}: "host:port" (or a list) — the {role} upstream server(s)')
    for server in servers:
        if not _SERVER.fullmatch(server):
            raise UsageError(f"nginx router: {role} server {server!r} is not an address (host:port or unix:/path)")
    return servers



class Settings(SettingsModel):
    hints: ClassVar[dict[str, str]] = {
        "config_path": "set config_path: the include file the router owns (e.g. /etc/nginx/conf.d/launch-split.conf)",
        "stable": 'set stable: "host:port" (or a list) — the stable upstream server(s)',
        "canary": 'set canary: "host:port" (or a list) — the canary upstream server(s)',
    }
    config_path: str
    stable: str | list[str]
    canary: str | list[str]
    nginx: str = DEFAULT_NGINX
    conf: str | None = None
    prefix: str | None = None
    pid_file: str | None = None
    name: str = "launch"
    split_key: str = "$http_x_org_id"
    keepalive: int = Field(default=32, ge=0, le=10_000)
    health_url: HttpUrl | None = None
    timeout: Seconds = 10.0


def build(settings: dict[str, Any], **context: Any) -> NginxRouter:
    validate_settings(Settings, settings, "nginx router")
    required(settings.get("config_path"), f"nginx router: {Settings.hints['config_path']}")
    name = str(settings.get("name", "launch"))
    if not _NAME.fullmatch(name):
        raise UsageError(f"nginx router: name {name!r} must be letters, digits and _ (an nginx identifier)")
    split_key = str(settings.get("split_key", "$http_x_org_id"))
    if not re.fullmatch(r"\$[a-zA-Z_][a-zA-Z0-9_]*", split_key):
        raise UsageError(f"nginx router: split_key {split_key!r} must be one nginx variable, e.g. $http_x_org_id")
    return NginxRouter(
        settings["config_path"],
        stable=_servers(settings, "stable"),
        canary=_servers(settings, "canary"),
        nginx=str(settings.get("nginx", DEFAULT_NGINX)),
        conf=settings.get("conf"),
        prefix=settings.get("prefix"),
        pid_file=settings.get("pid_file"),
        name=name,
        split_key=split_key,
        keepalive=int(settings.get("keepalive", 32)),
        health_url=settings.get("health_url"),
        timeout=parse_duration(settings.get("timeout", 10.0)),
    )
