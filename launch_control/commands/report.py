"""``launch-control report --out report.html``: the post-launch review as one self-contained HTML file."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="write the post-launch review (one HTML file that opens offline)")
    p.add_argument("--out", default="report.html", help="file to write (default report.html; '-' for stdout)")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace, ctx: Any) -> int:
    import sys
    from pathlib import Path

    from launch_control.errors import UsageError
    from launch_control.review.report import render_report

    html = render_report(ctx.plan, ctx.store)
    if args.out == "-":
        sys.stdout.write(html)
        return 0
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out / 'report.html'}")
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}; choose another --out path") from None
    ctx.console.print(f"wrote {out} ({len(html) // 1024} KB)")
    return 0
