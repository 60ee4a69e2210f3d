"""The load generator: synthetic orgs sending a realistic mix of PromptForge calls at a set rate.

``run(url, rps=50, duration=30)`` (or ``await run_load(...)``) paces requests open-loop over one
keep-alive aiohttp session, each from one of ``orgs`` synthetic orgs (``X-Org-Id: org-0042``),
bounded by ``count`` and/or ``duration`` (or a stop event), and returns a ``LoadSummary``:
requests, statuses, and latency p50/p95/p99 per version (read from the gateway's
``X-Served-By``), plus which versions each org saw. Loopback targets only.

CLI: ``launch-control loadgen [URL] --rps 50 --duration 30`` or ``python -m launch_control.plane.demo.loadgen``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from launch_control.errors import UsageError

# (method, path template, share): the launch plan's endpoints, gpt-test the busiest.
DEFAULT_MIX: tuple[tuple[str, str, float], ...] = (
    ("POST", "/api/gpt-test", 0.40),
    ("POST", "/api/run/{run}", 0.30),
    ("GET", "/api/analytics", 0.25),
    ("GET", "/api/status", 0.05),
)
NO_RESPONSE = "error"  # status key for requests that got no HTTP answer (refused, reset, timeout)


def org_ids(count: int) -> list[str]:
    return [f"org-{i:04d}" for i in range(count)]


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash, or UsageError when it does not point at this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"load target must be an http URL like http://127.0.0.1:8080, got {url!r}")
    host = parts.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise UsageError(f"the load generator only targets loopback (127.0.0.1, ::1, localhost); {host} is not")
    return url.rstrip("/")


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class VersionStats:
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies: list[float] = field(default_factory=list, repr=False)

    def add(self, status: str, seconds: float) -> None:
        self.requests += 1
        self.statuses[status] += 1
        self.latencies.append(seconds)

    @property
    def errors(self) -> int:
        """5xx answers plus requests with no answer."""
        return sum(n for s, n in self.statuses.items() if s == NO_RESPONSE or s.startswith("5"))

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def ms(q: float) -> float | None:
            value = percentile(ordered, q)
            return None if value is None else round(value * 1000, 3)

        return {
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "errors": self.errors,
            "error_rate": round(self.errors / self.requests, 6) if self.requests else None,
            "p50_ms": ms(50),
            "p95_ms": ms(95),
            "p99_ms": ms(99),
            "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3) if ordered else None,
        }


@dataclass
class LoadSummary:
    target: str
    rps: float
    requests: int = 0
    skipped: int = 0  # not sent because too many were already in flight (the target is too slow)
    duration: float = 0.0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    versions: dict[str, VersionStats] = field(default_factory=lambda: defaultdict(VersionStats))
    org_versions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set), repr=False)

    @property
    def achieved_rps(self) -> float:
        return self.requests / self.duration if self.duration > 0 else 0.0

    @property
    def orgs_on_both(self) -> list[str]:
        """Orgs that were answered by more than one version (should be none at a fixed weight)."""
        return sorted(org for org, seen in self.org_versions.items() if len(seen) > 1)

    def share(self, version: str) -> float:
        answered = sum(v.requests for name, v in self.versions.items() if name != NO_RESPONSE)
        return self.versions[version].requests / answered if answered and version in self.versions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rps": self.rps,
            "requests": self.requests,
            "skipped": self.skipped,
            "duration": round(self.duration, 3),
            "achieved_rps": round(self.achieved_rps, 2),
            "statuses": dict(sorted(self.statuses.items())),
            "versions": {name: stats.to_dict() for name, stats in sorted(self.versions.items())},
            "orgs": len(self.org_versions),
            "orgs_on_both": len(self.orgs_on_both),
        }


class _Mix:
    def __init__(self, mix: Sequence[tuple[str, str, float]]):
        if not mix or any(share < 0 for *_, share in mix) or sum(share for *_, share in mix) <= 0:
            raise UsageError("the request mix needs at least one endpoint with a positive share")
        self.entries = list(mix)
        self.weights = [share for *_, share in mix]

    def pick(self, rng: random.Random) -> tuple[str, str]:
        method, template, _ = rng.choices(self.entries, weights=self.weights)[0]
        return method, template


async def run_load(
    url: str,
    *,
    rps: float,
    orgs: int = 2000,
    count: int | None = None,
    duration: float | None = None,
    mix: Sequence[tuple[str, str, float]] = DEFAULT_MIX,
    org_order: str = "random",
    anonymous: float = 0.0,
    connections: int = 64,
    timeout: float = 10.0,
    max_in_flight: int = 2000,
    seed: int | None = None,
    headers: dict[str, str] | None = None,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[LoadSummary], None] | None = None,
    progress_every: float = 0.5,
) -> LoadSummary:
    """Send paced load to ``url`` and return what was seen. Stops at ``count``, ``duration`` or ``stop``."""
    import aiohttp

    base = check_loopback(url)
    if not rps > 0:
        raise UsageError(f"rps must be positive, got {rps}")
    if orgs < 0:
        raise UsageError(f"orgs must be 0 or more, got {orgs}")
    if count is None and duration is None and stop is None:
        raise UsageError("bound the load: give count and/or duration")
    if org_order not in ("random", "cycle"):
        raise UsageError(f"org_order must be 'random' or 'cycle', got {org_order!r}")
    rng = random.Random(seed)
    chooser = _Mix(mix)
    names = org_ids(orgs)
    summary = LoadSummary(target=base, rps=rps)
    stop = stop or asyncio.Event()
    in_flight: set[asyncio.Task[None]] = set()
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async def one(session: aiohttp.ClientSession, method: str, path: str, org: str | None, body: Any) -> None:
        sent_headers = dict(headers or {})
        if org is not None:
            sent_headers["X-Org-Id"] = org
        started = time.perf_counter()
        try:
            async with session.request(method, base + path, json=body, headers=sent_headers) as response:
                await response.read()
                status = str(response.status)
                version = response.headers.get("X-Served-By") or response.headers.get("X-Version") or "direct"
        except (aiohttp.ClientError, TimeoutError, OSError):
            status, version = NO_RESPONSE, NO_RESPONSE
        elapsed = time.perf_counter() - started
        summary.requests += 1
        summary.statuses[status] += 1
        summary.versions[version].add(status, elapsed)
        if org is not None and version != NO_RESPONSE:
            summary.org_versions[org].add(version)

    # Idle connections dropped before a uvicorn target (5 s keep-alive) would close them under us.
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=4)
    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        loop = asyncio.get_running_loop()
        started = loop.time()
        next_progress = started + progress_every
        i = 0
        while not stop.is_set():
            if count is not None and i >= count:
                break
            due = started + i / rps
            if duration is not None and due - started >= duration:
                break
            wait = due - loop.time()
            if wait > 0.05:  # long gaps (low rates) wait on the stop event so Ctrl-C is prompt
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    break
            elif wait > 0:
                await asyncio.sleep(wait)
            if on_progress is not None and loop.time() >= next_progress:
                summary.duration = loop.time() - started
                on_progress(summary)
                next_progress += progress_every
            if len(in_flight) >= max_in_flight:
                summary.skipped += 1
            else:
                org = None
                if names and not (anonymous and rng.random() < anonymous):
                    org = names[i % len(names)] if org_order == "cycle" else rng.choice(names)
                method, template = chooser.pick(rng)
                path = template.format(run=f"run-{i}")
                body = {"prompt": f"Write a launch tagline for {org or 'anonymous'}"} if method == "POST" else None
                task = asyncio.create_task(one(session, method, path, org, body))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            i += 1
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        summary.duration = loop.time() - started
    if on_progress is not None:
        on_progress(summary)
    return summary


def run(url: str, **options: Any) -> LoadSummary:
    """Blocking ``run_load`` (its own event loop)."""
    return asyncio.run(run_load(url, **options))


# --- command line ---------------------------------------------------------------------------------


def run_from_args(args: argparse.Namespace, console: Any) -> int:
    from launch_control.config import PORTS

    url = args.url or f"http://127.0.0.1:{PORTS['gateway']}"
    check_loopback(url)
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count must be at least 1, got {args.count}")
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be positive seconds, got {args.duration}")
    if not 0.0 <= args.anonymous <= 1.0:
        raise UsageError(f"--anonymous is a fraction between 0 and 1, got {args.anonymous}")

    async def main() -> LoadSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        options = dict(
            rps=args.rps,
            orgs=args.orgs,
            count=args.count,
            duration=args.duration,
            anonymous=args.anonymous,
            connections=args.connections,
            seed=args.seed,
            stop=stop,
        )
        if args.quiet or args.json:
            return await run_load(url, **options)
        return await _with_progress(url, console, options)

    summary = asyncio.run(main())
    data = summary.to_dict()
    if args.summary_file:
        with open(args.summary_file, "w") as handle:
            json.dump(data, handle, indent=2)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print_summary(summary, console)
    return 0


async def _with_progress(url: str, console: Any, options: dict[str, Any]) -> LoadSummary:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    total = options["count"] or (options["duration"] and options["duration"] * options["rps"]) or None
    with Progress(
        TextColumn("[bold]load[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}" if total else "{task.completed:.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(url, total=total)

        def update(summary: LoadSummary) -> None:
            errors = sum(v.errors for v in summary.versions.values())
            shares = " ".join(f"{name} {summary.share(name):.1%}" for name in sorted(summary.versions))
            progress.update(
                task,
                completed=summary.requests,
                description=f"{url} {summary.achieved_rps:.0f} req/s, {errors} errors, {shares}",
            )

        return await run_load(url, on_progress=update, **options)


def print_summary(summary: LoadSummary, console: Any) -> None:
    from rich.table import Table

    data = summary.to_dict()
    console.print(
        f"[bold]{data['requests']}[/bold] requests to {data['target']} in {data['duration']:.1f} s "
        f"({data['achieved_rps']:.1f} req/s of {data['rps']:g} asked; {data['skipped']} skipped), "
        f"{data['orgs']} orgs, {data['orgs_on_both']} seen on both versions"
    )
    table = Table("version", "requests", "share", "statuses", "errors", "p50 ms", "p95 ms", "p99 ms")
    for name, stats in data["versions"].items():
        statuses = " ".join(f"{code}:{n}" for code, n in stats["statuses"].items())
        table.add_row(
            name,
            str(stats["requests"]),
            f"{summary.share(name):.1%}",
            statuses,
            str(stats["errors"]),
            *(f"{stats[k]:.1f}" if stats[k] is not None else "-" for k in ("p50_ms", "p95_ms", "p99_ms")),
        )
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    from launch_control.plane.demo.loadgen_args import add_arguments

    parser = argparse.ArgumentParser(
        prog="python -m launch_control.plane.demo.loadgen", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args, Console(highlight=False))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
