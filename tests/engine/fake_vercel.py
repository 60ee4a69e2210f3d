"""A local fake of Vercel's REST API — the Rolling Releases endpoints and the two deployment
endpoints the Vercel deployer uses — for the vercel router tests (Vercel is a vendor cloud: a
fake on 127.0.0.1 is the only way to test it offline).

Endpoints, status codes and bodies follow Vercel's REST reference ("Rolling Releases": get/patch
config, start, approve-stage, complete, get the rolling release; "rollback" as `vercel
rolling-release abort` calls it) and the SDK's documented example of a rolling release
(``DOCUMENTED_RELEASE``). Errors use Vercel's ``{"error": {"code", "message"}}`` shape.
``faults`` queues canned failures (status, headers, body) answered before the real handling.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TOKEN = "vercel-test-token"
PROJECT, PROJECT_NAME, TEAM = "prj_promptforge", "promptforge", "team_promptforge"

# The documented example of GET /v1/projects/{idOrName}/rolling-release (Vercel SDK docs,
# GetRollingReleaseResponseBody): a manual-approval release at its second stage (25 %).
DOCUMENTED_RELEASE: dict[str, Any] = {
    "rollingRelease": {
        "state": "ACTIVE",
        "currentDeployment": {"id": "dpl_abc123", "name": "my-shop@main", "url": "my-shop.vercel.app",
                              "target": "production", "source": "git", "createdAt": 1716206500000,
                              "readyState": "READY", "readyStateAt": 1716206800000},
        "canaryDeployment": {"id": "dpl_def456", "name": "my-shop@9c7e2f4", "url": "9c7e2f4-my-shop.vercel.app",
                             "target": "production", "source": "git", "createdAt": 1716210100000,
                             "readyState": "READY", "readyStateAt": 1716210400000},
        "queuedDeploymentId": "dpl_ghi789",
        "advancementType": "manual-approval",
        "stages": [
            {"index": 0, "isFinalStage": False, "targetPercentage": 5, "requireApproval": True, "duration": None},
            {"index": 1, "isFinalStage": False, "targetPercentage": 25, "requireApproval": True, "duration": None},
            {"index": 2, "isFinalStage": False, "targetPercentage": 60, "requireApproval": True, "duration": None},
            {"index": 3, "isFinalStage": True, "targetPercentage": 100, "requireApproval": False, "duration": None},
        ],
        "activeStage": {"index": 1, "isFinalStage": False, "targetPercentage": 25, "requireApproval": True,
                        "duration": None},
        "nextStage": {"index": 2, "isFinalStage": False, "targetPercentage": 60, "requireApproval": True,
                      "duration": None},
        "startedAt": 1716210500000,
        "updatedAt": 1716210600000,
    }
}


def _deployment(uid: str, version: str, created: int) -> dict[str, Any]:
    return {"id": uid, "uid": uid, "name": f"{PROJECT_NAME}@{version}", "url": f"{uid}-{PROJECT_NAME}.vercel.app",
            "target": "production", "source": "git", "createdAt": created, "created": created,
            "readyState": "READY", "state": "READY", "readyStateAt": created + 1000,
            "meta": {"githubCommitRef": version}}


@dataclass
class FakeVercel:
    deployments: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "dpl_stable": _deployment("dpl_stable", "v2.9.0", 1_764_000_000_000),
        "dpl_canary": _deployment("dpl_canary", "v3.0.0", 1_764_100_000_000),
        "dpl_other": _deployment("dpl_other", "v3.1.0", 1_764_200_000_000),
    })
    production: str = "dpl_stable"
    config: dict[str, Any] | None = None
    release: dict[str, Any] | None = None
    faults: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    served: list[float] = field(default_factory=list)  # the canary share after each change
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- helpers --------------------------------------------------------------------------------

    def percent(self) -> float:
        if not self.release or self.release["state"] == "ABORTED":
            return 0.0
        if self.release["state"] == "COMPLETE":
            return 100.0
        return float(self.release["activeStage"]["targetPercentage"])

    def _changed(self) -> None:
        self.served.append(self.percent())
        if self.release:
            self.release["updatedAt"] = int(time.time() * 1000)

    def _stage(self, index: int) -> None:
        stages = self.release["stages"]
        self.release["activeStage"] = copy.deepcopy(stages[index])
        self.release["nextStage"] = copy.deepcopy(stages[index + 1]) if index + 1 < len(stages) else None
        if stages[index]["isFinalStage"]:
            self._complete()

    def _complete(self) -> None:
        self.release["state"] = "COMPLETE"
        self.production = self.release["canaryDeployment"]["id"]

    def calls_to(self, suffix: str) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[1].endswith(suffix)]

    # -- ASGI -----------------------------------------------------------------------------------

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
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = "<invalid json>"
        with self.lock:
            self.calls.append((scope["method"], scope["path"], payload))
            status, extra, answer = self.handle(scope["method"], scope["path"], headers, query, payload)
        raw = json.dumps(answer).encode()
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        response_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": raw})

    def handle(self, method: str, path: str, headers: dict[str, str], query: dict[str, str], body: Any):
        if path == "/health":  # not Vercel's: the "site" the rollback's health check probes
            return 200, {}, {"status": "ok", "production": self.production}
        if self.faults:
            return self.faults.pop(0)
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {}, {"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": True}}
        if query.get("teamId") not in (None, TEAM):
            return 403, {}, {"error": {"code": "forbidden", "message": "You don't have access to this team"}}
        parts = path.strip("/").split("/")
        if path == "/v6/deployments":
            listed = [d for d in self.deployments.values() if d["uid"] == self.production or d["uid"] != "dpl_other"]
            return 200, {}, {"deployments": listed, "pagination": {"count": len(listed), "next": None}}
        if len(parts) < 3 or parts[1] != "projects" or parts[2] not in (PROJECT, PROJECT_NAME):
            return 404, {}, {"error": {"code": "not_found", "message": "Project not found"}}
        rest = "/".join(parts[3:])
        if rest.startswith("rollback/"):
            target = parts[-1]
            if target not in self.deployments:
                return 404, {}, {"error": {"code": "not_found", "message": "Deployment not found"}}
            if self.production == target and not (self.release and self.release["state"] == "ACTIVE"):
                return 409, {}, {"error": {"code": "conflict", "message": "Deployment is already the current one"}}
            self.production = target
            if self.release and self.release["state"] == "ACTIVE":
                self.release["state"] = "ABORTED"
            self._changed()
            return 201, {}, {}
        if rest == "rolling-release/config":
            if method == "GET":
                return 200, {}, {"rollingRelease": self.config}
            if method == "PATCH":
                stages = (body or {}).get("stages") if isinstance(body, dict) else None
                if not stages or float(stages[-1].get("targetPercentage", 0)) != 100:
                    return 400, {}, {"error": {"code": "bad_request", "message": "stages must end at 100"}}
                self.config = {"target": "production", **body}
                return 200, {}, {"rollingRelease": self.config}
        if rest == "rolling-release" and method == "GET":
            return 200, {}, {"rollingRelease": self.release}
        if rest == "rolling-release/start" and method == "POST":
            canary = (body or {}).get("canaryDeploymentId")
            if canary not in self.deployments:
                return 404, {}, {"error": {"code": "not_found", "message": "Deployment not found"}}
            if self.release and self.release["state"] == "ACTIVE":
                if self.release["canaryDeployment"]["id"] == canary:
                    return 200, {}, {"rollingRelease": self.release}  # documented: same canary, no side effects
                return 409, {}, {"error": {"code": "conflict", "message": "A rolling release is already active"}}
            if not (self.config and self.config.get("enabled")):
                return 400, {}, {"error": {"code": "bad_request", "message": "Rolling releases are not enabled"}}
            stages = [
                {"index": i, "isFinalStage": i == len(self.config["stages"]) - 1,
                 "targetPercentage": s["targetPercentage"], "requireApproval": bool(s.get("requireApproval", True)),
                 "duration": s.get("duration")}
                for i, s in enumerate(self.config["stages"])
            ]
            now = int(time.time() * 1000)
            self.release = {"state": "ACTIVE", "currentDeployment": self.deployments[self.production],
                            "canaryDeployment": self.deployments[canary], "queuedDeploymentId": None,
                            "advancementType": self.config.get("advancementType", "manual-approval"),
                            "stages": stages, "activeStage": None, "nextStage": None, "startedAt": now,
                            "updatedAt": now}
            self._stage(0)
            self._changed()
            return 200, {}, {"rollingRelease": self.release}
        if rest in ("rolling-release/approve-stage", "rolling-release/complete") and method == "POST":
            if not (self.release and self.release["state"] == "ACTIVE"):
                return 404, {}, {"error": {"code": "not_found", "message": "No active rolling release"}}
            if (body or {}).get("canaryDeploymentId") != self.release["canaryDeployment"]["id"]:
                return 400, {}, {"error": {"code": "bad_request", "message": "canaryDeploymentId does not match"}}
            if rest.endswith("complete"):
                self._complete()
            else:
                index = (body or {}).get("nextStageIndex")
                if not isinstance(index, int) or not self.release["activeStage"]["index"] < index < len(
                        self.release["stages"]):
                    return 400, {}, {"error": {"code": "bad_request", "message": f"invalid nextStageIndex {index}"}}
                self._stage(index)
            self._changed()
            return 200, {}, {"rollingRelease": self.release}
        return 404, {}, {"error": {"code": "not_found", "message": f"no route {method} {path}"}}
