"""Notifications: the plan's channels (Slack, JSON webhook, email, Statuspage) behind one ``Notifier``.

``Notifier(plan, store).send(kind, subject, text, channels=[...], incident_id=...)`` returns at
once: each channel has its own daemon worker thread and queue, so a slow, failing or hung
channel delays only its own messages — never the caller, another channel, the launch or a
rollback — and messages to one channel keep their order (open → ack → resolve). Each delivery
is retried under launch_control.retrying (exponential backoff, equal jitter: 50–100% of each
step); every outcome is recorded with
``Store.record_notification``: sent (``ok``), failed (``error``), or skipped (``attempts == 0``,
``error`` starting with ``"skipped:"``) when the channel is not configured on this machine.

A channel whose ``audience`` is not ``team`` (``public``, ``customers``) gets only the context
fields allow-listed for it (``notify.base.AUDIENCE_FIELDS``): never the cause, notes, names.

``send_sync`` waits and returns per-channel ``SendResult``s; ``flush(timeout)`` waits for the
queues to drain (tests, and the CLI before it exits).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from launch_control import retrying
from launch_control.plan.registry import Registry
from launch_control.plan.units import parse_duration
from launch_control.respond.notify.base import Channel, Message, NotConfigured, NotifyError, audience_context

log = logging.getLogger(__name__)

CHANNELS = Registry(
    "notification channel",
    {
        "slack": "launch_control.respond.notify.slack:build",
        "webhook": "launch_control.respond.notify.webhook:build",
        "email": "launch_control.respond.notify.email:build",
        "statuspage": "launch_control.respond.notify.statuspage:build",
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
    timeout: float = 5.0  # one attempt's; the waits between attempts grow: 50–100% of each exponential step


def build_channel(config: Any, **context: Any) -> Channel:
    """A channel from a plan ``notifications.channels`` entry (``name``, ``type`` + settings)."""
    name = getattr(config, "name", None) or (config.get("name") if isinstance(config, Mapping) else None)
    return CHANNELS.build_from(config, channel=name, **context)


@dataclass
class _Job:
    """One message to one channel; ``recorded`` once its row is in ``notifications`` (exactly once)."""

    channel: str
    message: Message
    future: Future[SendResult]
    started: float = 0.0
    recorded: bool = False


class _Worker:
    """One channel's queue and daemon thread: serial, ordered delivery for that channel only."""

    def __init__(self, notifier: Notifier, name: str):
        self.notifier = notifier
        self.name = name
        self.queue: queue.Queue[_Job] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"notify:{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                result = self.notifier._deliver(self.name, job.message, job)
            except BaseException as exc:  # a bug must not kill the worker: record and go on
                log.exception("notifier worker %s", self.name)
                result = SendResult(self.name, False, 0, f"internal error: {exc!r}")
                self.notifier._record(job.message, result, job)
            job.future.set_result(result)
            self.notifier._done(job)


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
        self._unfinished: set[int] = set()  # id() of jobs queued or being sent
        self._jobs: dict[int, _Job] = {}
        _LIVE.add(self)

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
        """Wait until every queued message is delivered or given up; False if ``timeout`` passed —
        then each message still queued or in flight is recorded as failed (``timeout: ...``) at
        once, so a hung endpoint leaves a row even if the process exits next."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            else:
                return True
        self.give_up(f"timeout: still sending after the caller waited {timeout:g} s")
        return False

    def give_up(self, reason: str) -> int:
        """Record every unfinished send as failed with ``reason``; returns how many."""
        with self._lock:
            jobs = [self._jobs[key] for key in list(self._unfinished) if key in self._jobs]
        count = 0
        for job in jobs:
            elapsed = time.monotonic() - job.started if job.started else 0.0
            attempts = 1 if job.started else 0
            result = SendResult(job.channel, False, attempts, f"{reason} (this send had run {elapsed:.1f} s)")
            if self._record(job.message, result, job):
                count += 1
                log.warning("notification %s to %s: %s", job.message.kind, job.channel, reason)
        return count

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
            job = _Job(name, message, future)
            with self._lock:
                self._pending += 1
                self._unfinished.add(id(job))
                self._jobs[id(job)] = job
                worker = self._workers.get(name)
                if worker is None:
                    worker = self._workers[name] = _Worker(self, name)
            worker.queue.put(job)
            futures[name] = future
        return futures

    def _done(self, job: _Job) -> None:
        with self._idle:
            self._pending -= 1
            self._unfinished.discard(id(job))
            self._jobs.pop(id(job), None)
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

    def _deliver(self, name: str, message: Message, job: _Job | None = None) -> SendResult:
        started = time.monotonic()
        if job is not None:
            job.started = started
        channel = self._channel(name)
        policy = self._policy(name)
        if self._failures.get(name, 0) >= FAIL_FAST_AFTER:
            policy = RetryPolicy(1, policy.base_delay, policy.max_delay, policy.timeout)
        attempts, error, body, ok = 0, "", "", False
        if isinstance(channel, Exception):
            error = str(channel)
        else:
            # Public channels get public fields only (notify.base.AUDIENCE_FIELDS), whatever the caller put in.
            audience = str(getattr(channel, "audience", "public"))
            if audience != "team" and message.context:
                message = replace(message, context=audience_context(message.context, audience))
            made = [0]

            def send(_left: float) -> str:
                made[0] += 1
                try:
                    return channel.send(message, policy.timeout)
                except (NotifyError, NotConfigured):
                    raise
                except Exception as exc:  # an adapter bug is a failed send, not a crash
                    raise NotifyError(f"{type(exc).__name__}: {exc}") from exc

            try:
                body = retrying.call(
                    send, attempts=policy.attempts, base_delay=policy.base_delay, max_delay=policy.max_delay,
                    total_timeout=float("inf"), retry_on=(NotifyError,),
                    retryable=lambda exc: isinstance(exc, NotifyError) and exc.retryable,  # NotConfigured is not
                    reraise=True, jitter_floor=0.5,  # waits keep half of each step, so they grow
                )  # fmt: skip
                attempts, ok = made[0], True
            except NotConfigured as exc:
                attempts, error = 0, SKIPPED + str(exc)
            except NotifyError as exc:
                attempts, error = made[0], str(exc)
        result = SendResult(name, ok, attempts, error, body, time.monotonic() - started)
        if not result.skipped:
            self._failures[name] = 0 if ok else self._failures.get(name, 0) + 1
        self._record(message, result, job)
        if not ok and not result.skipped:
            log.warning("notification %s to %s failed after %d attempt(s): %s", message.kind, name, attempts, error)
        return result

    def _record(self, message: Message, result: SendResult, job: _Job | None = None) -> bool:
        """Write the send's row (once per job: a send given up on is not recorded again)."""
        if job is not None:
            with self._lock:
                if job.recorded:
                    return False
                job.recorded = True
        if self.store is None:
            return False
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
            return False
        return True


# Notifiers with sends in flight when the interpreter exits: their daemon threads die with it, so
# record those sends as failed first — "every send is recorded", even a hung one.
_LIVE: weakref.WeakSet[Notifier] = weakref.WeakSet()


@atexit.register
def _record_unfinished_at_exit() -> None:
    for notifier in list(_LIVE):
        try:
            notifier.give_up("timeout: the process exited while this was still sending")
        except Exception:  # exiting: never raise from here
            log.exception("notifier: recording unfinished sends at exit")


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
