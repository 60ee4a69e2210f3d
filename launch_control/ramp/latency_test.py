"""The latency sequential test: five pairs of histogram bounds, each a two-stream test of "no more
than ``tolerance`` slower", read off stable's and the canary's cumulative histograms exactly, and on
the fail side the ladder (``launch_control.ramp.ladder``), one score over every bound between them.

Pure Python (``math`` only); see ``launch_control.ramp.sequential`` for the two-stream test itself.
"""

from __future__ import annotations

import math

from launch_control.ramp.bets import _logmeanexp
from launch_control.ramp.ladder import LadderTest
from launch_control.ramp.sequential import StreamResult, TwoStreamTest


def cumulative_at(buckets: list[tuple[float, float]] | list[list[float]], x: float) -> float | None:
    """How many requests took <= x seconds, from a cumulative histogram [(upper bound, count ≤ bound)].

    Between two bounds the count is interpolated linearly in log(latency) (below the first bound,
    linearly from 0). In a histogram's right tail, where the density falls, this *under*-counts,
    i.e. it over-states the share slower than x: the conservative side for a reference rate.
    """
    if not buckets:
        return None
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        bound, count = float(bound), float(count)
        if x == bound:
            return count
        if x < bound:
            if math.isinf(bound):
                return prev_count  # beyond the last finite bound: say no more than we know
            # Linear from 0 in the first bucket, linear in log(latency) in the others.
            share = x / bound if prev_bound <= 0 else math.log(x / prev_bound) / math.log(bound / prev_bound)
            return prev_count + share * (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_count


def reference_bound(buckets: list[tuple[float, float]] | list[list[float]], quantile: float = 0.95) -> float | None:
    """The finite histogram bound nearest the given quantile, judged by the share slower than it.

    With coarse buckets (0.25, 0.5, 1, 2.5 s …) the bound just above p95 may see under 1 % of
    requests — few events, little power — so the bound whose slower share is closest to
    ``1 - quantile`` on a log scale is taken, whichever side of the quantile it lies.
    """
    if not buckets:
        return None
    total = float(buckets[-1][1])
    if total <= 0:
        return None
    target = 1.0 - quantile
    best: tuple[float, float] | None = None
    for bound, count in buckets:
        if math.isinf(float(bound)):
            break
        slower = (total - float(count)) / total
        if slower <= 0 or slower >= 1:
            continue
        distance = abs(math.log(slower / target))
        if best is None or distance < best[0]:
            best = (distance, float(bound))
    return best[1] if best else None


# Where the latency test looks: histogram bounds near these quantiles of stable's latency.
QUANTILES: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95, 0.99)
PRIMARY_QUANTILE = 0.95  # early promotion needs "no worse" proven here
# The fail evidence's weight on the ladder (one score over every bound, ``ladder``); the rest is the
# five pairs' average, which still hears a slowdown of the tail alone. A uniform slowdown, what a
# slower build mostly is, pays log(1/0.8) = 0.2 nats on the ladder where the average paid log 5.
LADDER_WEIGHT = 0.8


class LatencyTest:
    """Is the canary slower than stable by more than ``tolerance`` (relative) anywhere from p50 to p99?

    At the first interval where stable has ``min_reference`` requests, five **pairs of histogram
    bounds** are fixed for the step, one near each of stable's p50, p75, p90, p95 and p99: a
    canary bound ``b`` and a stable reference ``r <= b / (1 + tolerance)``, both bounds of the
    histogram. Canary's bad requests are those slower than ``b``, stable's those slower than
    ``r``. If every canary quantile were at most ``(1 + tolerance)`` times stable's, then
    P(canary > b) <= P(stable > b / (1 + tolerance)) <= P(stable > r) — so each pair is a
    two-stream test with zero tolerance of "no more than ``tolerance`` slower", with no assumption
    about the shape of the distribution and **no interpolation**: both shares are exact counts.
    (Interpolating stable's share at ``b / (1 + tolerance)`` inside a bucket, as an earlier version
    did, is guesswork in a wide bucket: with 2.5×-wide buckets a canary exactly 20 % slower was
    "more than 20 % slower" in every run.) The price is that the test checks ``b / r - 1``, the
    *effective* tolerance, at least the plan's: among the bounds next to stable's quantile the
    pair with the smallest ratio is taken — with the gateway's E24 bounds (~10 % apart) 10-13 %
    for a 10 % tolerance, 20-25 % for 20 %; with coarse buckets (Prometheus' defaults) far more,
    and the reason says so.

    * **fail**: ``LADDER_WEIGHT`` × the ladder's e-value + the rest × the *average* of the pairs'
      e-values reaches 1/alpha. A mixture of e-processes is one (valid under H0 at every pair and
      on the ladder), so looking at five places costs log 5 nats, not a five-fold alpha. A uniform
      slowdown shows on every bound, and the ladder adds them up (one score test over all bounds
      from p50 to p99); a slowdown of the tail only shows at p95/p99 — the pairs' average finds
      whichever speaks.
    * **pass**: "no more than ``margin`` slower" proven at the p95 bound (the latency a launch's
      SLO names); ``margin`` defaults to the tolerance. With a wider margin the p95 bound gets a
      second stream whose stable reference is the bound at or below ``b / (1 + margin)``.

    ``min_delta`` (seconds) is an absolute floor: a slowdown counts only when it is both more
    than ``tolerance`` relative and more than ``min_delta`` — H0 becomes "every canary quantile
    <= max((1 + tolerance) q, q + min_delta)", so the reference is at or below
    ``min(b / (1 + tolerance), b - min_delta)``. On a 2 ms service, two processes differ by 20 %
    from scheduling alone; that is not a regression anyone should roll back for. Where the floor
    decides, the canary's bound moves up to stable's quantile + ``min_delta`` (``_anchor``), so a
    large slowdown of a fast service is still caught.
    """

    def __init__(
        self,
        alpha: float,
        tolerance: float,
        *,
        margin: float | None = None,
        min_delta: float = 0.0,
        quantiles: tuple[float, ...] = QUANTILES,
        min_reference: int = 100,
    ):
        self.alpha = alpha
        self.tolerance = tolerance
        self.margin = tolerance if margin is None else margin
        self.min_delta = min_delta
        self.quantiles = quantiles
        self.min_reference = min_reference
        self.log_threshold = math.log(1.0 / alpha)
        self.reset()

    def reset(self) -> None:
        self.tests: dict[float, TwoStreamTest] = {}  # canary bound b -> its two-stream test
        self.refs: dict[float, float] = {}  # b -> stable's reference bound r
        self.labels: dict[float, str] = {}  # b -> "p75" (the stable quantile it stands for)
        self.primary: float | None = None  # the p95 pair's b
        self.promotion: TwoStreamTest | None = None  # p95 against the margin's reference, when margin != tolerance
        self.promotion_ref: float | None = None
        self.ladder = LadderTest(self.alpha)
        self.failed = False

    @property
    def bound(self) -> float | None:
        """The p95 pair's canary bound (the one early promotion is judged on)."""
        return self.primary

    def reference(self, bound: float, relative: float) -> float:
        """The latency stable's slow share at ``bound`` is held to, before rounding down to a bound."""
        return max(0.0, min(bound / (1.0 + relative), bound - self.min_delta))

    def bounds_by_label(self) -> dict[str, float]:
        """{"p50": 0.33, …}: the canary bounds fixed for this step, by the stable quantile each stands for."""
        return {self.labels[b]: b for b in sorted(self.tests)}

    @staticmethod
    def _at_or_below(x: float, bounds: list[float]) -> float | None:
        below = [b for b in bounds if b <= x * (1 + 1e-9)]
        return below[-1] if below else None

    def _anchor(self, stable_q: float, bounds: list[float]) -> float | None:
        """Where the canary's bound for stable's quantile ``stable_q`` starts: itself, unless the floor decides.

        Where ``stable_q - min_delta`` is below ``stable_q / (1 + tolerance)`` (a fast service), a
        bound at ``stable_q`` would be held to a reference near 0 and could never fail: the test
        moves to the first bound at or above ``stable_q + min_delta`` — "slower than stable's
        quantile by more than the floor" — whose reference is then about ``stable_q`` again.
        """
        if self.min_delta <= 0 or stable_q - self.min_delta >= stable_q / (1.0 + self.tolerance):
            return stable_q
        return next((b for b in bounds if b >= stable_q + self.min_delta), None)

    def _pair(self, anchor: float, bounds: list[float]) -> tuple[float, float] | None:
        """(b, r) near ``anchor`` with the smallest ratio b / r: the tightest exact test available."""
        i = bounds.index(anchor)
        best: tuple[tuple[float, float], float, float] | None = None
        for j in range(max(0, i - 1), min(len(bounds), i + 3)):  # the anchor and its neighbours
            b = bounds[j]
            r = self._at_or_below(self.reference(b, self.tolerance), bounds)
            if r is not None and r > 0 and (best is None or (b / r, abs(j - i)) < best[0]):
                best = ((b / r, abs(j - i)), b, r)
        return None if best is None else (best[1], best[2])

    def _choose_bounds(self, stable_buckets: list[tuple[float, float]]) -> None:
        finite = [float(b) for b, _ in stable_buckets if not math.isinf(float(b))]
        # p95 first, so a pair it shares with a neighbour carries its name; then from the tail down
        for q in sorted(self.quantiles, key=lambda q: (q != PRIMARY_QUANTILE, -q)):
            stable_q = reference_bound(stable_buckets, q)
            anchor = None if stable_q is None else self._anchor(stable_q, finite)
            pair = None if anchor is None else self._pair(anchor, finite)
            if pair is None:
                continue
            b, r = pair
            if b not in self.tests:
                self.tests[b] = TwoStreamTest(self.alpha, 0.0)
                self.refs[b] = r
                self.labels[b] = f"p{q * 100:g}"
            if q == PRIMARY_QUANTILE:
                self.primary = b
        self.ladder.choose(stable_buckets, lambda b: self.reference(b, self.tolerance), self.quantiles)
        if self.primary is None and self.tests:  # no pair near p95 (a nearly empty tail): the slowest
            self.primary = max(self.tests)
        if self.primary is not None and self.margin != self.tolerance:
            ref = self._at_or_below(self.reference(self.primary, self.margin), finite)
            if ref is not None and ref > 0:
                self.promotion, self.promotion_ref = TwoStreamTest(self.alpha, 0.0), ref

    @staticmethod
    def _slower(buckets: list[tuple[float, float]], total: float, bound: float) -> float | None:
        at_or_under = cumulative_at(buckets, bound)
        return None if at_or_under is None else total - at_or_under

    def update(
        self,
        canary_n: int,
        canary_buckets: list[tuple[float, float]] | None,
        stable_n: int,
        stable_buckets: list[tuple[float, float]] | None,
    ) -> None:
        if not canary_buckets or not stable_buckets or canary_n <= 0 or stable_n <= 0:
            return
        if not self.tests:
            if stable_n < self.min_reference:
                return
            self._choose_bounds(stable_buckets)
            if not self.tests:
                return
        canary_total = float(canary_buckets[-1][1])
        stable_total = float(stable_buckets[-1][1])
        if canary_total <= 0 or stable_total <= 0:
            return
        pairs = [(test, b, self.refs[b]) for b, test in self.tests.items()]
        if self.promotion is not None and self.primary is not None and self.promotion_ref is not None:
            pairs.append((self.promotion, self.primary, self.promotion_ref))
        for test, b, r in pairs:
            slow_c = self._slower(canary_buckets, canary_total, b)
            slow_s = self._slower(stable_buckets, stable_total, r)
            if slow_c is not None and slow_s is not None:
                test.update(canary_total, slow_c, stable_total, slow_s)
        self.ladder.update(canary_buckets, stable_buckets)

    @property
    def active(self) -> bool:
        return self.primary is not None and self.tests[self.primary].canary_n > 0

    def coarse_tolerance(self) -> float | None:
        """The smallest slowdown the pairs can see, when the buckets make it well over the tolerance.

        Only pairs where the relative tolerance (not the absolute floor) sets the reference count:
        with Prometheus' default 0.25/0.5/1/2.5 s buckets this is 1.0 — slowdowns under 100 % are
        invisible, and a launch lead should know. None when the buckets are fine enough.
        """
        relative = [
            b / r - 1.0 for b, r in self.refs.items() if r > 0 and b / (1.0 + self.tolerance) <= b - self.min_delta
        ]
        if not relative or min(relative) <= 1.5 * self.tolerance + 0.05:
            return None
        return min(relative)

    def log_evidence_fail(self) -> float:
        """log of the evidence of a slowdown: the ladder's and the pairs' average, mixed ``LADDER_WEIGHT``."""
        if not self.tests:
            return -math.inf
        pairs = _logmeanexp([t.log_evidence_fail() for t in self.tests.values()])
        if not self.ladder.rungs:
            return pairs
        ladder = self.ladder.log_evidence_fail()
        top = max(pairs, ladder)
        if top == -math.inf:
            return top
        return top + math.log(LADDER_WEIGHT * math.exp(ladder - top) + (1 - LADDER_WEIGHT) * math.exp(pairs - top))

    def result(self, *, with_bounds: bool | None = None) -> StreamResult:
        """The decision now; rates and bounds are those of the pair that speaks loudest for it."""
        log_fail = self.log_evidence_fail()
        if log_fail >= self.log_threshold:
            self.failed = True
        assert self.primary is not None
        primary = self.tests[self.primary]
        # the pair to report: the strongest evidence of a slowdown when failing, else p95's
        telling = max(self.tests, key=lambda b: self.tests[b].log_evidence_fail()) if self.failed else self.primary
        res = self.tests[telling].result(with_bounds=with_bounds)
        pass_log = (self.promotion or primary).log_evidence_pass()
        res.decision = "fail" if self.failed else ("pass" if pass_log >= self.log_threshold else "continue")
        res.evidence_fail = math.exp(min(log_fail, 700.0))
        res.evidence_pass = math.exp(min(pass_log, 700.0))
        ref = self.refs[telling]
        res.extra = {
            "coarse_tolerance": self.coarse_tolerance(),
            "bound": telling,
            "reference": ref,
            "quantile": self.labels[telling],
            "tolerance": self.tolerance,
            "effective_tolerance": telling / ref - 1.0 if ref > 0 else None,
            "margin": self.margin,
            "bounds": self.bounds_by_label(),
            "ladder": {
                "rungs": len(self.ladder.rungs),
                "evidence_fail": math.exp(min(self.ladder.log_evidence_fail(), 700.0)),
            },
        }
        return res

    # --- persistence: a resumed engine continues the step with the same evidence -------------------

    def snapshot(self) -> dict:
        """The step's chosen bounds and each pair's evidence, JSON-safe (float keys as pairs)."""
        return {
            "tests": [[b, t.snapshot()] for b, t in self.tests.items()],
            "refs": [[b, r] for b, r in self.refs.items()],
            "labels": [[b, label] for b, label in self.labels.items()],
            "primary": self.primary,
            "promotion": self.promotion.snapshot() if self.promotion else None,
            "promotion_ref": self.promotion_ref,
            "ladder": self.ladder.snapshot(),
            "failed": self.failed,
        }

    def restore(self, data: dict) -> None:
        self.reset()
        if not data:
            return
        for b, saved in data.get("tests") or []:
            test = TwoStreamTest(self.alpha, 0.0)
            test.restore(saved)
            self.tests[float(b)] = test
        self.refs = {float(b): float(r) for b, r in data.get("refs") or []}
        self.labels = {float(b): str(label) for b, label in data.get("labels") or []}
        self.primary = data.get("primary")
        if data.get("promotion"):
            self.promotion = TwoStreamTest(self.alpha, 0.0)
            self.promotion.restore(data["promotion"])
        self.promotion_ref = data.get("promotion_ref")
        self.ladder.restore(data.get("ladder") or {})
        self.failed = bool(data.get("failed"))
