"""Public channels get public fields only, and a notifier that never answers still leaves a row.

* The plan's ``status-page`` webhook (``audience: public``) never carries the cause, the summary,
  the operator's name or the resolve note — in its context or in its rendered text — while the
  team's pager webhook still gets all of it.
* A webhook that accepts the connection and never answers is recorded in ``notifications`` as a
  failed timeout: when the caller stops waiting (``flush``), and when the process exits with the
  send still hanging.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest
from incident_helpers import plan_with

from launch_control.respond.incidents import IncidentManager
from launch_control.respond.notify import Notifier, RetryPolicy
from launch_control.respond.notify.base import audience_context

SECRET_NOTE = "rotated the db-primary-7 credentials after the cache leak"
OPERATOR = "bob.operator"
SUMMARY = "replica lag on db-primary-7 above 40 s"
CAUSE = "gate:replica_lag"


def test_public_webhook_gets_public_fields_only(plan, sqlite_store, wired_env, receiver) -> None:
    notifier = Notifier(plan, sqlite_store, retry=RetryPolicy(3, 0.05, 0.2, 3.0))
    manager = IncidentManager(plan, sqlite_store, notifier=notifier, rollback=None)
    incident_id = manager.report(CAUSE, "SEV-2", SUMMARY, actor="alice.oncall")
    manager.acknowledge(incident_id, OPERATOR)
    manager.resolve(incident_id, OPERATOR, note=SECRET_NOTE)
    assert notifier.flush(20)

    public = receiver.wait_for("/status", 3)
    team = receiver.wait_for("/pager", 3)
    for request in public:
        body = request.body.decode()
        for secret in (SECRET_NOTE, OPERATOR, "alice.oncall", SUMMARY, CAUSE, "Priya Raman"):
            assert secret not in body, f"the public status webhook leaked {secret!r}: {body[:300]}"
        incident = request.json()["context"]["incident"]
        assert set(incident) <= {
            "id", "severity", "status", "component", "opened_at", "acknowledged_at", "resolved_at", "duration", "event",
        }  # fmt: skip
        assert incident["severity"] == "SEV-2" and incident["id"] == incident_id
    assert [r.json()["context"]["incident"]["event"] for r in public] == ["investigating", "identified", "resolved"]
    # the team's channel still gets the whole story
    resolved = team[-1].json()
    assert resolved["context"]["incident"]["note"] == SECRET_NOTE
    assert resolved["context"]["incident"]["cause"] == CAUSE and OPERATOR in json.dumps(resolved)


def test_allow_list_drops_what_it_does_not_name() -> None:
    context = {
        "incident": {"id": 7, "status": "resolved", "cause": "x", "note": "n", "resolved_by": "bob", "new_field": 1},
        "on_call": {"primary": "Priya"},
        "rollback": {"reason": "internal"},
        "launch": {"product": "PromptForge", "version": "v3", "canary_weight": 5},
    }
    public = audience_context(context, "public")
    assert public == {
        "incident": {"id": 7, "status": "resolved", "event": "resolved"},
        "launch": {"product": "PromptForge", "version": "v3"},
    }
    assert audience_context(context, "team") == context
    assert "summary" in audience_context({"incident": {"summary": "s", "status": "open"}}, "customers")["incident"]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers a byte (a hung notifier endpoint)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for sock in held:
        sock.close()
    listener.close()


def hung_plan(plan, port: int, timeout: str = "1s"):
    hook = {"name": "hung-hook", "type": "webhook", "url": f"http://127.0.0.1:{port}/hook", "timeout": timeout}
    channels = [c.model_dump(mode="json", exclude_none=True) for c in plan.notifications.channels]
    return plan_with(plan, notifications={"channels": [*channels, hook]})


def test_hung_notifier_is_recorded_as_a_timeout_when_the_caller_stops_waiting(plan, sqlite_store, silent_server):
    notifier = Notifier(hung_plan(plan, silent_server), sqlite_store, retry=RetryPolicy(2, 0.05, 0.1, 1.0))
    notifier.send("incident.open", "subject", "text", channels=["hung-hook"], incident_id=None)
    started = time.monotonic()
    assert notifier.flush(0.5) is False
    assert time.monotonic() - started < 1.0
    (row,) = sqlite_store.notifications()
    assert row["channel"] == "hung-hook" and not row["ok"] and row["error"].startswith("timeout")
    # the worker gives up later (2 attempts x 1 s): the send is not recorded a second time
    time.sleep(2.6)
    assert len(sqlite_store.notifications()) == 1


def test_hung_notifier_is_recorded_when_waited_for(plan, sqlite_store, silent_server):
    notifier = Notifier(hung_plan(plan, silent_server, "0.3s"), sqlite_store, retry=RetryPolicy(2, 0.05, 0.1, 0.3))
    results = notifier.send_sync("incident.open", "s", "t", channels=["hung-hook"], timeout=5)
    assert not results["hung-hook"].ok and "timed out" in results["hung-hook"].error
    (row,) = sqlite_store.notifications()
    assert not row["ok"] and "timed out" in row["error"] and row["attempts"] == 2


def test_process_exiting_mid_send_still_leaves_a_failed_row(plan, tmp_path, silent_server):
    """A CLI that sends and exits without waiting: the row is written at exit (not lost)."""
    db = tmp_path / "exit.db"
    script = textwrap.dedent(
        f"""
        from launch_control.store.lastgood import load_plan
        from launch_control.store.db import Store
        from launch_control.respond.notify import Notifier, RetryPolicy
        import sys, time
        sys.path.insert(0, {str(_here())!r})
        from test_public_fields_and_hung_notifier import hung_plan
        plan = hung_plan(load_plan(), {silent_server}, "5s")
        store = Store("sqlite:///{db}", launch_id=plan.launch_id)
        notifier = Notifier(plan, store, retry=RetryPolicy(3, 0.1, 0.2, 5.0))
        notifier.send("incident.open", "s", "t", channels=["hung-hook"])
        time.sleep(0.3)  # the send is in flight, hanging
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    from launch_control.store.db import Store
    from launch_control.store.lastgood import load_plan

    rows = Store(f"sqlite:///{db}", launch_id=load_plan().launch_id).notifications()
    assert len(rows) == 1 and not rows[0]["ok"] and "exited while this was still sending" in rows[0]["error"]


def _here():
    from pathlib import Path

    return Path(__file__).resolve().parent
