"""The console in a real browser: started headless on loopback, rendered by Debian's chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    profile = tempfile.mkdtemp(prefix="lc-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
             f"--user-data-dir={profile}", "--run-all-compositor-stages-before-draw", "--virtual-time-budget=30000",
             "--window-size=1400,1000", *args],
            capture_output=True, timeout=timeout, check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_colours(path: Path, limit: int = 50) -> int:
    """Distinct colours in a PNG (up to ``limit``), decoded with zlib: no imaging library needed."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big"), \
        header[8], header[9]
    assert depth == 8 and colour_type in (2, 6), "expected 8-bit RGB(A)"
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    colours: set[bytes] = set()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):  # undo the PNG row filters
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        if row % 8 == 0:
            for x in range(0, stride, channels * 8):
                colours.add(bytes(line[x : x + 3]))
                if len(colours) >= limit:
                    return len(colours)
        previous = line
    return len(colours)


@pytest.mark.browser
@pytest.mark.slow
def test_console_renders_in_chromium(full_store, tmp_path, service_unavailable):
    if not os.path.exists(CHROMIUM):
        service_unavailable(f"no chromium at {CHROMIUM}")
    from launch_control.commands.console import start_console
    from launch_control.web.servers import free_port, wait_for_http

    port = free_port()
    env = dict(os.environ, LAUNCH_CONTROL_CONSOLE_REFRESH="0")
    with start_console(port, env, quiet=True) as child:
        url = f"http://127.0.0.1:{port}"
        assert wait_for_http(f"{url}/_stcore/health", timeout=60, expect=200), "console did not answer its health check"
        # Virtual time does not wait for the websocket: the first visit (cold imports in the
        # server) can dump the DOM before the script ran. Bounded retries, then a real failure.
        html = ""
        for _attempt in range(8):
            html = chromium("--dump-dom", url).stdout.decode("utf-8", "replace")
            if "Launch overview" in html:
                break
            time.sleep(1.0)  # let the server finish the run this visit started (warms its imports)
        assert "<title>Launch Control</title>" in html, html[-2000:]
        assert "Launch overview" in html and "Last rollback TTR" in html, "the overview page rendered"
        # Like the DOM dump, a screenshot can catch the page before its script ran (a blank
        # skeleton): bounded retries until it shows the rendered page, then a real assertion.
        shot = tmp_path / "overview.png"
        for _attempt in range(5):
            chromium(f"--screenshot={shot}", url)
            if shot.exists() and shot.stat().st_size > 10_000 and png_colours(shot) > 5:
                break
            time.sleep(1.0)
        assert child.alive()
    assert shot.exists() and shot.stat().st_size > 10_000
    assert png_colours(shot) > 5, "the screenshot is not blank"
