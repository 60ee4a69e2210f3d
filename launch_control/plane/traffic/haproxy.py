"""The ``haproxy`` traffic router: moves the split through HAProxy's Runtime API (its stats
socket) with ``set map`` — no reload, no dropped connections, effective from the next request.

HAProxy hashes each request's org header into one of 10,000 buckets
(``req.hdr(X-Org-Id),crc32(1),mod(10000)``) and sends a request to the canary when its bucket is
below a threshold held in a map (``canary <threshold>``). The router sets that threshold to
``round(percent × 100)``: raising the weight only raises the threshold, so an org on the canary
stays there (sticky and monotone per org, like the gateway's buckets); requests without the
header get a random bucket per request. See README "Launching behind HAProxy" for the
``haproxy.cfg`` fragment; ``config_fragment()`` renders it for these settings.

Settings (validated by ``Settings``):
  socket     the Runtime API: a Unix socket path (``stats socket /run/haproxy/admin.sock level
             admin``) or ``host:port`` for ``stats socket ipv4@127.0.0.1:9999 level admin``
  map_path   the map file named in haproxy.cfg (default /etc/haproxy/launch-canary.map); haproxy
             identifies a runtime map by this path
  persist    also rewrite the map file on disk, so a later reload or restart keeps the split
             (default true)
  key        the map key holding the threshold (default "canary")
  header     the org header, only used to render the config fragment (default X-Org-Id)
  stable_backend / canary_backend   backend names for the fragment (default launch_stable /
             launch_canary)
  timeout    seconds per Runtime API command (default 2)

Every failure is a ``RouterError`` saying what to do (socket missing, permission, a map haproxy
does not know, haproxy reporting another weight than the one set).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from launch_control.errors import RouterError
from launch_control.plan.settings_types import Seconds, SettingsModel, validate_settings
from launch_control.plane.traffic.base import check_percent

BUCKETS = 10_000  # 0.01 % resolution, the gateway's and nginx split_clients' resolution
DEFAULT_MAP = "/etc/haproxy/launch-canary.map"
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Settings(SettingsModel):
    hints: ClassVar[dict[str, str]] = {
        "socket": "set socket: the Runtime API, e.g. /run/haproxy/admin.sock (stats socket … level admin) "
        "or 127.0.0.1:9999",
    }
    socket: str = Field(min_length=1)
    map_path: str = DEFAULT_MAP
    persist: bool = True
    key: str = "canary"
    header: str = "X-Org-Id"
    stable_backend: str = "launch_stable"
    canary_backend: str = "launch_canary"
    timeout: Seconds = 2.0

    @field_validator("key", "stable_backend", "canary_backend", "header")
    @classmethod
    def _word(cls, value: str) -> str:
        if not _KEY.fullmatch(value):
            raise ValueError(f"{value!r} must be letters, digits, '_', '-' or '.' (no spaces)")
        return value

    @field_validator("map_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError(f"map_path {value!r} must be an absolute path without spaces, as in haproxy.cfg")
        return value


def threshold(canary_percent: float) -> int:
    """Buckets below this go to the canary: 5 % → 500 of 10,000."""
    return round(check_percent(canary_percent) * BUCKETS / 100)


class HAProxyRouter:
    name = "haproxy"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()

    # -- the Runtime API ------------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        where = self.settings.socket
        try:
            if where.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.settings.timeout)
                sock.connect(where)
            else:
                host, _, port = where.rpartition(":")
                sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=self.settings.timeout)
                sock.settimeout(self.settings.timeout)
            return sock
        except PermissionError as exc:
            raise RouterError(
                f"haproxy Runtime API socket {where}: permission denied; run Launch Control as a user in the "
                "socket's group (e.g. `stats socket ... mode 660 group haproxy level admin` and add the user to "
                "group haproxy)"
            ) from exc
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise RouterError(
                f"haproxy Runtime API at {where} is not answering ({type(exc).__name__}); is haproxy running with "
                f"`stats socket {where} level admin` in its global section? Fix the router's socket setting or "
                "start haproxy"
            ) from exc
        except (OSError, ValueError) as exc:
            raise RouterError(f"haproxy Runtime API at {where} unreachable: {exc}") from exc

    def command(self, line: str) -> str:
        """Send one Runtime API command (non-interactive: haproxy answers and closes)."""
        with self._connect() as sock:
            try:
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except TimeoutError as exc:
                raise RouterError(
                    f"haproxy Runtime API at {self.settings.socket} did not answer {line.split()[0]!r} within "
                    f"{self.settings.timeout} s; check haproxy is not stuck, or raise the router's timeout"
                ) from exc
            except OSError as exc:
                where = self.settings.socket
                raise RouterError(f"haproxy Runtime API at {where} failed during {line!r}: {exc}") from exc
        return b"".join(chunks).decode(errors="replace")

    def _checked(self, line: str) -> str:
        answer = self.command(line)
        text = answer.strip()
        lowered = text.lower()
        if "permission denied" in lowered:
            raise RouterError(
                f"haproxy refused {line.split()[0]} {line.split()[1]} (Permission denied): the stats socket "
                f"{self.settings.socket} needs `level admin` in haproxy.cfg"
            )
        if "unknown map identifier" in lowered:
            raise RouterError(
                f"haproxy has no map {self.settings.map_path}: the haproxy.cfg fragment must use "
                f"map_str_int({self.settings.map_path},0) (see README 'Launching behind HAProxy'), or fix the "
                "router's map_path"
            )
        if lowered.startswith("unknown command"):
            raise RouterError(f"haproxy does not know {line.split()[0]!r}: {text.splitlines()[0]}")
        return answer

    # -- the protocol ---------------------------------------------------------------------------

    def set_weight(self, canary_percent: float) -> None:
        wanted = threshold(canary_percent)
        s = self.settings
        with self._lock:
            answer = self._checked(f"set map {s.map_path} {s.key} {wanted}").strip()
            if answer:
                if "not found" in answer.lower() or "entry" in answer.lower():
                    # The map file had no line for the key yet: add it (still no reload).
                    answer = self._checked(f"add map {s.map_path} {s.key} {wanted}").strip()
                if answer:
                    raise RouterError(f"haproxy rejected the canary threshold {wanted}: {answer.splitlines()[0]}")
            got = self._threshold()
            if got != wanted:
                raise RouterError(
                    f"haproxy reports canary threshold {got} after being set to {wanted}; another writer is "
                    f"changing {s.map_path}? Check `show map {s.map_path}`"
                )
            if s.persist:
                self._persist(wanted)

    def get_weight(self) -> float:
        return self._threshold() * 100 / BUCKETS

    def healthy(self) -> bool:
        try:
            return "Name: HAProxy" in self.command("show info")
        except RouterError:
            return False

    # -- helpers --------------------------------------------------------------------------------

    def _threshold(self) -> int:
        s = self.settings
        answer = self._checked(f"show map {s.map_path}")
        for line in answer.splitlines():
            parts = line.split()
            # "0x55d3c2b0 canary 500": pointer, key, value
            if len(parts) >= 3 and parts[1] == s.key:
                try:
                    return int(parts[2])
                except ValueError as exc:
                    raise RouterError(f"haproxy map {s.map_path} holds {parts[2]!r} for {s.key}, not a number") from exc
        raise RouterError(
            f"haproxy map {s.map_path} has no {s.key!r} entry yet; set a weight first (launch-control traffic) "
            "or put `canary 0` in the map file"
        )

    def _persist(self, value: int) -> None:
        """Write the map file atomically so a reload starts from the split that is live."""
        path = Path(self.settings.map_path)
        text = f"# Managed by Launch Control (haproxy router): canary threshold of {BUCKETS} buckets.\n"
        text += f"{self.settings.key} {value}\n"
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            raise RouterError(
                f"haproxy now splits at {value / 100:g} % (live), but the map file {path} could not be written "
                f"({exc}); a reload would bring back the old split — make the file writable or set persist: false"
            ) from exc

    def config_fragment(self) -> str:
        return config_fragment(self.settings)


def config_fragment(s: Settings) -> str:
    """The haproxy.cfg lines this router expects (README "Launching behind HAProxy")."""
    return f"""\
global
    stats socket {s.socket if s.socket.startswith("/") else "ipv4@" + s.socket} mode 660 level admin

frontend launch
    # bucket 0..9999 from the org header (sticky per org); a random bucket when there is none
    acl lc_has_org req.hdr({s.header}) -m found
    http-request set-var(txn.lc_bucket) req.hdr({s.header}),crc32(1),mod({BUCKETS}) if lc_has_org
    http-request set-var(txn.lc_bucket) rand({BUCKETS}) unless lc_has_org
    # the canary threshold, changed at run time by `set map` (no reload)
    http-request set-var(txn.lc_threshold) str({s.key}),map_str_int({s.map_path},0)
    acl lc_canary var(txn.lc_bucket),sub(txn.lc_threshold) lt 0
    use_backend {s.canary_backend} if lc_canary
    default_backend {s.stable_backend}
"""


def build(settings: dict[str, Any], **context: Any) -> HAProxyRouter:
    return HAProxyRouter(validate_settings(Settings, settings, "haproxy router"))
