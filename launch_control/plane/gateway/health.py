"""The gateway's live checks of its upstreams: ``GET /health`` (public: is the stable version
answering?) and the per-version detail the admin API reports, over a low-rate aiohttp session of
their own (the proxy path uses its own keep-alive pools, ``upstream.py``).

A mixin of ``launch_control.plane.gateway.app.Gateway``, which owns the routing state it reads.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from launch_control.plane.gateway.admin import Scope, Send, send_json
from launch_control.plane.gateway.forward import HEALTH_TIMEOUT


class UpstreamHealth:
    """Health checks for a Gateway: it provides ``known``, ``versions`` and ``weights()``."""

    known: dict[str, str]
    _session: aiohttp.ClientSession | None

    @property
    def versions(self) -> dict[str, str]:
        raise NotImplementedError  # the Gateway's routing state

    def weights(self) -> dict[str, float]:
        raise NotImplementedError  # the Gateway's routing state

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",), trust_env=False
            )
        return self._session

    async def check_upstream(self, role: str) -> dict[str, Any]:
        version = self.versions[role]
        url = self.known[version] + "/health"
        started = time.perf_counter()
        detail: dict[str, Any] = {"version": version, "url": self.known[version], "ok": False}
        try:
            async with self.session().get(url, timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT)) as response:
                await response.read()
                detail["status"] = response.status
                detail["ok"] = response.status == 200
        except TimeoutError:
            detail["error"] = f"no answer within {HEALTH_TIMEOUT:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            detail["error"] = f"{exc.__class__.__name__}: {exc}"
        detail["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return detail

    async def health(self) -> tuple[bool, dict[str, Any]]:
        stable, canary = await asyncio.gather(self.check_upstream("stable"), self.check_upstream("canary"))
        return stable["ok"], {"stable": stable, "canary": canary}

    async def _public_health(self, scope: Scope, send: Send) -> None:
        ok, detail = await self.health()
        body = {
            "status": "ok" if ok else "unavailable",
            "weights": self.weights(),
            "upstreams": {role: {"version": d["version"], "ok": d["ok"]} for role, d in detail.items()},
        }
        await send_json(send, 200 if ok else 503, body)
