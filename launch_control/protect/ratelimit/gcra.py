"""GCRA arithmetic (the generic cell rate algorithm, a token bucket kept as one timestamp).

This module is the reference: the in-memory backend runs it directly and ``gcra.lua`` is a
line-by-line port of :func:`decide`, so both backends answer alike. All times are integer
microseconds, so the arithmetic is exact in Python and in Redis's Lua (doubles, exact < 2**53).

For a limit of ``count`` requests per ``window`` seconds with ``burst`` b:

* emission interval ``T = ceil(window / count)`` (µs, rounded *up*: never faster than the rate),
* tolerance ``tau = b * T``,
* a key stores its TAT (theoretical arrival time). A request at ``now`` sees
  ``tat = max(TAT, now)``; it is admitted iff ``tat - now <= tau``, and then ``TAT = tat + T``.

The contract (tested with hypothesis in tests/protection/test_gcra_properties.py):

1. In any half-open interval of length ``window`` a key is admitted at most ``b + count``
   requests (b + 1 at once from idle, then one per T; ``b + ceil(count)`` for fractional counts).
2. A client whose requests never come closer together than ``T`` is never refused; more
   generally, one that sends at most ``1 + b + L/T`` requests in every interval of length L.

Several limits can apply to one request (a route policy and the org-wide limit): the request is
admitted only if *every* limit admits it, and only then does every TAT advance, so a refused
request costs nothing anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

US = 1_000_000


@dataclass(frozen=True, slots=True)
class Limit:
    """``count`` requests per ``window`` seconds, plus ``burst`` requests of tolerance."""

    name: str
    count: float
    window: float
    burst: int = 0
    # derived once (a Limit is built per policy and phase, then used for every request)
    emission_us: int = field(init=False, compare=False, repr=False)
    tolerance_us: int = field(init=False, compare=False, repr=False)
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.count <= 0 or self.window <= 0:
            raise ValueError(
                f"limit {self.name!r}: count and window must be positive (got {self.count}/{self.window}s)"
            )
        if self.burst < 0:
            raise ValueError(f"limit {self.name!r}: burst cannot be negative")
        emission = max(1, math.ceil(self.window * US / self.count))
        object.__setattr__(self, "emission_us", emission)
        object.__setattr__(self, "tolerance_us", self.burst * emission)
        object.__setattr__(self, "_hash", hash((self.name, self.count, self.window, self.burst)))

    def __hash__(self) -> int:  # computed once: Limits are cache keys on every request
        return self._hash

    @property
    def max_per_window(self) -> int:
        """The most requests this limit admits in any window of ``window`` seconds: b + count
        (b + ceil(count) for a fractional count)."""
        return self.burst + math.ceil(self.count)

    def scaled(self, factor: float) -> Limit:
        """The same limit with rate and burst multiplied by ``factor`` (phases, fail-open shares)."""
        if factor == 1:
            return self
        return Limit(self.name, self.count * factor, self.window, math.floor(self.burst * factor))


class LimitState(NamedTuple):
    """One limit's answer for one request: what the RateLimit headers report."""

    limit: Limit
    allowed: bool
    remaining: int
    retry_after: float  # seconds until this limit admits a request (0 when it admits now)
    reset: float  # seconds until this limit's full quota is available again

    @property
    def name(self) -> str:
        return self.limit.name


class Decision(NamedTuple):
    """The answer for one request over every limit that applies to it (tuples: cheap to build)."""

    allowed: bool
    states: tuple[LimitState, ...]
    backend: str = "memory"  # redis | memory | fallback | cache | closed
    unavailable: bool = False  # fail-closed: no backend could decide
    reason: str = ""

    @property
    def retry_after(self) -> float:
        refused = [s.retry_after for s in self.states if not s.allowed]
        return max(refused, default=0.0)


def state_from(limit: Limit, allowed: int, remaining: int, retry_us: int, reset_us: int) -> LimitState:
    return LimitState(limit, bool(allowed), int(remaining), retry_us / US, reset_us / US)


_new_state = tuple.__new__  # LimitState(...) without the generated __new__'s argument handling (hot path)


def decide(
    tats: Sequence[int | None], now: int, limits: Sequence[Limit]
) -> tuple[bool, list[int | None], list[LimitState]]:
    """Decide one request at ``now`` (µs) given each limit's stored TAT (None: never seen).

    Returns (admitted, new TATs — None where nothing changes —, one state per limit).
    """
    current = [now if tat is None or tat < now else tat for tat in tats]
    admitted = True
    for tat, limit in zip(current, limits, strict=True):
        if tat - now > limit.tolerance_us:
            admitted = False
            break
    new_tats: list[int | None] = []
    states: list[LimitState] = []
    for tat, limit in zip(current, limits, strict=True):
        emission, tau = limit.emission_us, limit.tolerance_us
        if admitted:
            new = tat + emission
            new_tats.append(new)
            remaining = (tau + emission - (new - now)) // emission
            states.append(
                _new_state(LimitState, (limit, True, remaining if remaining > 0 else 0, 0.0, (new - now) / US))
            )
            continue
        new_tats.append(None)
        if tat - now <= tau:  # this limit alone would admit; another one refused
            remaining = (tau + emission - (tat - now)) // emission
            states.append(
                _new_state(LimitState, (limit, True, remaining if remaining > 0 else 0, 0.0, (tat - now) / US))
            )
        else:
            states.append(_new_state(LimitState, (limit, False, 0, (tat - tau - now) / US, (tat - now) / US)))
    return admitted, new_tats, states
