"""The gate's words: the sentences a verdict's reason is made of — a sequential test's fail, where
each test stands on its way to a proof, a healthy canary's headline numbers — and the numbers of
a window a verdict's details carry. Formatting only; the judging is ``launch_control.ramp.analysis``.
"""

from __future__ import annotations

from typing import Any

from launch_control.plan.metrics import GATE_METRICS, HEADLINE, format_value, metric_words
from launch_control.ramp.bets import requests_to_prove
from launch_control.ramp.breaches import count_text, usable
from launch_control.ramp.observations import VersionWindow
from launch_control.ramp.sequential import StreamResult


def coarse_words(r: StreamResult) -> str:
    """A warning when the latency histogram is too coarse for the plan's tolerance (else nothing)."""
    coarse = r.extra.get("coarse_tolerance")
    if not coarse:
        return ""
    return f" (the latency histogram's buckets are too coarse to see a slowdown under {coarse:.0%})"


def points(diff: float) -> str:
    return f"{diff * 100:+.2f} points"


def window_numbers(window: VersionWindow | None) -> dict[str, Any] | None:
    if window is None:
        return None
    data: dict[str, Any] = {"requests": window.requests, "errors": window.errors}
    for metric in GATE_METRICS:
        value = window.metric(metric)
        if usable(value):
            data[metric] = value
    return data


class GateWords:
    """The Gate's sentences (a mixin of ``Gate``, which sets ``analysis``: the plan's analysis section)."""

    analysis: Any

    def _sequential_words(self, name: str, r: StreamResult) -> str:
        seq = self.analysis.sequential
        if name == "error_rate":
            text = (
                f"sequential test: canary error rate worse than stable by more than "
                f"{seq.error_rate_tolerance * 100:g} points — "
                f"{format_value('error_rate', r.canary_rate or 0.0)} vs "
                f"{format_value('error_rate', r.stable_rate or 0.0)} over {count_text(r.canary_n)} canary requests"
            )
            if r.lower is not None:
                text += f" (always-valid {1 - seq.alpha:.0%} bound: at least {points(r.lower)})"
            return text
        bound, ref = r.extra.get("bound"), r.extra.get("reference")
        where = f" (stable's {r.extra['quantile']})" if r.extra.get("quantile") else ""
        floor = f" and {format_value('latency', seq.latency_min_delta, precise=False)}" if seq.latency_min_delta else ""
        return (
            f"sequential test: canary latency more than {seq.latency_tolerance:.0%}{floor} worse than stable — "
            f"{format_value('error_rate', r.canary_rate or 0.0)} of canary requests slower than "
            f"{format_value('latency', bound or 0.0)}{where} vs {format_value('error_rate', r.stable_rate or 0.0)} "
            f"of stable slower than {format_value('latency', ref or 0.0)}, "
            f"over {count_text(r.canary_n)} canary requests"
        )

    def _test_sentences(self, results: dict[str, StreamResult]) -> list[str]:
        """One sentence per sequential test saying where it stands (the numbers stay in the details)."""
        seq = self.analysis.sequential
        out = []
        for name, r in results.items():
            if name == "error_rate":
                what, margin = "errors", seq.error_margin
                goal = f"no worse than stable + {margin * 100:g} points"
                rates = (f"{format_value('error_rate', r.canary_rate or 0.0)} vs "
                         f"{format_value('error_rate', r.stable_rate or 0.0)} over "
                         f"{count_text(r.canary_n)} canary requests")
                p_stable, difference, assumed = r.stable_rate or 0.0, 0.0, "if it is as good as stable"
                if r.decision == "continue" and (r.difference or 0.0) >= margin:
                    out.append(f"errors: undecided — the canary is {points(r.difference or 0.0)} so far, beyond the "
                               f"+{margin * 100:g}-point margin, so no proof of safety is in sight ({rates})")
                    continue
            else:
                what, margin = "latency p95", 0.0
                goal = f"no more than {seq.latency_margin:.0%} slower"
                ref = r.extra.get("reference")
                rates = (f"{format_value('error_rate', r.canary_rate or 0.0)} of canary requests slower than "
                         f"{format_value('latency', r.extra.get('bound') or 0.0)} vs "
                         f"{format_value('error_rate', r.stable_rate or 0.0)} of stable slower than "
                         f"{format_value('latency', ref or 0.0)}")
                # the pair's shares differ even for an equal canary (b is above r): the observed gap is the
                # estimate; a canary already at or over stable's share is not heading for a proof
                p_stable, difference, assumed = r.stable_rate or 0.0, r.difference or 0.0, "at this pace"
            if r.decision == "pass":
                out.append(f"{what}: proven {goal} ({rates})" + coarse_words(r))
                continue
            share = r.canary_n / (r.canary_n + r.stable_n) if r.canary_n + r.stable_n > 0 else 0.0
            # errors: for a canary as good as stable (the observed difference is too noisy to use)
            needed = requests_to_prove(p_stable, margin, seq.alpha, difference=difference - 1e-9, canary_share=share)
            if needed is None or r.decision == "fail":
                out.append(f"{what}: undecided, no proof of {goal} in sight ({rates})" + coarse_words(r))
                continue
            progress = min(0.99, r.canary_n / max(needed, 1.0))
            out.append(
                f"{what}: undecided, {progress:.0%} of the evidence a proof of {goal} needs "
                f"(~{count_text(max(needed, r.canary_n))} canary requests {assumed}; {rates})"
                + coarse_words(r)
            )
        return out

    def _health_words(self, canary: VersionWindow | None, stable: VersionWindow | None) -> str:
        if canary is None:
            return "canary silent"
        parts = []
        for metric in HEADLINE:
            vc = canary.metric(metric)
            if not usable(vc):
                continue
            text = f"{metric_words(metric)} {format_value(metric, vc)}"
            vs = stable.metric(metric) if stable is not None else None
            if usable(vs):
                text += f" (stable {format_value(metric, vs)})"
            parts.append(text)
        body = ", ".join(parts) or "no request metrics"
        return f"canary healthy over {count_text(canary.requests)} requests: {body}"
