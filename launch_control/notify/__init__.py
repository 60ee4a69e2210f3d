"""Notifications: the plan's channels (Slack, JSON webhook, email, Statuspage) behind one ``Notifier``.

``Notifier(plan, store).send(kind, subject, text, channels=[...], incident_id=...)`` returns at
once: each channel has its own daemon worker thread and queue, so a slow, failing or hung
channel delays only its own messages — never the caller, another channel, the launch or a
rollback — and messages to one channel keep their order (open → ack → resolve). Each delivery
is retried with exponential backoff and jitter; every outcome is recorded with
``Store.record_notification``: sent (``ok``), failed (``error``), or skipped (``attempts == 0``,
``error`` starting with ``"skipped:"``) when the channel is not configured on this machine.

``send_sync`` waits and returns per-channel ``SendResult``s; ``flush(timeout)`` waits for the
queues to drain (tests, and the CLI before it exits).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from launch_control.notify.base import Channel, Message, NotConfigured, NotifyError
from launch_control.registry import Registry
from launch_control.units import parse_duration

log = logging.getLogger(__name__)

CHANNELS = Registry(
    "notification channel",
    {
        "slack": "launch_control.notify.slack:build",
        "webhook": "launch_control.notify.webhook:build",
        "email": "launch_control.notify.email:build",
        "statuspage": "launch_control.notify.statuspage:build",
    },
)

SKIPPED = "skipped: "
# After this many deliveries in a row fail, a channel gets one attempt per message (no retries)
# until it succeeds again: a dead endpoint must not hold a backlog for attempts × timeout each.
FAIL_FAST_AFTER = 3


@dataclass(frozen=True)
class SendResult:
    channel: str
    ok: bool
    attempts: int
    error: str = ""
    body: str = ""
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.attempts == 0 and self.error.startswith(SKIPPED)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    timeout: float = 5.0

    def delay(self, attempt: int) -> float:
        """Backoff before attempt ``attempt + 1``: exponential, capped, with jitter (50–100%)."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def build_channel(config: Any, **context: Any) -> Channel:
    """A channel from a plan ``notifications.channels`` entry (``name``, ``type`` + settings)."""
    name = getattr(config, "name", None) or (config.get("name") if isinstance(config, Mapping) else None)
    return CHANNELS.build_from(config, channel=name, **context)


class _Worker:
    """One channel's queue and daemon thread: serial, ordered delivery for that channel only."""

    def __init__(self, notifier: Notifier, name: str):
        self.notifier = notifier
        self.name = name
        self.queue: queue.Queue[tuple[Message, Future[SendResult]]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"notify:{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            message, future = self.queue.get()
            try:
                result = self.notifier._deliver(self.name, message)
            except BaseException as exc:  # a bug must not kill the worker: record and go on
                log.exception("notifier worker %s", self.name)
                result = SendResult(self.name, False, 0, f"internal error: {exc!r}")
            future.set_result(result)
            self.notifier._done()


class Notifier:
    """Sends messages to the plan's channels in the background; never raises to the caller."""

    def __init__(
        self,
        plan: Any,
        store: Any,
        *,
        retry: RetryPolicy | None = None,
        channels: Mapping[str, Channel] | None = None,
    ):
        self.plan = plan
        self.store = store
        self.retry = retry or RetryPolicy()
        self._configs = {c.name: c for c in plan.notifications.channels}
        self._channels: dict[str, Channel | Exception] = dict(channels or {})
        self._workers: dict[str, _Worker] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    # --- public API ---------------------------------------------------------------------------

    @property
    def channel_names(self) -> list[str]:
        return list(dict.fromkeys([*self._configs, *self._channels]))

    def channel(self, name: str) -> Channel:
        """The built channel ``name`` (raises UsageError for an unknown name or bad settings)."""
        found = self._channel(name)
        if isinstance(found, Exception):
            raise found
        return found

    def send(
        self,
        kind: str,
        subject: str,
        text: str,
        *,
        channels: Iterable[str] | None = None,
        incident_id: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue the message for each channel (default: all of the plan's) and return at once."""
        try:
            self._submit(kind, subject, text, channels, incident_id, context)
        except Exception:  # the contract: never raises (a launch must not stop for a message)
            log.exception("notifier: could not queue %s", kind)

    def send_sync(
        self,
        kind: str,
        subject: str,
        text: str,
        *,
        channels: Iterable[str] | None = None,
        incident_id: int | None = None,
        context: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, SendResult]:
        """Send and wait (up to ``timeout`` overall); channel name → result. Still never raises."""
        futures = self._submit(kind, subject, text, channels, incident_id, context)
        deadline = None if timeout is None else time.monotonic() + timeout
        results: dict[str, SendResult] = {}
        for name, future in futures.items():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results[name] = future.result(left)
            except TimeoutError:
                results[name] = SendResult(name, False, 0, "still sending (timed out waiting)")
        return results

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued message is delivered or given up; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # --- internals ----------------------------------------------------------------------------

    def _submit(
        self,
        kind: str,
        subject: str,
        text: str,
        channels: Iterable[str] | None,
        incident_id: int | None,
        context: Mapping[str, Any] | None,
    ) -> dict[str, Future[SendResult]]:
        message = Message(
            kind=kind,
            subject=subject,
            text=text,
            launch_id=getattr(self.store, "launch_id", ""),
            incident_id=incident_id,
            context=dict(context or {}),
        )
        names = list(dict.fromkeys(channels if channels is not None else self.channel_names))
        futures: dict[str, Future[SendResult]] = {}
        for name in names:
            future: Future[SendResult] = Future()
            with self._lock:
                self._pending += 1
                worker = self._workers.get(name)
                if worker is None:
                    worker = self._workers[name] = _Worker(self, name)
            worker.queue.put((message, future))
            futures[name] = future
        return futures

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def _channel(self, name: str) -> Channel | Exception:
        with self._lock:
            if name not in self._channels:
                config = self._configs.get(name)
                if config is None:
                    known = ", ".join(self._configs) or "none"
                    self._channels[name] = NotifyError(
                        f"no notification channel named {name!r} in the plan (known: {known})", retryable=False
                    )
                else:
                    try:
                        self._channels[name] = build_channel(config, store=self.store)
                    except Exception as exc:  # bad settings: every send to it is recorded as failed
                        self._channels[name] = exc
            return self._channels[name]

    def _policy(self, name: str) -> RetryPolicy:
        config = self._configs.get(name)
        settings = config.settings if config is not None else {}
        return RetryPolicy(
            attempts=int(settings.get("attempts", self.retry.attempts)),
            base_delay=self.retry.base_delay,
            max_delay=self.retry.max_delay,
            timeout=parse_duration(settings.get("timeout", self.retry.timeout)),
        )

    def _deliver(self, name: str, message: Message) -> SendResult:
        started = time.monotonic()
        channel = self._channel(name)
        policy = self._policy(name)
        if self._failures.get(name, 0) >= FAIL_FAST_AFTER:
            policy = RetryPolicy(1, policy.base_delay, policy.max_delay, policy.timeout)
        attempts, error, body, ok = 0, "", "", False
        if isinstance(channel, Exception):
            error = str(channel)
        else:
            while attempts < policy.attempts:
                attempts += 1
                try:
                    body = channel.send(message, policy.timeout)
                    ok, error = True, ""
                    break
                except NotConfigured as exc:
                    attempts, error = 0, SKIPPED + str(exc)
                    break
                except NotifyError as exc:
                    error = str(exc)
                    if not exc.retryable:
                        break
                except Exception as exc:  # an adapter bug is a failed send, not a crash
                    error = f"{type(exc).__name__}: {exc}"
                if attempts < policy.attempts:
                    time.sleep(policy.delay(attempts))
        result = SendResult(name, ok, attempts, error, body, time.monotonic() - started)
        if not result.skipped:
            self._failures[name] = 0 if ok else self._failures.get(name, 0) + 1
        self._record(message, result)
        if not ok and not result.skipped:
            log.warning("notification %s to %s failed after %d attempt(s): %s", message.kind, name, attempts, error)
        return result

    def _record(self, message: Message, result: SendResult) -> None:
        if self.store is None:
            return
        try:
            self.store.record_notification(
                result.channel,
                message.kind,
                result.ok,
                incident_id=message.incident_id,
                attempts=result.attempts,
                error=result.error[:2000],
                body=(result.body or f"{message.subject}\n{message.text}")[:20000],
            )
        except Exception:  # the store being down must not take the worker with it
            log.exception("notifier: could not record the %s notification to %s", message.kind, result.channel)


__all__ = [
    "CHANNELS",
    "Channel",
    "Message",
    "NotConfigured",
    "NotifyError",
    "Notifier",
    "RetryPolicy",
    "SendResult",
    "build_channel",
]
