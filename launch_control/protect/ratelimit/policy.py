"""Which limits apply to a request: route policies, the org-wide limit, launch phases, the org.

A route policy matches by path (exact, or a prefix when it ends in ``/*``) and method (an empty
method list means every method). A request that matches a policy is also counted against the
org-wide limit, if the plan sets one. A launch phase can scale a policy's rate and burst
(``phases: {emergency: {analytics: 50%}}``); a scale of 0 closes the route for that phase.

The org comes from an API key (``X-API-Key`` or ``Authorization: Bearer``) mapped in the plan,
else from the org header (``X-Org-Id``). A limited route without a valid org is refused (400) —
never counted in a shared bucket, where one noisy client would starve everyone else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from launch_control.protect.ratelimit.gcra import Limit

ORG_WIDE = "org-wide"


@dataclass(frozen=True, slots=True)
class OrgProblem:
    status: int
    error: str
    message: str


class Policies:
    """The plan's ``rate_limits`` section, compiled for the hot path."""

    def __init__(self, rate_limits: Any):
        self.config = rate_limits
        self.org_header = rate_limits.org_header.lower().encode("latin-1")
        self.org_re = re.compile(rate_limits.org_pattern)
        self.api_keys: dict[str, str] = dict(rate_limits.api_keys)
        self._exact: dict[str, list[Any]] = {}
        self._prefixes: list[tuple[str, Any]] = []
        for policy in rate_limits.policies:
            if policy.name == ORG_WIDE:
                raise ValueError(f"rate_limits.policies: {ORG_WIDE!r} is reserved for the org-wide limit")
            if policy.path.endswith("/*"):
                self._prefixes.append((policy.path[:-1], policy))
            else:
                self._exact.setdefault(policy.path, []).append(policy)
        self._prefixes.sort(key=lambda item: -len(item[0]))  # longest prefix wins
        org = rate_limits.org_wide
        self.org_wide = Limit(ORG_WIDE, org.limit[0], org.limit[1], burst=org.burst) if org else None
        self._limits: dict[tuple[str, str | None], tuple[Limit, ...] | None] = {}

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.config.policies]

    def match(self, path: str, method: str) -> Any | None:
        for policy in self._exact.get(path, ()):
            if not policy.methods or method in policy.methods:
                return policy
        for prefix, policy in self._prefixes:
            if path.startswith(prefix) and (not policy.methods or method in policy.methods):
                return policy
        return None

    def limits(self, policy: Any, phase: str | None) -> tuple[Limit, ...] | None:
        """The limits for ``policy`` in ``phase``; None when the phase closes the route."""
        key = (policy.name, phase)
        if key not in self._limits:
            scale = self.config.phases.get(phase, {}).get(policy.name, 1.0) if phase else 1.0
            if scale <= 0:
                self._limits[key] = None
            else:
                base = Limit(policy.name, policy.rate, policy.window, burst=policy.burst)
                limits = [base.scaled(scale)]
                if self.org_wide is not None:
                    limits.append(self.org_wide)
                self._limits[key] = tuple(limits)
        return self._limits[key]

    def org(self, headers: list[tuple[bytes, bytes]]) -> str | OrgProblem:
        """The org a request speaks for, or the problem (400 missing/malformed, 401 unknown key)."""
        org_value: bytes | None = None
        key: bytes | None = None
        for name, value in headers:
            if name == self.org_header:
                org_value = value
            elif self.api_keys and name == b"x-api-key":
                key = value
            elif self.api_keys and name == b"authorization" and value[:7].lower() == b"bearer ":
                key = value[7:].strip()
        if key is not None:
            org = self.api_keys.get(key.decode("latin-1"))
            if org is None:
                return OrgProblem(401, "unknown_api_key", "the API key is not known; check the key you send")
            return org
        header = self.config.org_header
        if org_value is None:
            message = f"this route is rate limited per organisation: send {header}: <org id> or an API key"
            return OrgProblem(400, "missing_org", message)
        text = org_value.decode("latin-1")
        if not self.org_re.fullmatch(text):
            return OrgProblem(
                400,
                "malformed_org",
                f"{header} must match {self.config.org_pattern} (letters, digits and _ . : -)",
            )
        return text
