"""A generated corpus of broken plans: every one is refused by ``plan validate`` with exit 2, the
field (or file position) named, no traceback, in under 2 s — file-level damage (binary, Latin-1,
deep nesting, alias bombs, 5 MB, duplicate keys) and every meaning rule (positive intervals and
holds, URLs, bounded counts, SEV order, a rollback section, a checklist, units, adapter settings).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from launch_control.cli import _guarded, run
from launch_control.plan.model import DEFAULT_PLAN
from launch_control.store.lastgood import load_plan

BASE_TEXT = DEFAULT_PLAN.read_text(encoding="utf-8")
BASE = yaml.safe_load(BASE_TEXT)


def _text(data: dict[str, Any]) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


def edit(change: Callable[[dict[str, Any]], None]) -> Callable[[], bytes]:
    def make() -> bytes:
        data = copy.deepcopy(BASE)
        change(data)
        return _text(data)

    return make


def alias_bomb() -> bytes:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    bomb = "\n".join("    " + line for line in lines)
    return BASE_TEXT.replace("smoke_tests:\n", f"smoke_tests:\n  x_bomb:\n{bomb}\n", 1).encode()


def deep_json(levels: int) -> Callable[[], bytes]:
    def make() -> bytes:
        data = copy.deepcopy(BASE)
        nested: Any = "bottom"
        for _ in range(levels):
            nested = [nested]
        data["smoke_tests"]["requests"][0]["json"] = nested
        return _text(data)

    return make


def step(i: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["canary"]["steps"][i].update(fields)


def metric(name: str, **levels: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["analysis"]["metrics"][name].update(levels)


def rollback(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["rollback"].update(fields)


def router(**settings: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["rollback"]["router"].update(settings)


def drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        del d[path[-1]]

    return change


def set_in(value: Any, *path: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: Any) -> None:
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return change


SEV_TIMES = {"SEV-1": "2h", "SEV-2": "15m", "SEV-3": "5m"}

# (case, plan bytes, text the error must contain: the field path or file position)
CORPUS: list[tuple[str, Callable[[], bytes], str]] = [
    # --- the file itself ---------------------------------------------------------------------
    ("binary", lambda: bytes(range(256)) * 40, "binary"),
    (
        "latin-1",
        lambda: BASE_TEXT.replace("PromptForge v3 launch plan", "Plan de lancement é").encode("latin-1", "replace"),
        "line 1",
    ),
    (
        "latin-1 deep in the file",
        lambda: BASE_TEXT.replace("No alert spikes", "Pas de pics d'alerte ç").encode("latin-1", "replace"),
        f"line {BASE_TEXT[: BASE_TEXT.index('No alert spikes')].count(chr(10)) + 1}",
    ),
    ("20,000 nested brackets", lambda: b"name: x\nrelease: " + b"[" * 20000 + b"]" * 20000 + b"\n", "line 2"),
    ("nesting deeper than 64", deep_json(100), "smoke_tests.requests[0].json"),
    ("alias bomb", alias_bomb, "smoke_tests.x_bomb"),
    ("5 MB", lambda: BASE_TEXT.encode() + b"# padding padding padding padding\n" * 150_000, "over the 1 MB"),
    (
        "duplicate top-level key",
        lambda: BASE_TEXT.replace("name: promptforge-v3\n", "name: promptforge-v3\nname: other\n").encode(),
        "name",
    ),
    (
        "duplicate nested key",
        lambda: BASE_TEXT.replace("  interval: 1m\n", "  interval: 1m\n  interval: 5m\n").encode(),
        "analysis.interval",
    ),
    ("empty file", lambda: b"", "(top level)"),
    ("a list, not a mapping", lambda: b"- name: x\n", "(top level)"),
    ("bad YAML syntax", lambda: BASE_TEXT.replace("product: PromptForge", 'product: "PromptForge').encode(), "line"),
    (
        "impossible date",
        lambda: BASE_TEXT.replace("timezone:", "date: 2026-13-45\n  timezone:", 1).encode(),
        "YAML cannot read",
    ),
    # --- durations: positive, with a unit ----------------------------------------------------
    ("interval 0s", edit(set_in("0s", "analysis", "interval")), "analysis.interval"),
    ("unitless interval", edit(set_in(30, "analysis", "interval")), "analysis.interval"),
    ("unitless hold", edit(step(0, hold=30)), "canary.steps[0].hold"),
    ("unitless ttr_budget", edit(rollback(ttr_budget=2)), "rollback.ttr_budget"),
    ("unitless gradual_hold", edit(rollback(gradual_hold=60)), "rollback.gradual_hold"),
    ("hold 0s below 100%", edit(step(1, hold="0s")), "canary.steps"),
    (
        "negative health timeout",
        edit(lambda d: d["rollback"]["health_checks"][0].update(timeout="-1s")),
        "rollback.health_checks[0].timeout",
    ),
    (
        "post-launch every 0s",
        edit(lambda d: d["timeline"]["post_launch"][0].update(every="0s")),
        "timeline.post_launch[0].every",
    ),
    ("400-day duration", edit(set_in("99999d", "rollback", "ttr_budget")), "rollback.ttr_budget"),
    # --- shares: one rule for weights and ratios ----------------------------------------------
    ("bare weight 0.01", edit(step(0, weight=0.01)), "canary.steps[0].weight"),
    ("bare ratio 0.05", edit(metric("error_rate", sev3=0.05)), "metrics.error_rate.sev3"),
    (
        "bare criterion ratio",
        edit(lambda d: d["success_criteria"]["technical"][0].update(target=0.01)),
        "success_criteria",
    ),
    # --- URLs --------------------------------------------------------------------------------
    (
        "health URL without scheme",
        edit(lambda d: d["rollback"]["health_checks"][0].update(url="127.0.0.1:8080/health")),
        "rollback.health_checks[0].url",
    ),
    ("probe URL without host", edit(set_in(["http://"], "analysis", "probes")), "analysis.probes[0]"),
    (
        "smoke base_url without scheme",
        edit(set_in("localhost:8080", "smoke_tests", "base_url")),
        "smoke_tests.base_url",
    ),
    (
        "live model URL without scheme",
        edit(set_in("localhost", "degradation", "live_model_url")),
        "degradation.live_model_url",
    ),
    (
        "metric source URL without scheme",
        edit(lambda d: d["analysis"]["metric_source"].update(url="127.0.0.1:8080/metrics")),
        "analysis.metric_source.url",
    ),
    ("router URL without scheme", edit(router(url="127.0.0.1:8080")), "rollback.router.url"),
    # --- bounded counts ------------------------------------------------------------------------
    ("min_requests 1e38", edit(set_in(1e38, "analysis", "min_requests")), "analysis.min_requests"),
    ("failure_limit 10^12", edit(set_in(10**12, "analysis", "failure_limit")), "analysis.failure_limit"),
    (
        "burst 1e20",
        edit(lambda d: d["rate_limits"]["policies"][0].update(burst=10**20)),
        "rate_limits.policies[0].burst",
    ),
    (
        "expect_status 999",
        edit(lambda d: d["rollback"]["health_checks"][0].update(expect_status=999)),
        "rollback.health_checks[0].expect_status",
    ),
    # --- severity order ------------------------------------------------------------------------
    ("error-rate SEVs inverted", edit(metric("error_rate", sev3="20%", sev1="5%")), "metrics.error_rate"),
    ("latency SEVs inverted", edit(metric("latency_p95", sev2="1s")), "metrics.latency_p95"),
    ("availability SEVs inverted", edit(metric("availability", sev3="10%")), "metrics.availability"),
    (
        "SEV-1 answered last",
        edit(
            lambda d: [d["incident_response"]["severities"][s].update(respond_within=t) for s, t in SEV_TIMES.items()]
        ),
        "incident_response",
    ),
    # --- sections that may not default ---------------------------------------------------------
    ("no rollback section", edit(drop("rollback")), "rollback"),
    ("rollback without health checks", edit(rollback(health_checks=[])), "rollback.health_checks"),
    ("rollback without router", edit(drop("rollback", "router")), "rollback.router"),
    ("empty checklist", edit(set_in({}, "checklist")), "checklist"),
    # --- typed adapter settings ----------------------------------------------------------------
    ("router setting typo", edit(router(tiemout="2s")), "rollback.router.tiemout"),
    ("router timeout not a duration", edit(router(timeout="soon")), "rollback.router.timeout"),
    (
        "deployer without url",
        edit(lambda d: d["rollback"].update(deployer={"type": "gateway"})),
        "rollback.deployer.url",
    ),
    ("unknown router type", edit(router(type="carrier-pigeon")), "rollback.router.type"),
    (
        "channel setting typo",
        edit(lambda d: d["notifications"]["channels"][0].update(webhok_url_env="X")),
        "notifications.channels[0].webhok_url_env",
    ),
    (
        "channel audience unknown",
        edit(lambda d: d["notifications"]["channels"][1].update(audience="everyone")),
        "notifications.channels[1].audience",
    ),
    (
        "metric source setting typo",
        edit(lambda d: d["analysis"]["metric_source"].update(urll="http://x")),
        "analysis.metric_source.urll",
    ),
]


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(("case", "make", "where"), CORPUS, ids=[c[0] for c in CORPUS])
def test_broken_plan_exits_2_naming_the_field(tmp_path: Path, capsys, case: str, make, where: str):
    path = tmp_path / "plan.yaml"
    path.write_bytes(make())
    started = time.perf_counter()
    status = _guarded(lambda: run(["plan", "validate", str(path)]))  # an uncaught exception fails the test
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert status == 2, err
    assert str(path) in err and where in err, err
    assert "Traceback" not in err
    assert elapsed < 2.0, f"{case}: {elapsed:.2f} s"


def test_the_worst_files_are_clean_errors_from_the_real_command(tmp_path: Path, cli_env):
    """binary, Latin-1, 20,000 brackets, an alias bomb and 5 MB through the installed entry point."""
    import subprocess
    import sys

    def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        script = Path(sys.executable).parent / "launch-control"
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=60)

    by_name = {case: make for case, make, _ in CORPUS}
    for case in ("binary", "latin-1", "20,000 nested brackets", "alias bomb", "5 MB"):
        path = tmp_path / f"{case}.yaml"
        path.write_bytes(by_name[case]())
        done = run_cli("plan", "validate", str(path), env=cli_env)
        assert done.returncode == 2, (case, done.stderr)
        assert "invalid launch plan" in done.stderr and "Traceback" not in done.stderr, (case, done.stderr)


def test_the_shipped_plan_passes_every_rule(capsys):
    assert _guarded(lambda: run(["plan", "validate", str(DEFAULT_PLAN)])) == 0, capsys.readouterr().err


def test_units_rule_is_the_same_for_weights_and_ratios(tmp_path: Path):
    """Above 1 a bare number is a percentage in both; from 0 to 1 it is refused in both."""
    data = copy.deepcopy(BASE)
    data["canary"]["steps"][1]["weight"] = 5
    data["analysis"]["metrics"]["error_rate"].update(sev3=5, sev2="10%", sev1="20%")
    path = tmp_path / "plan.yaml"
    path.write_bytes(_text(data))
    plan = load_plan(path)
    assert plan.canary.steps[1].weight == 5.0 and plan.analysis.metrics["error_rate"].sev3 == 0.05


def test_dumped_plans_load_under_the_file_rules(tmp_path: Path, plan):
    """``dump_plan`` writes units (``1800s``, ``5%``), so a saved plan loads again, equal."""
    from launch_control.plan.model import dump_plan

    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(dump_plan(plan)))
    assert load_plan(path).model_dump() == plan.model_dump()
