"""The degradation status every process (API, console banner, CLI, rollback) reads and writes.

Several sources can hold it at once (``manual``, ``rollback``, ``breaker:<service>``); the
effective status is the most severe active entry. Each source is its own entry on the board
(a store row ``degradation:<source>``, a field of a Redis hash), written in one atomic upsert:
a write or clear for one source never reads-and-replaces the others, so two processes changing
different sources at the same moment both keep their change. (Until issue 18 the status was
one blob read, modified and written back whole — concurrent writers lost each other's entries.)

A clear writes a tombstone (``cleared``) rather than deleting, so a store copy and a Redis copy
merge per source by ``_written_at``: a clear made while Redis was down is not undone by Redis's
stale entry when it comes back. ``degradation`` itself still holds a summary (effective status
plus the active entries) for readers of the raw store; an old database whose ``degradation``
blob is the only copy of the entries is migrated to per-source entries on first read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from launch_control.protect.boards import StatusBoard, default_board

STATUS_KEY = "degradation"
FORMAT = "per-source"  # marks a summary written by this module (an old blob has no marker)


@dataclasses.dataclass(frozen=True)
class DegradationStatus:
    """What the API's /api/status and the console banner show."""

    degraded: bool = False
    reason: str = ""
    retry_after: float | None = None
    emergency: bool = False
    since: str | None = None  # ISO 8601, UTC
    source: str = ""  # manual | rollback | breaker:<service>
    actor: str = ""
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sources"] = list(self.sources)
        return data


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _migrate_legacy(board: StatusBoard) -> None:
    """Copy an old whole-blob status's entries into per-source entries (never over a newer one)."""
    raw = board.get(STATUS_KEY)
    if not isinstance(raw, dict) or raw.get("format") == FORMAT or not isinstance(raw.get("entries"), dict):
        return
    written = float(raw.get("_written_at", 0.0))
    for source, entry in raw["entries"].items():
        if isinstance(entry, dict):
            board.put_entry(STATUS_KEY, str(source), {**entry, "_written_at": written}, only_if_absent=True)
    _write_summary(board, _active(board.entries(STATUS_KEY)))


def _active(entries: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(k): v for k, v in entries.items() if isinstance(v, dict) and not v.get("cleared")}


def active_entries(board: StatusBoard) -> dict[str, dict[str, Any]]:
    """Every source's current entry (cleared ones left out), each with its ``_written_at``."""
    _migrate_legacy(board)
    return _active(board.entries(STATUS_KEY))


def effective(entries: dict[str, dict[str, Any]]) -> DegradationStatus:
    """The status the entries add up to: the most severe, then the oldest, leads."""
    if not entries:
        return DegradationStatus()
    # most severe first (emergency), then the oldest: the banner names the root cause
    source, entry = sorted(entries.items(), key=lambda kv: (not kv[1].get("emergency"), kv[1].get("since") or ""))[0]
    retry = [e["retry_after"] for e in entries.values() if e.get("retry_after") is not None]
    return DegradationStatus(
        degraded=True,
        reason=str(entry.get("reason", "")),
        retry_after=max(retry) if retry else None,
        emergency=any(bool(e.get("emergency")) for e in entries.values()),
        since=entry.get("since"),
        source=source,
        actor=str(entry.get("actor", "")),
        sources=tuple(sorted(entries)),
    )


def read_status(board: StatusBoard) -> DegradationStatus:
    return effective(active_entries(board))


def _write_summary(board: StatusBoard, entries: dict[str, dict[str, Any]]) -> DegradationStatus:
    """Refresh the derived summary under ``degradation`` (the entries stay the truth)."""
    status = effective(entries)
    board.set(STATUS_KEY, {**status.to_dict(), "entries": entries, "format": FORMAT, "_written_at": time.time()})
    return status


def _put(board: StatusBoard, source: str, entry: dict[str, Any]) -> DegradationStatus:
    board.put_entry(STATUS_KEY, source, {**entry, "_written_at": time.time()})
    return _write_summary(board, _active(board.entries(STATUS_KEY)))


def set_degraded(
    board: StatusBoard,
    reason: str,
    *,
    source: str = "manual",
    retry_after: float | None = None,
    emergency: bool = False,
    actor: str = "",
) -> DegradationStatus:
    """Mark the service degraded on behalf of ``source`` (kept until that source clears it)."""
    if not reason.strip():
        raise ValueError("a degradation needs a reason people can read (e.g. 'live model outage')")
    previous = active_entries(board).get(source, {})
    entry = {
        "reason": reason,
        "retry_after": retry_after,
        "emergency": emergency,
        "since": previous.get("since") if previous.get("reason") == reason else _now_iso(),
        "actor": actor,
    }
    return _put(board, source, entry)


def clear_degraded(board: StatusBoard, source: str | None = "manual") -> DegradationStatus:
    """Clear ``source``'s entry (``None``: every entry). Returns what remains in effect."""
    sources = list(active_entries(board)) if source is None else [source]
    for name in sources:
        board.put_entry(STATUS_KEY, name, {"cleared": True, "_written_at": time.time()})
    return _write_summary(board, _active(board.entries(STATUS_KEY)))


def rollback_started(reason: str, board: StatusBoard | None = None, *, actor: str = "") -> DegradationStatus:
    """For the rollback code: show 'rollback in progress' everywhere until ``rollback_finished``."""
    return set_degraded(board or default_board(), f"rollback in progress: {reason}", source="rollback", actor=actor)


def rollback_finished(board: StatusBoard | None = None) -> DegradationStatus:
    return clear_degraded(board or default_board(), "rollback")


class StatusView:
    """The degradation status as an API serves it: read from the board at most every ``ttl``
    seconds, never blocking a request on the read (see launch_control.protect.ratelimit.refresh)."""

    def __init__(self, board: StatusBoard, *, ttl: float = 1.0):
        from launch_control.protect.ratelimit.refresh import Refreshing

        self.board = board
        self.cache = Refreshing(lambda: read_status(board), ttl=ttl, default=DegradationStatus(), name="degradation")

    async def current(self) -> DegradationStatus:
        return await self.cache.aget()

    async def payload(self, *, local_reason: str = "") -> dict[str, Any]:
        """The shared status; ``local_reason``: this process is answering degraded right now
        (e.g. its last model call failed) even if no shared entry says so yet."""
        status = await self.current()
        data = status.to_dict()
        if local_reason and not status.degraded:
            data.update(degraded=True, reason=local_reason, source="local")
        return data
