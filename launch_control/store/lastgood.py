"""The last good plan: a compiled copy of every plan that loaded, so a rollback never depends on
today's parsing, and the hot commands start without YAML or pydantic.

Every successful ``load_plan`` here (validate, start, status, the console, …) calls ``remember``,
which writes ``<data dir>/last-good/<key of the plan's path>.json`` and ``latest.json`` when the
source changed: plain JSON holding the source path and its SHA-256, a ``hot`` section (release,
ramp steps, interval, the rollback's router, deployer and health checks, as plain numbers) and
the whole plan as ``dump_plan`` data. The files are mode 0600 in a 0700 directory: adapter
settings may hold tokens.

``choose(path)`` is how the emergency path and ``--status`` pick their plan: the compiled copy
when the file's hash matches it (no parsing at all); else the file, parsed as usual (and
remembered); else — the file is broken or gone — the last good copy of that path, or the latest
of any path, with a plain note saying so. With none, ``NoPlan`` carries the manual command.
Standard library only on these paths.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from launch_control.errors import LaunchControlError
from launch_control.plan.planfile import PlanError, load_data, plan_path, read_plan_bytes, source_hash

if TYPE_CHECKING:
    from launch_control.plan.model import Plan

FORMAT = 1
LATEST = "latest.json"


class NoPlan(LaunchControlError):
    """Neither the plan nor a last good copy can be used; the message holds the manual command,
    ``problem`` what is wrong with the plan file."""

    def __init__(self, message: str, problem: Exception | None = None):
        super().__init__(message)
        self.problem = problem


def folder() -> Path:
    from launch_control.config import data_dir

    return data_dir() / "last-good"


def copy_path(source: str | os.PathLike[str]) -> Path:
    key = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:16]
    return folder() / f"{key}.json"


def hot_section(plan: Any) -> dict[str, Any]:
    """What the hot commands read, as plain JSON numbers (seconds, percent)."""
    rollback = plan.rollback
    return {
        "release": {
            "product": plan.release.product,
            "version": plan.release.version,
            "stable_version": plan.release.stable_version,
        },
        "steps": [{"weight": s.weight, "hold": s.hold} for s in plan.canary.steps],
        "interval": plan.analysis.interval,
        "rollback": {
            "ttr_budget": rollback.ttr_budget,
            "router": {"type": rollback.router.type, **rollback.router.settings},
            "deployer": {"type": rollback.deployer.type, **rollback.deployer.settings},
            "health_checks": [
                {
                    "name": c.name,
                    "url": c.url,
                    "expect_status": c.expect_status,
                    "expect_json": c.expect_json,
                    "timeout": c.timeout,
                }
                for c in rollback.health_checks
            ],  # fmt: skip
            "notify": list(rollback.notify),
        },
        "channels": len(plan.notifications.channels),
    }


def compile_plan(plan: Any, raw: bytes) -> dict[str, Any]:
    from launch_control.plan.model import dump_plan

    return {
        "format": FORMAT,
        "source": str(Path(plan.source).resolve()) if plan.source else None,
        "source_sha256": source_hash(raw),
        "compiled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "launch_id": plan.launch_id,
        "hot": hot_section(plan),
        "plan": dump_plan(plan),
    }


def read_copy(path: Path) -> dict[str, Any] | None:
    """A compiled copy, or None when missing, unreadable or of another format."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("hot"), dict):
        return None
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remember(plan: Any, raw: bytes) -> Path | None:
    """Keep ``plan`` (just loaded from ``raw``) as the last good plan; never raises."""
    if not plan.source:
        return None
    try:
        target = copy_path(plan.source)
        digest = source_hash(raw)
        current = read_copy(target)
        latest = read_copy(folder() / LATEST)
        if current and current.get("source_sha256") == digest and latest and latest.get("source_sha256") == digest:
            return target
        compiled = compile_plan(plan, raw)
        _write(target, compiled)
        _write(folder() / LATEST, compiled)
        return target
    except Exception as exc:  # a read-only data dir must not stop the command that loaded the plan
        import logging

        logging.getLogger(__name__).warning("could not keep the last good plan: %s", exc)
        return None


@dataclass
class Choice:
    compiled: dict[str, Any]
    note: str = ""  # non-empty: the plan file was not used, and why
    fallback: bool = False

    @property
    def hot(self) -> dict[str, Any]:
        return self.compiled["hot"]

    @property
    def launch_id(self) -> str:
        return str(self.compiled["launch_id"])

    def view(self) -> Any:
        """An object shaped like ``Plan`` for what ``rollback.emergency_rollback`` reads."""
        return plan_view(self.compiled)


_remember = remember  # load_plan's keyword of the same name shadows it


def load_plan(path: str | os.PathLike[str] | None = None, *, remember: bool = True) -> Plan:
    """Read and validate a plan file; raise ``PlanError`` with file, field path and reason.

    A plan that loads is kept, compiled, as the last good plan (``remember``): emergency-rollback
    falls back to it when the file is later broken, and the hot commands start from it without
    parsing. It lives here rather than in launch_control.plan.model so that the model never
    imports this store, which parses plans with it: the dependency runs one way."""
    from launch_control.plan.model import parse_plan  # pydantic: not on the emergency path's import

    target, raw, data = load_data(path)
    plan = parse_plan(data, target, strict_units=True)
    if remember:
        _remember(plan, raw)
    return plan


def plan_view(compiled: dict[str, Any]) -> Any:
    hot = compiled["hot"]
    rb = hot["rollback"]

    def adapter(config: dict[str, Any]) -> SimpleNamespace:
        settings = {k: v for k, v in config.items() if k != "type"}
        return SimpleNamespace(type=config["type"], settings=settings)

    checks = [
        SimpleNamespace(**{"expect_json": {}, "timeout": 2.0, "expect_status": 200, **c}) for c in rb["health_checks"]
    ]
    rollback = SimpleNamespace(
        ttr_budget=float(rb["ttr_budget"]), router=adapter(rb["router"]), deployer=adapter(rb["deployer"]),
        health_checks=checks, notify=list(rb.get("notify") or []),
    )  # fmt: skip
    return SimpleNamespace(
        name=compiled["launch_id"], launch_id=compiled["launch_id"], source=compiled.get("source"),
        release=SimpleNamespace(**hot["release"]), rollback=rollback,
        canary=SimpleNamespace(steps=[SimpleNamespace(**s) for s in hot["steps"]]),
        analysis=SimpleNamespace(interval=float(hot["interval"])),
    )  # fmt: skip


def choose(path: str | os.PathLike[str] | None = None, *, any_path: bool = True) -> Choice:
    """The plan the hot commands use (see the module doc); ``NoPlan`` when there is none.
    ``any_path=False``: fall back only to this path's own last good copy (``--status``)."""
    target = plan_path(path)
    same = read_copy(copy_path(target))
    problem: PlanError | None = None
    try:
        raw = read_plan_bytes(target)
    except PlanError as exc:
        raw, problem = None, exc
    if raw is not None and same is not None and same.get("source_sha256") == source_hash(raw):
        return Choice(same)
    if raw is not None:
        try:
            plan = load_plan(target)
        except PlanError as exc:
            problem = exc
        else:
            return Choice(read_copy(copy_path(target)) or compile_plan(plan, raw))
    fallback = same or (read_copy(folder() / LATEST) if any_path else None)
    if fallback is None:
        raise NoPlan(f"{problem}\n\n{manual_command(target)}", problem)
    which = "this plan" if fallback is same else f"{fallback.get('source')} (the latest good plan of any path)"
    note = (
        f"{problem}\n"
        f"USING THE LAST GOOD PLAN: {which}, as it loaded at {fallback.get('compiled_at')} "
        f"(sha256 {str(fallback.get('source_sha256'))[:12]}). Fix the plan file afterwards."
    )
    return Choice(fallback, note=note, fallback=True)


def manual_command(target: Path, router: dict[str, Any] | None = None) -> str:
    """The no-plan message: roll back by hand, for the router the plan names (or the local gateway
    when nothing of the plan can be read)."""
    router = router or _router_from_raw(target) or {"type": "gateway"}
    return "No usable plan and no last good copy: roll back BY HAND now.\n" + manual_steps(router)


def manual_steps(router: dict[str, Any]) -> str:
    """The exact commands that send all traffic to stable through ``router`` (type + settings)."""
    from launch_control.config import ADMIN_TOKEN_ENV, PORTS, token_file

    kind = router.get("type")
    if kind == "nginx":
        conf = router.get("config_path", "<the router's config_path>")
        return (
            f"  nginx router: edit {conf} so split_clients gives the canary 0% (every request to the stable\n"
            "  upstream), then: nginx -t && nginx -s reload"
        )
    if kind == "noop":
        return "  the plan's router is noop (a dry run): no traffic to switch; switch your real router by hand."
    if kind == "haproxy":  # the haproxy router's map threshold (launch_control.plane.traffic.haproxy)
        sock = router.get("socket", "/run/haproxy/admin.sock")
        where = sock if str(sock).startswith("/") else f"tcp:{sock}"
        map_path = router.get("map_path", "/etc/haproxy/launch-canary.map")
        key = router.get("key", "canary")
        return (
            f"  echo 'set map {map_path} {key} 0' | socat stdio {where}    # no reload needed\n"
            f"  echo 'show map {map_path}' | socat stdio {where}           # check it says {key} 0"
        )
    if kind == "vercel":  # abort the rolling release = instant rollback (launch_control.plane.traffic.vercel)
        project = router.get("project", "<the router's project>")
        return (
            f"  in a directory linked to Vercel project {project} (vercel link):\n"
            f"  vercel rolling-release abort --dpl {router.get('canary_deployment') or '<canary deployment>'}\n"
            "  (an instant rollback to the previous production deployment; or: vercel rollback <that deployment>)"
        )
    if kind != "gateway":
        return f"  the plan's router is {kind}: set its canary weight to 0 with that platform's own tools."
    url = str(router.get("url") or f"http://127.0.0.1:{PORTS['gateway']}").rstrip("/")
    env = router.get("token_env") or ADMIN_TOKEN_ENV
    token = "<rollback.router.token from the plan>" if router.get("token") else f"${{{env}:-$(cat {token_file()})}}"
    auth = f'-H "Authorization: Bearer {token}"'
    return (
        f"  curl -fsS -X PUT {url}/admin/weights {auth} -H 'Content-Type: application/json' -d '{{\"canary\": 0}}'\n"
        f'  curl -fsS {url}/admin/weights {auth}    # check it answers "canary": 0'
    )


def _router_from_raw(target: Path) -> dict[str, Any] | None:
    """The rollback router of a plan that fails validation but is still readable YAML."""
    try:
        from launch_control.plan.planfile import decode_plan, parse_yaml

        data = parse_yaml(target, decode_plan(target, read_plan_bytes(target)))
        router = data["rollback"]["router"]
        return dict(router) if isinstance(router, dict) else None
    except Exception:
        return None
