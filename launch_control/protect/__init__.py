"""Protection of the product's users: per-org rate limits (``ratelimit``), the WAF, and graceful
degradation with the status every process reads. ``layers.protect(app, plan)`` puts the WAF and
the rate limiter around an app; ``breaker`` is the circuit breaker degrade and the limiter share.

May import: plan, store, errors, config.
"""
