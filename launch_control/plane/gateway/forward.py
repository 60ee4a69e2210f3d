"""What the gateway forwards and where: header filters, route templates, per-version targets.

Split out of ``app.py`` so the hot path there reads as a sequence of steps; everything here is
computed once (per process, or per change of the routing state), not per request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from launch_control.plane.gateway.split import ROLES

# Request headers not forwarded (hop-by-hop, or recomputed: host, content-length; expect is
# answered by our own server, so the upstream never sends a 100 Continue we would have to skip).
DROP_REQUEST = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"expect",
        b"x-forwarded-for",
    }
)
# Response headers not passed back (hop-by-hop; uvicorn writes its own date and server; ours stamp the version).
DROP_RESPONSE = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
        b"te",
        b"trailers",
        b"date",
        b"server",
        b"x-served-by",
        b"x-version",
    }
)
ROUTES = {"/api/gpt-test": "/api/gpt-test", "/api/analytics": "/api/analytics", "/api/status": "/api/status"}
PREFIX_ROUTES = (("/api/run/", "/api/run/*"),)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
BUFFER_LIMIT = 1 << 20  # bodies up to 1 MiB with a length are read whole; the rest stream
HEALTH_TIMEOUT = 1.0
# Idle upstream connections are dropped after this many seconds: below uvicorn's default 5 s
# keep-alive, so the gateway never reuses a connection the upstream is closing (a POST on such a
# connection fails with "server disconnected" and cannot be retried safely).
UPSTREAM_KEEPALIVE = 4.0


def route_of(path: str) -> str:
    """The route template a path is counted under (bounded label values)."""
    route = ROUTES.get(path)
    if route is not None:
        return route
    for prefix, template in PREFIX_ROUTES:
        if path.startswith(prefix):
            return template
    return "other"


class Target:
    """What the hot path needs about one version's upstream, computed once per change."""

    def __init__(self, role: str, version: str, url: str, read_timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream {version}: {url!r} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.role, self.version, self.url = role, version, url
        self.role_index = ROLES.index(role)
        self.host_header = parts.netloc.encode("idna")
        self.base_path = parts.path.rstrip("/").encode()
        self.stamp = [(b"x-served-by", role.encode()), (b"x-version", version.encode())]
        self.address = (parts.hostname, port, parts.scheme == "https")
        self.read_timeout = read_timeout


def cookie_role(cookie: bytes) -> str | None:
    """``launch_version=canary|stable`` from a Cookie header; other values are ignored (stale cookies)."""
    for part in cookie.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == b"launch_version":
            role = value.strip().strip(b'"').decode("latin-1").lower()
            return role if role in ROLES else None
    return None
