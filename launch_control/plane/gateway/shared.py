"""The gateway's routing state — canary weight and which version each role serves — in 24 bytes
of shared memory, so every worker serves the same split.

Layout (little-endian): ``seq u64 | canary weight f64 | stable version u32 | canary version u32``
(versions as indexes into the sorted known versions, which every worker gets from the same
command line). A writer takes an ``flock`` on the file, makes ``seq`` odd, writes, makes it even
(a seqlock); a reader compares ``seq`` with the one it last applied — one ``unpack_from`` per
request (~0.2 µs), so a change is served by every worker from its next request on — and retries
a torn read. With one worker the same code runs on an anonymous map (no file).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

_LAYOUT = struct.Struct("<QdII")
SIZE = _LAYOUT.size
_SEQ = struct.Struct("<Q")


class RoutingState:
    """Readers call :meth:`seq` cheaply and :meth:`read` on a change; writers call :meth:`write`."""

    def __init__(self, versions: Iterable[str], path: str | None = None):
        self.names = sorted(versions)
        self._index = {name: i for i, name in enumerate(self.names)}
        self.path = path
        if path is None:
            self._fd = -1
            self._map = mmap.mmap(-1, SIZE)
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size < SIZE:
                os.ftruncate(self._fd, SIZE)
            self._map = mmap.mmap(self._fd, SIZE)

    def initialise(self, canary_weight: float, stable: str, canary: str) -> None:
        """Write the starting state (the supervisor, or the single worker, before serving)."""
        self.write(canary_weight, {"stable": stable, "canary": canary})

    def seq(self) -> int:
        return _SEQ.unpack_from(self._map, 0)[0]

    def read(self) -> tuple[int, float, str, str]:
        """(seq, canary weight, stable version, canary version), never a half-written state."""
        for _ in range(100_000):  # a write takes microseconds; only a writer killed mid-write ends the loop
            seq, weight, stable, canary = _LAYOUT.unpack_from(self._map, 0)
            if seq % 2 == 0 and _SEQ.unpack_from(self._map, 0)[0] == seq:
                break
        return seq, weight, self.names[stable], self.names[canary]

    def write(self, canary_weight: float | None = None, versions: dict[str, str] | None = None) -> None:
        """Change the weight and/or role versions for every worker; unchanged fields are kept."""
        with self._locked():
            seq, weight, stable, canary = _LAYOUT.unpack_from(self._map, 0)
            if canary_weight is not None:
                weight = float(canary_weight)
            for role, name in (versions or {}).items():
                if role == "stable":
                    stable = self._index[name]
                elif role == "canary":
                    canary = self._index[name]
            seq += 1 if seq % 2 == 0 else 0  # odd: a write is in progress (a crashed writer leaves it odd)
            _SEQ.pack_into(self._map, 0, seq)
            _LAYOUT.pack_into(self._map, 0, seq, weight, stable, canary)
            _SEQ.pack_into(self._map, 0, seq + 1)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._fd < 0:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
