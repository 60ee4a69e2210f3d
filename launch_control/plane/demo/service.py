"""The demo PromptForge API that the launch ramps: one app, run as stable and as canary.

``create_app(version, admin_token=..., model_url=...)`` builds it (Starlette). Endpoints follow the
launch plan: ``POST /api/gpt-test`` (asks the live model through ``model_client.complete``; when
that fails it answers in simulated mode with ``X-Degraded``), ``POST /api/run/{id}``,
``GET /api/analytics``, ``GET /api/status``, ``GET /health`` (reports the version), ``/metrics``
(process CPU and memory, requests by route and status) and the token-protected
``/admin/faults`` that injects errors, latency or a full outage at run time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from launch_control.plane.demo import model_client
from launch_control.plane.demo.faults import Faults, make_faults_endpoint
from launch_control.plane.demo.web import routes as web_routes
from launch_control.protect.degrade import guarded_answer
from launch_control.protect.waf import loads_public

RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PROMPT = 8000
SIMULATED_MESSAGE = "The live model is temporarily unavailable; PromptForge is answering in simulated mode."

Handler = Callable[[Request], Awaitable[Response]]


def memory_limit_bytes() -> int:
    """The memory this process may use: the cgroup v2 limit when set, else the machine's RAM."""
    try:
        text = open("/sys/fs/cgroup/memory.max").read().strip()  # noqa: SIM115 - tiny read
        if text.isdigit():
            return int(text)
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _problem(status: int, error: str, detail: str, version: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, "version": version}, status)


def create_app(
    version: str,
    *,
    admin_token: str,
    model_url: str | None = None,
    model_timeout: float = 10.0,
    plan: Any = None,
    store: Any = None,
    board: Any = None,
) -> ASGIApp:
    """With ``plan``: the model call runs under retry + circuit breaker (launch_control.protect.degrade),
    /api/status serves the shared degradation status, and the app is wrapped in the plan's WAF and
    rate limits (launch_control.protect.layers). ``store`` / ``board``: where that status lives."""
    if not admin_token:
        raise ValueError("admin_token is required: the fault-injection API must not be open")
    faults = Faults()
    state: dict[str, Any] = {"degraded": False, "degraded_reason": ""}

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    requests_total = Counter(
        "launch_demo_requests_total", "Demo API requests by route and status", ["route", "status"], registry=registry
    )
    Gauge("launch_demo_memory_limit_bytes", "Memory available to this process (cgroup or RAM)", registry=registry).set(
        memory_limit_bytes()
    )
    info = Gauge("launch_demo_info", "The version this instance serves", ["version"], registry=registry)
    info.labels(version=version).set(1)

    def api(route: str) -> Callable[[Handler], Handler]:
        """Apply injected faults to an API route and count its answers."""

        def wrap(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                if faults.down:
                    response: Response = _problem(503, "unavailable", "service is down (injected fault)", version)
                else:
                    await faults.delay()
                    if faults.inject_error():
                        response = _problem(500, "internal error", "injected fault", version)
                    else:
                        try:
                            response = await handler(request)
                        except ClientDisconnect:
                            response = Response(status_code=499)  # the caller gave up while we waited
                response.headers["X-Version"] = version
                requests_total.labels(route=route, status=str(response.status_code)).inc()
                return response

            return endpoint

        return wrap

    async def ask_model(prompt: str) -> str:
        """The one live-model call (the degradation layer wraps exactly this)."""
        if not model_url:
            raise model_client.ModelUnavailable("no live model configured")
        if guard is not None:
            return await guarded_answer(guard, prompt, model_client.ModelUnavailable)
        return await model_client.complete(prompt, url=model_url, timeout=model_timeout)

    guard = status_view = None
    if plan is not None:
        from launch_control.protect.degrade import GuardedModel, StatusView, default_board

        board = board if board is not None else default_board(store)
        guard = GuardedModel(
            model_client.complete,
            plan.degradation.model_copy(update={"live_model_timeout": model_timeout}),
            url=model_url,
            board=board,
            service=version,
        )
        status_view = StatusView(board)

    @api("/api/gpt-test")
    async def gpt_test(request: Request) -> Response:
        try:
            body = loads_public(await request.body())
        except ValueError as exc:
            return _problem(400, "invalid JSON", f'{exc}; send {{"prompt": "..."}}', version)
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            return _problem(422, "invalid prompt", 'send {"prompt": "..."} with a non-empty string', version)
        if len(prompt) > MAX_PROMPT:
            return _problem(
                422, "invalid prompt", f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT}", version
            )
        try:
            output = await ask_model(prompt)
        except model_client.ModelUnavailable as exc:
            state.update(degraded=True, degraded_reason=str(exc))
            if plan is not None and not plan.degradation.simulated_mode:
                # The plan turned simulated answers off: say so plainly (a 503 the client can retry).
                reason = getattr(exc, "reason", "model unavailable")
                detail = f"{reason}; simulated mode is off in the plan"
                answer = _problem(503, "live model unavailable", detail, version)
                answer.headers["X-Degraded"] = reason
                answer.headers["Retry-After"] = f"{max(1, round(plan.degradation.circuit_breaker.reset_timeout))}"
                return answer
            return JSONResponse(
                {"output": f"{SIMULATED_MESSAGE} (echo: {prompt[:200]})", "mode": "simulated", "version": version},
                headers={"X-Degraded": getattr(exc, "reason", "model unavailable")},
            )
        state.update(degraded=False, degraded_reason="")
        return JSONResponse({"output": output, "mode": "live", "version": version})

    @api("/api/run/*")
    async def run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        if not RUN_ID.match(run_id):
            return _problem(422, "invalid run id", "a run id is 1-64 letters, digits, '_' or '-'", version)
        raw = await request.body()
        if raw:
            try:
                payload = loads_public(raw)
            except ValueError as exc:
                return _problem(400, "invalid JSON", f"{exc}; the body must be a JSON object (or empty)", version)
            if not isinstance(payload, dict):
                return _problem(422, "invalid body", "the body must be a JSON object", version)
        return JSONResponse({"run_id": run_id, "status": "completed", "version": version})

    @api("/api/analytics")
    async def analytics(request: Request) -> Response:
        org = request.headers.get("x-org-id", "anonymous")
        seed = int.from_bytes(hashlib.blake2b(org.encode(), digest_size=4).digest(), "big")
        return JSONResponse(
            {
                "org": org,
                "runs_last_7d": seed % 500,
                "prompts_last_7d": (seed // 500) % 5000,
                "success_rate": round(0.9 + (seed % 100) / 1000, 3),
                "version": version,
            }
        )

    @api("/api/status")
    async def status(request: Request) -> Response:
        if status_view is not None:
            shared = await status_view.payload(local_reason=state["degraded_reason"] if state["degraded"] else "")
            return JSONResponse({"version": version, **shared})
        return JSONResponse({"version": version, "degraded": state["degraded"]})

    async def health(request: Request) -> Response:
        if faults.down:
            return JSONResponse({"status": "down", "version": version}, 503)
        return JSONResponse({"status": "ok", "version": version})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await model_client.aclose()

    app = Starlette(
        routes=[
            Route("/api/gpt-test", gpt_test, methods=["POST"]),
            Route("/api/run/{run_id}", run, methods=["POST"]),
            Route("/api/analytics", analytics, methods=["GET"]),
            Route("/api/status", status, methods=["GET"]),
            Route("/health", health, methods=["GET", "HEAD"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/admin/faults", make_faults_endpoint(faults, admin_token), methods=["GET", "PUT", "DELETE"]),
            *web_routes(),  # the end-user page and /static/degradation-banner.js (launch_control.plane.demo.web)
        ],
        lifespan=lifespan,
    )
    app.state.faults = faults
    app.state.version = version
    app.state.status = state
    if plan is not None:
        from launch_control.protect.layers import protect

        app.state.guard = guard
        return protect(app, plan, store=store, board=board, prefix="lc:rl:api")
    return app
