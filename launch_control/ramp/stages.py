"""The launch day's stages before the ramp — preflight, freeze & tag, canary deploy — as one
function each, called by the CLI and the flows alike; each records its timeline entry running →
done / failed when it happens, whoever runs it (``launch_control.control.timeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from launch_control.control.timeline import record_stage

if TYPE_CHECKING:
    from launch_control.control.operations import Actor, Control


def run_stage(
    ctl: Control, actor: Actor, action: str, body: Callable[[], Any], *, ok: Callable[[Any], bool] | None = None
) -> Any:
    """Run ``body`` as timeline stage ``action``: running, then done (``ok(result)``, default the
    result's ``ok`` attribute) or failed (also on an exception, which is re-raised)."""
    record_stage(ctl.plan, ctl.store, action, "running", f"by {actor}")
    try:
        result = body()
    except Exception as exc:
        record_stage(ctl.plan, ctl.store, action, "failed", f"by {actor}: {exc}")
        raise
    passed = ok(result) if ok is not None else bool(getattr(result, "ok", True))
    record_stage(ctl.plan, ctl.store, action, "done" if passed else "failed", f"by {actor}")
    return result


def preflight(ctl: Control, actor: Actor, *, smoke_base_url: str | None = None, out: Any = None) -> Any:
    """The checklist's automatic checks (ticks passing items); returns the preflight report."""
    from launch_control.ramp.preflight import run_preflight

    kwargs = {"smoke_base_url": smoke_base_url} | ({"out": out} if out is not None else {})
    return run_stage(ctl, actor, "preflight", lambda: run_preflight(ctl.plan, ctl.store, **kwargs))


def freeze(ctl: Control, actor: Actor, *, repo: str | None = None) -> Any:
    """Create the release tag and freeze the release branch (``launch_control.ramp.release``)."""
    from launch_control.ramp.release import freeze_and_tag

    def body() -> Any:
        return freeze_and_tag(ctl.plan, ctl.store, actor=actor.name, repo=repo)

    return run_stage(ctl, actor, "freeze_and_tag", body, ok=lambda _r: True)


def deploy_canary(ctl: Control, actor: Actor) -> str:
    """Point the canary at the release version (the plan's deployer); audited ``deploy.canary``."""

    def deploy() -> str:
        from launch_control.plane.deploy import build_deployer

        version = ctl.plan.release.version
        detail = build_deployer(ctl.plan.rollback.deployer).deploy("canary", version)
        ctl.store.audit(actor.name, "deploy.canary", version=version, detail=detail, via=actor.via)
        return str(detail)

    return run_stage(ctl, actor, "deploy_canary", deploy, ok=lambda _r: True)
