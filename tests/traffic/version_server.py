"""A minimal real HTTP upstream for the proxy-router tests: answers every request with 200 and an
``X-Version`` header, under uvicorn (httptools) in its own process so it is not the bottleneck.

    python tests/traffic/version_server.py PORT VERSION
"""

from __future__ import annotations

import sys


def app_for(version: str):  # type: ignore[no-untyped-def]
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"3"), (b"x-version", version.encode())]

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok\n"})

    return app


if __name__ == "__main__":
    import uvicorn

    port, version = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(
        app_for(version), host="127.0.0.1", port=port, http="httptools", lifespan="off",
        access_log=False, log_level="warning", timeout_keep_alive=75,
    )
