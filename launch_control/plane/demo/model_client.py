"""The demo service's one call to a live model: ``await complete(prompt, url=..., timeout=...)``.

Any OpenAI-compatible chat-completions endpoint works (the local stand-in model in
``launch_control.plane.demo.model`` by default). This is the single seam the degradation layer wraps
(retries, circuit breaker, simulated mode): every failure — refused connection, timeout, non-2xx
answer, a body without a completion — is raised as ``ModelUnavailable`` with the reason.

``url`` may be a base (``http://127.0.0.1:8103``), an OpenAI-style ``.../v1`` base, or the full
``.../chat/completions`` address. ``LAUNCH_CONTROL_MODEL_API_KEY`` (optional) is sent as a bearer
token; ``LAUNCH_CONTROL_MODEL_NAME`` names the model (default ``stand-in``).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

import aiohttp

from launch_control.errors import LaunchControlError

API_KEY_ENV = "LAUNCH_CONTROL_MODEL_API_KEY"
MODEL_NAME_ENV = "LAUNCH_CONTROL_MODEL_NAME"

# One keep-alive session per event loop (sessions cannot cross loops); closed by ``aclose()``.
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


class ModelUnavailable(LaunchControlError):
    """The live model did not give a completion; ``str()`` says why."""


def completions_url(url: str) -> str:
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30))
        _sessions[loop] = session
    return session


async def aclose() -> None:
    """Close this loop's session (the demo service calls it on shutdown)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


async def complete(prompt: str, *, url: str, timeout: float) -> str:
    """Ask the model at ``url`` to complete ``prompt``; raises ``ModelUnavailable`` on any failure."""
    body: dict[str, Any] = {
        "model": os.environ.get(MODEL_NAME_ENV, "stand-in"),
        "messages": [{"role": "user", "content": prompt}],
    }
    headers = {"Content-Type": "application/json"}
    if key := os.environ.get(API_KEY_ENV):
        headers["Authorization"] = f"Bearer {key}"
    target = completions_url(url)
    try:
        async with _session().post(
            target, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            if response.status != 200:
                raise ModelUnavailable(f"model at {target} answered HTTP {response.status}")
            data = await response.json(content_type=None)
    except TimeoutError as exc:
        raise ModelUnavailable(f"model at {target} did not answer within {timeout:g} s") from exc
    except (aiohttp.ClientError, ValueError) as exc:
        raise ModelUnavailable(f"model at {target} failed: {exc.__class__.__name__}: {exc}") from exc
    try:
        return str(data["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelUnavailable(f"model at {target} answered without choices[0].message.content") from exc
