"""Several gateway workers on one port: a small pre-fork supervisor.

``python -m launch_control.plane.gateway ... --workers N`` runs this. It writes the starting routing
state (weight, role → version) into a shared-memory file and sizes the metrics file, then starts
N worker processes (the same command with ``--worker i/N --shared DIR``). Each worker binds its
own ``SO_REUSEPORT`` socket on the port, so the kernel spreads connections over the workers
without a shared accept queue; each serves the split from the shared state (a change through
any worker's admin API is served by all of them from their next request) and counts into its own
slot of the shared metrics, which ``/metrics`` sums.

A worker that exits is started again (same slot: its counters carry on) while the supervisor
runs; one that keeps dying at start-up (5 times within 2 s each) stops everything with exit 1,
since it would only keep failing. SIGTERM/SIGINT stop the workers and remove the shared files.
Workers get SIGTERM if the supervisor itself dies (PR_SET_PDEATHSIG), so none is orphaned.
"""

from __future__ import annotations

import ctypes
import mmap
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from launch_control.plane.gateway.metrics import SLOT_BYTES, MetricSlots
from launch_control.plane.gateway.shared import RoutingState

ROUTING_FILE, METRICS_FILE = "routing", "metrics"
FAST_EXIT = 2.0  # seconds: a worker dying sooner than this after its start counts as a crash loop
MAX_FAST_EXITS = 5


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that other workers' sockets share (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_state(shared: str, known: Sequence[str], spec: str) -> tuple[RoutingState, MetricSlots, int, int]:
    """What a worker opens: (routing state, its metric slot, index, workers) from ``--worker i/N``."""
    index_text, _, total_text = spec.partition("/")
    index, total = int(index_text), int(total_text)
    if not 0 <= index < total:
        raise ValueError(f"--worker {spec}: expected INDEX/WORKERS with 0 <= INDEX < WORKERS")
    state = RoutingState(known, str(Path(shared) / ROUTING_FILE))
    with open(Path(shared) / METRICS_FILE, "r+b") as fh:
        buffer = mmap.mmap(fh.fileno(), total * SLOT_BYTES)
    return state, MetricSlots(buffer, total, index), index, total


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers may outlive a killed supervisor
        pass


class Supervisor:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        workers: int,
        host: str,
        port: int,
        known: Sequence[str],
        canary_weight: float,
        stable: str,
        canary: str,
    ):
        self.argv, self.workers, self.host, self.port = list(argv), workers, host, port
        self.shared = tempfile.mkdtemp(prefix="lc-gateway-")
        state = RoutingState(known, str(Path(self.shared) / ROUTING_FILE))
        state.initialise(canary_weight, stable, canary)
        state.close()
        with open(Path(self.shared) / METRICS_FILE, "wb") as fh:
            fh.truncate(workers * SLOT_BYTES)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.started: dict[int, float] = {}
        self.fast_exits: dict[int, int] = dict.fromkeys(range(workers), 0)
        self.stopping = False

    def _spawn(self, index: int) -> None:
        argv = [sys.executable, "-m", "launch_control.plane.gateway", *self.argv]
        argv += ["--worker", f"{index}/{self.workers}", "--shared", self.shared]
        self.procs[index] = subprocess.Popen(argv, preexec_fn=_die_with_parent)  # noqa: PLW1509 - only prctl
        self.started[index] = time.monotonic()

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        # Refuse a port something else holds, before any worker starts (workers would crash-loop).
        try:
            reuseport_socket(self.host, self.port).close()
        except OSError as exc:
            print(
                f"error: cannot listen on {self.host}:{self.port} ({exc.strerror}); stop what uses it "
                "or choose another --port",
                file=sys.stderr,
            )
            shutil.rmtree(self.shared, ignore_errors=True)
            return 2
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        code = 0
        try:
            for index in range(self.workers):
                self._spawn(index)
            print(
                f"gateway: {self.workers} workers on http://{self.host}:{self.port} "
                f"(pids {', '.join(str(p.pid) for p in self.procs.values())})",
                file=sys.stderr,
                flush=True,
            )
            while not self.stopping:
                time.sleep(0.1)
                for index, proc in list(self.procs.items()):
                    if self.stopping or proc.poll() is None:
                        continue
                    lived = time.monotonic() - self.started[index]
                    self.fast_exits[index] = self.fast_exits[index] + 1 if lived < FAST_EXIT else 0
                    if self.fast_exits[index] >= MAX_FAST_EXITS:
                        print(
                            f"error: gateway worker {index} keeps exiting at start-up (code {proc.returncode}); "
                            "stopping — see the lines above",
                            file=sys.stderr,
                            flush=True,
                        )
                        code = 1
                        self.stopping = True
                        break
                    print(
                        f"gateway: worker {index} (pid {proc.pid}) exited with {proc.returncode}; restarting",
                        file=sys.stderr,
                        flush=True,
                    )
                    self._spawn(index)
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _shutdown(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.shared, ignore_errors=True)
