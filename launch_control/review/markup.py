"""The review report's HTML building blocks: its stylesheet, escaping (``e``), badges, durations
and the clock that shows times in the plan's zone. The report itself is
``launch_control.review.report``.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from launch_control.plan.units import format_duration

VERDICT_COLOURS = {"pass": "#2b8a3e", "fail": "#c92a2a", "pending": "#868e96", "hold": "#f08c00"}
OK_MARK, BAD_MARK = "<span class='ok'>{}</span>", "<span class='bad'>{}</span>"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;
color:#212529}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #dee2e6;padding-bottom:.3rem;margin-top:2.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{border-bottom:1px solid #dee2e6;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f5} .muted{color:#868e96} .num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:4px;padding:0 .45rem;color:#fff;font-weight:600;font-size:.85rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #dee2e6;border-radius:6px;padding:.6rem 1rem;min-width:150px}
.card b{display:block;font-size:1.4rem} svg{background:#fff;border:1px solid #e9ecef;margin:.4rem 0}
.ok{color:#2b8a3e;font-weight:600} .bad{color:#c92a2a;font-weight:600}
@media print{h2{page-break-after:avoid}}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def badge(text: str, colour: str | None = None) -> str:
    colour = colour or VERDICT_COLOURS.get(text, "#495057")
    return f'<span class="badge" style="background:{colour}">{e(text)}</span>'


def dur(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(max(0.0, float(seconds)))


class Clock:
    def __init__(self, plan: Any):
        self.tz = plan.timeline.tz

    def __call__(self, when: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return "—" if when is None else when.astimezone(self.tz).strftime(fmt)
