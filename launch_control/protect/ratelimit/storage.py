"""The limiter's storage interface: what ``RateLimiter`` asks of a backend (as the ``limits``
library's ``Storage`` does), implemented with the same signatures by the in-memory backend
(memory.py) and the Redis backend (redis_backend.py).

The limiter talks to its backends only through these methods, so a new store (Memcached, a
cluster) is one class, and neither backend's attributes leak into the failure policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from launch_control.protect.ratelimit.gcra import Decision, Limit


@runtime_checkable
class RateLimitStorage(Protocol):
    """Where the GCRA state of every (org, limit) lives.

    A store that cannot answer raises ``BackendUnavailable`` (redis_backend.py); the limiter's
    breaker and failure policy decide what that means, never the store.
    """

    name: str  # the Decision.backend label of its answers: memory | fallback | redis

    def decide(self, org: str, limits: Sequence[Limit]) -> Decision:
        """Admit one request of ``org`` iff every limit admits it (and only then advance them)."""
        ...

    async def adecide(self, org: str, limits: Sequence[Limit]) -> Decision:
        """``decide`` for the event loop."""
        ...

    def decide_many(self, requests: Sequence[tuple[str, Sequence[Limit]]]) -> list[Decision]:
        """Many decisions at once (each atomic on its own), in order."""
        ...

    def heartbeat(self, instance: str, ttl: float) -> int:
        """Record ``instance`` as alive and return how many instances did so in the last ``ttl`` s."""
        ...

    def reset(self) -> None:
        """Forget every bucket this store holds (all orgs back to a full quota)."""
        ...

    def describe(self) -> str:
        """Where the state lives, for logs (never a password)."""
        ...

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
