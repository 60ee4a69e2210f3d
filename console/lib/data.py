"""Reads for the console that the store does not offer directly: samples downsampled in SQL.

72 hours of 10-second samples is ~26,000 points per metric and version; charts need a few
hundred. ``bucketed_samples`` averages them in the database (one GROUP BY over the indexed
(launch_id, metric, at) range), so a 72-hour view moves ~5,000 rows instead of ~400,000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from launch_control.store.db import Store, metric_samples

TARGET_POINTS = 360
MIN_BUCKET = 10.0


def bucket_for(span_seconds: float, points: int = TARGET_POINTS) -> float:
    """Bucket width (seconds, a round number ≥ 10 s) giving about ``points`` points over the span."""
    raw = max(MIN_BUCKET, span_seconds / points)
    for nice in (10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if raw <= nice:
            return float(nice)
    return float(round(raw))


def _epoch(store: Store) -> Any:
    c = metric_samples.c
    if store.engine.dialect.name == "sqlite":
        # The column holds "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); julianday keeps the fraction, but
        # as a double in days: round to the millisecond so 12:01:00 does not land in 12:00's bucket.
        return sa.func.round((sa.func.julianday(c.at) - 2440587.5) * 86400.0, 3)
    return sa.extract("epoch", c.at)


def bucketed_samples(
    store: Store,
    metrics: Sequence[str],
    since: dt.datetime,
    until: dt.datetime,
    bucket_seconds: float,
) -> list[dict[str, Any]]:
    """Rows ``{at, version, metric, mean, max, count}``: one per bucket, version and metric, in time order.

    ``at`` is the bucket's start (aware UTC).
    """
    c = metric_samples.c
    bucket = sa.func.floor(_epoch(store) / bucket_seconds).label("bucket")
    query = (
        sa.select(
            c.version,
            c.metric,
            bucket,
            sa.func.avg(c.value).label("mean"),
            sa.func.max(c.value).label("max"),
            sa.func.count().label("n"),
        )
        .where(c.launch_id == store.launch_id, c.metric.in_(list(metrics)), c.at >= since, c.at <= until)
        .group_by(c.version, c.metric, bucket)
        .order_by(bucket)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "at": dt.datetime.fromtimestamp(float(r.bucket) * bucket_seconds, dt.UTC),
            "version": r.version,
            "metric": r.metric,
            "mean": float(r.mean),
            "max": float(r.max),
            "count": int(r.n),
        }
        for r in rows
    ]


def sample_span(store: Store) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first and last sample time of this launch (None, None without samples)."""
    c = metric_samples.c
    query = sa.select(sa.func.min(c.at), sa.func.max(c.at)).where(c.launch_id == store.launch_id)
    with store.engine.connect() as conn:
        first, last = conn.execute(query).one()
    convert = metric_samples.c.at.type.process_result_value  # aware UTC, as the store returns times
    to_utc = lambda v: convert(_as_datetime(v), store.engine.dialect) if v is not None else None  # noqa: E731
    return to_utc(first), to_utc(last)


def _as_datetime(value: Any) -> dt.datetime:
    # SQLite's min()/max() return the stored text rather than a datetime.
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
