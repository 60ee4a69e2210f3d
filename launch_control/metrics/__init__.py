"""Metric sources, one module per adapter, behind ``MetricSource`` (see ``base``).

``build_source(plan.analysis.metric_source)`` builds the plan's source; unknown types are refused.
"""

from __future__ import annotations

from typing import Any

from launch_control.metrics.base import MetricSource
from launch_control.registry import Registry

SOURCES = Registry(
    "metric source",
    {
        "gateway": "launch_control.metrics.gateway:build",
        "prometheus": "launch_control.metrics.prometheus:build",
        "probe": "launch_control.metrics.probe:build",
    },
)


def build_source(config: Any, **context: Any) -> MetricSource:
    """``config`` is a plan ``Adapter`` (``type`` + settings) or a dict with ``type``."""
    return SOURCES.build_from(config, **context)


__all__ = ["SOURCES", "MetricSource", "build_source"]
