"""A value read from somewhere slow (store, Redis) and re-read at most every ``ttl`` seconds.

Used for run-time settings that must change without a restart: the launch phase (rate-limit
scales), the WAF's blocklists, the degradation status. On an event loop, ``aget`` never blocks a
request on the read: a stale value is served while one worker thread refreshes it. A failed read
keeps the last good value (logged once per failure streak).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Refreshing(Generic[T]):
    def __init__(self, loader: Callable[[], T], *, ttl: float = 1.0, default: T, name: str = "value"):
        self.loader = loader
        self.ttl = ttl
        self.name = name
        self._value = default
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self._refreshing = False
        self._failing = False

    def _load(self) -> None:
        try:
            value = self.loader()
        except Exception as exc:  # keep serving the last good value
            if not self._failing:
                log.warning("could not refresh %s (keeping the last value): %s", self.name, exc)
            self._failing = True
        else:
            if self._failing:
                log.warning("%s readable again", self.name)
            self._failing = False
            self._value = value
        finally:
            self._loaded_at = time.monotonic()
            self._refreshing = False

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self.ttl

    def get(self) -> T:
        """Sync callers: re-read inline when stale."""
        if self.stale():
            with self._lock:
                if self.stale():
                    self._load()
        return self._value

    async def aget(self) -> T:
        """Async callers: the first read waits; later stale reads refresh in a worker thread."""
        if self.stale() and not self._refreshing:
            self._refreshing = True
            if self._loaded_at == float("-inf"):
                await asyncio.to_thread(self._load)
            else:
                asyncio.get_running_loop().run_in_executor(None, self._load)
        return self._value

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
