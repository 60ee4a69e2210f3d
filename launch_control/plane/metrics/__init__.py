"""Metric sources, one module per adapter, behind ``MetricSource`` (see ``base``).

``build_source(plan.analysis.metric_source)`` builds the plan's source; unknown types are refused.
"""

from __future__ import annotations

from typing import Any

from launch_control.plan.registry import Registry
from launch_control.plane.metrics.base import MetricSource

SOURCES = Registry(
    "metric source",
    {
        "gateway": "launch_control.plane.metrics.gateway:build",
        "prometheus": "launch_control.plane.metrics.prometheus:build",
        "probe": "launch_control.plane.metrics.probe:build",
    },
)


def build_source(config: Any, **context: Any) -> MetricSource:
    """``config`` is a plan ``Adapter`` (``type`` + settings) or a dict with ``type``."""
    return SOURCES.build_from(config, **context)


__all__ = ["SOURCES", "MetricSource", "build_source"]
