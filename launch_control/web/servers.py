"""Running ASGI apps and child processes on loopback, and stopping them cleanly.

Used by ``launch-control up`` / ``demo`` and by the tests: a server in a background thread
(``ServerThread``, under the HTTP limits of ``launch_control.web.httpguard``), ``serve()`` for a
server process, a child process in its own process group that is always reaped
(``ChildProcess``), and ``free_port`` / ``wait_for_http`` helpers. Binds to 127.0.0.1 unless told
otherwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_for_http(url: str, timeout: float = 15.0, expect: int | None = None) -> bool:
    """Poll ``url`` until it answers (any status, or ``expect``) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if expect is None or response.status == expect:
                    return True
        except urllib.error.HTTPError as exc:
            if expect is None or exc.code == expect:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    return False


def serve(app: Any, *, host: str = LOOPBACK, port: int, limits: Any = None, **options: Any) -> None:
    """Run ``app`` under uvicorn in this process until stopped (the demo services, the model, the
    gateway): uvloop, the guarded httptools protocol (``launch_control.web.httpguard``: header, body
    and keep-alive timeouts, connection and concurrency caps, JSON refusals), no access log."""
    import uvicorn

    from launch_control.web.httpguard import uvicorn_options

    settings = {"loop": "uvloop", "access_log": False, "timeout_graceful_shutdown": 3, **uvicorn_options(limits)}
    uvicorn.run(app, host=host, port=port, **{**settings, **options})


class ServerThread:
    """Run an ASGI app under uvicorn in a daemon thread: ``with ServerThread(app) as s: s.url``."""

    def __init__(
        self, app: Any, host: str = LOOPBACK, port: int | None = None, *, limits: Any = None, **uvicorn_options: Any
    ):
        """``limits``: an ``httpguard.HttpLimits`` (default: ``HttpLimits.from_env()``) — header,
        body and keep-alive timeouts, connection and concurrency caps, JSON refusals."""
        import uvicorn

        from launch_control.web.httpguard import uvicorn_options as guarded

        self.host = host
        self.port = port or free_port(host)
        options = {
            "log_level": "warning",
            "access_log": False,
            "lifespan": "auto",
            **guarded(limits),
            **uvicorn_options,
        }
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port, **options))
        # No signal handlers to switch off: uvicorn (>= 0.29) installs them only on the main thread,
        # and this server runs on its own (the old install_signal_handlers hook no longer exists).
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the watchdog: children die with their parent, even when it is SIGKILLed (see reaper.py) ----

_reaper: subprocess.Popen[bytes] | None = None
_reaper_owner = 0  # the pid that started it: a forked child needs its own
_reaper_lock = threading.Lock()


def _tell_reaper(line: str) -> None:
    global _reaper, _reaper_owner
    with _reaper_lock:
        if _reaper is None or _reaper_owner != os.getpid() or _reaper.poll() is not None:
            import sys

            _reaper = subprocess.Popen(
                [sys.executable, "-m", "launch_control.web.reaper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives us on purpose, away from the terminal's signals
                close_fds=True,
            )
            _reaper_owner = os.getpid()
        assert _reaper.stdin is not None
        with contextlib.suppress(OSError, ValueError):  # a dead watchdog must not stop a child
            _reaper.stdin.write(line.encode() + b"\n")
            _reaper.stdin.flush()


class ChildProcess:
    """A child in its own process group; ``stop()`` sends SIGTERM to the group, then SIGKILL.

    The group is registered with this process's watchdog (``launch_control.web.reaper``): if this
    process dies — even by SIGKILL, when no handler or ``finally`` runs — the watchdog stops the
    group (SIGTERM, then SIGKILL after 2 s), so ``launch-control up`` / ``demo`` leave nothing
    behind. ``watch=False`` opts out (a child meant to outlive us)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        name: str = "",
        watch: bool = True,
        **popen: Any,
    ):
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.proc = subprocess.Popen(self.argv, env=env, start_new_session=True, **popen)
        self.watched = watch
        if watch:
            _tell_reaper(f"+{self.proc.pid}")  # its pgid: start_new_session made it the leader

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self.watched:
            self.watched = False
            _tell_reaper(f"-{self.proc.pid}")  # stopped: the pgid may be reused by someone else
        return self.proc.returncode

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
