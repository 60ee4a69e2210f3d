"""Protection of the product's users: per-org rate limits (``ratelimit``), the WAF, and graceful
degradation with the status every process reads.

May import: plan, store, errors, config.
"""
