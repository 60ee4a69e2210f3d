"""Launch Control's errors, translated at the boundaries (CLI exit codes, HTTP 4xx bodies).

Every error the project raises on purpose is a ``LaunchControlError``; the tree below is complete
(tests/foundation/test_error_tree.py walks the package and fails on a class missing from it or
drawn under the wrong parent). At the CLI (``launch_control.cli``) a ``UsageError`` exits 2, any
other ``LaunchControlError`` exits 1 with its message; a class that is also a built-in error
(``ValueError``, ``OSError``) keeps that base so the ``except`` clauses written for it still catch it.

    LaunchControlError              anything Launch Control refuses or cannot do; str() is for people
    ├── UsageError                  bad input from a person: CLI exit 2, HTTP 4xx (also a ValueError)
    │   ├── PlanError               a plan file that cannot be used (plan.planfile)
    │   ├── TemplateError           a template that cannot be rendered (respond.templates)
    │   ├── AdminError              a bad request to the gateway's admin API, with its 4xx (plane.gateway.admin)
    │   └── UnknownAdapterError     (below, under AdapterError)
    ├── AdapterError                an adapter failed: router, deployer, metric source, notifier
    │   ├── UnknownAdapterError     a plan names an adapter type no registry knows (also a UsageError)
    │   ├── RouterError             traffic could not be set or read
    │   ├── DeployerError           the deployment could not be rolled back
    │   ├── MetricSourceError       metrics could not be read
    │   │   └── PromTextError       not Prometheus exposition text (plane.metrics.promtext; also a ValueError)
    │   └── NotifyError             a channel could not deliver a message (respond.notify.base)
    │       └── NotConfigured       the channel's endpoint is not configured here: skipped, never retried
    ├── StoreError                  the launch store cannot be opened or written (store.connection)
    ├── LiteStoreError              the emergency path's SQLite store could not be read or written (store.litestore)
    ├── NoPlan                      neither the plan nor a last good copy can be used (store.lastgood)
    ├── IllegalTransition           a change the launch's phase does not allow (control.state)
    ├── OperationRefused            an operation the launch's state or checks do not allow now (control.operations)
    ├── Refused                     a launch action refused for a reason the person can fix (commands.launch)
    ├── EngineBusy                  another live engine is running this launch (control.lease)
    │   └── LeaseLost               another engine took this launch over; this one must stop
    ├── FlowsUnavailable            the flows module cannot be imported (control.seams)
    ├── ReleaseError                the branch could not be frozen or the tag created (ramp.release)
    ├── RetryExhausted              the retry policy gave up; __cause__ is the last failure (retrying)
    ├── BackendUnavailable          the rate-limit store did not answer in time (protect.ratelimit.redis_backend)
    ├── StackError                  a part of the demo stack did not start (plane.demo.stack)
    ├── PrefectServerError          the local Prefect server did not start (flows.server; also a RuntimeError)
    ├── ModelUnavailable            the live model gave no completion (plane.demo.model_client)
    ├── UpstreamError               the upstream refused, reset or spoke non-HTTP: 502 (plane.gateway.upstream)
    │   ├── UpstreamTimeout         no connection or no bytes in time: 504
    │   └── StaleConnection         a kept-alive connection closed before answering: retried if idempotent
    └── HttpError                   no HTTP answer on the emergency path's client (web.lighthttp; also an OSError)

A rollback that does not reach verified health is not an exception: ``emergency_rollback`` returns
it (``RollbackResult.ok`` false, every stage recorded, the manual command in its message), because
the emergency path must report what it did rather than unwind; so there is no ``RollbackError``.
Private signals that never leave their module (the engine's ``_Ended`` in ramp.engine_parts, the breaker's
``_Failed``) are control flow, not errors, and stay outside the tree.

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
