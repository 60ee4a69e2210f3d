"""The sticky split: which version an org's request goes to, as pure functions.

An org id is hashed (BLAKE2b, stable across processes and machines — unlike Python's ``hash()``)
into one of 10,000 buckets; the canary serves buckets below ``canary_weight * 100``. Raising the
weight therefore only adds orgs to the canary (an org on the canary at 1% is still there at 5%),
and at a fixed weight an org never flaps between versions. Requests without an org are split
per request.
"""

from __future__ import annotations

import hashlib
import random
import re

BUCKETS = 10_000
ORG_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
ROLES = ("stable", "canary")


def bucket(org_id: str) -> int:
    """The org's bucket in 0..9999."""
    return int.from_bytes(hashlib.blake2b(org_id.encode(), digest_size=8).digest(), "big") % BUCKETS


def threshold(canary_weight: float) -> int:
    """Buckets below this go to the canary (weight in percent, 0.01 % resolution)."""
    return round(canary_weight * BUCKETS / 100)


def choose(org_id: str | None, canary_weight: float) -> str:
    """``"canary"`` or ``"stable"`` for a request from ``org_id`` (None: no org, split per request)."""
    if org_id is None:
        return "canary" if random.random() * 100 < canary_weight else "stable"
    return "canary" if bucket(org_id) < threshold(canary_weight) else "stable"
