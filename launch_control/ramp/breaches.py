"""The gate's evidence against the plan's SEV limits: which level a value breaches (``classify``,
``find_breaches``, shared with post-launch monitoring), whether an error-rate breach is more than
small-sample noise (``credibility``: an exact one-sided binomial test and its Clopper-Pearson bound,
on scipy.stats imported when first needed) and the one-sided p-value of the canary's excess errors
over stable's (``excess_p_value``). The gate that weighs them is ``launch_control.ramp.analysis``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

from launch_control.plan.metrics import REQUEST_METRICS, format_value, metric_words
from launch_control.ramp.observations import VersionWindow

# Windows (canary intervals with requests, ending now) the credibility test of an error-rate limit
# pools: 1 catches a sudden large fault at once, 8 a moderate one on thin traffic. Each window is
# tested at (1 - absolute_confidence) / (windows tested) — Bonferroni, so the chance that an
# interval of a canary exactly *at* the limit is called a credible breach stays <= 1 - confidence.
CREDIBILITY_WINDOWS = (1, 2, 4, 8)
LEVELS = {"sev1": "SEV-1", "sev2": "SEV-2", "sev3": "SEV-3"}
RANK = {"SEV-1": 1, "SEV-2": 2, "SEV-3": 3}


def usable(value: float | None) -> TypeGuard[float]:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def count_text(n: float) -> str:
    return f"{n:,.0f}"


def worst(levels: list[str]) -> str | None:
    return min(levels, key=lambda s: RANK[s]) if levels else None


def classify(metric: str, value: float | None, analysis: Any) -> str | None:
    """The SEV level ("SEV-1" … "SEV-3") that ``value`` breaches for ``metric`` in the plan, or None."""
    threshold = analysis.metrics.get(metric)
    if threshold is None or not usable(value):
        return None
    level = threshold.breached(float(value))
    return LEVELS.get(level) if level else None


def limit_of(metric: str, analysis: Any, severity: str) -> float | None:
    threshold = analysis.metrics.get(metric)
    return getattr(threshold, severity.replace("SEV-", "sev"), None) if threshold else None


@dataclass
class Credibility:
    """Is an observed error-rate breach more than small-sample noise? (exact one-sided binomial test)"""

    errors: int  # in the pooled window
    requests: int
    intervals: int  # the window: this interval and the ones before it
    limit: float  # the lowest limit of the metric: any credible excess over it is a breach
    p_value: float  # P(Binomial(requests, limit) >= errors)
    level: float  # the p-value a window must reach: (1 - confidence) / windows tested
    lower: float  # one-sided Clopper-Pearson lower bound on the rate at 1 - level
    credible: bool
    latest: tuple[int, int] = (0, 0)  # this interval's (requests, errors): what a doubtful breach shows

    def words(self) -> str:
        if not self.credible:
            return f"{count_text(self.latest[1])} of {count_text(self.latest[0])} requests"
        span = f" over the last {self.intervals} intervals" if self.intervals > 1 else ""
        return f"{count_text(self.errors)} of {count_text(self.requests)} requests{span}"

    def as_dict(self) -> dict[str, Any]:
        return {"errors": self.errors, "requests": self.requests, "intervals": self.intervals, "limit": self.limit,
                "p_value": self.p_value, "level": self.level, "lower": self.lower, "credible": self.credible}


@dataclass
class Breach:
    metric: str
    value: float
    severity: str
    limit: float
    direction: str
    evidence: Credibility | None = None  # error rate with absolute_confidence on; None: the value is enough

    @property
    def credible(self) -> bool:
        return self.evidence is None or self.evidence.credible

    def words(self, role: str, *, evidence: bool = True) -> str:
        sign = ">" if self.direction == "above" else "<"
        text = (
            f"{role} {metric_words(self.metric)} {format_value(self.metric, self.value)} {sign} "
            f"{format_value(self.metric, self.limit, precise=False)} ({self.severity})"
        )
        ev = self.evidence
        if ev is None or not evidence:
            return text
        if not ev.credible:
            return f"{text} — {ev.words()}, not yet significant"
        text += f", {ev.words()}, lower bound {format_value(self.metric, ev.lower)}"
        if ev.limit != self.limit:  # credibly over the lowest limit; the label is the observed rate's
            text += f" > {format_value(self.metric, ev.limit, precise=False)}"
        return text

    def as_dict(self, role: str) -> dict[str, Any]:
        data = {"version": role, "metric": self.metric, "value": self.value, "limit": self.limit,
                "severity": self.severity}
        if self.evidence is not None:
            data["credibility"] = self.evidence.as_dict()
        return data


# --- exact binomial tail for "clearly worse" (scipy.stats) -------------------------------------------


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k), exact (scipy.stats' survival function at k - 1)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    # Imported here, not at the top: scipy.stats costs ~0.8 s to import, which the emergency path
    # and `launch-control --status` must never pay; the gate pays it once, at its first judgement.
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, p))


def binomial_lower_bound(k: int, n: int, level: float) -> float:
    """One-sided Clopper-Pearson lower bound on p at confidence 1 - level: P(Binomial(n, p) >= k) = level,
    i.e. the ``level`` quantile of Beta(k, n - k + 1)."""
    if k <= 0 or n <= 0:
        return 0.0
    if k > n:  # more errors than requests (counters out of step): the bound is the observed share
        return k / n
    from scipy.stats import beta  # lazy, as in binomial_upper_tail

    return float(beta.ppf(level, k, n - k + 1))


def credibility(history: list[tuple[int, int]], limit: float, confidence: float) -> Credibility:
    """Test "rate <= limit" on the last 1, 2, 4, 8 (requests, errors) intervals; the most telling window wins."""
    windows = [w for w in CREDIBILITY_WINDOWS if w <= len(history)] or [len(history)]
    level = (1.0 - confidence) / len(windows)
    best: tuple[float, int, int, int] | None = None
    for w in windows:
        n = sum(r for r, _ in history[-w:])
        k = sum(e for _, e in history[-w:])
        p = binomial_upper_tail(k, n, limit) if n > 0 else 1.0
        if best is None or p < best[0]:
            best = (p, k, n, w)
    assert best is not None
    p, k, n, w = best
    return Credibility(k, n, w, limit, p, level, binomial_lower_bound(k, n, level), p <= level, history[-1])


def excess_p_value(canary: VersionWindow, stable: VersionWindow) -> float:
    """One-sided p-value that the canary's error share exceeds stable's, given the errors seen.

    Conditional on the total number of errors, under equal rates the canary's count is
    Binomial(total, canary's share of requests) (the Poisson approximation of Fisher's test).
    """
    total = canary.errors + stable.errors
    share = canary.requests / (canary.requests + stable.requests)
    return binomial_upper_tail(canary.errors, total, share)


def find_breaches(
    window: VersionWindow | None, analysis: Any, *, history: list[tuple[int, int]] | None = None
) -> list[Breach]:
    """The gate's breach logic — one function, used by the ramp's gate and by post-launch monitoring.

    Every SEV limit of the plan the window breaches. Request metrics (error rate, latencies) only
    on ``min_requests`` or more; CPU, memory and availability always. For the error rate, with
    ``history`` (this version's (requests, errors) per window, the latest last) and
    ``absolute_confidence`` on, the breach carries its credibility test: ``breach.credible`` is
    False for a breach that small-sample noise explains (it holds, and opens no incident).
    """
    if window is None:
        return []
    confidence = analysis.absolute_confidence
    thin = window.requests < max(1, analysis.min_requests)
    found = []
    for metric, threshold in analysis.metrics.items():
        if metric in REQUEST_METRICS and thin:
            continue
        value = window.metric(metric)
        if not usable(value):
            continue
        level = threshold.breached(float(value))
        if level:
            limit = float(getattr(threshold, level))
            breach = Breach(metric, float(value), LEVELS[level], limit, threshold.direction)
            if metric == "error_rate" and threshold.direction == "above" and confidence > 0 and history:
                lowest = min(v for v in (threshold.sev3, threshold.sev2, threshold.sev1) if v is not None)
                breach.evidence = credibility(list(history), float(lowest), confidence)
            found.append(breach)
    return found
