"""Small display helpers shared by the console's pages: times, durations, status colours."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from launch_control.plan.units import format_duration

VERDICT_ICON = {"pass": "✅", "fail": "❌", "hold": "⏸️", "pending": "⏳", "inconclusive": "⏸️"}
# Streamlit's own icon font in markdown: renders in any browser, no emoji font needed.
VERDICT_MARK = {
    "pass": ":green[:material/check_circle:]",
    "fail": ":red[:material/cancel:]",
    "hold": ":orange[:material/pause_circle:]",
    "pending": ":gray[:material/schedule:]",
}
# Streamlit markdown's named colours (:red[…]), not the report's hex palette (launch_control/review/colours.py).
SEV_COLOUR = {"SEV-1": "red", "SEV-2": "orange", "SEV-3": "blue", "sev1": "red", "sev2": "orange", "sev3": "blue"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def local(when: dt.datetime | None, tz: zoneinfo.ZoneInfo, fmt: str = "%a %H:%M:%S") -> str:
    if when is None:
        return "—"
    return when.astimezone(tz).strftime(fmt)


def ago(when: dt.datetime | None) -> str:
    if when is None:
        return "—"
    seconds = (now() - when).total_seconds()
    if seconds < 0:
        return f"in {format_duration(-seconds)}"
    return f"{format_duration(seconds)} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return format_duration(seconds)


def parse_time(value: object) -> dt.datetime | None:
    """A time from a status dict (ISO text, epoch seconds or a datetime), as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


PHASE_WORDS = {
    "planned": "Planned", "ramping": "Ramping", "paused": "Paused", "awaiting_approval": "Waiting for go/no-go",
    "complete": "Complete", "rolling_back": "Rolling back", "rolled_back": "Rolled back",
    "rollback_failed": "Rollback FAILED", "aborted": "Aborted",
}


def phase_label(state: dict) -> str:
    """The phase of a ``Store.state()`` row in plain words ("Paused", not ``ramping (paused)``)."""
    phase = str(state.get("phase") or "planned")
    if state.get("paused") and phase == "ramping":
        phase = "paused"
    return PHASE_WORDS.get(phase, phase.replace("_", " ").capitalize())
