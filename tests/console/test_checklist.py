"""Checklist ticks from the console persist with who and when; concurrent tickers both persist."""

from __future__ import annotations


def _box(at, item_id: str):
    return next(c for c in at.checkbox if c.key.startswith(f"tick-{item_id}-"))


def test_tick_persists_with_actor_and_untick_too(empty_store, console):
    at = console("checklist", role="lead", name="lena")
    box = _box(at, "code-tests-green")
    assert box.value is False and not box.disabled
    box.check().run()
    row = empty_store.checklist()["code-tests-green"]
    assert row["ticked"] is True and row["actor"] == "lena" and row["at"] is not None
    assert empty_store.events(action="checklist.tick")[0]["actor"] == "lena"
    assert _box(at, "code-tests-green").value is True
    assert any("ticked by **lena**" in c.value for c in at.caption)
    _box(at, "code-tests-green").uncheck().run()
    row = empty_store.checklist()["code-tests-green"]
    assert row["ticked"] is False and row["actor"] == "lena"
    assert empty_store.count_events("checklist.untick") == 1


def test_two_people_ticking_at_once_both_persist(empty_store, console):
    alice = console("checklist", role="lead", name="alice")
    bob = console("checklist", role="lead", name="bob")
    _box(alice, "docs-api").check()
    _box(bob, "docs-runbook").check()  # bob's page still shows docs-api open
    alice.run()
    bob.run()
    ticks = empty_store.checklist()
    assert ticks["docs-api"]["actor"] == "alice" and ticks["docs-runbook"]["actor"] == "bob"
    alice.run()  # a refresh shows bob's tick too
    assert _box(alice, "docs-runbook").value is True and _box(bob, "docs-api").value is True
    pre_launch = [s for s in alice.subheader if s.value.startswith("Pre launch")][0]
    assert pre_launch.value.endswith("2/10")


def test_viewer_and_visitor_cannot_tick(empty_store, console):
    for role in ("viewer", None):
        at = console("checklist", role=role)
        assert all(c.disabled for c in at.checkbox)
        assert not [b for b in at.button if b.key and b.key.startswith("check-")]


def test_automatic_item_shows_result_and_reruns(empty_store, console):
    empty_store.record_check("infra-db-state", False, "could not connect")
    at = console("checklist", role="lead", name="lena")
    assert any("❌ sql check" in c.value and "could not connect" in c.value for c in at.caption)
    next(b for b in at.button if b.key == "check-infra-db-state").click().run()
    result = empty_store.check_results()["infra-db-state"]
    assert result["ok"] is True, result["detail"]
    assert empty_store.events(action="checklist.check")[0]["actor"] == "lena"
    assert any("✅ sql check" in c.value for c in at.caption)
