"""Launch Control's errors, translated at the boundaries (CLI exit codes, HTTP 4xx bodies).

    LaunchControlError            anything Launch Control refuses or cannot do; str() is for people
    ├── UsageError                bad input from a person: CLI exit 2, HTTP 4xx
    │   └── PlanError             a plan file that cannot be used (launch_control.plan.model)
    ├── StoreError                the launch store cannot be opened or written (launch_control.store.db)
    ├── AdapterError              an adapter failed: router, deployer, metric source, notifier
    │   ├── UnknownAdapterError   a plan names an adapter type no registry knows (also a UsageError)
    │   ├── RouterError           traffic could not be set or read
    │   ├── DeployerError         the deployment could not be rolled back
    │   └── MetricSourceError     metrics could not be read
    └── RollbackError             a rollback that did not reach verified health

Adapters translate their vendors' exceptions into these with ``raise ... from exc``.
"""

from __future__ import annotations


class LaunchControlError(Exception):
    """Base of every error Launch Control raises on purpose."""


class UsageError(LaunchControlError, ValueError):
    """A person gave input that cannot be used; the message says what and what to do."""


class AdapterError(LaunchControlError):
    """An adapter (router, deployer, metric source, notifier) failed."""


class UnknownAdapterError(AdapterError, UsageError):
    """A plan names an adapter type that no registry knows."""


class RouterError(AdapterError):
    """Traffic weights could not be set or read."""


class DeployerError(AdapterError):
    """A deployment could not be rolled back."""


class MetricSourceError(AdapterError):
    """Metrics could not be read from the source."""


class RollbackError(LaunchControlError):
    """A rollback ended without verified health."""
