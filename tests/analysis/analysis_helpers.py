"""Helpers for the analysis tests: observations built from plain numbers."""

from __future__ import annotations

import datetime as dt

from launch_control.ramp.observations import Observation, VersionWindow

AT = dt.datetime(2025, 6, 1, 9, 0, tzinfo=dt.UTC)


def window(requests: int, errors: int = 0, **fields) -> VersionWindow:
    return VersionWindow(requests=requests, errors=errors, **fields)


def obs(stable: VersionWindow | None, canary: VersionWindow | None, *, minute: int = 0, error: str | None = None):
    return Observation(
        at=AT + dt.timedelta(minutes=minute), interval=60.0, stable=stable, canary=canary, error=error
    )
