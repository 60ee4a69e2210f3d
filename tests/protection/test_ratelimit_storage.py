"""The limiter's storage interface: the memory and Redis backends implement RateLimitStorage with
the same signatures and answer its contract alike (decide, adecide, decide_many, heartbeat,
reset), and the limiter works over any store that implements it."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterator, Sequence

import pytest

from launch_control.protect.ratelimit.gcra import Decision, Limit
from launch_control.protect.ratelimit.limiter import RateLimiter
from launch_control.protect.ratelimit.memory import MemoryBackend
from launch_control.protect.ratelimit.redis_backend import RedisBackend
from launch_control.protect.ratelimit.storage import RateLimitStorage

METHODS = ["decide", "adecide", "decide_many", "heartbeat", "reset", "describe", "close"]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[RateLimitStorage]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    prefix = request.getfixturevalue("redis_prefix")
    backend = RedisBackend(request.getfixturevalue("redis_url"), prefix=prefix, timeout=1.0)
    yield backend
    backend.close()


def test_both_backends_implement_the_interface_with_the_same_signatures() -> None:
    for cls in (MemoryBackend, RedisBackend):
        for method in METHODS:
            ours = inspect.signature(getattr(cls, method))
            theirs = inspect.signature(getattr(RateLimitStorage, method))
            assert list(ours.parameters) == list(theirs.parameters), (cls.__name__, method)
            assert inspect.iscoroutinefunction(getattr(cls, method)) == (method == "adecide")
    assert isinstance(MemoryBackend(), RateLimitStorage)


def test_the_contract_alike_on_both(store: RateLimitStorage) -> None:
    limit = Limit("storage-contract", 2, 3600, 1)  # b + 1 = 2 at once, then one per 30 min
    answers = [store.decide("acme", [limit]).allowed for _ in range(3)]
    assert answers == [True, True, False]
    assert store.decide("other-org", [limit]).allowed  # keys are per org
    assert asyncio.run(store.adecide("acme", [limit])).allowed is False
    many = store.decide_many([("acme", [limit]), ("fresh", [limit]), ("fresh", [limit]), ("fresh", [limit])])
    assert [d.allowed for d in many] == [False, True, True, False]
    assert many[0].backend == store.name
    store.reset()  # every bucket full again
    assert store.decide("acme", [limit]).allowed and store.decide("fresh", [limit]).allowed
    assert "password" not in store.describe()


def test_heartbeat_counts_live_instances_alike(store: RateLimitStorage) -> None:
    assert store.heartbeat("a", 10.0) == 1
    assert store.heartbeat("b", 10.0) == 2
    assert store.heartbeat("a", 10.0) == 2  # a beat again: still two instances
    time.sleep(0.05)
    assert store.heartbeat("c", 0.02) == 1  # a and b beat more than 20 ms ago: only c is alive


def test_redis_reset_leaves_a_longer_prefix_alone(redis_url: str, redis_prefix: str) -> None:
    outer = RedisBackend(redis_url, prefix=redis_prefix, timeout=1.0)
    inner = RedisBackend(redis_url, prefix=f"{redis_prefix}:gateway", timeout=1.0)
    limit = Limit("storage-prefix", 1, 3600, 0)
    assert outer.decide("acme", [limit]).allowed and inner.decide("acme", [limit]).allowed
    outer.reset()
    assert outer.decide("acme", [limit]).allowed  # outer forgot its bucket
    assert not inner.decide("acme", [limit]).allowed  # the gateway's bucket is untouched
    outer.close()
    inner.close()


class RecordingStore:
    """A third store, written only against the interface: the limiter needs nothing else."""

    name = "recording"

    def __init__(self) -> None:
        self.inner = MemoryBackend(name="recording")
        self.calls: list[str] = []

    def decide(self, org: str, limits: Sequence[Limit]) -> Decision:
        self.calls.append(f"decide {org}")
        return self.inner.decide(org, limits)

    async def adecide(self, org: str, limits: Sequence[Limit]) -> Decision:
        self.calls.append(f"adecide {org}")
        return self.inner.decide(org, limits)

    def decide_many(self, requests: Sequence[tuple[str, Sequence[Limit]]]) -> list[Decision]:
        return self.inner.decide_many(requests)

    def heartbeat(self, instance: str, ttl: float) -> int:
        self.calls.append("heartbeat")
        return 3

    def reset(self) -> None:
        self.inner.reset()

    def describe(self) -> str:
        return "a list"

    def close(self) -> None:
        self.calls.append("close")


def test_the_limiter_runs_on_any_store_that_implements_the_interface() -> None:
    store = RecordingStore()
    assert isinstance(store, RateLimitStorage)
    limiter = RateLimiter(store, heartbeat_every=0)
    limit = Limit("storage-any", 1, 3600, 0)
    assert limiter.decide("acme", [limit]).backend == "recording"
    refused = asyncio.run(limiter.adecide("acme", [limit]))
    assert not refused.allowed and refused.backend == "recording"
    assert limiter.decide("acme", [limit]).backend == "cache"  # the refusal is remembered locally
    assert limiter.heartbeat() == 3 and limiter.share == pytest.approx(1 / 3)
    limiter.close()
    assert store.calls == ["decide acme", "adecide acme", "heartbeat", "close"]
