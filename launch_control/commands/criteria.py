"""``launch-control --validate``: the plan's technical success criteria against recorded data.

Prints value against threshold for every criterion; exits 0 only when every technical criterion
passes (1 when one fails or cannot be judged yet).
"""

from __future__ import annotations

import argparse
from typing import Any


def run_validate(args: argparse.Namespace, ctx: Any) -> int:
    from rich.table import Table

    from launch_control.review.criteria import evaluate

    report = evaluate(ctx.plan, ctx.store)
    colour = {"pass": "green", "fail": "red", "pending": "yellow"}
    release = ctx.plan.release
    table = Table(title=f"Success criteria — {release.product} {release.version}", title_justify="left")
    for col in ("category", "criterion", "value", "target", "result", "note"):
        table.add_column(col)
    for r in report.results:
        table.add_row(
            r.category, r.title, r.shown_value, r.shown_target, f"[{colour[r.status]}]{r.status}[/]", r.note
        )
    ctx.console.print(table)
    technical = report.category_verdict("technical")
    ctx.console.print(
        f"technical: [{colour[technical]}]{technical}[/] · overall: [{colour[report.verdict]}]{report.verdict}[/]"
    )
    return 0 if technical == "pass" else 1
