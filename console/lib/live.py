"""Live launch status for the console: the degradation banner's data and the ramp position."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from launch_control.plan.model import Plan
from launch_control.protect import status as status_module
from launch_control.store.db import Store


@dataclass(frozen=True)
class Degradation:
    degraded: bool
    reason: str = ""
    emergency: bool = False
    since: str | None = None
    source: str = ""
    retry_in: float | None = None  # seconds from now until the next retry (None: not known)

    @property
    def key(self) -> str:
        """Identifies one episode: a dismissed banner comes back for a new reason or source."""
        return f"{self.source}|{self.since}|{self.reason}"


def degradation(store: Store) -> Degradation:
    """The effective degradation status (launch_control.protect.status over the status board)."""
    board = status_module.default_board(store)
    try:
        entries = status_module.active_entries(board)
    except Exception:  # Redis down and no store copy: say nothing rather than fail the page
        entries = {}
    data = status_module.effective(entries).to_dict()
    written = max((float(e.get("_written_at", 0.0)) for e in entries.values()), default=0.0)
    state_degraded = bool(store.state().get("degraded"))
    if not data.get("degraded") and not state_degraded:
        return Degradation(False)
    retry_in = None
    if data.get("retry_after") is not None:
        after = float(data["retry_after"])
        retry_in = max(0.0, written + after - time.time()) if written else after
    return Degradation(
        True,
        reason=str(data.get("reason") or "the launch state is marked degraded"),
        emergency=bool(data.get("emergency")),
        since=data.get("since"),
        source=str(data.get("source") or ("state" if state_degraded else "")),
        retry_in=retry_in,
    )


def hold_left(plan: Plan, state: dict[str, Any], now: dt.datetime) -> tuple[float | None, float | None]:
    """(seconds left in the current step's hold, the hold's length), both scaled for rehearsals.

    The one figure (``launch_control.control.state.time_left``): green time against the hold, frozen while
    paused, None once the ramp has ended — the same number ``--status`` and ``--monitor`` show.
    """
    from launch_control.control.state import LaunchState, step_hold, time_left

    typed = LaunchState.from_row(state)
    length = step_hold(typed, [s.hold for s in plan.canary.steps])
    left = time_left(typed, length)
    if left is None:
        return None, None
    return left, length
