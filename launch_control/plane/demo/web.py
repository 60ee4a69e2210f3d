"""The PromptForge end-user web page and the degradation banner's JavaScript, as routes for the
demo service: ``GET /`` (a prompt box calling ``/api/gpt-test`` under ``<degradation-banner>``) and
``GET /static/degradation-banner.js`` (one dependency-free web component any front end can
include; it reads ``/api/status``). The files live in ``launch_control/plane/demo/static/``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC = Path(__file__).with_name("static")
BANNER_PATH = "/static/degradation-banner.js"


def _file(name: str, media_type: str, cache: str) -> Callable[[Request], Awaitable[Response]]:
    body = (STATIC / name).read_bytes()  # read once: a few KB, served from memory

    async def endpoint(request: Request) -> Response:
        return Response(body, media_type=media_type, headers={"Cache-Control": cache,
                                                              "X-Content-Type-Options": "nosniff"})

    return endpoint


def routes() -> list[Route]:
    return [
        Route("/", _file("index.html", "text/html; charset=utf-8", "no-cache"), methods=["GET", "HEAD"]),
        # A stable path; short cache so a fixed banner reaches users within minutes.
        Route(BANNER_PATH, _file("degradation-banner.js", "text/javascript; charset=utf-8", "public, max-age=300"),
              methods=["GET", "HEAD"]),
    ]
