"""The gateway router against the real gateway's admin API on loopback."""

from __future__ import annotations

import pytest
import traffic_client as stack_mod

from launch_control.errors import RouterError, UsageError
from launch_control.plane.traffic import TrafficRouter, build_router
from launch_control.web.servers import free_port


def test_set_get_and_the_next_request_follows(traffic_plane, monkeypatch):
    monkeypatch.setenv("MY_GATEWAY_TOKEN", traffic_plane.admin_token)
    router = build_router({"type": "gateway", "url": traffic_plane.gateway_url, "token_env": "MY_GATEWAY_TOKEN"})
    assert isinstance(router, TrafficRouter)
    assert router.healthy()
    assert router.get_weight() == 0.0
    router.set_weight(100)
    assert router.get_weight() == 100.0
    assert stack_mod.send(traffic_plane, 5).requests("canary") == 5  # applies from the very next request
    router.set_weight(100)  # idempotent
    router.set_weight(12.5)
    assert router.get_weight() == 12.5
    router.set_weight(0)
    assert stack_mod.send(traffic_plane, 5).requests("stable") == 5


def test_token_from_the_local_stack_file(traffic_plane, tmp_path, monkeypatch):
    from launch_control.config import token_file

    monkeypatch.delenv("LAUNCH_CONTROL_ADMIN_TOKEN", raising=False)
    token_file().parent.mkdir(parents=True, exist_ok=True)
    token_file().write_text(traffic_plane.admin_token + "\n")
    router = build_router({"type": "gateway", "url": traffic_plane.gateway_url})
    router.set_weight(3)
    assert router.get_weight() == 3.0


def test_wrong_token_is_a_router_error_that_says_what_to_do(traffic_plane):
    router = build_router({"type": "gateway", "url": traffic_plane.gateway_url, "token": "wrong"})
    with pytest.raises(RouterError, match=r"refused the admin token \(HTTP 401\).*LAUNCH_CONTROL_ADMIN_TOKEN"):
        router.set_weight(5)
    with pytest.raises(RouterError, match="401"):
        router.get_weight()
    assert not router.healthy()


def test_gateway_rejection_422_carries_its_reason(traffic_plane):
    router = build_router({"type": "gateway", "url": traffic_plane.gateway_url, "token": traffic_plane.admin_token})
    with pytest.raises(RouterError, match=r"rejected the weights \(HTTP 422\): invalid weights: canary must be"):
        router._call("PUT", "/admin/weights", json={"canary": "five"})


def test_out_of_range_is_refused_before_any_call(traffic_plane):
    router = build_router({"type": "gateway", "url": traffic_plane.gateway_url, "token": traffic_plane.admin_token})
    for bad in (-1, 100.5, float("nan"), "lots"):
        with pytest.raises(UsageError, match="canary weight must be"):
            router.set_weight(bad)
    assert router.get_weight() == 0.0


def test_gateway_down_is_a_router_error_not_a_vendor_exception():
    router = build_router({"type": "gateway", "url": f"http://127.0.0.1:{free_port()}", "token": "t", "timeout": 0.5})
    with pytest.raises(RouterError, match="unreachable.*launch-control up") as info:
        router.set_weight(5)
    assert info.value.__cause__ is not None  # the httpx error is chained, not leaked
    assert not router.healthy()


def test_no_token_anywhere_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("LAUNCH_CONTROL_ADMIN_TOKEN", raising=False)
    with pytest.raises(UsageError, match="no admin token"):
        build_router({"type": "gateway", "url": "http://127.0.0.1:1"})
