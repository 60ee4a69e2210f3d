"""Status boards: somewhere every process (API, console, CLI) can read and write small JSON values.

Two kinds of value live on a board:

* plain values under a key (``get`` / ``set``): the WAF's run-time blocklist, the degradation
  summary. A write replaces the whole value.
* entries: a named map of one entry per source (``entries`` / ``put_entry``). Each entry is its
  own store row (key ``<name>:<source>``) or its own field of a Redis hash (``HSET``), so a write
  for one source never reads or replaces another source's entry — concurrent writers for
  different sources cannot lose each other's entries.

``SharedBoard`` is the store mirrored to Redis: writes go to both (best effort), reads take the
newest copy (per key, and per entry for entries) by the ``_written_at`` the writer stamped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Protocol

from launch_control.config import REDIS_URL_ENV

log = logging.getLogger(__name__)


class StatusBoard(Protocol):
    """Somewhere every process can read and write small JSON values."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def entries(self, name: str) -> dict[str, Any]: ...

    def put_entry(self, name: str, source: str, value: Any, *, only_if_absent: bool = False) -> None: ...


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class MemoryBoard:
    """One process only: tests and single-process demos."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.maps: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> Any:
        return _copy(self.values.get(key))

    def set(self, key: str, value: Any) -> None:
        self.values[key] = _copy(value)

    def entries(self, name: str) -> dict[str, Any]:
        return _copy(self.maps.get(name, {}))

    def put_entry(self, name: str, source: str, value: Any, *, only_if_absent: bool = False) -> None:
        entries = self.maps.setdefault(name, {})
        if not (only_if_absent and source in entries):
            entries[source] = _copy(value)


class StoreBoard:
    """The launch store's shared status table (SQLite file or PostgreSQL); an entry is one row."""

    def __init__(self, store: Any):
        self.store = store

    def get(self, key: str) -> Any:
        return self.store.get_status(key)

    def set(self, key: str, value: Any) -> None:
        self.store.set_status(key, value)

    def entries(self, name: str) -> dict[str, Any]:
        prefix = f"{name}:"
        return {key[len(prefix) :]: value for key, value in self.store.status_under(prefix).items()}

    def put_entry(self, name: str, source: str, value: Any, *, only_if_absent: bool = False) -> None:
        key = f"{name}:{source}"
        if only_if_absent:
            self.store.add_status(key, value)
        else:
            self.store.set_status(key, value)


class RedisBoard:
    """Values as JSON strings under ``<prefix>:<key>``; entries as fields of the hash
    ``<prefix>:<name>:sources`` (HSET / HSETNX / HGETALL, each atomic on the server)."""

    def __init__(self, url: str, *, prefix: str = "lc:status", timeout: float = 0.2):
        import redis  # not at module level: the emergency path must not need it

        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def get(self, key: str) -> Any:
        raw = self.client.get(f"{self.prefix}:{key}")
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self.client.set(f"{self.prefix}:{key}", json.dumps(value, default=str))

    def _hash(self, name: str) -> str:
        return f"{self.prefix}:{name}:sources"

    def entries(self, name: str) -> dict[str, Any]:
        raw = self.client.hgetall(self._hash(name))
        # bytes: the client does not decode (redis-py's types also allow str, for decode_responses=True)
        return {(f.decode() if isinstance(f, bytes) else f): json.loads(value) for f, value in raw.items()}

    def put_entry(self, name: str, source: str, value: Any, *, only_if_absent: bool = False) -> None:
        data = json.dumps(value, default=str)
        if only_if_absent:
            self.client.hsetnx(self._hash(name), source, data)
        else:
            self.client.hset(self._hash(name), source, data)


def _written_at(value: Any) -> float:
    return float(value.get("_written_at", 0.0)) if isinstance(value, dict) else 0.0


class SharedBoard:
    """The store, mirrored to Redis: writes go to both (best effort), reads take the newest.

    Values written here carry ``_written_at``; a reader that sees both copies keeps the newer one,
    so a status written while Redis was down is not hidden by a stale copy when it comes back.
    Entries are compared one source at a time.
    """

    def __init__(self, *boards: StatusBoard):
        self.boards = [b for b in boards if b is not None]

    def _read(self, what: str, read: Any) -> list[Any]:
        values, errors = [], []
        for board in self.boards:
            try:
                values.append(read(board))
            except Exception as exc:  # one copy unreadable: the other still answers
                errors.append(exc)
        if errors and not values:
            raise errors[0]
        return values

    def _write(self, what: str, write: Any) -> None:
        written, errors = 0, []
        for board in self.boards:
            try:
                write(board)
                written += 1
            except Exception as exc:
                errors.append(exc)
                log.warning("status %s: could not write to %s: %s", what, type(board).__name__, exc)
        if not written and errors:
            raise errors[0]

    def get(self, key: str) -> Any:
        best: Any = None
        for value in self._read(key, lambda b: b.get(key)):
            if value is not None and (best is None or _written_at(value) > _written_at(best)):
                best = value
        return best

    def set(self, key: str, value: Any) -> None:
        if isinstance(value, dict):
            value = {**value, "_written_at": time.time()}
        self._write(key, lambda b: b.set(key, value))

    def entries(self, name: str) -> dict[str, Any]:
        best: dict[str, Any] = {}
        for copy in self._read(name, lambda b: b.entries(name)):
            for source, value in copy.items():
                if source not in best or _written_at(value) > _written_at(best[source]):
                    best[source] = value
        return best

    def put_entry(self, name: str, source: str, value: Any, *, only_if_absent: bool = False) -> None:
        if isinstance(value, dict) and "_written_at" not in value:  # a migrated entry keeps its time
            value = {**value, "_written_at": time.time()}
        self._write(f"{name}:{source}", lambda b: b.put_entry(name, source, value, only_if_absent=only_if_absent))


def default_board(store: Any = None, redis_url: str | None = None) -> SharedBoard:
    """The board for this process: the store (if given) plus Redis when configured."""
    url = redis_url if redis_url is not None else os.environ.get(REDIS_URL_ENV)
    boards: list[StatusBoard] = []
    if store is not None:
        boards.append(StoreBoard(store))
    if url:
        boards.append(RedisBoard(url))
    if not boards:
        boards.append(MemoryBoard())
    return SharedBoard(*boards)
