"""The watchdog that stops a parent's child process groups when the parent dies, even by SIGKILL.

``servers.ChildProcess`` starts every child in its own process group (so Ctrl-C reaches the
parent only and ``stop()`` can end a child's whole tree). The price: if the parent is killed with
``kill -9``, nothing stops those groups — the demo's model, services, gateway, load generator and
Prefect server would run on. Two guards, both set up by ``servers``:

* each child gets ``PR_SET_PDEATHSIG`` (SIGKILL when its parent dies; Linux, via ctypes);
* this watchdog, one per parent process, started on the first child: it reads ``+PGID`` /
  ``-PGID`` lines from a pipe whose other end only the parent holds. When the pipe closes (the
  parent exited, however it died) it sends SIGTERM to every group still registered, and SIGKILL
  to those still alive 2 s later — grandchildren (Prefect's server, a shell's children) included.

    python -m launch_control.web.reaper    # stdin: the pipe; stdlib only, starts in ~30 ms
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

GRACE = 2.0


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(groups: set[int], grace: float = GRACE) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(g) for g in groups):
        time.sleep(0.05)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent; we act on its exit
    groups: set[int] = set()
    for line in sys.stdin.buffer:  # ends at EOF: the parent is gone
        text = line.strip()
        if len(text) < 2 or text[:1] not in b"+-" or not text[1:].isdigit():
            continue
        pgid = int(text[1:])
        if pgid <= 1:
            continue
        if text[:1] == b"+":
            groups.add(pgid)
        else:
            groups.discard(pgid)
    if groups:
        reap(groups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
