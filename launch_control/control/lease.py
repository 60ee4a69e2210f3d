"""The engine's lease on a launch: one live engine per launch, by compare-and-swap on the state's
revision, and every write the engine makes goes through it.

Two engines that read the same revision both try to write their lease with that revision; the
store lets exactly one through, the other reads again, sees a live lease that is not its own and
stops with ``EngineBusy``. A lease whose owner is dead (same host, no such process) or whose
heartbeat is older than three intervals is taken over. Each later write checks, in the same
compare-and-swap, that the lease is still this engine's: an engine that lost it stops
(``LeaseLost``) instead of writing over the one that took over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from launch_control.control.state import HEARTBEAT_FLOOR, LaunchState, extra_update, heartbeat_age
from launch_control.errors import LaunchControlError
from launch_control.store.db import utcnow

if TYPE_CHECKING:
    from launch_control.store.db import Store

CAS_ATTEMPTS = 50


class EngineBusy(LaunchControlError):
    """Another live engine is running this launch."""


class LeaseLost(EngineBusy):
    """Another engine took this launch over; this one must stop."""


class EngineLease:
    def __init__(self, store: Store, interval: Callable[[], float]):
        self.store = store
        self.token = uuid.uuid4().hex
        self._interval = interval

    def record(self) -> dict[str, Any]:
        return {"token": self.token, "pid": os.getpid(), "host": socket.gethostname(),
                "at": utcnow().isoformat(), "interval": self._interval()}  # fmt: skip

    def mine(self, state: LaunchState) -> bool:
        return state.lease is not None and state.lease.token == self.token

    def refuse_if_busy(self, state: LaunchState) -> None:
        lease = state.lease
        if lease is None or lease.token == self.token:
            return
        if lease.host == socket.gethostname() and (lease.pid == os.getpid() or not pid_alive(lease.pid)):
            return  # it died (crash, SIGKILL), or it was an earlier engine of this very process: take over
        age = heartbeat_age(state, utcnow())
        if age is None:
            return
        limit = max(3 * (lease.interval or self._interval()), HEARTBEAT_FLOOR)
        if age < limit:
            raise EngineBusy(
                f"an engine (pid {lease.pid} on {lease.host}) is running this launch (heartbeat {age:.1f} s ago); "
                "watch it with launch-control --monitor, or stop it first"
            )

    def acquire(self) -> LaunchState:
        """Take the lease (or refuse with EngineBusy); returns the state as written."""
        for _ in range(CAS_ATTEMPTS):
            state = self.store.launch_state()
            self.refuse_if_busy(state)
            written = self.store.compare_and_set(state.revision, extra=extra_update(state, engine=self.record()))
            if written is not None:
                return written
        raise EngineBusy("the launch state kept changing while this engine took its lease; try again")

    def write(
        self,
        change: Callable[[LaunchState], dict[str, Any] | None],
        *,
        audit: tuple[str, str, dict[str, Any]] | None = None,
        release: bool = False,
    ) -> LaunchState:
        """Read, check the lease is still ours, apply ``change`` (fields, plus ``extra_values`` to
        merge into the extra column), renew the heartbeat, write by compare-and-swap; retry on a
        lost race. ``change`` may raise to stop (the caller handles it)."""
        for _ in range(CAS_ATTEMPTS):
            state = self.store.launch_state()
            if not self.mine(state):
                try:
                    self.refuse_if_busy(state)  # a dead or stale owner (or none): this engine takes over
                except EngineBusy:
                    lease = state.lease
                    assert lease is not None
                    raise LeaseLost(
                        f"another engine (pid {lease.pid} on {lease.host}) took this launch over; this one "
                        "stops (launch-control --monitor shows the running one)"
                    ) from None
            fields = dict(change(state) or {})
            values = fields.pop("extra_values", {})
            values["engine"] = None if release else self.record()
            fields["extra"] = extra_update(state, **values)
            written = self.store.compare_and_set(state.revision, audit=audit, **fields)
            if written is not None:
                return written
        raise LeaseLost("the launch state kept changing under this engine; it stops (start it again to resume)")

    def release(self) -> None:
        """Give the lease up (the ramp ended); never fails the caller."""
        with contextlib.suppress(Exception):
            for _ in range(CAS_ATTEMPTS):
                state = self.store.launch_state()
                if not self.mine(state):
                    return
                if self.store.compare_and_set(state.revision, extra=extra_update(state, engine=None)) is not None:
                    return


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped) still answers kill(0); /proc says whether it is one.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
        if handle.read().split(") ", 1)[1].startswith("Z"):
            return False
    return True
