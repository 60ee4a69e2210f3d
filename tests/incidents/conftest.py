"""Fixtures for incidents and notifications: a real loopback HTTP receiver (records every request,
answers per path), a real SMTP server (aiosmtpd) on 127.0.0.1, and plans pointed at them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An ASGI app that records requests. ``script[path]``: list of (status, body, delay) answers,
    consumed in order (the last one repeats); unknown paths answer 200 ``ok``."""

    requests: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, Any, float]]] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, *answers: tuple[int, Any, float]) -> None:
        self.script[path] = list(answers)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{path}: expected {count} request(s), got {len(self.at(path))}")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            self.requests.append(Received(scope["method"], path, headers, body, time.monotonic()))
            answers = self.script.get(path) or [(200, "ok", 0.0)]
            status, payload, delay = answers.pop(0) if len(answers) > 1 else answers[0]
        if delay:
            await asyncio.sleep(delay)
        if isinstance(payload, (dict, list)):
            data, kind = json.dumps(payload).encode(), b"application/json"
        else:
            data, kind = str(payload).encode(), b"text/plain"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
        await send({"type": "http.response.body", "body": data})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    from launch_control.web.servers import ServerThread

    recorder = Receiver()
    server = ServerThread(recorder, lifespan="off", timeout_graceful_shutdown=1)
    with server:
        recorder.url = server.url
        yield recorder


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    from email import message_from_bytes
    from email.policy import default

    from aiosmtpd.controller import Controller

    from launch_control.web.servers import free_port

    box = Mailbox("127.0.0.1", free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            mail = message_from_bytes(envelope.content, policy=default)
            box.messages.append((envelope.rcpt_tos, mail))
            return "250 OK"

    controller = Controller(Handler(), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def wired_env(monkeypatch: pytest.MonkeyPatch, receiver: Receiver, smtp: Mailbox) -> dict[str, str]:
    """The PromptForge plan's channel env vars pointed at the loopback receiver and SMTP server."""
    env = {
        "LAUNCH_CONTROL_SLACK_WEBHOOK": receiver.url + "/slack",
        "LAUNCH_CONTROL_PAGER_WEBHOOK": receiver.url + "/pager",
        "LAUNCH_CONTROL_STATUS_WEBHOOK": receiver.url + "/status",
        "LAUNCH_CONTROL_SMTP_HOST": f"{smtp.host}:{smtp.port}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def fast_retry():
    from launch_control.respond.notify import RetryPolicy

    return RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, timeout=2.0)
