"""Helpers shared by the incident tests."""

from __future__ import annotations

from typing import Any


def plan_with(plan: Any, **changes: Any) -> Any:
    """A copy of ``plan`` with top-level sections replaced (dicts), validated like a file."""
    from launch_control.plan.model import dump_plan, parse_plan

    data = dump_plan(plan)
    data.update(changes)
    return parse_plan(data, plan.source)
