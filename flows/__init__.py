"""Prefect flows: thin orchestration over ``launch_control`` (each task calls one core function).

``launch_control.flows.launch_day`` holds the launch-day flows (launch_day, canary_ramp, emergency_rollback,
smoke_tests, preflight, freeze_and_tag, deploy_canary); ``launch_control.flows.post_launch`` the post-launch
monitoring and status checks; ``launch_control.flows.deployments`` turns the plan's timeline into scheduled
deployments of both. Importing this
package sets Prefect's quiet, offline defaults (no telemetry, no analytics) unless already set.
"""

from __future__ import annotations

import os

QUIET = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
}
for _key, _value in QUIET.items():
    os.environ.setdefault(_key, _value)
