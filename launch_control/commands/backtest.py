"""``launch-control backtest`` and ``export-samples``: replay recorded launches through gate settings.

    launch-control backtest                          # this plan's launch, this plan's analysis
    launch-control backtest --launch promptforge-v3 --set sequential.alpha=0.01 --set failure_limit=3
    launch-control export-samples --out launch.csv   # then, anywhere: backtest --samples launch.csv
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    bt = subparsers.add_parser(
        "backtest", help="replay a recorded launch's samples through the plan's gate: when it would hold, fail or pass"
    )
    source = bt.add_mutually_exclusive_group()
    source.add_argument("--launch", metavar="ID", help="launch id in the store (default: the plan's launch)")
    source.add_argument("--samples", metavar="FILE", help="an exported sample file (.csv or .json) instead")
    bt.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override an analysis setting, e.g. sequential.alpha=0.01 or metrics.error_rate.sev2=8%% (repeatable)",
    )
    bt.add_argument("--every", action="store_true", help="print every interval's verdict, not only the summary")
    bt.add_argument("--json", action="store_true", help="the replay as JSON")
    bt.set_defaults(func=run_backtest)
    ex = subparsers.add_parser("export-samples", help="write a launch's recorded samples to a CSV or JSON file")
    ex.add_argument("--launch", metavar="ID", help="launch id in the store (default: the plan's launch)")
    ex.add_argument("--out", required=True, metavar="FILE", help="file to write (.csv or .json)")
    ex.set_defaults(func=run_export)


def _store(args: argparse.Namespace, ctx: Any) -> Any:
    store = ctx.store
    return store.with_launch(args.launch) if args.launch else store


def run_export(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.errors import UsageError
    from launch_control.ramp.backtest import export_samples

    store = _store(args, ctx)
    count = export_samples(store, args.out)
    if count == 0:
        raise UsageError(f"launch {store.launch_id!r} has no recorded samples in {store.describe()}; nothing written")
    ctx.console.print(f"wrote {count} samples of launch {store.launch_id} to {args.out}")
    return 0


def run_backtest(args: argparse.Namespace, ctx: Any) -> int:
    import json

    from launch_control.errors import UsageError
    from launch_control.ramp.backtest import load_samples_file, override, replay, rows_from_store

    analysis = override(ctx.plan.analysis, args.overrides)
    if args.samples:
        rows, decisions = load_samples_file(args.samples)
        origin = args.samples
    else:
        store = _store(args, ctx)
        rows, decisions = rows_from_store(store)
        origin = f"launch {store.launch_id} in {store.describe()}"
    if not rows:
        raise UsageError(f"no recorded samples in {origin}; record a launch first or pass --samples FILE")
    steps = replay(analysis, rows, decisions)
    if args.json:
        print(json.dumps({"source": origin, "steps": [s.as_dict() for s in steps]}, indent=2))
        return 0
    con = ctx.console
    seq = analysis.sequential
    con.print(f"[bold]backtest[/bold] of {origin}")
    con.print(
        f"  gate: every {analysis.interval:g} s, min_requests {analysis.min_requests}, failure_limit "
        f"{analysis.failure_limit}, sequential {'on' if seq.enabled else 'off'}"
        + (f" (alpha {seq.alpha:g}, error tolerance {seq.error_rate_tolerance * 100:g} points, early promotion "
           f"{'on' if seq.early_promotion else 'off'})" if seq.enabled else "")
    )
    if seq.enabled:
        con.print("  note: samples carry no latency histograms, so the latency sequential test is not replayed")
    rolled_back = False
    for s in steps:
        label = f"step {s.step + 1}" if s.step is not None else "step ?"
        label += f" ({s.weight:g}%)" if s.weight is not None else ""
        if not s.verdicts:
            continue
        start, end = s.verdicts[0][0], s.verdicts[-1][0]
        counts = s.counts()
        con.print(
            f"\n[bold]{label}[/bold]: judged {len(s.verdicts)} of {s.recorded_intervals} recorded intervals "
            f"{_clock(start)}–{_clock(end)} — "
            f"{counts['pass']} pass, {counts['hold']} hold, {counts['fail']} fail"
            + ("  [dim](not reached: an earlier step would have rolled back)[/dim]" if rolled_back else "")
        )
        if args.every:
            for at, v in s.verdicts:
                con.print(f"    {_clock(at)} {v.outcome:<4} {v.reason}", markup=False)
        for title, item in (
            ("would first hold", s.first("hold")),
            ("would first fail", s.first("fail")),
            ("would roll back", s.first_flag("rollback")),
            ("would pass early", s.first_flag("promote")),
        ):
            if item is not None:
                at, v = item
                con.print(f"  {title} at {_clock(at)}: ", end="")
                con.print(v.reason, markup=False, highlight=False)
        if s.first_flag("rollback") is None and s.first_flag("promote") is None:
            con.print("  would hold to the end of the recorded data without rolling back")
        if s.recorded:
            tally: dict[str, int] = {}
            for d in s.recorded:
                tally[d["verdict"]] = tally.get(d["verdict"], 0) + 1
            con.print(
                "  recorded: " + ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
                + f"; last: {s.recorded[-1]['reason']}",
                markup=False,
            )
        rolled_back = rolled_back or s.stopped == "rollback"
    return 0


def _clock(at: Any) -> str:
    return at.strftime("%H:%M:%S")
