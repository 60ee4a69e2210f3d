"""The demo for a newcomer: a lead account with a generated password, and a compact live view in
the terminal (one line per verdict change) while the raw log lines go to a file."""

from __future__ import annotations

import os


def test_demo_account_is_a_lead_with_a_fresh_password(empty_store):
    from launch_control.commands.demo_view import demo_account
    from launch_control.web.auth import authenticate

    name, password = demo_account(empty_store)
    again = demo_account(empty_store)[1]
    assert password != again and len(password) >= 12, "a new password each run"
    assert authenticate(empty_store, name, again).role == "lead"
    assert authenticate(empty_store, name, password) is None, "the previous run's password no longer works"


def test_live_view_keeps_the_terminal_compact_and_logs_the_rest(empty_store, plan, tmp_path, capfd):
    from launch_control.commands.demo_view import DemoView

    empty_store.update_state(phase="ramping", current_step=1, canary_weight=5.0)
    view = DemoView(plan, empty_store, tmp_path / "demo.log")
    with view.running():
        print("14:02:11.123 | INFO | Task run 'gate-abc' - a 600-character Prefect log line", flush=True)
        os.write(2, b"a warning on stderr\n")
        for verdict in ("pass", "pass", "pass", "fail"):
            empty_store.record_decision(verdict, f"error rate judged {verdict}", step=1, weight=5.0)
            view._verdicts()
        view.say("FAULT INJECTED at 5%: canary error_rate=0.3")
    out = capfd.readouterr().out
    log = (tmp_path / "demo.log").read_text()
    assert "Prefect log line" in log and "a warning on stderr" in log
    assert "Prefect log line" not in out and "a warning on stderr" not in out
    assert out.count("gate pass") == 1 and out.count("gate fail") == 1, "one line per verdict change"
    assert "FAULT INJECTED" in out and f"full log: {tmp_path / 'demo.log'}" in out


def test_status_line_names_step_weight_time_left_and_engine(empty_store, plan):
    from launch_control.commands.demo_view import status_line

    empty_store.update_state(phase="ramping", current_step=1, canary_weight=5.0)
    line = status_line(plan, empty_store)
    assert "step 2/4 (5%)" in line and "canary 5%" in line and "hold" in line and "engine not running" in line
