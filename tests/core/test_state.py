"""The typed launch state: phases and transitions, reading a row, and the pure questions every
front end asks (time left, engine alive, heartbeat age, plain words)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from launch_control.control.state import (
    IllegalTransition,
    LaunchState,
    Phase,
    check_transition,
    engine_alive,
    extra_update,
    heartbeat_age,
    phase_words,
    time_left,
)
from launch_control.errors import LaunchControlError

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def row(**fields):
    base = {"launch_id": "t", "phase": "ramping", "current_step": 1, "canary_weight": 5.0, "revision": 3,
            "paused": False, "extra": {}}
    return {**base, **fields}


def test_legal_and_illegal_transitions():
    check_transition("planned", "ramping")
    check_transition(Phase.RAMPING, Phase.PAUSED)
    check_transition("paused", "ramping")
    check_transition("complete", "rolling_back")  # any phase may roll back
    check_transition("rolled_back", "rolled_back")  # idempotent
    with pytest.raises(IllegalTransition) as caught:
        check_transition("rolled_back", "paused")
    assert isinstance(caught.value, LaunchControlError)
    assert "rolled_back to paused" in str(caught.value) and "--start-canary" in str(caught.value)
    with pytest.raises(IllegalTransition, match="a rollback is running"):
        check_transition("rolling_back", "ramping")
    with pytest.raises(IllegalTransition, match="unknown launch phase 'flying'"):
        check_transition("flying", "ramping")


def test_from_row_types_the_extra_column():
    state = LaunchState.from_row(row(extra={
        "time_scale": 60, "engine": {"token": "a", "pid": 7, "host": "h", "at": NOW.isoformat(), "interval": 0.5},
        "evidence": {"step": 1, "green_seconds": 4.5, "intervals": 9, "gate": {"n": 3}},
        "served": {"weight": 60.0, "at": NOW.isoformat()},
        "pause": {"by": "lena", "reason": "looks odd"},
    }, phase="paused"))
    assert state.phase is Phase.PAUSED and state.paused and state.ramping and not state.ended
    assert state.time_scale == 60 and state.lease.pid == 7 and state.lease.at == NOW
    assert state.evidence.green_seconds == 4.5 and state.evidence.gate == {"n": 3}
    assert state.served_mismatch() and state.served.weight == 60.0
    assert phase_words(state) == "paused at 5% by lena: looks odd"
    # a legacy row: paused flag on a ramping phase, green time under "observed"
    legacy = LaunchState.from_row(row(paused=True, extra={"observed": 2.0}))
    assert legacy.phase is Phase.PAUSED and legacy.evidence.green_seconds == 2.0
    merged = extra_update(state, served=None, request={"kind": "x"})
    assert "served" not in merged and merged["request"] == {"kind": "x"} and merged["time_scale"] == 60


def test_time_left_is_green_time_against_the_hold_and_ends_with_the_ramp():
    ramping = LaunchState.from_row(row(extra={"evidence": {"step": 1, "green_seconds": 10.0}}))
    assert time_left(ramping, 30.0) == 20.0
    paused = LaunchState.from_row(row(phase="paused", extra={"evidence": {"step": 1, "green_seconds": 10.0}}))
    assert time_left(paused, 30.0) == 20.0  # frozen: the same figure while paused
    assert time_left(ramping, 0.0) is None  # no hold to count
    stale = LaunchState.from_row(row(extra={"evidence": {"step": 0, "green_seconds": 29.0}}))
    assert time_left(stale, 30.0) == 30.0  # the previous step's green time does not count here
    for phase in ("rolled_back", "complete", "aborted", "rollback_failed", "planned"):
        assert time_left(LaunchState.from_row(row(phase=phase)), 30.0) is None, phase


def test_engine_alive_and_heartbeat_age():
    lease = {"token": "a", "pid": 7, "host": "h", "at": (NOW - dt.timedelta(seconds=4)).isoformat()}
    state = LaunchState.from_row(row(extra={"engine": lease}))
    assert heartbeat_age(state, NOW) == 4.0
    assert engine_alive(state, NOW, 0.5)  # within the 5 s floor
    assert not engine_alive(state, NOW + dt.timedelta(seconds=2), 0.5)
    assert engine_alive(state, NOW + dt.timedelta(seconds=20), 10.0)  # three 10 s intervals
    none = LaunchState.from_row(row())
    assert heartbeat_age(none, NOW) is None and not engine_alive(none, NOW, 1.0)


def test_phase_words_name_who_ended_the_ramp():
    state = LaunchState.from_row(row(phase="rolled_back", extra={"ended": {"by": "cli:lena", "reason": "bad"}}))
    assert phase_words(state) == "rolled back by cli:lena: bad"
    assert "act by hand" in phase_words(LaunchState.from_row(row(phase="rollback_failed")))


def test_state_module_is_pure():
    code = ("import sys, launch_control.control.state; bad = [m for m in ('sqlalchemy', 'pydantic', 'httpx') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
