"""Run-time fault injection for the demo service and the stand-in model, behind a token.

Both apps keep a ``Faults`` object and mount ``faults_endpoint``: ``GET /admin/faults`` shows the
current faults, ``PUT /admin/faults`` changes the ones named in the JSON body (the others stay;
``DELETE`` clears all). Every call needs ``Authorization: Bearer <admin token>`` (401 otherwise);
bad values answer 422 with the reason. Faults are per process, so stable and canary are hurt
independently.
"""

from __future__ import annotations

import asyncio
import hmac
import random
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from launch_control.protect.waf import loads_public

MAX_LATENCY = 60.0  # seconds; more than this is a typo, not an experiment


@dataclass
class Faults:
    error_rate: float = 0.0  # fraction of requests answered 500
    latency: float = 0.0  # seconds added to each request
    down: bool = False  # answer 503 to everything except the admin API
    flapping: bool = False  # model only: fail every other call
    _calls: int = 0

    def as_dict(self, *, model: bool = False) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        if not model:
            data.pop("flapping")
        return data

    def update(self, body: Any, *, model: bool = False) -> None:
        """Apply a PUT body; raises ValueError naming the bad field (nothing is changed then)."""
        allowed = {"error_rate", "latency", "down"} | ({"flapping"} if model else set())
        if not isinstance(body, dict):
            raise ValueError('send a JSON object, e.g. {"error_rate": 0.3, "latency": 0.2, "down": false}')
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
        changes: dict[str, Any] = {}
        if "error_rate" in body:
            value = body["error_rate"]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"error_rate must be a fraction between 0 and 1 (0.3 = 30%), got {value!r}")
            changes["error_rate"] = float(value)
        if "latency" in body:
            value = body["latency"]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= MAX_LATENCY:
                raise ValueError(f"latency must be seconds between 0 and {MAX_LATENCY:g}, got {value!r}")
            changes["latency"] = float(value)
        for flag in ("down", "flapping"):
            if flag in body:
                if not isinstance(body[flag], bool):
                    raise ValueError(f"{flag} must be true or false, got {body[flag]!r}")
                changes[flag] = body[flag]
        for key, value in changes.items():
            setattr(self, key, value)

    def clear(self) -> None:
        self.error_rate, self.latency, self.down, self.flapping = 0.0, 0.0, False, False

    def inject_error(self) -> bool:
        """Whether this request should fail (error rate, or flapping: every other call)."""
        if self.flapping:
            self._calls += 1
            if self._calls % 2 == 0:
                return True
        return self.error_rate > 0.0 and random.random() < self.error_rate

    async def delay(self) -> None:
        if self.latency > 0.0:
            await asyncio.sleep(self.latency)


def authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized", "detail": "send Authorization: Bearer <admin token> (see launch-control up)"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def make_faults_endpoint(faults: Faults, token: str, *, model: bool = False):
    """The ``/admin/faults`` endpoint (GET, PUT, DELETE) for a Starlette route."""

    async def endpoint(request: Request) -> JSONResponse:
        if not authorized(request, token):
            return unauthorized()
        if request.method == "PUT":
            try:
                body = loads_public(await request.body() or b"null")
            except ValueError as exc:
                return JSONResponse({"error": "invalid JSON", "detail": f"{exc}; the body must be a JSON object"}, 400)
            try:
                faults.update(body, model=model)
            except ValueError as exc:
                return JSONResponse({"error": "invalid faults", "detail": str(exc)}, 422)
        elif request.method == "DELETE":
            faults.clear()
        return JSONResponse(faults.as_dict(model=model))

    return endpoint
