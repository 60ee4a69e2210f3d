"""Public input never reaches a parser it can crash: the WAF's depth cap and text check apply to
every body whatever its Content-Type, apps parse with ``loads_public`` even without the WAF, and
every answer of a rate-limited route carries the RateLimit headers (refusals included)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from protection_helpers import rate_limits, waf
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from launch_control.protect.layers import protect
from launch_control.protect.waf import WafMiddleware, loads_public, text_problem

DEEP = b"[" * 5000 + b"]" * 5000


async def parse(request: Request) -> JSONResponse:
    """An app that parses every body as JSON, as the demo API does (whatever the Content-Type)."""
    import json

    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return JSONResponse({"error": "invalid JSON"}, 400)
    return JSONResponse({"echo": body})  # encoding a lone surrogate here would raise


def app() -> Starlette:
    return Starlette(
        routes=[Route("/api/gpt-test", parse, methods=["POST"]), Route("/api/status", parse, methods=["GET"])]
    )


def call(asgi, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, content=body, headers=headers or {})

    return asyncio.run(main())


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/octet-stream", "multipart/form-data", None]
)
def test_depth_cap_applies_whatever_the_content_type(content_type: str | None) -> None:
    guarded = WafMiddleware(app(), waf(max_json_depth=32))
    headers = {"Content-Type": content_type} if content_type else {}
    response = call(guarded, "POST", "/api/gpt-test", DEEP, headers)
    assert response.status_code == 413 and response.json()["rule"] == "json_too_deep"
    assert call(guarded, "POST", "/api/gpt-test", b"[[1]]", headers).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b'{"prompt":"\\ud800"}', b'{"prompt":"\\udc00"}', b'{"prompt":"\\ude00\\ud83d"}', b'{"prompt":"\\ud800x\\udc00"}'],
)
def test_lone_surrogates_are_a_400_naming_the_problem(body: bytes) -> None:
    guarded = WafMiddleware(app(), waf())
    for content_type in ("application/json", "text/plain"):
        response = call(guarded, "POST", "/api/gpt-test", body, {"Content-Type": content_type})
        assert response.status_code == 400 and response.json()["rule"] == "invalid_text"
        assert "surrogate" in response.json()["message"]


def test_real_text_goes_through() -> None:
    guarded = WafMiddleware(app(), waf())
    for body in (b'{"prompt":"\\ud83d\\ude00"}', '{"prompt":"héllo ☃"}'.encode(), b'{"prompt":"\\\\ud800"}'):
        assert call(guarded, "POST", "/api/gpt-test", body).status_code == 200, body
    assert text_problem(b'{"p":"\\\\ud800"}') is None  # an escaped backslash, then text: no surrogate


def test_loads_public_refuses_what_would_crash_later() -> None:
    for raw in (DEEP, b'"\\ud800"', b"\xff", b"9" * 5000):
        with pytest.raises(ValueError):
            loads_public(raw)
    assert loads_public(b'{"a": ["\\ud83d\\ude00"]}') == {"a": ["\U0001f600"]}


def test_demo_api_and_model_refuse_bad_bodies_without_the_waf() -> None:
    from launch_control.plane.demo.model import create_app as model_app
    from launch_control.plane.demo.service import create_app as service_app

    api = service_app("v3.0.0", admin_token="t")  # no plan: no WAF in front
    for body in (DEEP, b'{"prompt":"\\ud800"}'):
        assert call(api, "POST", "/api/gpt-test", body, {"Content-Type": "text/plain"}).status_code == 400
        assert call(api, "POST", "/api/run/r1", body).status_code == 400
        put = call(api, "PUT", "/admin/faults", body, {"Authorization": "Bearer t"})
        assert put.status_code == 400
    model = model_app(admin_token="t")
    for body in (DEEP, b'{"messages":[{"role":"user","content":"\\ud800"}]}'):
        assert call(model, "POST", "/v1/chat/completions", body, {"Content-Type": "text/plain"}).status_code < 500
        assert call(model, "PUT", "/admin/faults", body, {"Authorization": "Bearer t"}).status_code < 500


def test_rate_limit_headers_on_every_answer_of_a_limited_route() -> None:
    class Plan:
        pass

    plan = Plan()
    plan.rate_limits = rate_limits()  # type: ignore[attr-defined]
    plan.waf = waf(max_json_depth=8)  # type: ignore[attr-defined]
    from launch_control.protect.degrade import MemoryBoard

    guarded = protect(app(), plan, board=MemoryBoard())
    cases = {
        "admitted": call(guarded, "POST", "/api/gpt-test", b"{}", {"X-Org-Id": "acme"}),
        "missing org (400)": call(guarded, "POST", "/api/gpt-test", b"{}"),
        "malformed org (400)": call(guarded, "POST", "/api/gpt-test", b"{}", {"X-Org-Id": "bad org!"}),
        "WAF depth (413)": call(guarded, "POST", "/api/gpt-test", DEEP, {"X-Org-Id": "acme"}),
        "WAF text (400)": call(guarded, "POST", "/api/gpt-test", b'"\\ud800"', {"X-Org-Id": "acme"}),
    }
    for name, response in cases.items():
        assert response.status_code < 500, name
        assert response.headers.get("ratelimit-policy", "").startswith('"gpt-test";q=60;w=60'), name
        assert '"gpt-test";r=' in response.headers.get("ratelimit", ""), name
    assert cases["missing org (400)"].headers["ratelimit"].startswith('"gpt-test";r=0')
    assert len(cases["admitted"].headers.get_list("ratelimit")) == 1  # added once, not twice
