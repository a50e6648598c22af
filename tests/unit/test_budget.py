"""Tests for slocli.core.budget: objective evaluation, exit codes and windows."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slocli.core.budget import (
    BudgetReport,
    ObjectiveCounts,
    ObjectiveReport,
    WindowCounts,
    alert_pairs_fired,
    evaluate_objective,
    exit_code,
    needed_windows,
    usable,
)
from slocli.core.slomath import google_alert_windows, pyrra_alert_windows

PERIOD = timedelta(days=30)
ALERTS = google_alert_windows(PERIOD)
WINDOWS = needed_windows(PERIOD, ALERTS)
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)

QUIET = WindowCounts.exact(0, 1000)


def objective_counts(
    changes: Mapping[timedelta, WindowCounts | None] | None = None,
    *,
    default: WindowCounts | None = QUIET,
    target: float = 0.999,
) -> ObjectiveCounts:
    windows = {window: default for window in WINDOWS}
    windows.update(changes or {})
    return ObjectiveCounts(
        name="api-availability",
        description="API calls that succeed",
        target=target,
        threshold_s=None,
        windows=windows,
    )


def evaluate(
    changes: Mapping[timedelta, WindowCounts | None] | None = None,
    **kwargs: Any,
) -> ObjectiveReport:
    return evaluate_objective(objective_counts(changes, **kwargs), PERIOD, ALERTS)


def alert_states(report: ObjectiveReport) -> dict[str, str]:
    return {
        f"{a.window.long // M}m/{a.window.short // M}m": a.state for a in report.alerts
    }


def floats_in(value: Any) -> list[float]:
    """Collect every float inside dataclasses, mappings, sequences and timedeltas."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, timedelta):
        return [value.total_seconds()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return floats_in([getattr(value, f.name) for f in dataclasses.fields(value)])
    if isinstance(value, Mapping):
        return floats_in(list(value.keys()) + list(value.values()))
    if isinstance(value, list | tuple):
        return [number for item in value for number in floats_in(item)]
    return []


# needed_windows and usable ------------------------------------------------------------


def test_needed_windows_google_30d() -> None:
    windows = needed_windows(PERIOD, ALERTS)

    assert windows == [
        timedelta(days=30),
        timedelta(days=3),
        timedelta(days=1),
        timedelta(hours=6),
        timedelta(hours=2),
        timedelta(hours=1),
        timedelta(minutes=30),
        timedelta(minutes=5),
    ]


def test_needed_windows_pyrra_28d() -> None:
    period = timedelta(days=28)

    windows = needed_windows(period, pyrra_alert_windows(period))

    assert windows == [
        timedelta(days=28),
        timedelta(days=4),
        timedelta(days=3),
        timedelta(days=1),
        timedelta(hours=6),
        timedelta(hours=2),
        timedelta(hours=1),
        timedelta(minutes=30),
        timedelta(minutes=5),
    ]


def test_needed_windows_no_alerts() -> None:
    assert needed_windows(timedelta(days=7), []) == [
        timedelta(days=7),
        timedelta(days=3),
        timedelta(days=1),
        timedelta(hours=6),
        timedelta(hours=1),
    ]


@pytest.mark.parametrize(
    ("window", "scrape", "expected"),
    [
        (timedelta(minutes=2), timedelta(seconds=30), True),
        (timedelta(seconds=119), timedelta(seconds=30), False),
        (timedelta(minutes=5), timedelta(seconds=60), True),
        (timedelta(minutes=4), timedelta(seconds=60), True),
        (timedelta(minutes=1), timedelta(seconds=60), False),
        (timedelta(minutes=3), timedelta(seconds=60), False),
        (timedelta(minutes=5), timedelta(minutes=2), False),
    ],
)
def test_usable(window: timedelta, scrape: timedelta, expected: bool) -> None:
    assert usable(window, scrape) is expected


# evaluate_objective ---------------------------------------------------------------------


def test_healthy_objective() -> None:
    report = evaluate({PERIOD: WindowCounts.exact(0.5, 1000)})

    assert report.status.state == "ok"
    assert report.sli == pytest.approx(0.9995)
    assert report.remaining == pytest.approx(0.5)
    assert report.burn[PERIOD] == pytest.approx(0.5)
    assert report.burn[H] == 0.0
    assert report.exhaustion is None  # the 1h burn rate is 0
    assert report.notes == []


def test_exhaustion_at_hourly_burn() -> None:
    report = evaluate(
        {PERIOD: WindowCounts.exact(0.5, 1000), H: WindowCounts.exact(0.25, 100)}
    )

    # Half the budget left, burning 2.5 budgets per period: 0.5 * 30d / 2.5.
    assert report.exhaustion == timedelta(days=6)


def test_exhausted_objective() -> None:
    report = evaluate({PERIOD: WindowCounts.exact(20, 1000)})

    assert report.status.state == "exhausted"
    assert report.remaining == pytest.approx(-19)
    assert report.exhaustion == timedelta(0)


def test_page_pair_fires() -> None:
    burning = WindowCounts.exact(15, 1000)  # burn rate 15 >= 14.4

    report = evaluate(
        {PERIOD: WindowCounts.exact(0.1, 1000), H: burning, 5 * M: burning}
    )

    assert report.status.state == "page"
    assert alert_states(report) == {
        "60m/5m": "firing",
        "360m/30m": "not firing",
        "1440m/120m": "not firing",
        "4320m/360m": "not firing",
    }
    assert [a.window.long for a in alert_pairs_fired(report)] == [H]


def test_page_needs_short_window() -> None:
    report = evaluate({H: WindowCounts.exact(15, 1000)})

    assert report.status.state == "ok"
    assert alert_states(report)["60m/5m"] == "not firing"


def test_ticket_pair_fires() -> None:
    burning = WindowCounts.exact(4, 1000)

    report = evaluate(
        {PERIOD: WindowCounts.exact(0.5, 1000), D: burning, 2 * H: burning}
    )

    assert report.status.state == "ticket"
    assert alert_states(report)["1440m/120m"] == "firing"


def test_missing_short_window_is_unknown() -> None:
    report = evaluate({H: WindowCounts.exact(15, 1000), 5 * M: None})

    assert alert_states(report)["60m/5m"] == "unknown"
    assert report.burn[5 * M] is None
    assert report.status.state == "ok"
    assert [a.window.long for a in report.status.unknown] == [H]


def test_known_low_burn_rules_out_firing() -> None:
    report = evaluate({H: WindowCounts.exact(1, 1000), 5 * M: None})

    assert alert_states(report)["60m/5m"] == "not firing"


def test_no_traffic_window_burn_is_none() -> None:
    report = evaluate({5 * M: WindowCounts.exact(0, 0)})

    assert report.burn[5 * M] is None
    assert alert_states(report)["60m/5m"] == "not firing"


def test_no_traffic_is_no_data() -> None:
    report = evaluate(default=WindowCounts.exact(0, 0))

    assert report.status.state == "no data"
    assert report.sli is None
    assert report.sli_min is None
    assert report.sli_max is None
    assert report.remaining is None
    assert report.exhaustion is None
    assert set(report.burn.values()) == {None}
    assert {a.state for a in report.alerts} == {"unknown"}
    assert report.notes == ["no traffic in the window"]


def test_no_traffic_has_no_nan() -> None:
    report = evaluate(default=WindowCounts.exact(0, 0))

    assert all(math.isfinite(number) for number in floats_in(report))


def test_no_samples_is_no_data() -> None:
    report = evaluate(default=None)

    assert report.status.state == "no data"
    assert report.counts is None
    assert report.remaining is None
    assert report.notes == [
        "no samples for the whole period; check the metric names under "
        "telemetry.metrics in the configuration"
    ]


def test_no_traffic_in_period_only() -> None:
    report = evaluate({PERIOD: WindowCounts.exact(0, 0)})

    assert report.status.state == "no data"
    assert report.burn[H] == 0.0


def test_interpolated_latency() -> None:
    counts = WindowCounts(
        bad=88.0, valid=1000.0, bad_min=40.0, bad_max=100.0, interpolated=True
    )

    report = evaluate({PERIOD: counts}, target=0.9)

    assert report.sli == pytest.approx(0.912)
    assert report.sli_min == pytest.approx(0.9)
    assert report.sli_max == pytest.approx(0.96)
    assert report.notes == [
        "the latency threshold is not a histogram bucket boundary; the SLI is "
        "interpolated between the neighbouring buckets"
    ]


def test_fractional_counts_kept() -> None:
    report = evaluate({PERIOD: WindowCounts.exact(1.7, 1234.5)})

    assert report.counts == WindowCounts.exact(1.7, 1234.5)
    assert report.sli == pytest.approx(1 - 1.7 / 1234.5)


def test_report_copies_objective() -> None:
    report = evaluate()

    assert (report.name, report.target, report.threshold_s) == (
        "api-availability",
        0.999,
        None,
    )
    assert report.period == PERIOD
    assert list(report.burn) == WINDOWS


# exit_code ------------------------------------------------------------------------------------

STATE_CHANGES: dict[str, dict[timedelta, WindowCounts | None]] = {
    "ok": {PERIOD: WindowCounts.exact(0.5, 1000)},
    "ticket": {
        PERIOD: WindowCounts.exact(0.5, 1000),
        D: WindowCounts.exact(4, 1000),
        2 * H: WindowCounts.exact(4, 1000),
    },
    "page": {
        PERIOD: WindowCounts.exact(0.5, 1000),
        H: WindowCounts.exact(20, 1000),
        5 * M: WindowCounts.exact(20, 1000),
    },
    "exhausted": {PERIOD: WindowCounts.exact(2, 1000)},
    "no data": {window: WindowCounts.exact(0, 0) for window in WINDOWS},
}


def objective_in_state(state: str) -> ObjectiveReport:
    report = evaluate(STATE_CHANGES[state])
    assert report.status.state == state
    return report


@pytest.mark.parametrize(
    ("states", "code"),
    [
        (["ok"], 0),
        (["ticket"], 0),
        (["ok", "ticket"], 0),
        (["page"], 1),
        (["exhausted"], 1),
        (["no data"], 4),
        (["ok", "no data"], 4),
        (["ticket", "no data"], 4),
        (["no data", "page"], 1),
        (["exhausted", "no data"], 1),
        ([], 4),
    ],
)
def test_exit_code(states: list[str], code: int) -> None:
    report = BudgetReport(
        at=datetime(2026, 3, 4, 12, tzinfo=UTC),
        period=PERIOD,
        objectives=[objective_in_state(state) for state in states],
        alert_preset="google",
    )

    assert exit_code(report) == code
