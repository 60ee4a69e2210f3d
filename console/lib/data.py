"""Chart resolution for the console: how wide a bucket of samples is for a time span.

The samples themselves are averaged per bucket in the database by the store
(``Store.bucketed_samples``, ``Store.sample_span``); this module only picks a round bucket width.
"""

from __future__ import annotations

TARGET_POINTS = 360
MIN_BUCKET = 10.0


def bucket_for(span_seconds: float, points: int = TARGET_POINTS) -> float:
    """Bucket width (seconds, a round number ≥ 10 s) giving about ``points`` points over the span."""
    raw = max(MIN_BUCKET, span_seconds / points)
    for nice in (10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if raw <= nice:
            return float(nice)
    return float(round(raw))
