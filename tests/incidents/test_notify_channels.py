"""Notifier and channels against real loopback servers: Slack payload, JSON webhook, SMTP email,
retries with backoff, a channel that times out (never blocks), skipped unconfigured channels."""

from __future__ import annotations

import re
import time

import pytest
from incident_helpers import plan_with

from launch_control.respond.notify import Notifier, RetryPolicy


def channels_plan(plan, *channels):
    return plan_with(plan, notifications={"channels": list(channels)}, incident_response=None,
                     rollback={**plan.rollback.model_dump(mode="json"), "notify": []})


def test_slack_incoming_webhook_payload(plan, sqlite_store, receiver, monkeypatch, fast_retry):
    monkeypatch.setenv("TEST_SLACK_HOOK", receiver.url + "/services/T000/B000/XXXX")
    p = channels_plan(plan, {"name": "war-room", "type": "slack", "webhook_url_env": "TEST_SLACK_HOOK",
                             "channel": "#war-room"})
    notifier = Notifier(p, sqlite_store, retry=fast_retry)
    results = notifier.send_sync("incident.open", "[SEV-2] errors up", "error rate *12%*", incident_id=7)
    assert results["war-room"].ok and results["war-room"].attempts == 1
    (request,) = receiver.at("/services/T000/B000/XXXX")
    assert request.method == "POST" and request.headers["content-type"] == "application/json"
    payload = request.json()
    assert set(payload) == {"text", "blocks"}
    assert payload["text"].startswith("[SEV-2] errors up")
    header, section, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "[SEV-2] errors up"}}
    assert section["type"] == "section" and section["text"] == {"type": "mrkdwn", "text": "error rate *12%*"}
    assert context["type"] == "context" and "incident #7" in context["elements"][0]["text"]
    (row,) = sqlite_store.notifications(incident_id=7)
    assert row["ok"] and row["channel"] == "war-room" and row["kind"] == "incident.open"
    assert '"blocks"' in row["body"]


def test_webhook_json_body_and_bearer_token(plan, sqlite_store, receiver, monkeypatch, fast_retry):
    monkeypatch.setenv("TEST_PAGER_URL", receiver.url + "/pager")
    monkeypatch.setenv("TEST_PAGER_TOKEN", "s3cret")
    p = channels_plan(plan, {"name": "pager", "type": "webhook", "url_env": "TEST_PAGER_URL",
                             "token_env": "TEST_PAGER_TOKEN", "headers": {"X-Source": "launch-control"}})
    results = Notifier(p, sqlite_store, retry=fast_retry).send_sync("incident.page", "page", "wake up",
                                                                    incident_id=3, context={"to": "secondary"})
    assert results["pager"].ok
    (request,) = receiver.at("/pager")
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-source"] == "launch-control"
    body = request.json()
    assert body["kind"] == "incident.page" and body["subject"] == "page" and body["text"] == "wake up"
    assert body["incident_id"] == 3 and body["launch_id"] == sqlite_store.launch_id
    assert body["context"] == {"to": "secondary"} and body["sent_at"]


def test_email_over_smtp(plan, sqlite_store, smtp, monkeypatch, fast_retry):
    monkeypatch.setenv("TEST_SMTP", f"{smtp.host}:{smtp.port}")
    p = channels_plan(plan, {"name": "customers", "type": "email", "smtp_host_env": "TEST_SMTP",
                             "from": "launch@example.com", "to": ["a@example.com", "b@example.com"]})
    results = Notifier(p, sqlite_store, retry=fast_retry).send_sync("incident.open", "Service notice", "Dear customer",
                                                                    incident_id=1)
    assert results["customers"].ok, results["customers"].error
    (rcpts, mail), = smtp.wait_for(1)
    assert sorted(rcpts) == ["a@example.com", "b@example.com"]
    assert mail["Subject"] == "Service notice" and mail["From"] == "launch@example.com"
    assert mail["X-Launch-Control-Incident"] == "1"
    assert mail.get_content().strip() == "Dear customer"


def test_unconfigured_channel_is_skipped_not_failed(plan, sqlite_store, monkeypatch):
    monkeypatch.delenv("LAUNCH_CONTROL_SLACK_WEBHOOK", raising=False)
    results = Notifier(plan, sqlite_store).send_sync("test", "s", "t", channels=["war-room"])
    result = results["war-room"]
    assert not result.ok and result.skipped and result.attempts == 0
    assert "LAUNCH_CONTROL_SLACK_WEBHOOK" in result.error
    (row,) = sqlite_store.notifications()
    assert row["attempts"] == 0 and row["error"].startswith("skipped: ") and not row["ok"]


def test_retries_with_backoff_then_succeeds(plan, sqlite_store, receiver, monkeypatch):
    monkeypatch.setenv("TEST_HOOK", receiver.url + "/flaky")
    receiver.answer("/flaky", (503, "busy", 0), (503, "busy", 0), (200, "ok", 0))
    p = channels_plan(plan, {"name": "hook", "type": "webhook", "url_env": "TEST_HOOK"})
    retry = RetryPolicy(attempts=4, base_delay=0.1, max_delay=1.0, timeout=2.0)
    result = Notifier(p, sqlite_store, retry=retry).send_sync("test", "s", "t")["hook"]
    assert result.ok and result.attempts == 3
    times = [r.at for r in receiver.at("/flaky")]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.1  # backoff grows (jitter 50–100%)
    assert sqlite_store.notifications()[0]["attempts"] == 3


def test_client_error_is_not_retried(plan, sqlite_store, receiver, monkeypatch, fast_retry):
    monkeypatch.setenv("TEST_HOOK", receiver.url + "/gone")
    receiver.answer("/gone", (404, "no_service", 0))
    p = channels_plan(plan, {"name": "hook", "type": "webhook", "url_env": "TEST_HOOK"})
    result = Notifier(p, sqlite_store, retry=fast_retry).send_sync("test", "s", "t")["hook"]
    assert not result.ok and result.attempts == 1 and "HTTP 404" in result.error
    row = sqlite_store.notifications()[0]
    assert not row["ok"] and "HTTP 404" in row["error"]


def test_a_hung_channel_never_blocks_the_caller_or_other_channels(plan, sqlite_store, receiver, monkeypatch):
    monkeypatch.setenv("TEST_SLOW", receiver.url + "/slow")
    monkeypatch.setenv("TEST_FAST", receiver.url + "/fast")
    receiver.answer("/slow", (200, "ok", 3.0))  # answers long after the channel's timeout
    p = channels_plan(
        plan,
        {"name": "slow", "type": "webhook", "url_env": "TEST_SLOW", "timeout": 0.3, "attempts": 2},
        {"name": "fast", "type": "webhook", "url_env": "TEST_FAST"},
    )
    notifier = Notifier(p, sqlite_store, retry=RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.1, timeout=2))
    started = time.monotonic()
    notifier.send("rollback", "rolled back", "all traffic on stable")
    assert time.monotonic() - started < 0.1  # send() returns at once
    receiver.wait_for("/fast", 1, timeout=2)
    assert time.monotonic() - started < 0.6  # the fast channel did not wait behind the slow one
    assert notifier.flush(10)
    rows = {r["channel"]: r for r in sqlite_store.notifications()}
    assert rows["fast"]["ok"]
    assert not rows["slow"]["ok"] and rows["slow"]["attempts"] == 2 and "timed out" in rows["slow"]["error"]


def test_unknown_channel_and_bad_settings_are_recorded_not_raised(plan, sqlite_store, fast_retry):
    p = channels_plan(plan, {"name": "broken", "type": "carrier-pigeon"},
                      {"name": "nohost", "type": "email", "smtp_host_env": "X", "from": "a@b.c"})
    notifier = Notifier(p, sqlite_store, retry=fast_retry)
    notifier.send("test", "s", "t", channels=["broken", "nohost", "nonexistent"])
    assert notifier.flush(5)
    rows = {r["channel"]: r for r in sqlite_store.notifications()}
    assert "unknown notification channel type 'carrier-pigeon'" in rows["broken"]["error"]
    assert "needs 'to'" in rows["nohost"]["error"]
    assert "no notification channel named 'nonexistent'" in rows["nonexistent"]["error"]
    assert not any(r["ok"] for r in rows.values())


@pytest.mark.parametrize("kind", ["slack", "webhook"])
def test_unreachable_endpoint_fails_after_retries(plan, sqlite_store, monkeypatch, kind):
    from launch_control.web.servers import free_port

    monkeypatch.setenv("TEST_DEAD", f"http://127.0.0.1:{free_port()}/x")
    key = "webhook_url_env" if kind == "slack" else "url_env"
    p = channels_plan(plan, {"name": "dead", "type": kind, key: "TEST_DEAD"})
    result = Notifier(p, sqlite_store, retry=RetryPolicy(2, 0.01, 0.02, 1.0)).send_sync("test", "s", "t")["dead"]
    assert not result.ok and result.attempts == 2 and "cannot reach" in result.error


def test_a_dead_channel_fails_fast_after_repeated_failures(plan, sqlite_store, receiver, monkeypatch):
    from launch_control.respond.notify import FAIL_FAST_AFTER
    from launch_control.web.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}/x"
    monkeypatch.setenv("TEST_DEAD", dead)
    p = channels_plan(plan, {"name": "dead", "type": "webhook", "url_env": "TEST_DEAD"})
    notifier = Notifier(p, sqlite_store, retry=RetryPolicy(3, 0.01, 0.02, 1.0))
    for i in range(FAIL_FAST_AFTER + 1):
        notifier.send("test", f"message {i}", "t")
    assert notifier.flush(10)
    assert [r["attempts"] for r in sqlite_store.notifications()] == [3] * FAIL_FAST_AFTER + [1]
    # once it answers again, it gets full retries back
    monkeypatch.setenv("TEST_DEAD", receiver.url + "/back")
    assert notifier.send_sync("test", "back", "t")["dead"].ok
    receiver.answer("/back", (503, "busy", 0), (200, "ok", 0))
    assert notifier.send_sync("test", "again", "t")["dead"].attempts == 2


@pytest.mark.parametrize(
    ("settings", "said", "audience"),
    [
        ({"type": "slack"}, "slack channel 'c' needs webhook_url_env (or webhook_url)", "team"),
        ({"type": "webhook"}, "webhook channel 'c' needs url_env (or url)", "team"),
        ({"type": "email", "from": "a@b.c", "to": ["d@e.f"]}, "email channel 'c' needs smtp_host_env (or smtp_host)",
         "customers"),
        ({"type": "statuspage", "page_id": "p"}, "statuspage channel 'c' needs api_key_env (or api_key)", "public"),
    ],
)
def test_every_channel_needs_its_endpoint_and_has_its_default_audience(settings, said, audience):
    from launch_control.errors import UsageError
    from launch_control.respond.notify import CHANNELS

    settings = dict(settings)
    kind = settings.pop("type")
    with pytest.raises(UsageError, match=re.escape(said)):
        CHANNELS.build(kind, settings, channel="c")
    endpoint = {"slack": "webhook_url_env", "webhook": "url_env", "email": "smtp_host", "statuspage": "api_key_env"}
    built = CHANNELS.build(kind, {**settings, endpoint[kind]: "X"}, channel="c")
    assert built.audience == audience and built.name == "c" and built.type == kind
    with pytest.raises(UsageError, match="attempts"):  # the settings every channel shares are checked for each
        CHANNELS.build(kind, {**settings, endpoint[kind]: "X", "attempts": 0}, channel="c")
