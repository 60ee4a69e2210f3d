"""A stand-in for the live model: an OpenAI-compatible ``POST /v1/chat/completions`` on loopback.

It answers a canned completion that echoes the prompt, so the demo service's live path is a real
HTTP call. ``/admin/faults`` (token) makes it fail the ways live models do: ``down`` (503),
``latency`` (seconds added), ``error_rate`` and ``flapping`` (fail every other call). Like the
API, it sits behind the WAF: a deep or undecodable body is a 4xx, never a 500.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from launch_control.plane.demo.faults import Faults, make_faults_endpoint
from launch_control.protect.waf import loads_public


def create_app(*, admin_token: str, waf: Any = None) -> ASGIApp:
    """The stand-in model behind a WAF (``waf``: a plan ``Waf`` section; default: the plan's
    defaults) — the same caps on paths, headers, bodies, JSON depth and text as the API has."""
    faults = Faults()
    ids = itertools.count(1)

    async def chat_completions(request: Request) -> Response:
        try:
            raw = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)  # the caller gave up; nobody reads this answer
        if faults.down:
            return JSONResponse({"error": {"message": "model is down (injected)", "type": "server_error"}}, 503)
        await faults.delay()
        if faults.inject_error():
            return JSONResponse({"error": {"message": "model failed (injected)", "type": "server_error"}}, 500)
        try:
            body = loads_public(raw)
            messages = body["messages"]
            prompt = str(messages[-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            return JSONResponse(
                {"error": {"message": "send {'messages': [{'role': 'user', 'content': ...}]}", "type": "invalid"}},
                400,
            )
        content = f"[stand-in model] {prompt[:200]}"
        return JSONResponse(
            {
                "id": f"chatcmpl-standin-{next(ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model") or "stand-in"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split())},
            }
        )

    async def health(request: Request) -> JSONResponse:
        if faults.down:
            return JSONResponse({"status": "down", "model": "stand-in"}, 503)
        return JSONResponse({"status": "ok", "model": "stand-in"})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/health", health, methods=["GET", "HEAD"]),
            Route(
                "/admin/faults", make_faults_endpoint(faults, admin_token, model=True), methods=["GET", "PUT", "DELETE"]
            ),
        ]
    )
    app.state.faults = faults
    from launch_control.plan.model import Waf
    from launch_control.protect.waf import WafMiddleware

    return WafMiddleware(app, waf if waf is not None else Waf())
