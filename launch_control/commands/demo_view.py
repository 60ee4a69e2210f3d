"""What ``launch-control demo`` shows in the terminal: a compact live view instead of raw log lines.

While the launch runs, everything the flow, Prefect and the engine print goes to a log file
(the process's stdout and stderr are pointed at it, so nothing slips past), and the terminal shows
one status line — step, weight, time left, engine — kept up to date, plus one line each time the
gates' verdict changes. The demo's own messages still reach the terminal through ``say``.
Also the demo's lead account: created with a generated password, printed beside the console URL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEMO_LEAD = "demo-lead"


def demo_account(store: Any) -> tuple[str, str]:
    """A launch-lead account for this demo run, with a fresh password (returned, never stored in clear)."""
    from launch_control.web.auth import add_user

    password = secrets.token_urlsafe(12)
    add_user(store, DEMO_LEAD, "lead", password)
    store.audit("demo", "users.add", name=DEMO_LEAD, role="lead", why="launch-control demo account")
    return DEMO_LEAD, password


def status_line(plan: Any, store: Any, now: dt.datetime | None = None) -> str:
    """"step 2/4 · canary 5% · hold 41 s left · engine alive · last verdict pass" for the live view."""
    from launch_control.control import state as states

    now = now or dt.datetime.now(dt.UTC)
    typed = states.LaunchState.from_row(store.state())
    steps = plan.canary.steps
    parts = [str(typed.phase.value).replace("_", " ")]
    if typed.current_step is not None and 0 <= typed.current_step < len(steps):
        step = steps[typed.current_step]
        parts.append(f"step {typed.current_step + 1}/{len(steps)} ({step.weight:g}%)")
        left = states.time_left(typed, states.scaled_hold(typed, step.hold)) if step.hold else None
        if left is not None:
            parts.append(f"hold {left:.0f} s left" + (" (frozen: paused)" if typed.paused else ""))
    parts.append(f"canary {typed.canary_weight:g}%")
    if typed.ramping:
        parts.append("engine alive" if states.engine_alive(typed, now) else "engine not running")
    return " · ".join(parts)


class DemoView:
    """The terminal side of the demo: ``say`` for messages, ``running()`` around the launch."""

    def __init__(self, plan: Any, store: Any, log_path: Path):
        from rich.console import Console

        self.plan, self.store, self.log_path = plan, store, log_path
        self._terminal = Console(file=sys.stdout, highlight=False)
        self._live: Any = None
        self._last_decision: int | None = None
        self._last_verdict: str | None = None
        self._stop = threading.Event()

    def say(self, text: str, **kwargs: Any) -> None:
        console = self._live.console if self._live is not None else self._terminal
        console.print(text, **kwargs)

    def _verdicts(self) -> None:
        decisions = self.store.decisions(limit=1)
        if not decisions or decisions[-1]["id"] == self._last_decision:
            return
        d = decisions[-1]
        self._last_decision = d["id"]
        if d["verdict"] == self._last_verdict:
            return  # one line per change of verdict, not per interval
        self._last_verdict = d["verdict"]
        colour = {"pass": "green", "fail": "red", "hold": "yellow"}.get(d["verdict"], "white")
        where = f"step {d['step'] + 1} at {d['weight']:g}%" if d["step"] is not None and d["weight"] is not None else ""
        self.say(f"  gate [{colour}]{d['verdict']}[/] {where}: {d['reason'][:110]}")

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):  # a locked SQLite file for a moment: next tick
                self._verdicts()
                self._live.update(f"[bold]{status_line(self.plan, self.store)}[/]")

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Send fd 1 and 2 to the log file and keep the live line on the real terminal meanwhile."""
        from rich.console import Console
        from rich.live import Live

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        saved_out, saved_err = os.dup(1), os.dup(2)
        terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
        streams = sys.stdout, sys.stderr
        with open(self.log_path, "a", buffering=1, encoding="utf-8") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            sys.stdout = sys.stderr = log  # Python-level writers too, whatever sys.stdout was replaced with
            watcher = threading.Thread(target=self._watch, name="demo-view", daemon=True)
            try:
                with Live("starting…", console=Console(file=terminal, highlight=False), refresh_per_second=4,
                          transient=True) as live:  # the summary after it says how it ended
                    self._live = live
                    watcher.start()
                    yield
            finally:
                self._stop.set()
                if watcher.is_alive():
                    watcher.join(timeout=2)
                with contextlib.suppress(Exception):
                    self._verdicts()
                self._live = None
                log.flush()
                sys.stdout, sys.stderr = streams
                os.dup2(saved_out, 1)
                os.dup2(saved_err, 2)
                os.close(saved_out)
                os.close(saved_err)
                terminal.close()
        self.say(f"  full log: {self.log_path}", soft_wrap=True)
