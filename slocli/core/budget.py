"""The error-budget report: from per-window event counts to a status per objective."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slocli.core.slomath import (
    AlertResult,
    AlertWindow,
    SloStatus,
    budget_remaining,
    burn_rate,
    classify_status,
    evaluate_alerts,
    time_to_exhaustion,
)

# Burn rates shown in the report, besides the ones the alert pairs need.
REPORTED_BURN_WINDOWS = (
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=3),
)


@dataclass(frozen=True)
class WindowCounts:
    """Bad and valid events in one window. ``bad_min``/``bad_max`` differ when a
    latency threshold lies between histogram buckets; ``bad`` is then the
    interpolated estimate."""

    bad: float
    valid: float
    bad_min: float
    bad_max: float
    interpolated: bool = False

    @staticmethod
    def exact(bad: float, valid: float) -> WindowCounts:
        return WindowCounts(bad=bad, valid=valid, bad_min=bad, bad_max=bad)


@dataclass
class ObjectiveCounts:
    name: str
    description: str
    target: float
    threshold_s: float | None
    # None for a window means "no samples": too short for the scrape interval,
    # or no series. It is never read as zero.
    windows: Mapping[timedelta, WindowCounts | None]


@dataclass
class ObjectiveReport:
    name: str
    description: str
    target: float
    threshold_s: float | None
    period: timedelta
    counts: WindowCounts | None
    sli: float | None
    sli_min: float | None
    sli_max: float | None
    remaining: float | None
    burn: dict[timedelta, float | None]
    alerts: list[AlertResult]
    status: SloStatus
    exhaustion: timedelta | None
    notes: list[str] = field(default_factory=list)


def _sli(bad: float, valid: float) -> float | None:
    return None if valid == 0 else 1.0 - bad / valid


def evaluate_objective(
    counts: ObjectiveCounts,
    period: timedelta,
    alert_windows: Sequence[tuple[AlertWindow, float]],
) -> ObjectiveReport:
    whole = counts.windows.get(period)
    burn: dict[timedelta, float | None] = {}
    for window, window_counts in counts.windows.items():
        if window_counts is None:
            burn[window] = None
        else:
            burn[window] = burn_rate(
                window_counts.bad, window_counts.valid, counts.target
            )
    alerts = evaluate_alerts(burn, alert_windows)
    notes: list[str] = []
    if whole is None or whole.valid == 0:
        remaining = None
        sli = sli_min = sli_max = None
        if whole is None:
            # An empty query result: the series are missing, which is not the
            # same as a service that had no requests.
            notes.append(
                "no samples for the whole period; check the metric names under "
                "telemetry.metrics in the configuration"
            )
        else:
            notes.append("no traffic in the window")
    else:
        remaining = budget_remaining(whole.bad, whole.valid, counts.target)
        sli = _sli(whole.bad, whole.valid)
        sli_min = _sli(whole.bad_max, whole.valid)
        sli_max = _sli(whole.bad_min, whole.valid)
        if whole.interpolated:
            notes.append(
                "the latency threshold is not a histogram bucket boundary; the SLI "
                "is interpolated between the neighbouring buckets"
            )
    status = classify_status(remaining=remaining, alerts=alerts)
    exhaustion = None
    one_hour = burn.get(timedelta(hours=1))
    if remaining is not None:
        exhaustion = time_to_exhaustion(remaining, one_hour, period)
    return ObjectiveReport(
        name=counts.name,
        description=counts.description,
        target=counts.target,
        threshold_s=counts.threshold_s,
        period=period,
        counts=whole,
        sli=sli,
        sli_min=sli_min,
        sli_max=sli_max,
        remaining=remaining,
        burn=burn,
        alerts=alerts,
        status=status,
        exhaustion=exhaustion,
        notes=notes,
    )


@dataclass
class BudgetReport:
    at: datetime
    period: timedelta
    objectives: list[ObjectiveReport]
    alert_preset: str
    notes: list[str] = field(default_factory=list)


def exit_code(report: BudgetReport) -> int:
    """1 when a budget is exhausted or a page pair fires, else 4 when an
    objective has no data, else 0. A failure outranks missing data."""
    states = {o.status.state for o in report.objectives}
    if states & {"exhausted", "page"}:
        return 1
    if "no data" in states or not report.objectives:
        return 4
    return 0


def needed_windows(
    period: timedelta, alert_windows: Sequence[tuple[AlertWindow, float]]
) -> list[timedelta]:
    windows = {period, *REPORTED_BURN_WINDOWS}
    for window, _factor in alert_windows:
        windows.add(window.long)
        windows.add(window.short)
    return sorted(windows, reverse=True)


def usable(window: timedelta, scrape_interval: timedelta) -> bool:
    """increase() needs two samples in the window; four scrape intervals leave
    room for a missed scrape."""
    return window >= 4 * scrape_interval


def alert_pairs_fired(report: ObjectiveReport) -> list[AlertResult]:
    return [a for a in report.alerts if a.state == "firing"]
