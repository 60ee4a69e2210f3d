"""Metric samples: one row per time, version role and metric, and aggregates computed in the database.

The console's charts read ``bucketed_samples``: 72 hours of 10-second samples is ~26,000 points
per metric and version, charts need a few hundred, so buckets are averaged in the database (one
GROUP BY over the indexed (launch_id, metric, at) range) — a 72-hour view moves ~5,000 rows
instead of ~400,000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from launch_control.store.connection import Repository
from launch_control.store.schema import UTCDateTime, metric_samples


@dataclass(frozen=True)
class Sample:
    at: dt.datetime
    version: str
    metric: str
    value: float


class SampleRecords(Repository):
    """Metric samples of one launch."""

    def record_samples(self, samples: Iterable[Sample | Mapping[str, Any]]) -> int:
        rows = []
        for s in samples:
            data = s if isinstance(s, Mapping) else s.__dict__
            rows.append(
                {
                    "launch_id": self.launch_id,
                    "at": data["at"],
                    "version": data["version"],
                    "metric": data["metric"],
                    "value": float(data["value"]),
                }
            )
        if rows:
            with self._tx() as conn:
                conn.execute(metric_samples.insert(), rows)
        return len(rows)

    def samples(
        self,
        *,
        metrics: Sequence[str] | None = None,
        version: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Sample]:
        """Samples in time order."""
        query = sa.select(
            metric_samples.c.at, metric_samples.c.version, metric_samples.c.metric, metric_samples.c.value
        ).where(metric_samples.c.launch_id == self.launch_id)
        if metrics:
            query = query.where(metric_samples.c.metric.in_(list(metrics)))
        if version:
            query = query.where(metric_samples.c.version == version)
        if since:
            query = query.where(metric_samples.c.at >= since)
        if until:
            query = query.where(metric_samples.c.at <= until)
        with self.engine.connect() as conn:
            return [Sample(*r) for r in conn.execute(query.order_by(metric_samples.c.at, metric_samples.c.id))]

    def sample_stats(
        self, metric: str, *, version: str | None = None, since: dt.datetime | None = None
    ) -> dict[str, float | int | None]:
        """count, sum, avg, min and max of one metric's samples, computed in the database."""
        c = metric_samples.c
        aggregates = (sa.func.count(c.value), sa.func.sum(c.value), sa.func.avg(c.value))
        query = sa.select(*aggregates, sa.func.min(c.value), sa.func.max(c.value))
        query = query.where(c.launch_id == self.launch_id, c.metric == metric)
        if version:
            query = query.where(c.version == version)
        if since:
            query = query.where(c.at >= since)
        with self.engine.connect() as conn:
            count, total, avg, low, high = conn.execute(query).one()
        numbers = {"sum": total, "avg": avg, "min": low, "max": high}
        return {"count": int(count), **{k: float(v) if v is not None else None for k, v in numbers.items()}}

    def bucketed_samples(
        self, metrics: Sequence[str], since: dt.datetime, until: dt.datetime, bucket_seconds: float
    ) -> list[dict[str, Any]]:
        """Rows ``{at, version, metric, mean, max, count}``: one per bucket, version and metric, in time order.

        ``at`` is the bucket's start (aware UTC).
        """
        c = metric_samples.c
        bucket = sa.func.floor(self._epoch() / bucket_seconds).label("bucket")
        query = (
            sa.select(
                c.version,
                c.metric,
                bucket,
                sa.func.avg(c.value).label("mean"),
                sa.func.max(c.value).label("max"),
                sa.func.count().label("n"),
            )
            .where(c.launch_id == self.launch_id, c.metric.in_(list(metrics)), c.at >= since, c.at <= until)
            .group_by(c.version, c.metric, bucket)
            .order_by(bucket)
        )
        with self.engine.connect() as conn:
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

    def sample_span(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The first and last sample time of this launch (None, None without samples)."""
        c = metric_samples.c
        query = sa.select(sa.func.min(c.at), sa.func.max(c.at)).where(c.launch_id == self.launch_id)
        with self.engine.connect() as conn:
            first, last = conn.execute(query).one()
        return self._aware(first), self._aware(last)

    def _epoch(self) -> Any:
        c = metric_samples.c
        if self.engine.dialect.name == "sqlite":
            # The column holds "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); julianday keeps the fraction, but
            # as a double in days: round to the millisecond so 12:01:00 does not land in 12:00's bucket.
            return sa.func.round((sa.func.julianday(c.at) - 2440587.5) * 86400.0, 3)
        return sa.extract("epoch", c.at)

    def _aware(self, value: Any) -> dt.datetime | None:
        """An aggregate's time as the store returns times (aware UTC); SQLite's min()/max() give the stored text."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            value = dt.datetime.fromisoformat(str(value))
        return UTCDateTime().process_result_value(value, self.engine.dialect)
