"""Pre-launch checks run by machine: the automatic checks of checklist items, and smoke tests.

``run_preflight(plan, store)`` runs every checklist item that has a ``check`` (http, sql, command,
smoke), records each result (``Store.record_check``) and ticks passing items with actor ``auto``.
``preflight_blockers(plan, store)`` says why the canary must not start (a failed or missing
result). ``run_smoke(plan.smoke_tests)`` runs the plan's smoke requests — also
``launch-control smoke``. ``http_check`` is the probe the rollback's verification uses too.

Only the standard library and httpx (imported when used): the emergency path imports this.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from launch_control.plan.model import Check, Plan, SmokeTests
    from launch_control.store.db import Store

AUTO_ACTOR = "auto"


@dataclass
class CheckResult:
    item_id: str
    ok: bool
    detail: str
    seconds: float = 0.0


@dataclass
class PreflightReport:
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]


# --- probes --------------------------------------------------------------------------------------


def _lookup(data: Any, path: str) -> tuple[bool, Any]:
    """``a.b.c`` in nested JSON → (found, value)."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return False, None
    return True, current


def json_mismatch(data: Any, expect_json: dict[str, Any], expect_fields: list[str] | None = None) -> str | None:
    """Why ``data`` does not match (a field missing or different), or None when it matches."""
    for key in expect_fields or []:
        found, _ = _lookup(data, key)
        if not found:
            return f"field {key!r} missing"
    for key, wanted in expect_json.items():
        found, value = _lookup(data, key)
        if not found:
            return f"field {key!r} missing"
        if value != wanted:
            return f"field {key!r} is {value!r}, expected {wanted!r}"
    return None


def http_check(
    url: str,
    *,
    method: str = "GET",
    expect_status: int = 200,
    expect_json: dict[str, Any] | None = None,
    expect_fields: list[str] | None = None,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    timeout: float = 2.0,
    client: Any = None,
) -> tuple[bool, str]:
    """One HTTP probe → (ok, plain-language detail)."""
    import httpx

    owned = client is None
    client = client or httpx.Client(timeout=timeout)
    started = time.monotonic()
    try:
        response = client.request(method, url, headers=headers, json=json_body, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, f"{method} {url}: no answer ({type(exc).__name__}: {exc})"
    finally:
        if owned:
            client.close()
    ms = (time.monotonic() - started) * 1000
    if response.status_code != expect_status:
        return False, f"{method} {url}: {response.status_code}, expected {expect_status} ({ms:.0f} ms)"
    if expect_json or expect_fields:
        try:
            data = response.json()
        except ValueError:
            return False, f"{method} {url}: answer is not JSON"
        problem = json_mismatch(data, expect_json or {}, expect_fields)
        if problem:
            return False, f"{method} {url}: {problem}"
    return True, f"{method} {url}: {response.status_code} ({ms:.0f} ms)"


# --- smoke tests ----------------------------------------------------------------------------------


def run_smoke(smoke: SmokeTests, base_url: str | None = None) -> list[CheckResult]:
    """Every smoke request of the plan against ``base_url`` (default: the plan's)."""
    import httpx

    base = (base_url or smoke.base_url).rstrip("/")
    results: list[CheckResult] = []
    with httpx.Client(timeout=smoke.timeout) as client:
        for request in smoke.requests:
            started = time.monotonic()
            ok, detail = http_check(
                base + request.path,
                method=request.method,
                expect_status=request.expect_status,
                expect_json=request.expect_json,
                expect_fields=request.expect_fields,
                headers=request.headers,
                json_body=request.json_body,
                timeout=smoke.timeout,
                client=client,
            )
            results.append(CheckResult(request.name, ok, detail, time.monotonic() - started))
    return results


# --- checklist checks -------------------------------------------------------------------------------


def _sql_check(check: Check, store: Store) -> tuple[bool, str]:
    import sqlalchemy as sa

    url = check.database_url or store.url
    engine = store.engine if not check.database_url else sa.create_engine(_normalise(url))
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text(check.query or "")).scalar()
    except sa.exc.SQLAlchemyError as exc:
        return False, f"query failed: {getattr(exc, 'orig', exc)}"
    finally:
        if engine is not store.engine:
            engine.dispose()
    if check.expect is not None and value != check.expect and str(value) != str(check.expect):
        return False, f"query returned {value!r}, expected {check.expect!r}"
    return True, f"query returned {value!r}"


def _normalise(url: str) -> str:
    from launch_control.store.db import _normalise as normalise

    return normalise(url)


def _command_check(check: Check, cwd: str | None) -> tuple[bool, str]:
    argv = shlex.split(check.run or "")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=check.timeout, cwd=cwd)
    except FileNotFoundError:
        return False, f"{argv[0]!r} not found"
    except subprocess.TimeoutExpired:
        return False, f"{check.run} took longer than {check.timeout:g} s"
    output = (done.stdout or done.stderr).strip().splitlines()
    last = output[-1] if output else ""
    if done.returncode != 0:
        return False, f"{check.run} exited {done.returncode}" + (f": {last}" if last else "")
    if check.expect is not None and str(check.expect) not in done.stdout:
        return False, f"{check.run}: output lacks {check.expect!r}"
    return True, f"{check.run}: ok" + (f" ({last})" if last else "")


def run_check(plan: Plan, store: Store, check: Check, *, smoke_base_url: str | None = None) -> tuple[bool, str]:
    """One automatic check → (ok, detail). Never raises for a failing target."""
    if check.type == "http":
        return http_check(
            check.url or "", expect_status=check.expect_status, expect_json=check.expect_json, timeout=check.timeout
        )
    if check.type == "sql":
        return _sql_check(check, store)
    if check.type == "command":
        return _command_check(check, str(plan.base_dir()))
    results = run_smoke(plan.smoke_tests, smoke_base_url)
    failed = [r for r in results if not r.ok]
    if not results:
        return False, "the plan has no smoke_tests.requests"
    if failed:
        return False, f"{len(failed)} of {len(results)} smoke requests failed: " + "; ".join(r.detail for r in failed)
    return True, f"{len(results)} smoke requests passed"


def run_preflight(
    plan: Plan, store: Store, *, actor: str = AUTO_ACTOR, smoke_base_url: str | None = None, out: Any = None
) -> PreflightReport:
    """Run every automatic checklist check; record results; tick passing items as ``auto``."""
    report = PreflightReport()
    ticked = store.checklist()
    for _phase, item in plan.checklist.items():
        if item.check is None:
            continue
        started = time.monotonic()
        try:
            ok, detail = run_check(plan, store, item.check, smoke_base_url=smoke_base_url)
        except Exception as exc:  # a broken check is a failed check, with its reason
            ok, detail = False, f"check could not run: {type(exc).__name__}: {exc}"
        result = CheckResult(item.id, ok, detail, time.monotonic() - started)
        report.results.append(result)
        store.record_check(item.id, ok, detail)
        current = ticked.get(item.id)
        if ok and not (current and current["ticked"]):
            store.tick(item.id, actor, note=f"automatic check passed: {detail}")
        elif not ok and current and current["ticked"] and current["actor"] == actor:
            # Only un-tick what the machine ticked; a person's tick stays a person's decision.
            store.tick(item.id, actor, ticked=False, note=f"automatic check failed: {detail}")
        if out:
            out(f"  {'ok  ' if ok else 'FAIL'} {item.id}: {detail}")
    store.audit(actor, "preflight.run", ok=report.ok, failed=[r.item_id for r in report.failed])
    if out:
        for line in feasibility_lines(plan, store):
            out(line)
    return report


def feasibility_lines(plan: Plan, store: Store) -> list[str]:
    """Advice, not a blocker: each step that cannot decide within its hold at the recorded traffic."""
    from launch_control.ramp.feasibility import plan_feasibility, recorded_traffic

    try:
        traffic = recorded_traffic(store)
    except Exception:  # the store is checked elsewhere; the advice is optional
        return []
    if traffic is None:
        return ["  note feasibility: no traffic recorded yet — `launch-control plan check --rate REQ_PER_S` "
                "estimates whether each step can decide within its hold"]
    return [f"  note feasibility: {s.words()}" for s in plan_feasibility(plan, *traffic) if not s.ok]


def preflight_blockers(plan: Plan, store: Store) -> list[str]:
    """Why the canary may not start: automatic checks that failed or never ran."""
    results = store.check_results()
    blockers = []
    for phase, item in plan.checklist.items():
        if item.check is None or phase != "pre-launch":
            continue
        result = results.get(item.id)
        if result is None:
            blockers.append(f"{item.id}: automatic check has not run (launch-control preflight)")
        elif not result["ok"]:
            blockers.append(f"{item.id}: {result['detail']}")
    return blockers
