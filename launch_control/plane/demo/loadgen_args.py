"""The load generator's command-line arguments, shared by ``launch-control loadgen`` and
``python -m launch_control.plane.demo.loadgen`` (standard library only: every CLI start reads it).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", nargs="?", default=None, help="target (default: the local gateway, http://127.0.0.1:8080)"
    )
    parser.add_argument("--rps", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--orgs", type=int, default=2000, help="synthetic orgs (default 2000)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many requests")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--anonymous", type=float, default=0.0, help="fraction of requests without an org id")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--summary-file", default=None, help="also write the JSON summary to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
