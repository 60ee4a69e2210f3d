"""``launch-control demo``: the whole launch day on one laptop, compressed to a few minutes.

Starts the traffic plane (stand-in model, stable and canary services, gateway) with load, a local
Prefect server (``PREFECT_HOME`` in the data directory; without one — or with ``--no-prefect`` —
the same launch runs in-process, and it says so) and the ops console when it is installed, then
runs launch day: preflight → freeze and tag (a scratch git repository in the data directory) →
deploy canary → the plan's canary ramp on a compressed clock → post-launch monitoring begins.
``--inject-fault canary:error_rate=0.3@5%`` breaks the canary when the ramp reaches 5%, to show an
automatic rollback and its TTR. Everything it started is stopped at the end, on Ctrl-C, or on
SIGTERM (``--keep`` keeps the stack and console up until Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from launch_control.commands.demo_view import DemoView, demo_account
from launch_control.control import seams
from launch_control.errors import UsageError

DEMO_RPS = 200.0
DEMO_MIN_INTERVAL = 2.0  # seconds; at 1% of 200 req/s that is ~4 canary requests per interval
DEMO_MIN_REQUESTS = 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run the whole launch day on this laptop in about 3 minutes")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the compressed ramp (default 3)")
    parser.add_argument(
        "--inject-fault",
        metavar="ROLE:FAULT=VALUE[,...]@WEIGHT%",
        action="append",
        default=[],
        help="e.g. canary:error_rate=0.3@5%% — break the canary when the ramp reaches 5%%",
    )
    parser.add_argument("--rps", type=float, default=DEMO_RPS, help=f"load in requests/s (default {DEMO_RPS:g})")
    parser.add_argument("--no-prefect", action="store_true", help="run the launch in-process, without Prefect")
    parser.add_argument("--no-console", action="store_true", help="do not start the ops console")
    parser.add_argument("--keep", action="store_true", help="keep the stack and console running until Ctrl-C")
    parser.add_argument("--free-ports", action="store_true", help="use free ports instead of 8080, 8101-8103, 4200")
    parser.set_defaults(func=run_demo)


# --- fault injection --------------------------------------------------------------------------------


def parse_fault(text: str) -> tuple[str, dict[str, Any], float]:
    """``canary:error_rate=0.3,latency=0.2@5%`` → ("canary", {"error_rate": 0.3, "latency": 0.2}, 5.0)."""
    from launch_control.plan.units import parse_percent

    hint = "write it as ROLE:FAULT=VALUE@WEIGHT%, e.g. canary:error_rate=0.3@5%"
    role, sep, rest = text.partition(":")
    spec, at, weight_text = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if not sep or role not in ("canary", "stable", "model") or not spec:
        raise UsageError(f"--inject-fault {text!r}: {hint}")
    faults: dict[str, Any] = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--inject-fault {text!r}: {part!r} is not FAULT=VALUE; {hint}")
        value = value.strip()
        if value.lower() in ("true", "false"):
            faults[key.strip()] = value.lower() == "true"
        else:
            try:
                faults[key.strip()] = float(value)
            except ValueError:
                raise UsageError(f"--inject-fault {text!r}: {value!r} is not a number or true/false") from None
    try:
        weight = parse_percent(weight_text) if at else 0.0
    except ValueError as exc:
        raise UsageError(f"--inject-fault {text!r}: {exc}") from None
    return role, faults, weight


class FaultInjector(threading.Thread):
    """Sets the faults on the stack when the recorded canary weight reaches the target."""

    def __init__(self, stack: Any, store: Any, faults: list[tuple[str, dict[str, Any], float]], say: Any):
        super().__init__(name="fault-injector", daemon=True)
        self.stack, self.store, self.pending, self.say = stack, store, list(faults), say
        self.stopped = threading.Event()
        self.injected: list[tuple[Any, str]] = []  # (UTC time, what)

    def run(self) -> None:
        while self.pending and not self.stopped.wait(0.1):
            try:
                state = self.store.state()
            except Exception:
                continue
            if state["phase"] != "ramping":
                continue
            for fault in list(self.pending):
                role, faults, weight = fault
                if state["canary_weight"] >= weight:
                    self.stack.set_fault(role, **faults)
                    self.pending.remove(fault)
                    what = ", ".join(f"{k}={v}" for k, v in faults.items())
                    from launch_control.store.db import utcnow

                    self.injected.append((utcnow(), f"{role}: {what}"))
                    self.say(f"[bold red]FAULT INJECTED[/] at {state['canary_weight']:g}%: {role} {what}")


# --- the demo plan ---------------------------------------------------------------------------------------


def demo_repository(path: Path) -> Path:
    """A scratch git repository to freeze and tag (the demo never tags your own checkout)."""
    if (path / ".git").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "launch-control demo",
        "GIT_AUTHOR_EMAIL": "demo@localhost",
        "GIT_COMMITTER_NAME": "launch-control demo",
        "GIT_COMMITTER_EMAIL": "demo@localhost",
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    (path / "RELEASE.md").write_text("PromptForge v3.0.0 — demo release\n")
    subprocess.run(["git", "-C", str(path), "add", "RELEASE.md"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "Release v3.0.0"], check=True, env=env)
    return path


def demo_plan(base: Any, stack: Any, directory: Path) -> tuple[Any, Path]:
    """The plan pointed at the running stack, written to ``directory/demo-plan.yaml``."""
    import yaml

    from launch_control.plan.model import dump_plan, parse_plan

    data = dump_plan(base)
    gateway = stack.gateway_url
    local = "http://127.0.0.1:8080"
    data["analysis"].update(
        min_requests=min(DEMO_MIN_REQUESTS, int(data["analysis"].get("min_requests", 20))),
        metric_source={**data["analysis"]["metric_source"], "url": gateway + "/metrics",
                       # each version's own /metrics: CPU and memory measured, judged and charted
                       "upstreams": {"stable": stack.stable_url + "/metrics", "canary": stack.canary_url + "/metrics"}},
        probes=[p.replace(local, gateway) for p in data["analysis"].get("probes", [])],
    )
    for key in ("router", "deployer"):
        if data["rollback"][key]["type"] == "gateway":
            # No token in the file: the router finds it as every local tool does (token_env, else
            # the data directory's 0600 token file) — a plan is shared and printed, a secret is not.
            settings = {k: v for k, v in data["rollback"][key].items() if k != "token"}
            data["rollback"][key] = {**settings, "url": gateway}
    for check in data["rollback"].get("health_checks", []):
        check["url"] = check["url"].replace(local, gateway)
    data["smoke_tests"]["base_url"] = gateway
    for items in data["checklist"].values():
        for item in items:
            if (item.get("check") or {}).get("url"):
                item["check"]["url"] = item["check"]["url"].replace(local, gateway)
    data["release"]["repository"] = str(demo_repository(directory / "demo-repo"))
    for key in ("runbook", "templates"):
        if data.get(key):
            data[key] = str(base.resolve(data[key]))
    path = directory / "demo-plan.yaml"
    from launch_control.config import write_private

    write_private(
        path,
        "# written by launch-control demo: the shipped plan pointed at the demo stack\n"
        + yaml.safe_dump(data, sort_keys=False),
    )
    return parse_plan(data, path), path


# --- running it --------------------------------------------------------------------------------------------


def _sigterm_as_interrupt() -> None:
    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def run_demo(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.config import PORTS, data_dir
    from launch_control.plane.demo.stack import DemoStack
    from launch_control.store.db import Store
    from launch_control.web.servers import port_open

    faults = [parse_fault(text) for text in args.inject_fault]
    if args.minutes <= 0:
        raise UsageError("--minutes must be positive")
    console = ctx.console
    say = console.print
    base = ctx.plan
    directory = data_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # the store, the token file, the plan
    _sigterm_as_interrupt()
    holds = sum(step.hold for step in base.canary.steps)
    time_scale = max(1.0, holds / (args.minutes * 60)) if args.time_scale is None else args.time_scale
    started: list[Any] = []  # stopped in reverse order, always
    injector = None
    try:
        busy = port_open("127.0.0.1", PORTS["gateway"])
        if busy and not args.free_ports:
            say(f"port {PORTS['gateway']} is busy; using free ports (--free-ports)")
        stack = DemoStack(base, free_ports=args.free_ports or busy)
        say(
            f"[bold]Starting the traffic plane[/] (model, stable {base.release.stable_version}, "
            f"canary {base.release.version}, gateway)…"
        )
        stack.start()
        started.append(stack)
        stack.start_load(args.rps)
        say(f"  gateway {stack.gateway_url} · load {args.rps:g} req/s from 2000 orgs")
        plan, plan_path = demo_plan(base, stack, directory)
        store = Store(launch_id=plan.launch_id)
        account = demo_account(store)
        env_plan = {"LAUNCH_CONTROL_PLAN": str(plan_path)}
        os.environ.update(env_plan)
        api = _start_prefect(args, directory, started, say, free=args.free_ports or busy)
        if not args.no_console:
            _start_console(env_plan, started, say, free=args.free_ports or busy, account=account)
        total = holds / time_scale
        every = max(DEMO_MIN_INTERVAL, plan.analysis.interval / time_scale)
        say(
            f"[bold]Launch day[/] for {plan.release.product} {plan.release.version}: ramp "
            f"{' → '.join(f'{s.weight:g}%' for s in plan.canary.steps)}, time ×{time_scale:g} "
            f"(≈{total / 60:.1f} min of holds), gates every {every:g} s"
        )
        view = DemoView(plan, store, directory / "demo.log")
        if faults:
            injector = FaultInjector(stack, store, faults, view.say)
            injector.start()
        with view.running():  # the flow's log lines go to demo.log; the terminal shows the live view
            if api:
                outcome = _run_with_prefect(plan_path, store, time_scale, view.say)
            else:
                outcome = _run_in_process(plan, store, time_scale, view.say)
        _summary(plan, store, outcome, injector, say)
        if args.keep:
            say("[bold]--keep[/]: the stack and console stay up; Ctrl-C stops everything")
            while True:
                time.sleep(1)
        expected = "rolled_back" if faults else "completed"
        return 0 if outcome == expected else 1
    except KeyboardInterrupt:
        say("\n[yellow]interrupted: stopping everything…[/]")
        return 130
    finally:
        if injector is not None:
            injector.stopped.set()
        for part in reversed(started):
            try:
                part.stop()
            except Exception as exc:  # keep stopping the rest
                say(f"  could not stop {part}: {exc}")
        if started:
            say("stopped: stack, load" + (", Prefect server" if len(started) > 1 else "") + " — nothing left running")


def _start_prefect(
    args: argparse.Namespace, directory: Path, started: list[Any], say: Any, *, free: bool
) -> str | None:
    if args.no_prefect:
        say("Prefect: off (--no-prefect): the launch runs in this process")
        return None
    from launch_control.config import PORTS

    try:
        flows_server = seams.flows_part("server")
    except seams.FlowsUnavailable as exc:
        _prefect_off(say, exc)
        return None
    say("Starting a local Prefect server (first start takes ~15 s)…")
    try:
        server = flows_server.PrefectServer(
            directory / "prefect", port=None if free else PORTS["prefect"], ui=True, timeout=90
        )
        server.start()
    except (flows_server.PrefectServerError, OSError) as exc:
        _prefect_off(say, exc)
        return None
    started.append(server)
    os.environ.update(server.env())
    say(f"  Prefect UI {server.api_url.removesuffix('/api')} (PREFECT_HOME {server.home})")
    return server.api_url


def _prefect_off(say: Any, exc: Exception) -> None:
    say(f"[yellow]Prefect could not start ({str(exc).splitlines()[0]}); running the launch in-process instead[/]")


def _start_console(env: dict[str, str], started: list[Any], say: Any, *, free: bool,
                   account: tuple[str, str] | None = None) -> None:
    try:
        from launch_control.commands.console import DEFAULT_PORT, start_console
    except ImportError:
        say("console: not installed in this checkout (launch-control console)")
        return
    from launch_control.web.servers import free_port

    port = free_port() if free else DEFAULT_PORT
    child = start_console(port, env={**os.environ, **env}, quiet=True)
    started.append(child)
    if account:
        say(f"  console http://127.0.0.1:{port} — sign in as [bold]{account[0]}[/] with password "
            f"[bold]{account[1]}[/] (a launch lead made for this demo)")
    else:
        say(f"  console http://127.0.0.1:{port}")


def _run_with_prefect(plan_path: Path, store: Any, time_scale: float, say: Any) -> str:
    launch_day = seams.flows_part("launch_day").launch_day

    say("running the launch-day flow through Prefect")
    state = launch_day(
        plan_path=str(plan_path), store_url=store.url, time_scale=time_scale, min_interval=DEMO_MIN_INTERVAL,
        restart=True, monitoring_checks=2, return_state=True,
    )  # fmt: skip
    say(f"flow launch-day ended [bold]{state.name}[/]: {state.message or ''}")
    with contextlib.suppress(Exception):  # best effort: the logs only, the launch has ended
        seams.flows_part("server").drain_logs(timeout=10)
    last = store.state()
    return "completed" if state.is_completed() else ("rolled_back" if last["phase"] == "rolled_back" else "failed")


def _run_in_process(plan: Any, store: Any, time_scale: float, say: Any) -> str:
    from launch_control.plane.deploy import build_deployer
    from launch_control.ramp.engine import Engine
    from launch_control.ramp.preflight import run_preflight
    from launch_control.ramp.release import freeze_and_tag
    from launch_control.respond import monitoring

    say("[bold]1. preflight[/]")
    log = lambda line: print(line, flush=True)  # noqa: E731  (stdout is the demo's log file here)
    report = run_preflight(plan, store, out=log)
    if not report.ok:
        return "failed"
    say("[bold]2. freeze and tag[/]")
    say("  " + freeze_and_tag(plan, store, actor="demo").detail)
    say("[bold]3. deploy canary[/]")
    say("  " + build_deployer(plan.rollback.deployer).deploy("canary", plan.release.version))
    say("[bold]4. canary ramp[/]")
    engine = Engine(
        plan,
        store,
        actor="demo",
        time_scale=time_scale,
        min_interval=DEMO_MIN_INTERVAL,
        out=log,
    )
    result = engine.run(restart=True)
    if not result.ok:
        return result.outcome
    say("[bold]5. post-launch monitoring[/]")
    monitoring.begin(store)
    for _ in range(2):
        time.sleep(DEMO_MIN_INTERVAL)
        say(f"  monitoring: {monitoring.run_once(plan, store).verdict}")
    return "completed"


def _summary(plan: Any, store: Any, outcome: str, injector: FaultInjector | None, say: Any) -> None:
    decisions = store.decisions()
    counts = {v: sum(d["verdict"] == v for d in decisions) for v in ("pass", "hold", "fail")}
    say(
        f"\n[bold]Result: {outcome}[/] — {len(decisions)} gate decisions "
        f"({counts['pass']} pass, {counts['hold']} hold, {counts['fail']} fail)"
    )
    rollbacks = store.rollbacks()
    if rollbacks and rollbacks[-1]["started_at"] >= (store.state()["launch_started_at"] or rollbacks[-1]["started_at"]):
        last = rollbacks[-1]
        ttr = f"{last['ttr_seconds']:.2f} s" if last["ttr_seconds"] is not None else "not verified"
        say(f"automatic rollback ({last['trigger']}): {last['reason']}")
        say(f"[bold]TTR {ttr}[/] (trigger → verified health; budget {plan.rollback.ttr_budget:g} s)")
        if injector and injector.injected:
            fault_at = injector.injected[0][0]
            after = [d for d in decisions if d["at"] >= fault_at]
            delay = (last["started_at"] - fault_at).total_seconds()
            say(f"fault injected → rollback triggered after {delay:.1f} s ({len(after)} analysis interval(s))")
