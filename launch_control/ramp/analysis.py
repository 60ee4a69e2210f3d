"""The gate: one analysis interval of canary and stable numbers → pass / hold / fail, in plain words.

``Gate(plan.analysis).judge(observation)`` is called once per interval by the engine (and by the
backtest and the simulation study); ``reset()`` when a new step begins. Pure logic: no I/O.

Per interval, in order:

1. **hold** when there is nothing to judge — the metric source is down, no requests at all, or
   fewer canary requests than ``min_requests``. Holds never count toward failure (and do not break
   a streak of failing intervals either: a blip in the metrics is not evidence of health).
2. **fail** when the canary breaches an absolute SEV limit of the plan (severity = the worst
   level; SEV-1 rolls back at once) — for the error rate only when the breach is credible: an
   exact one-sided binomial test on the canary's requests of the last 1, 2, 4 or 8 intervals
   puts its rate over the limit at ``absolute_confidence`` (an observed breach that is not yet
   credible, e.g. 2 errors in 31 requests, *holds* and says so); when it is *clearly* worse than stable per
   ``compare_to_stable`` (both the ratio and the delta exceeded, and — for error rates — an exact
   one-sided test says the excess is not noise at ``compare_to_stable.significance``); or when the
   sequential test (``launch_control.ramp.sequential``) finds a regression beyond the tolerance.
   ``failure_limit`` consecutive failing intervals → ``rollback``. The sequential test's fail
   rolls back at once: it already weighs every interval of the step at false-alarm rate alpha.
3. **both versions bad**: when stable breaches the same limit as the canary, the cause is shared
   (a dependency, the database, the model provider) and rolling back would not help: the gate
   holds, says so, and carries the severity for the incident process — unless the canary is
   clearly worse than stable, which still fails.
4. **pass** otherwise, saying what the evidence is so far; ``promote`` when the sequential test
   proves the canary no worse (every test that applies) and the plan allows early promotion.

No division by zero, no NaN: a silent version, zero traffic and zero errors are all explicit
cases with their own reasons.

The breach logic and its binomial tests live in ``launch_control.ramp.breaches`` and the
sentences a reason is made of in ``launch_control.ramp.gate_words``; their public names stay
importable from here.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from launch_control.plan.metrics import (
    CATALOGUE,
    LATENCY_METRICS,
    format_value,
    metric_words,
)

# Re-exported: the breach logic and the binomial tests are importable from launch_control.ramp.analysis.
from launch_control.ramp.breaches import (
    CREDIBILITY_WINDOWS,
    RANK,
    Breach,
    Credibility,
    binomial_lower_bound,
    binomial_upper_tail,
    classify,
    count_text,
    credibility,
    excess_p_value,
    find_breaches,
    usable,
    worst,
)
from launch_control.ramp.gate_words import GateWords, points, window_numbers
from launch_control.ramp.latency_test import LatencyTest
from launch_control.ramp.observations import Observation, VersionWindow
from launch_control.ramp.pooling import SILENCE_NATS, Pool
from launch_control.ramp.sequential import StreamResult, TwoStreamTest

__all__ = [
    "CREDIBILITY_WINDOWS", "SILENCE_NATS", "Breach", "Credibility", "Gate", "Verdict", "binomial_lower_bound",
    "binomial_upper_tail", "classify", "credibility", "excess_p_value", "find_breaches", "format_value",
]  # fmt: skip


@dataclass
class Verdict:
    outcome: Literal["pass", "hold", "fail"]  # this interval's judgement
    reason: str  # plain language, e.g. "canary error rate 12.4% > 10% (SEV-2), 2 of 2 intervals"
    severity: str | None = None  # "SEV-1" | "SEV-2" | "SEV-3" for fail (and breaches), else None
    rollback: bool = False  # failure_limit consecutive failing intervals reached (or SEV-1) → roll back now
    promote: bool = False  # sequential test proved canary no worse AND plan allows early promotion
    details: dict = field(default_factory=dict)  # numbers behind the reason (JSON-able)


# --- formatting --------------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --- the gate ----------------------------------------------------------------------------------------


class Gate(GateWords):
    """Judges every analysis interval of one step; stateful across the step's intervals."""

    def __init__(self, analysis: Any):
        self.analysis = analysis
        seq = analysis.sequential
        self._errors: TwoStreamTest | None = None
        self._latency: LatencyTest | None = None
        # The canary's (requests, errors) per judged window, for the credibility test.
        self._history: deque[tuple[int, int]] = deque(maxlen=max(CREDIBILITY_WINDOWS))
        self._pool = Pool()
        if seq.enabled:
            self._errors = TwoStreamTest(seq.alpha, seq.error_rate_tolerance, seq.error_margin)
            self._latency = LatencyTest(
                seq.alpha,
                seq.latency_tolerance,
                margin=seq.latency_margin,
                min_delta=seq.latency_min_delta,
                min_reference=max(100, analysis.min_requests),
            )
        self.reset()

    def reset(self) -> None:
        """A new step begins: the streaks, the pooled window and the sequential evidence start afresh."""
        self.failures = 0  # consecutive failing windows (holds neither add nor break the streak)
        self.holds = 0  # consecutive holds (gathering a pooled window is progress, not a hold that counts)
        self.intervals = 0
        self._history.clear()
        self._pool = Pool()
        if self._errors:
            self._errors.reset()
        if self._latency:
            self._latency.reset()

    # --- the evidence, for a resumed engine --------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the step has accumulated, JSON-safe: ``restore`` continues with the same evidence."""
        return {
            "version": 1,
            "failures": self.failures,
            "holds": self.holds,
            "intervals": self.intervals,
            "history": [list(h) for h in self._history],
            "pool": self._pool.snapshot(),
            "errors": self._errors.snapshot() if self._errors else None,
            "latency": self._latency.snapshot() if self._latency else None,
        }

    def restore(self, data: dict[str, Any] | None) -> None:
        """Continue a step from ``snapshot()`` (a plan without the sequential test ignores its part)."""
        self.reset()
        if not data:
            return
        self.failures = int(data.get("failures", 0))
        self.holds = int(data.get("holds", 0))
        self.intervals = int(data.get("intervals", 0))
        self._history.extend((int(n), int(x)) for n, x in data.get("history") or [])
        self._pool = Pool.restore(data.get("pool") or {})
        if self._errors and data.get("errors"):
            self._errors.restore(data["errors"])
        if self._latency and data.get("latency"):
            self._latency.restore(data["latency"])

    # --- the judgement -------------------------------------------------------------------------------

    def judge(self, obs: Observation) -> Verdict:
        a = self.analysis
        self.intervals += 1
        window = f"{obs.interval:.3g} s" if obs.interval else "the interval"
        if obs.error:
            return self._hold(f"metric source down: {obs.error}", {"source_error": obs.error})
        canary, stable = obs.canary, obs.stable
        nc = canary.requests if canary else 0
        ns = stable.requests if stable else 0
        details: dict[str, Any] = {"canary": window_numbers(canary), "stable": window_numbers(stable),
                                   "interval": self.intervals}  # fmt: skip

        # The sequential test counts every request of every interval, thin or not.
        sequential = self._update_sequential(canary, stable)
        if sequential:
            details["sequential"] = {name: r.as_dict() for name, r in sequential.items()}

        # Thin intervals pool until the canary has min_requests; full ones are judged as they are.
        minimum = max(1, a.min_requests)
        pool = self._pool
        pool.count(nc, ns)
        # Silence is thin traffic, not "no data", while the step is under way (or the weight served says
        # how few canary requests to expect) and a run this long is not too rare for the canary's rate.
        started = pool.pending > 0 or pool.last_outcome is not None or obs.weight is not None
        alive = started and pool.silence_is_unremarkable(obs.weight)
        pooled_intervals = 1
        if nc >= minimum and pool.intervals == 0:
            complete = True
        else:
            if canary is not None or stable is not None:
                pool.add(canary, stable)
            complete = pool.pending >= minimum
            if complete:
                canary, stable, pooled_intervals = pool.take()
                nc = canary.requests if canary else 0
                ns = stable.requests if stable else 0
                details["pooled"] = {"intervals": pooled_intervals, "canary": window_numbers(canary),
                                     "stable": window_numbers(stable)}
        if complete and canary is not None and nc > 0:
            self._history.append((int(nc), int(min(max(canary.errors, 0), nc))))
        verdict = self._judge_window(
            canary, stable, nc, ns, complete, pooled_intervals, sequential, details, window, alive
        )
        if complete:
            pool.judged(verdict.outcome, verdict.reason, nc, pooled_intervals)
        return verdict

    def _judge_window(
        self,
        canary: VersionWindow | None,
        stable: VersionWindow | None,
        nc: int,
        ns: int,
        complete: bool,
        pooled: int,
        sequential: dict[str, StreamResult],
        details: dict[str, Any],
        window: str,
        alive: bool,
    ) -> Verdict:
        a = self.analysis
        pool = self._pool
        canary_breaches = self._breaches(canary, judge_credibility=complete)
        stable_breaches = {b.metric: b for b in self._breaches(stable)}
        seq_fails = {name: r for name, r in sequential.items() if r.decision == "fail"}
        if nc == 0 and not canary_breaches and not seq_fails:
            if ns == 0:
                return self._hold(f"no data: 0 requests in the last {window}", details)
            if not alive:
                return self._hold(f"no data: 0 canary requests in the last {window} ({count_text(ns)} stable)", details)

        # Shared trouble is judged on what both versions show; the canary's own breaches fail only when
        # credible, and an own breach that is not yet credible holds (below) rather than passing.
        own = [b for b in canary_breaches if b.metric not in stable_breaches and b.credible]
        doubtful = [b for b in canary_breaches if b.metric not in stable_breaches and not b.credible]
        shared = [b for b in canary_breaches if b.metric in stable_breaches]
        clearly_worse = self._compare(canary, stable) if complete else []
        details["breaches"] = [b.as_dict("canary") for b in canary_breaches] + [
            b.as_dict("stable") for b in stable_breaches.values()
        ]

        # --- fail --------------------------------------------------------------------------------
        if own or clearly_worse or seq_fails:
            parts = [b.words("canary") for b in sorted(own, key=lambda b: RANK[b.severity])]
            parts += [text for _, text in clearly_worse]
            parts += [self._sequential_words(name, r) for name, r in seq_fails.items()]
            severity = worst([b.severity for b in own])
            if severity is None:
                # Under the absolute limits: classify what the canary shows, at least SEV-3.
                found = [classify(b.metric, b.value, a) for b in shared + doubtful]
                severity = worst([s for s in found if s]) or "SEV-3"
            self.failures += 1
            self.holds = 0
            shown = min(self.failures, a.failure_limit)
            reason = "; ".join(parts)
            if pooled > 1:
                reason += f" (pooled over {pooled} thin intervals)"
            reason += f", {shown} of {a.failure_limit} intervals"
            rollback = self.failures >= a.failure_limit
            if severity == "SEV-1" and not rollback:
                reason += "; SEV-1 rolls back at once"
                rollback = True
            elif seq_fails and not rollback:
                reason += "; the sequential test weighs the whole step, so it rolls back at once"
                rollback = True
            if shared:
                stable_words = ", ".join(stable_breaches[b.metric].words("stable") for b in shared)
                reason += f"; stable breaches too: {stable_words}"
            metric = (own[0].metric if own else clearly_worse[0][0] if clearly_worse else next(iter(seq_fails)))
            details.update(
                consecutive_failures=self.failures,
                failure_limit=a.failure_limit,
                metric=metric,
                failed_by=(["threshold"] if own else []) + (["compare_to_stable"] if clearly_worse else [])
                + (["sequential"] if seq_fails else []),
            )
            return Verdict("fail", reason, severity=severity, rollback=rollback, details=details)

        # --- proven no worse (may pass a thin interval: the evidence is cumulative) -------------
        proven = bool(sequential) and all(r.decision == "pass" for r in sequential.values())
        enough_for_promotion = self._errors is not None and self._errors.canary_n >= a.sequential.min_samples
        promote = proven and enough_for_promotion and a.sequential.early_promotion

        # --- hold: both bad, or a breach not yet credible ---------------------------------------------
        if shared:
            words = "; ".join(
                f"{b.words('canary', evidence=False)} but {stable_breaches[b.metric].words('stable')}" for b in shared
            )
            details["shared"] = True
            return self._hold(
                f"both versions breach: {words} — a shared dependency, not the canary; holding",
                details,
                severity=worst([b.severity for b in shared]),
            )
        if doubtful:
            details["not_yet_significant"] = [b.metric for b in doubtful]
            return self._hold("; ".join(b.words("canary") for b in doubtful) + ": holding", details)

        # --- a thin interval between pooled windows --------------------------------------------------
        thin_words = ""
        if not complete and not promote:
            details["pending"] = {"canary_requests": pool.pending, "intervals": pool.intervals,
                                  "needed": a.min_requests}
            if pool.last_outcome != "pass":
                return self._gathering(nc, sequential, details)
            thin_words = (
                f"thin interval ({count_text(nc)} canary requests), judged on the step's pooled evidence: the last "
                f"pooled window ({count_text(pool.last_requests)} canary requests over "
                f"{_plural(pool.last_intervals, 'interval')}) was healthy; "
                f"{count_text(pool.pending)} of {a.min_requests} towards the next"
            )
            details["judged_on_pool"] = True

        # --- pass --------------------------------------------------------------------------------
        self.failures = 0
        self.holds = 0
        parts = [thin_words] if thin_words else []
        if complete and nc >= a.min_requests:
            pooled_words = f" (pooled over {pooled} intervals)" if pooled > 1 else ""
            parts.append(self._health_words(canary, stable) + pooled_words)
        if sequential:
            parts += self._test_sentences(sequential)
            if proven:
                if not enough_for_promotion:
                    parts.append(f"early promotion waits for {a.sequential.min_samples} canary requests")
                elif not a.sequential.early_promotion:
                    parts.append("early promotion is off in the plan")
                else:
                    parts.append("promoting early")
        if stable is None or ns == 0:
            parts.append("stable silent: absolute limits only")
        details["proven_no_worse"] = proven
        return Verdict("pass", "; ".join(parts), promote=promote, details=details)

    def _gathering(self, nc: int, sequential: dict[str, StreamResult], details: dict[str, Any]) -> Verdict:
        """A thin interval before the step's first pooled window (or after one that did not pass)."""
        a, pool = self.analysis, self._pool
        reason = (
            f"gathering evidence: {count_text(pool.pending)} of {a.min_requests} canary requests pooled over "
            f"{_plural(pool.intervals, 'interval')} (this one: {count_text(nc)})"
        )
        if pool.pending > 0 and pool.intervals > 0:
            rate = pool.pending / pool.intervals
            reason += f", about {math.ceil((a.min_requests - pool.pending) / rate)} more intervals at this rate"
        if pool.last_outcome in ("fail", "hold"):
            reason += f"; the last pooled window: {pool.last_reason} — the next one decides"
        if sequential:
            reason += "; " + "; ".join(self._test_sentences(sequential))
        details = {**details, "gathering": True, "holds": self.holds, "inconclusive": False}
        return Verdict("hold", reason, details=details)

    # --- pieces --------------------------------------------------------------------------------------

    def _hold(self, reason: str, details: dict[str, Any], severity: str | None = None) -> Verdict:
        self.holds += 1
        limit = self.analysis.inconclusive_limit
        details = {**details, "holds": self.holds, "inconclusive": self.holds >= limit}
        if self.holds >= limit:
            reason += f"; {self.holds} holds in a row (inconclusive limit {limit})"
        return Verdict("hold", reason, severity=severity, details=details)

    def _breaches(self, window: VersionWindow | None, *, judge_credibility: bool = False) -> list[Breach]:
        history = list(self._history) if judge_credibility else None
        return find_breaches(window, self.analysis, history=history)

    def _compare(self, canary: VersionWindow | None, stable: VersionWindow | None) -> list[tuple[str, str]]:
        """(metric, reason) for each way the canary is clearly worse than stable this interval."""
        cmp = self.analysis.compare_to_stable
        minimum = max(1, self.analysis.min_requests)
        if not cmp.enabled or canary is None or stable is None:
            return []
        if canary.requests < minimum or stable.requests < minimum:
            return []
        found = []
        rc, rs = canary.error_rate, stable.error_rate
        if usable(rc) and usable(rs) and rc > cmp.max_error_rate_ratio * rs and rc - rs > cmp.min_error_rate_delta:
            p = excess_p_value(canary, stable)
            if p < cmp.significance:
                found.append(
                    (
                        "error_rate",
                        f"canary error rate {format_value('error_rate', rc)} vs stable "
                        f"{format_value('error_rate', rs)} (over {cmp.max_error_rate_ratio:g}× and "
                        f"{points(rc - rs)}, p = {p:.2g})",
                    )
                )
        for metric in LATENCY_METRICS:
            if metric not in self.analysis.metrics:
                continue
            need = max(minimum, CATALOGUE[metric].quantile_min_requests or minimum)
            if canary.requests < need or stable.requests < need:
                continue
            vc, vs = canary.metric(metric), stable.metric(metric)
            if not (usable(vc) and usable(vs)):
                continue
            if vc > cmp.max_latency_ratio * vs and vc - vs > cmp.min_latency_delta:
                found.append(
                    (
                        metric,
                        f"canary {metric_words(metric)} {format_value(metric, vc)} vs stable "
                        f"{format_value(metric, vs)} (over {cmp.max_latency_ratio:g}× and "
                        f"+{format_value(metric, vc - vs)})",
                    )
                )
        return found

    def _update_sequential(
        self, canary: VersionWindow | None, stable: VersionWindow | None
    ) -> dict[str, StreamResult]:
        if self._errors is None or self._latency is None:
            return {}
        if canary is not None and stable is not None:
            self._errors.update(canary.requests, canary.errors, stable.requests, stable.errors)
            self._latency.update(canary.requests, canary.latency_buckets, stable.requests, stable.latency_buckets)
        results: dict[str, StreamResult] = {}
        if self._errors.canary_n > 0:
            results["error_rate"] = self._errors.result()
        if self._latency.active:
            results["latency"] = self._latency.result()
        return results
