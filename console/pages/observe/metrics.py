"""Metrics: stable against canary — error rate, latency (avg, p95, p99), request rate, 429s, CPU and
memory — in the plan's time zone, over the launch window by default, with the plan's SEV-3/2/1 limits
(drawn when in range, listed when off-scale), each interval's peak beside the means, and markers for
steps, rollbacks and people's actions, each once.

Samples are averaged into buckets in the database (Store.bucketed_samples), so 72 hours of 10-second
samples draws a few hundred points per line; the CSV download holds the same buckets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import streamlit as st
from launch_control.console.lib import charts, context, data, ui

from launch_control.review.chart_marks import Marker, dedupe_markers, ttr_label
from launch_control.store.db import Store

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
RANGES = {"Launch window": None, "Last hour": 3600.0, "Launch day": 86400.0, "72 hours": 72 * 3600.0}
ACTIONS = {  # console and CLI actions marked on the charts: audit action → label
    "engine.pause": "paused", "launch.pause": "paused", "engine.unpause": "resumed", "launch.resume": "resumed",
    "console.set_traffic": "set {weight:g}%", "launch.set_traffic": "set {weight:g}%", "console.promote": "promoted",
    "launch.promote": "promoted", "launch.approve": "approved", "launch.no_go": "no-go",
}
PAD = dt.timedelta(minutes=10)
CHART_POINTS = 240


@st.cache_data(ttl=10, show_spinner=False)
def _live_buckets(_store: Store, url: str, launch_id: str, since: dt.datetime, until: dt.datetime,
                  bucket: float) -> list[dict[str, Any]]:
    return _store.bucketed_samples(METRICS, since, until, bucket)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def _closed_buckets(_store: Store, url: str, launch_id: str, since: dt.datetime, until: dt.datetime,
                    bucket: float) -> list[dict[str, Any]]:
    # A window that ended more than a bucket ago gets no new samples: kept for an hour.
    return _store.bucketed_samples(METRICS, since, until, bucket)


def _buckets(since: dt.datetime, until: dt.datetime, bucket: float, last: dt.datetime) -> list[dict[str, Any]]:
    closed = until < last - dt.timedelta(seconds=bucket) or until < ui.now() - dt.timedelta(minutes=5)
    read = _closed_buckets if closed else _live_buckets
    return read(store, store.url, store.launch_id, since, until, bucket)


@st.cache_data(ttl=10, show_spinner=False)
def _span(_store: Store, url: str, launch_id: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    return _store.sample_span()


def _markers() -> list[Marker]:
    """Steps, rollbacks and people's actions, each once (chart_marks.dedupe_markers drops repeats)."""
    markers: list[Marker] = []
    for event in store.events(limit=2000):
        details = event["details"] if isinstance(event["details"], dict) else {}
        action = event["action"]
        if action in ACTIONS and ("{weight" not in ACTIONS[action] or details.get("weight") is not None):
            if details.get("ok") is False:  # a refused change did not happen: nothing to mark
                continue
            label = ACTIONS[action].format(weight=float(details.get("weight") or 0))
            markers.append(Marker(event["at"], f"{label} by {event['actor']}", "action"))
        elif action == "traffic.set" and details.get("weight") is not None:
            markers.append(Marker(event["at"], f"step {float(details['weight']):g}%", "weight"))
    if not any(m.kind == "weight" for m in markers):  # no audited step changes: from the gates' decisions
        previous = None
        for decision in store.decisions():
            if decision["weight"] is not None and decision["weight"] != previous:
                markers.append(Marker(decision["at"], f"step {decision['weight']:g}%", "weight"))
                previous = decision["weight"]
    for rb in store.rollbacks():
        markers.append(Marker(rb["started_at"], ttr_label(rb["ttr_seconds"]), "rollback"))
    return dedupe_markers(markers)


def _launch_window(state: dict[str, Any], markers: list[Marker], first: dt.datetime,
                   last: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """From the ramp's start to its end (or now), padded; falls back to the samples' span."""
    start = state.get("launch_started_at") or min((m.at for m in markers if m.kind != "action"), default=None)
    if start is None:
        return max(first, last - dt.timedelta(hours=1)), last
    if state.get("phase") in ("ramping", "paused", "awaiting_approval", "rolling_back"):
        return start - PAD, max(last, ui.now()) + PAD
    # Ended: up to the last thing that happened to it (a step, a rollback, an action, a gate verdict).
    decisions = store.decisions(limit=1)
    ending = [m.at for m in markers if m.at >= start] + [d["at"] for d in decisions if d["at"] >= start]
    end = min(max(ending, default=last), last + PAD)
    return start - PAD, max(end, start + PAD) + PAD


st.title("Metrics")
choice = st.radio("Range", list(RANGES), horizontal=True, key="metrics_range", label_visibility="collapsed")
first, last = _span(store, store.url, store.launch_id)
if last is None:
    st.info("No metric samples recorded yet. They appear once the canary ramp (or monitoring) observes traffic.")
    st.stop()

now = ui.now()
state = store.state()
markers = _markers()
if RANGES[choice] is None:
    since, until = _launch_window(state, markers, first, last)
elif choice == "Launch day" and state["launch_started_at"]:
    since = state["launch_started_at"]
    until = since + dt.timedelta(days=1)
else:
    until = max(last, max((m.at for m in markers), default=last))
    until = min(until, now) if until > now else until
    since = until - dt.timedelta(seconds=RANGES[choice])
# ~240 points a line: enough for a 1,000-pixel-wide chart, and the browser draws six of them.
bucket = data.bucket_for((until - since).total_seconds(), points=CHART_POINTS)
# Align the window to the bucket so the cache key is stable between reruns inside a bucket.
epoch = until.timestamp()
until = dt.datetime.fromtimestamp((epoch // bucket + 1) * bucket, dt.UTC)
since = dt.datetime.fromtimestamp(min(since, until - dt.timedelta(seconds=bucket)).timestamp() // bucket * bucket,
                                  dt.UTC)
rows = _buckets(since, until, bucket, last)
st.caption(f"{ui.local(since, tz, '%a %d %b %H:%M')} – {ui.local(until, tz, '%a %d %b %H:%M %Z')} · "
           f"lines are means over {ui.duration(bucket)}, dotted lines each interval's peak (what the gate saw) · "
           f"{len(rows)} points · times in {tz.key}")
if not rows:
    st.info(f"No samples in this range; the last one is from {ui.ago(last)}.")

@st.cache_resource(ttl=3600, max_entries=32, show_spinner=False)
def _figures(_rows: list[dict[str, Any]], url: str, launch_id: str, since: dt.datetime, until: dt.datetime,
             bucket: float, marker_key: tuple, count: int) -> list[Any]:
    # Building a plotly figure costs ~0.1 s each: the six are kept for the same window, markers and
    # rows (``count`` and the window stand for the rows), so moving between pages does not rebuild them.
    figures = []
    for title, names, unit, scale, limit_metric in CHARTS:
        threshold = plan.analysis.metrics.get(limit_metric) if limit_metric else None
        limits = {lv: getattr(threshold, lv) for lv in ("sev3", "sev2", "sev1")
                  if threshold and getattr(threshold, lv)}
        if limit_metric and limit_metric.startswith("latency") and limits:
            title += " · limits of p95"
        # Peaks for the metric the gate judges against a limit (p95 of the latencies); the rest are means.
        figures.append(charts.metric_figure(_rows, names, title=title, unit=unit, scale=scale, thresholds=limits,
                                     markers=markers, since=since, until=until, tz=tz,
                                     peaks=[limit_metric] if limits else False))
    return figures


marker_key = tuple((m.at.timestamp(), m.label, m.kind) for m in markers)
last_at = rows[-1]["at"].timestamp() if rows else 0.0
# A live window is rebuilt every 10 s (like its buckets); a closed one is kept while nothing changes.
live_window = not (until < last - dt.timedelta(seconds=bucket) or until < now - dt.timedelta(minutes=5))
fresh = int(now.timestamp() // 10) if live_window else 0
figures = _figures(rows, store.url, store.launch_id, since, until, bucket, (*marker_key, last_at, fresh), len(rows))
columns = st.columns(2)
for index, ((_title, names, *_), figure) in enumerate(zip(CHARTS, figures, strict=True)):
    with columns[index % 2]:
        st.plotly_chart(figure, width="stretch", key=f"chart-{names[0]}")

buffer = io.StringIO()
writer = csv.writer(buffer)
writer.writerow(["bucket_start_utc", "version", "metric", "mean", "max", "samples"])
for row in rows:
    writer.writerow([row["at"].isoformat(), row["version"], row["metric"], f"{row['mean']:.6g}", f"{row['max']:.6g}",
                     row["count"]])
st.download_button("Download CSV", buffer.getvalue(),
                   file_name=f"{plan.launch_id}-metrics-{choice.lower().replace(' ', '-')}.csv",
                   mime="text/csv", key="metrics_csv")
