"""The gateway's admin API and public health over real sockets: auth, validation, live effect."""

from __future__ import annotations

import httpx
import pytest

ADMIN = ("/admin/weights", "/admin/upstreams", "/admin/health")


BAD_WEIGHTS = [
    ({"canary": 101}, "between 0 and 100"),
    ({"canary": -1}, "between 0 and 100"),
    ({"stable": 95, "canary": 10}, "must sum to 100"),
    ({"stable": 90, "canary": 5}, "= 95"),
    ({"canary": "5"}, "must be a number"),
    ({"canary": True}, "must be a number"),
    ({"canary": 5, "blue": 1}, "unknown key"),
    ({}, "send"),
    ([5], "send"),
]


def test_admin_needs_the_token(traffic_plane):
    with httpx.Client() as client:
        for path in ADMIN:
            for auth in (None, "Bearer wrong-token", "Basic dHJhZmZpYy10ZXN0LXRva2Vu", "Bearer"):
                headers = {"Authorization": auth} if auth else {}
                for method in ("GET", "PUT"):
                    response = client.request(
                        method, traffic_plane.gateway_url + path, headers=headers, json={"canary": 50}
                    )
                    assert response.status_code == 401, (path, auth, method)
                    assert response.json()["error"] == "unauthorized"
                    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert traffic_plane.gateway.canary_weight == 0.0  # nothing changed


def test_bad_weights_are_422_with_the_reason(traffic_plane):
    with httpx.Client() as client:
        for body, reason in BAD_WEIGHTS:
            response = client.put(traffic_plane.gateway_url + "/admin/weights", json=body, headers=traffic_plane.auth)
            assert response.status_code == 422, body
            assert reason in response.json()["detail"], body
    assert traffic_plane.gateway.canary_weight == 0.0


def test_non_json_admin_body_is_400(traffic_plane):
    response = httpx.put(traffic_plane.gateway_url + "/admin/weights", content=b"canary=5", headers=traffic_plane.auth)
    assert response.status_code == 400 and response.json()["error"] == "invalid JSON"


def test_weights_apply_to_the_next_request(traffic_plane):
    url, auth = traffic_plane.gateway_url, traffic_plane.auth
    with httpx.Client() as client:
        assert client.get(url + "/admin/weights", headers=auth).json() == {"stable": 100.0, "canary": 0.0}
        assert client.get(url + "/api/status", headers={"X-Org-Id": "org-7"}).headers["X-Served-By"] == "stable"
        response = client.put(url + "/admin/weights", json={"stable": 0, "canary": 100}, headers=auth)
        assert response.status_code == 200 and response.json() == {"stable": 0.0, "canary": 100.0}
        assert client.get(url + "/api/status", headers={"X-Org-Id": "org-7"}).headers["X-Served-By"] == "canary"
        assert client.put(url + "/admin/weights", json={"stable": 95}, headers=auth).json()["canary"] == 5.0
        assert client.put(url + "/admin/weights", json={"canary": 2.5}, headers=auth).json() == {
            "stable": 97.5,
            "canary": 2.5,
        }
        assert "launch_gateway_canary_weight 2.5" in client.get(url + "/metrics").text


def test_upstreams_point_a_role_at_a_known_version(traffic_plane):
    url, auth = traffic_plane.gateway_url, traffic_plane.auth
    with httpx.Client() as client:
        view = client.get(url + "/admin/upstreams", headers=auth).json()
        assert view["stable"] == {"version": "v2.9.0", "url": traffic_plane.stable_url}
        assert view["canary"] == {"version": "v3.0.0", "url": traffic_plane.canary_url}
        assert view["known"] == {"v2.9.0": traffic_plane.stable_url, "v3.0.0": traffic_plane.canary_url}
        bad = client.put(url + "/admin/upstreams", json={"canary": "v9.9.9"}, headers=auth)
        assert bad.status_code == 422 and "v9.9.9" in bad.json()["detail"]
        assert client.put(url + "/admin/upstreams", json={"blue": "v2.9.0"}, headers=auth).status_code == 422
        # roll the deployment back: the canary role now serves the stable build
        moved = client.put(url + "/admin/upstreams", json={"canary": "v2.9.0"}, headers=auth)
        assert moved.status_code == 200 and moved.json()["canary"]["version"] == "v2.9.0"
        response = client.get(url + "/api/status", headers={"X-Launch-Version": "canary"})
        assert response.headers["X-Served-By"] == "canary" and response.headers["X-Version"] == "v2.9.0"
        assert response.json()["version"] == "v2.9.0"


def test_health_is_live_and_follows_the_stable_upstream(traffic_plane):
    url = traffic_plane.gateway_url
    with httpx.Client() as client:
        ok = client.get(url + "/health")
        assert ok.status_code == 200
        assert ok.json() == {
            "status": "ok",
            "weights": {"stable": 100.0, "canary": 0.0},
            "upstreams": {"stable": {"version": "v2.9.0", "ok": True}, "canary": {"version": "v3.0.0", "ok": True}},
        }
        traffic_plane.set_fault("canary", down=True)
        degraded = client.get(url + "/health")
        assert degraded.status_code == 200 and degraded.json()["upstreams"]["canary"]["ok"] is False
        traffic_plane.set_fault("stable", down=True)
        down = client.get(url + "/health")
        assert down.status_code == 503 and down.json()["status"] == "unavailable"
        assert down.json()["upstreams"]["stable"] == {"version": "v2.9.0", "ok": False}
        detail = client.get(url + "/admin/health", headers=traffic_plane.auth).json()
        assert detail["upstreams"]["stable"]["status"] == 503 and detail["upstreams"]["stable"]["ok"] is False
        assert detail["weights"] == {"stable": 100.0, "canary": 0.0}
        traffic_plane.servers["stable"].stop()  # refused connections, not a 503
        gone = client.get(url + "/admin/health", headers=traffic_plane.auth).json()
        assert "error" in gone["upstreams"]["stable"] and client.get(url + "/health").status_code == 503


def test_gateway_refuses_bad_construction():
    from launch_control.plane.gateway.app import create_app

    good = {"upstreams": {"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"}, "stable": "a", "canary": "b"}
    with pytest.raises(ValueError, match="admin_token"):
        create_app(**good, admin_token="")
    with pytest.raises(ValueError, match="not among the upstreams"):
        create_app(**{**good, "canary": "c"}, admin_token="t")
    with pytest.raises(ValueError, match="0-100"):
        create_app(**good, admin_token="t", canary_weight=101)
