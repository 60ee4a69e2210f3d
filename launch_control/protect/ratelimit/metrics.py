"""Prometheus counters for rate limiting, the WAF and degradation (one set per process).

Labels are bounded on purpose: policy names come from the plan, outcomes and rules from fixed
lists here; no per-org or per-IP labels (a label per org would grow without bound).
"""

from __future__ import annotations

from prometheus_client import Counter

# outcome: allowed | limited | shadow_limited | fallback_allowed | fallback_limited | unavailable
#          | cached_limited (refused from the local over-limit cache, no Redis round trip)
DECISIONS = Counter(
    "launch_control_ratelimit_decisions",
    "Rate-limit decisions per policy and outcome",
    ["policy", "outcome"],
)
# Requests the limiter would not judge: missing/malformed org (400) or unknown API key (401).
REJECTED_IDENTITY = Counter(
    "launch_control_ratelimit_identity_rejections",
    "Limited routes refused because the org was missing, malformed or unknown",
    ["reason"],
)
# Every decision taken by the fallback (Redis down or slow), by policy and what it decided.
FALLBACKS = Counter(
    "launch_control_ratelimit_fallbacks",
    "Decisions taken without Redis (fail-open local limiter or fail-closed refusal)",
    ["policy", "outcome"],
)
BACKEND_TRANSITIONS = Counter(
    "launch_control_ratelimit_backend_transitions",
    "Switches between Redis and the fallback",
    ["to"],
)
WAF_REFUSALS = Counter(
    "launch_control_waf_refusals",
    "Requests refused by the WAF, per rule",
    ["rule"],
)
MODEL_CALLS = Counter(
    "launch_control_live_model_calls",
    "Live-model calls by outcome (live or simulated_<reason>)",
    ["outcome"],
)
BREAKER_TRANSITIONS = Counter(
    "launch_control_live_model_breaker_transitions",
    "Live-model circuit breaker transitions by new state",
    ["to"],
)
