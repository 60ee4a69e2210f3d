"""Metrics: stable against canary — error rate, latency (avg, p95, p99), request rate, 429s, CPU and
memory — with the plan's SEV-3/2/1 limits and markers for weight changes and rollbacks.

Samples are averaged into buckets in the database (console.lib.data), so 72 hours of 10-second
samples draws a few hundred points per line; the CSV download holds the same buckets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import streamlit as st

from console.lib import context, data, ui
from launch_control.charts import Marker, metric_figure
from launch_control.store import Store

ctx = context.get()
plan, store = ctx.plan, ctx.store
tz = plan.timeline.tz

# title, metrics, unit, scale, the plan metric whose SEV limits are drawn
CHARTS: list[tuple[str, list[str], str, float, str | None]] = [
    ("Error rate", ["error_rate"], "%", 100.0, "error_rate"),
    ("Latency (avg, p95, p99)", ["latency_avg", "latency_p95", "latency_p99"], " s", 1.0, "latency_p95"),
    ("Request rate", ["request_rate"], "/s", 1.0, None),
    ("429s (rate limited, per interval)", ["rate_limited"], "", 1.0, None),
    ("CPU", ["cpu"], "%", 100.0, "cpu"),
    ("Memory", ["memory"], "%", 100.0, "memory"),
]
METRICS = [m for _, names, *_ in CHARTS for m in names]
RANGES = {"Last hour": 3600.0, "Launch day": 86400.0, "72 hours": 72 * 3600.0}


@st.cache_data(ttl=10, show_spinner=False)
def _buckets(_store: Store, url: str, launch_id: str, since: dt.datetime, until: dt.datetime,
             bucket: float) -> list[dict[str, Any]]:
    return data.bucketed_samples(_store, METRICS, since, until, bucket)


def _markers() -> list[Marker]:
    markers: list[Marker] = []
    for event in store.events(limit=1000):
        details = event["details"] or {}
        weighty = isinstance(details, dict) and details.get("weight") is not None
        if weighty and not event["action"].startswith("rollback"):
            markers.append(Marker(event["at"], f"{float(details['weight']):g}%", "weight"))
    if not markers:  # no audited weight changes: derive them from the gates' decisions
        previous = None
        for decision in store.decisions():
            if decision["weight"] is not None and decision["weight"] != previous:
                markers.append(Marker(decision["at"], f"{decision['weight']:g}%", "weight"))
                previous = decision["weight"]
    for rb in store.rollbacks():
        ttr = f" TTR {rb['ttr_seconds']:.0f}s" if rb["ttr_seconds"] is not None else ""
        markers.append(Marker(rb["started_at"], f"rollback{ttr}", "rollback"))
    return markers


st.title("Metrics")
choice = st.radio("Range", list(RANGES), horizontal=True, key="metrics_range", label_visibility="collapsed")
first, last = data.sample_span(store)
if last is None:
    st.info("No metric samples recorded yet. They appear once the canary ramp (or monitoring) observes traffic.")
    st.stop()

now = ui.now()
end = min(max(last, now - dt.timedelta(hours=72)), now) if last < now else now
state = store.state()
if choice == "Launch day" and state["launch_started_at"]:
    since = state["launch_started_at"]
    until = min(since + dt.timedelta(days=1), end)
else:
    until = end
    since = until - dt.timedelta(seconds=RANGES[choice])
bucket = data.bucket_for((until - since).total_seconds())
# Align the window to the bucket so the cache key is stable between reruns inside a bucket.
epoch = until.timestamp()
until = dt.datetime.fromtimestamp((epoch // bucket + 1) * bucket, dt.UTC)
since = min(since, until - dt.timedelta(seconds=bucket))
rows = _buckets(store, store.url, store.launch_id, since, until, bucket)
st.caption(f"{ui.local(since, tz, '%a %d %b %H:%M')} – {ui.local(until, tz, '%a %d %b %H:%M %Z')} · "
           f"means over {ui.duration(bucket)} buckets · {len(rows)} points")
if not rows:
    st.info(f"No samples in this range; the last one is from {ui.ago(last)}.")

markers = _markers()
columns = st.columns(2)
for index, (title, names, unit, scale, limit_metric) in enumerate(CHARTS):
    threshold = plan.analysis.metrics.get(limit_metric) if limit_metric else None
    limits = {lv: getattr(threshold, lv) for lv in ("sev3", "sev2", "sev1") if threshold and getattr(threshold, lv)}
    if limit_metric and limit_metric.startswith("latency") and limits:
        title += " · limits of p95"
    figure = metric_figure(rows, names, title=title, unit=unit, scale=scale, thresholds=limits, markers=markers,
                           since=since, until=until)
    with columns[index % 2]:
        st.plotly_chart(figure, width="stretch", key=f"chart-{names[0]}")

buffer = io.StringIO()
writer = csv.writer(buffer)
writer.writerow(["bucket_start_utc", "version", "metric", "mean", "max", "samples"])
for row in rows:
    writer.writerow([row["at"].isoformat(), row["version"], row["metric"], f"{row['mean']:.6g}", f"{row['max']:.6g}",
                     row["count"]])
st.download_button("Download CSV", buffer.getvalue(), file_name=f"{plan.launch_id}-metrics-{choice.lower()}.csv",
                   mime="text/csv", key="metrics_csv")
