"""SLO arithmetic: error budgets, burn rates, multi-window alerts and latency buckets.

For an objective ``target`` over a period ``P``, the error budget is
``1 - target``, the error ratio over a window is ``bad / valid``, and the burn
rate is ``error_ratio / budget``: a burn rate of 1 spends the whole budget in
exactly ``P``. These definitions and the multi-window, multi-burn-rate alert
table come from the Google SRE Workbook, chapter "Alerting on SLOs", as
encoded in slok/sloth ``internal/alert/window.go`` and
``internal/alert/windows/google-30d.yaml``. The second alert preset follows
pyrra-dev/pyrra ``slo/rules.go`` (function ``Windows``).

No traffic is not good traffic: every ratio with ``valid == 0`` is ``None``
here, never NaN and never zero.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

__all__ = [
    "AlertResult",
    "AlertState",
    "AlertWindow",
    "LatencyCount",
    "Ratio",
    "Severity",
    "SloState",
    "SloStatus",
    "alert_factor",
    "budget_remaining",
    "burn_rate",
    "classify_status",
    "counter_increase",
    "error_budget",
    "evaluate_alerts",
    "google_alert_windows",
    "latency_bad_events",
    "parse_le",
    "pyrra_alert_windows",
    "time_to_exhaustion",
]

Severity = Literal["page", "ticket"]
AlertState = Literal["firing", "not firing", "unknown"]
SloState = Literal["no data", "exhausted", "page", "ticket", "ok"]

# Prometheus writes le as a Go float: "1", "1.0", "1e+06", "+Inf". Python's
# float() would also take "1_000", "nan" and "infinity", which are not Go float
# syntax, so they are rejected.
_LE_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_LE_INFINITY = re.compile(r"[+-]?Inf")


def error_budget(target: float) -> float:
    """Return the error budget ``1 - target`` of an objective such as 0.999.

    Raises ValueError, with a message fit for a user, for a target that is not
    strictly between 0 and 1. An objective of 1.0 allows no bad event at all,
    so it has no budget to burn.
    """
    if math.isnan(target) or target <= 0.0:
        raise ValueError(
            f"invalid objective {target!r}, it must be above 0; use a fraction "
            "below 1, such as 0.999"
        )
    if target == 1.0:
        raise ValueError(
            "invalid objective 1.0, an objective of 1.0 has no error budget; use a "
            "target below 1, such as 0.999"
        )
    if target > 1.0:
        if target <= 100:
            hint = f"write {target / 100:g} for {target:g} %"
        else:
            hint = "use a target such as 0.999"
        raise ValueError(
            f"invalid objective {target!r}, it must be a fraction below 1; {hint}"
        )
    return 1.0 - target


@dataclass(frozen=True)
class Ratio:
    """Bad and valid event counts over one window.

    Counts are floats because ``increase()`` extrapolates to the window edges
    and returns fractions, and they are kept as given, not rounded. Raises
    ValueError for a negative, NaN or infinite count, or ``bad > valid``.
    """

    bad: float
    valid: float

    def __post_init__(self) -> None:
        for name, value in (("bad", self.bad), ("valid", self.valid)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"invalid {name} count {value!r}, it must be a finite number of "
                    "events, 0 or more; check the query that produced it"
                )
        if self.bad > self.valid:
            raise ValueError(
                f"invalid counts, bad {self.bad!r} is more than valid {self.valid!r}; "
                "check that the bad-event query selects a subset of the valid one"
            )

    @property
    def good(self) -> float:
        """Events that met the objective."""
        return self.valid - self.bad

    @property
    def error_ratio(self) -> float | None:
        """``bad / valid``, or None when there was no traffic."""
        if self.valid == 0:
            return None
        return self.bad / self.valid

    @property
    def sli(self) -> float | None:
        """``1 - error_ratio``, or None when there was no traffic."""
        error_ratio = self.error_ratio
        return None if error_ratio is None else 1.0 - error_ratio


def burn_rate(bad: float, valid: float, target: float) -> float | None:
    """Return how fast the window spent budget: ``error_ratio / (1 - target)``.

    A burn rate of 1 spends the whole budget in exactly one period. Returns
    None when ``valid`` is 0 (no traffic). Raises ValueError for invalid
    counts or target.
    """
    budget = error_budget(target)
    error_ratio = Ratio(bad, valid).error_ratio
    return None if error_ratio is None else error_ratio / budget


def budget_remaining(bad: float, valid: float, target: float) -> float | None:
    """Return the fraction of the period's error budget left.

    The fraction is ``1 - error_ratio / budget``.

    Pass the counts of the whole period. The result is negative when the budget
    is overspent, and None when ``valid`` is 0.
    """
    spent = burn_rate(bad, valid, target)
    return None if spent is None else 1.0 - spent


def time_to_exhaustion(
    remaining_fraction: float, burn_rate: float | None, period: timedelta
) -> timedelta | None:
    """Return how long the remaining budget lasts at a constant ``burn_rate``.

    The whole budget lasts ``period / burn_rate``, so the remaining fraction
    lasts ``remaining_fraction * period / burn_rate``. Returns zero when the
    budget is already spent (``remaining_fraction <= 0``), and None when the
    burn rate is None or 0, or the result does not fit in a ``timedelta``,
    because the budget then never runs out at this rate.
    """
    if burn_rate is not None and (math.isnan(burn_rate) or burn_rate < 0):
        raise ValueError(
            f"invalid burn rate {burn_rate!r}, it must be 0 or more; pass a burn "
            "rate from burn_rate()"
        )
    if math.isnan(remaining_fraction):
        raise ValueError(
            "invalid remaining budget nan; pass a fraction from budget_remaining()"
        )

    if remaining_fraction <= 0:
        return timedelta(0)
    if burn_rate is None or burn_rate == 0:
        return None
    try:
        return period * (remaining_fraction / burn_rate)
    except OverflowError:
        return None


@dataclass(frozen=True)
class AlertWindow:
    """One long/short window pair of a multi-window, multi-burn-rate alert.

    ``budget_share`` is the fraction of the period's budget that the long
    window may spend before the pair fires, such as 0.02 for 2 %.
    """

    severity: Severity
    long: timedelta
    short: timedelta
    budget_share: float

    def __post_init__(self) -> None:
        if not timedelta(0) < self.short < self.long:
            raise ValueError(
                f"invalid alert windows, long {self.long} and short {self.short}; "
                "use a positive short window below the long window"
            )
        if not 0 < self.budget_share <= 1:
            raise ValueError(
                f"invalid budget share {self.budget_share!r}; use a fraction above 0 "
                "and at most 1, such as 0.02"
            )


@dataclass(frozen=True)
class AlertResult:
    """The state of one alert window pair, with the burn rates it was decided on."""

    window: AlertWindow
    factor: float
    long_burn: float | None
    short_burn: float | None
    state: AlertState


@dataclass(frozen=True)
class SloStatus:
    """The overall status of one objective and the alert pairs it was decided on.

    ``unknown`` lists the pairs that lacked a burn rate, so a reader can see
    what ``state`` could not take into account.
    """

    state: SloState
    firing: tuple[AlertResult, ...]
    unknown: tuple[AlertResult, ...]


def alert_factor(budget_share: float, period: timedelta, long: timedelta) -> float:
    """Return the burn rate at which the long window spends ``budget_share``.

    ``factor = budget_share * period_hours / long_hours``: 2 % of a 30-day
    budget in 1 hour gives 14.4.
    """
    return budget_share * (period / long)


def google_alert_windows(period: timedelta) -> list[tuple[AlertWindow, float]]:
    """Return the Google SRE Workbook's four alert pairs with factors for ``period``.

    The windows are fixed and the factors follow from the period: page on
    1h/5m spending 2 % and 6h/30m spending 5 %, ticket on 1d/2h and 3d/6h
    spending 10 % each. At 30 days the factors are 14.4, 6, 3 and 1; at 28
    days 13.44, 5.6, 2.8 and 0.93.
    """
    windows = (
        AlertWindow("page", timedelta(hours=1), timedelta(minutes=5), 0.02),
        AlertWindow("page", timedelta(hours=6), timedelta(minutes=30), 0.05),
        AlertWindow("ticket", timedelta(days=1), timedelta(hours=2), 0.10),
        AlertWindow("ticket", timedelta(days=3), timedelta(hours=6), 0.10),
    )
    return [(w, alert_factor(w.budget_share, period, w.long)) for w in windows]


def pyrra_alert_windows(period: timedelta) -> list[tuple[AlertWindow, float]]:
    """Return Pyrra's four alert pairs for ``period``, to compare numbers with Pyrra.

    Pyrra keeps the factors fixed at 14, 7, 2 and 1 and scales the windows
    from a 28-day period, rounded to the minute: 1h/5m, 6h/30m, 1d/2h and
    4d/6h at 28 days. Pyrra's critical pairs map to ``page`` and its warning
    pairs to ``ticket``. ``budget_share`` is derived back from the factor.
    """
    # (severity, period divisor for the long window, for the short window, factor)
    presets: tuple[tuple[Severity, int, int, float], ...] = (
        ("page", 28 * 24, 28 * 24 * 12, 14.0),
        ("page", 28 * 4, 28 * 24 * 2, 7.0),
        ("ticket", 28, 28 * 12, 2.0),
        ("ticket", 7, 28 * 4, 1.0),
    )
    result = []
    for severity, long_divisor, short_divisor, factor in presets:
        long = _round_to_minute(period / long_divisor)
        short = _round_to_minute(period / short_divisor)
        share = factor * (long / period)
        result.append((AlertWindow(severity, long, short, share), factor))
    return result


def evaluate_alerts(
    burn_by_window: Mapping[timedelta, float | None],
    windows: Sequence[tuple[AlertWindow, float]],
) -> list[AlertResult]:
    """Decide each alert pair from the burn rates measured per window length.

    A pair fires when both its long and its short burn rate are at least its
    factor. A window missing from ``burn_by_window`` or mapped to None (no
    traffic, or too few samples) is unknown, and the pair follows three-valued
    logic: it is "not firing" only when a known burn rate is below the factor,
    which rules firing out whatever the other window contains, and "unknown"
    otherwise. A pair is never "not firing" for lack of data.
    """
    results = []
    for window, factor in windows:
        long_burn = burn_by_window.get(window.long)
        short_burn = burn_by_window.get(window.short)
        burns = (long_burn, short_burn)

        state: AlertState
        if any(burn is not None and burn < factor for burn in burns):
            state = "not firing"
        elif long_burn is None or short_burn is None:
            state = "unknown"
        else:
            state = "firing"
        results.append(AlertResult(window, factor, long_burn, short_burn, state))
    return results


def classify_status(
    *, remaining: float | None, alerts: Sequence[AlertResult]
) -> SloStatus:
    """Decide the status of one objective, taking the first that applies.

    1. ``no data``: ``remaining`` is None, so the period had no traffic.
    2. ``exhausted``: ``remaining <= 0``, the period's budget is spent.
    3. ``page``: a page pair fires.
    4. ``ticket``: a ticket pair fires.
    5. ``ok``: nothing above. Pairs in ``unknown`` may still hide a burn.
    """
    firing = tuple(result for result in alerts if result.state == "firing")
    unknown = tuple(result for result in alerts if result.state == "unknown")
    severities = {result.window.severity for result in firing}

    state: SloState
    if remaining is None:
        state = "no data"
    elif remaining <= 0:
        state = "exhausted"
    elif "page" in severities:
        state = "page"
    elif "ticket" in severities:
        state = "ticket"
    else:
        state = "ok"
    return SloStatus(state, firing, unknown)


def counter_increase(samples: Sequence[tuple[float, float]]) -> float:
    """Return the increase of a counter over raw ``(time, value)`` samples.

    A drop in value is a counter reset: the counter restarted from zero, so
    the value after the drop counts in full. Samples 100, 150, 10, 60 give
    50 + 10 + 50 = 110. Unlike PromQL ``increase()``, nothing is extrapolated
    to the edges of a window: the result covers the first to the last sample.
    Raises ValueError for fewer than two samples, times that do not increase,
    or a negative, NaN or infinite value.
    """
    if len(samples) < 2:
        raise ValueError(
            f"cannot compute a counter increase from {len(samples)} sample(s); "
            "pass at least two samples"
        )
    for time, value in samples:
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"invalid counter value {value!r} at time {time!r}; a counter is a "
                "finite number, 0 or more"
            )

    total = 0.0
    for (previous_time, previous), (time, value) in itertools.pairwise(samples):
        if time <= previous_time:
            raise ValueError(
                f"invalid sample order, time {time!r} follows {previous_time!r}; "
                "pass samples sorted by increasing time"
            )
        total += value - previous if value >= previous else value
    return total


def parse_le(text: str) -> float:
    """Parse a histogram ``le`` label value: ``1``, ``1.0``, ``1e+00``, ``+Inf``.

    Prometheus 3 writes scraped ``le`` values in float form (``1.0``) while
    OTLP-ingested series keep ``1``, so buckets must be compared as numbers,
    never as text. Raises ValueError for anything else, NaN included.
    """
    if _LE_INFINITY.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _LE_TEXT.fullmatch(text):
        return float(text)
    raise ValueError(
        f"invalid le label value {text!r}; expected a number such as 0.25, 1.0 or +Inf"
    )


@dataclass(frozen=True)
class LatencyCount:
    """Slow requests out of ``total`` for one latency threshold.

    When ``threshold`` is a bucket boundary, ``exact`` is True and ``bad_min``,
    ``bad_max`` and ``bad`` are equal. Otherwise the true count lies between
    ``bad_min`` and ``bad_max``, taken from the neighbouring boundaries
    ``lower_le`` and ``upper_le``. ``bad`` is then a linear interpolation
    between them, flagged by ``interpolated``, or None when the threshold lies
    above the last finite boundary and nothing can be interpolated.
    """

    total: float
    threshold: float
    exact: bool
    interpolated: bool
    lower_le: float
    upper_le: float
    bad_min: float
    bad_max: float
    bad: float | None

    @property
    def sli_min(self) -> float | None:
        """Lowest possible SLI, or None when ``total`` is 0."""
        return None if self.total == 0 else 1.0 - self.bad_max / self.total

    @property
    def sli_max(self) -> float | None:
        """Highest possible SLI, or None when ``total`` is 0."""
        return None if self.total == 0 else 1.0 - self.bad_min / self.total

    @property
    def sli(self) -> float | None:
        """The exact or interpolated SLI, or None when unknown or ``total`` is 0."""
        if self.total == 0 or self.bad is None:
            return None
        return 1.0 - self.bad / self.total


def latency_bad_events(
    buckets: Sequence[tuple[float, float]], total: float, threshold: float
) -> LatencyCount:
    """Count requests slower than ``threshold`` from cumulative histogram buckets.

    ``buckets`` contains ``(le, cumulative count)`` pairs, with ``le`` already a
    number (see :func:`parse_le`), and ``total`` is the request count.
    ``bad = total - count(le == threshold)``, matching ``le`` numerically.
    Pairs with the same ``le`` are added up, because the series ``le="1"`` and
    ``le="1.0"`` are the same bucket before and after the Prometheus 3 change
    of format. A count that falls as ``le`` rises, which separately
    extrapolated ``increase()`` results can produce, is raised to the largest
    count below it. Below the first boundary the lower neighbour is 0 with
    count 0. Raises ValueError for an empty bucket list, a threshold that is
    not positive and finite, a negative or non-finite count, or a bucket count
    above ``total``.
    """
    _check_latency_inputs(buckets, total, threshold)
    counts = _cumulative_counts(buckets)
    if counts[-1][1] > total * (1 + 1e-9):
        raise ValueError(
            f"invalid histogram, bucket count {counts[-1][1]!r} is above the total "
            f"{total!r}; query the buckets and the count over the same window"
        )
    counts = [(le, min(count, total)) for le, count in counts]

    lower_le, good_min = 0.0, 0.0
    upper_le, good_max = math.inf, total
    for le, count in counts:
        if le > threshold:
            upper_le, good_max = le, count
            break
        lower_le, good_min = le, count

    if lower_le == threshold:
        bad = total - good_min
        return LatencyCount(
            total=total,
            threshold=threshold,
            exact=True,
            interpolated=False,
            lower_le=threshold,
            upper_le=threshold,
            bad_min=bad,
            bad_max=bad,
            bad=bad,
        )

    estimate = None
    if math.isfinite(upper_le):
        share = (threshold - lower_le) / (upper_le - lower_le)
        estimate = total - (good_min + share * (good_max - good_min))
    return LatencyCount(
        total=total,
        threshold=threshold,
        exact=False,
        interpolated=estimate is not None,
        lower_le=lower_le,
        upper_le=upper_le,
        bad_min=total - good_max,
        bad_max=total - good_min,
        bad=estimate,
    )


def _check_latency_inputs(
    buckets: Sequence[tuple[float, float]], total: float, threshold: float
) -> None:
    if not buckets:
        raise ValueError(
            "invalid histogram, it has no buckets; query the _bucket series"
        )
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(
            f"invalid latency threshold {threshold!r}; use a positive, finite "
            "number of seconds (or of the histogram's unit)"
        )
    for value in (total, *(count for _, count in buckets)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"invalid histogram count {value!r}; counts must be finite and 0 or "
                "more"
            )


def _cumulative_counts(
    buckets: Sequence[tuple[float, float]],
) -> list[tuple[float, float]]:
    """Merge equal ``le`` values, sort by ``le`` and make the counts non-decreasing."""
    merged: dict[float, float] = {}
    for le, count in buckets:
        if math.isnan(le):
            raise ValueError("invalid histogram, a bucket has le NaN; drop that series")
        merged[le] = merged.get(le, 0.0) + count

    result = []
    highest = 0.0
    for le in sorted(merged):
        highest = max(highest, merged[le])
        result.append((le, highest))
    return result


def _round_to_minute(value: timedelta) -> timedelta:
    """Round to the nearest minute, halves away from zero like Go's Duration.Round."""
    minute_us = 60_000_000
    whole, rest = divmod(value // timedelta(microseconds=1), minute_us)
    if 2 * rest >= minute_us:
        whole += 1
    return timedelta(minutes=whole)
