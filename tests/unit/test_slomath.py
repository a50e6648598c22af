"""Tests for slocli.core.slomath."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from slocli.core.slomath import (
    AlertResult,
    AlertWindow,
    Ratio,
    alert_factor,
    budget_remaining,
    burn_rate,
    classify_status,
    counter_increase,
    error_budget,
    evaluate_alerts,
    google_alert_windows,
    latency_bad_events,
    parse_le,
    pyrra_alert_windows,
    time_to_exhaustion,
)

DAYS_30 = timedelta(days=30)
DAYS_28 = timedelta(days=28)


def test_error_budget_three_nines() -> None:
    assert error_budget(0.999) == pytest.approx(0.001)


def test_error_budget_rejects_one() -> None:
    with pytest.raises(ValueError, match=r"an objective of 1\.0 has no error budget"):
        error_budget(1.0)


@pytest.mark.parametrize(
    ("target", "hint"),
    [
        (0.0, "it must be above 0"),
        (-0.5, "it must be above 0"),
        (math.nan, "it must be above 0"),
        (99.9, "write 0.999 for 99.9 %"),
        (1.5, "write 0.015 for 1.5 %"),
        (1000.0, "use a target such as 0.999"),
    ],
)
def test_error_budget_rejects_out_of_range(target: float, hint: str) -> None:
    with pytest.raises(ValueError) as caught:
        error_budget(target)
    assert hint in str(caught.value)


def test_ratio_no_traffic_is_none() -> None:
    ratio = Ratio(bad=0, valid=0)
    assert ratio.error_ratio is None
    assert ratio.sli is None


def test_ratio_keeps_fractions() -> None:
    ratio = Ratio(bad=2.5, valid=1000.4)
    assert ratio.error_ratio == pytest.approx(2.5 / 1000.4)
    assert ratio.good == pytest.approx(997.9)


@pytest.mark.parametrize(
    ("bad", "valid"), [(-1.0, 10.0), (1.0, -10.0), (math.nan, 10.0), (1.0, math.inf)]
)
def test_ratio_rejects_invalid_counts(bad: float, valid: float) -> None:
    with pytest.raises(ValueError, match=r"invalid (bad|valid) count"):
        Ratio(bad, valid)


def test_ratio_rejects_bad_above_valid() -> None:
    with pytest.raises(ValueError, match=r"bad 11\.0 is more than valid 10\.0"):
        Ratio(11.0, 10.0)


def test_burn_rate_exactly_one() -> None:
    assert burn_rate(10, 1000, 0.99) == pytest.approx(1.0)


def test_burn_rate_no_traffic_is_none() -> None:
    assert burn_rate(0, 0, 0.999) is None


def test_burn_rate_target_one_rejected_without_traffic() -> None:
    with pytest.raises(ValueError, match="no error budget"):
        burn_rate(0, 0, 1.0)


def test_budget_remaining_half() -> None:
    assert budget_remaining(5, 10_000, 0.999) == pytest.approx(0.5)


def test_budget_remaining_overspent_is_negative() -> None:
    assert budget_remaining(30, 10_000, 0.999) == pytest.approx(-2.0)


def test_budget_remaining_no_traffic_is_none() -> None:
    assert budget_remaining(0, 0, 0.999) is None


@pytest.mark.parametrize(
    ("remaining", "rate", "expected"),
    [
        (0.5, 2.0, timedelta(days=7.5)),
        (1.0, 1.0, DAYS_30),
        (1.0, 14.4, timedelta(hours=50)),
        (0.0, 3.0, timedelta(0)),
        (-0.3, 3.0, timedelta(0)),
        (-0.3, None, timedelta(0)),
        (0.5, 0.0, None),
        (0.5, None, None),
        (0.5, 1e-300, None),
    ],
)
def test_time_to_exhaustion(
    remaining: float, rate: float | None, expected: timedelta | None
) -> None:
    assert time_to_exhaustion(remaining, rate, DAYS_30) == expected


def test_time_to_exhaustion_rejects_negative_burn() -> None:
    with pytest.raises(ValueError, match="invalid burn rate"):
        time_to_exhaustion(0.5, -1.0, DAYS_30)


def test_alert_factor_fast_page() -> None:
    assert alert_factor(0.02, DAYS_30, timedelta(hours=1)) == pytest.approx(14.4)


@pytest.mark.parametrize(
    ("period", "factors"),
    [(DAYS_30, [14.4, 6.0, 3.0, 1.0]), (DAYS_28, [13.44, 5.6, 2.8, 0.9333333])],
)
def test_google_alert_factors(period: timedelta, factors: list[float]) -> None:
    result = [factor for _, factor in google_alert_windows(period)]
    assert result == pytest.approx(factors)


def test_google_alert_factor_28d_rounds_to_093() -> None:
    _, factor = google_alert_windows(DAYS_28)[3]
    assert round(factor, 2) == 0.93


def test_google_alert_windows_table() -> None:
    windows = [window for window, _ in google_alert_windows(DAYS_30)]
    assert [(w.severity, w.long, w.short, w.budget_share) for w in windows] == [
        ("page", timedelta(hours=1), timedelta(minutes=5), 0.02),
        ("page", timedelta(hours=6), timedelta(minutes=30), 0.05),
        ("ticket", timedelta(days=1), timedelta(hours=2), 0.10),
        ("ticket", timedelta(days=3), timedelta(hours=6), 0.10),
    ]


def test_pyrra_windows_28d() -> None:
    result = pyrra_alert_windows(DAYS_28)
    assert [(w.severity, w.long, w.short, f) for w, f in result] == [
        ("page", timedelta(hours=1), timedelta(minutes=5), 14.0),
        ("page", timedelta(hours=6), timedelta(minutes=30), 7.0),
        ("ticket", timedelta(days=1), timedelta(hours=2), 2.0),
        ("ticket", timedelta(days=4), timedelta(hours=6), 1.0),
    ]


def test_pyrra_windows_30d_scaled_to_minutes() -> None:
    # 30d / 672 is 64.29 minutes, 30d / 8064 is 5.36 minutes, and so on.
    result = pyrra_alert_windows(DAYS_30)
    assert [(w.long, w.short) for w, _ in result] == [
        (timedelta(minutes=64), timedelta(minutes=5)),
        (timedelta(minutes=386), timedelta(minutes=32)),
        (timedelta(minutes=1543), timedelta(minutes=129)),
        (timedelta(minutes=6171), timedelta(minutes=386)),
    ]


def test_pyrra_budget_share_gives_factor() -> None:
    for window, factor in pyrra_alert_windows(DAYS_30):
        derived = alert_factor(window.budget_share, DAYS_30, window.long)
        assert derived == pytest.approx(factor)


def test_alert_window_rejects_short_above_long() -> None:
    with pytest.raises(ValueError, match="invalid alert windows"):
        AlertWindow("page", timedelta(minutes=5), timedelta(hours=1), 0.02)


FAST_PAGE = AlertWindow("page", timedelta(hours=1), timedelta(minutes=5), 0.02)
FAST_PAIR = [(FAST_PAGE, 14.4)]


@pytest.mark.parametrize(
    ("long_burn", "short_burn", "state"),
    [
        (20.0, 15.0, "firing"),
        (14.4, 14.4, "firing"),
        (20.0, 10.0, "not firing"),
        (10.0, 20.0, "not firing"),
        (20.0, None, "unknown"),
        (None, 20.0, "unknown"),
        (None, None, "unknown"),
        # A known burn below the factor rules firing out whatever the other holds.
        (10.0, None, "not firing"),
        (None, 1.0, "not firing"),
    ],
)
def test_evaluate_alerts_states(
    long_burn: float | None, short_burn: float | None, state: str
) -> None:
    burns = {timedelta(hours=1): long_burn, timedelta(minutes=5): short_burn}
    (result,) = evaluate_alerts(burns, FAST_PAIR)
    assert result.state == state


def test_evaluate_alerts_missing_window_is_unknown() -> None:
    (result,) = evaluate_alerts({timedelta(hours=1): 20.0}, FAST_PAIR)
    assert result.state == "unknown"
    assert result.short_burn is None


def test_evaluate_alerts_keeps_burns() -> None:
    burns = {timedelta(hours=1): 20.0, timedelta(minutes=5): 15.0}
    (result,) = evaluate_alerts(burns, FAST_PAIR)
    assert (result.long_burn, result.short_burn, result.factor) == (20.0, 15.0, 14.4)


def _result(severity: str, state: str) -> AlertResult:
    window = AlertWindow(
        "page" if severity == "page" else "ticket",
        timedelta(hours=1),
        timedelta(minutes=5),
        0.02,
    )
    return AlertResult(window, 14.4, None, None, state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("remaining", "alerts", "state"),
    [
        (None, [_result("page", "firing")], "no data"),
        (0.0, [_result("page", "firing")], "exhausted"),
        (-0.5, [], "exhausted"),
        (0.5, [_result("ticket", "firing"), _result("page", "firing")], "page"),
        (0.5, [_result("ticket", "firing"), _result("page", "not firing")], "ticket"),
        (0.5, [_result("page", "not firing")], "ok"),
        (0.5, [_result("page", "unknown")], "ok"),
    ],
)
def test_classify_status(
    remaining: float | None, alerts: list[AlertResult], state: str
) -> None:
    assert classify_status(remaining=remaining, alerts=alerts).state == state


def test_classify_status_lists_unknown() -> None:
    unknown = _result("page", "unknown")
    status = classify_status(remaining=0.5, alerts=[unknown, _result("page", "firing")])
    assert status.unknown == (unknown,)
    assert len(status.firing) == 1


def test_counter_increase_with_reset() -> None:
    samples = [(0.0, 100.0), (60.0, 150.0), (120.0, 10.0), (180.0, 60.0)]
    assert counter_increase(samples) == 110.0


def test_counter_increase_no_reset() -> None:
    assert counter_increase([(0.0, 5.0), (15.0, 7.5), (30.0, 9.0)]) == 4.0


def test_counter_increase_reset_to_zero() -> None:
    assert counter_increase([(0.0, 5.0), (15.0, 0.0), (30.0, 3.0)]) == 3.0


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([], "from 0 sample"),
        ([(0.0, 1.0)], "from 1 sample"),
        ([(0.0, 1.0), (0.0, 2.0)], "invalid sample order"),
        ([(10.0, 1.0), (0.0, 2.0)], "invalid sample order"),
        ([(0.0, 1.0), (10.0, math.nan)], "invalid counter value"),
        ([(0.0, -1.0), (10.0, 2.0)], "invalid counter value"),
    ],
)
def test_counter_increase_invalid(
    samples: list[tuple[float, float]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        counter_increase(samples)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("1.0", 1.0),
        ("1e+00", 1.0),
        ("0.005", 0.005),
        ("1e+06", 1e6),
        (".5", 0.5),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
    ],
)
def test_parse_le(text: str, value: float) -> None:
    assert parse_le(text) == value


@pytest.mark.parametrize("text", ["NaN", "inf", "abc", "1_0", "", " 1", "0x1"])
def test_parse_le_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid le label value"):
        parse_le(text)


BUCKETS = [(0.25, 900.0), (0.5, 960.0), (1.0, 990.0), (math.inf, 1000.0)]


def test_latency_threshold_between_buckets() -> None:
    count = latency_bad_events(BUCKETS, 1000.0, 0.3)
    assert count.exact is False
    assert count.interpolated is True
    assert (count.lower_le, count.upper_le) == (0.25, 0.5)
    assert (count.bad_min, count.bad_max) == (40.0, 100.0)
    assert count.sli_min == pytest.approx(0.900)
    assert count.sli_max == pytest.approx(0.960)
    assert count.bad == pytest.approx(88.0)
    assert count.sli == pytest.approx(0.912)


def test_latency_threshold_on_boundary() -> None:
    count = latency_bad_events(BUCKETS, 1000.0, 0.5)
    assert count.exact is True
    assert count.interpolated is False
    assert count.bad == 40.0
    assert (count.bad_min, count.bad_max) == (40.0, 40.0)


def test_latency_le_text_forms_match() -> None:
    buckets = [(parse_le("1.0"), 990.0), (parse_le("+Inf"), 1000.0)]
    count = latency_bad_events(buckets, 1000.0, parse_le("1"))
    assert count.exact is True
    assert count.bad == 10.0


def test_latency_duplicate_le_summed() -> None:
    # le="1" before the Prometheus 3 upgrade, le="1.0" after it.
    buckets = [(1.0, 400.0), (1.0, 590.0), (math.inf, 1000.0)]
    count = latency_bad_events(buckets, 1000.0, 1.0)
    assert count.bad == 10.0


def test_latency_threshold_above_last_finite_bucket() -> None:
    count = latency_bad_events(BUCKETS, 1000.0, 2.0)
    assert count.exact is False
    assert count.bad is None
    assert count.sli is None
    assert (count.bad_min, count.bad_max) == (0.0, 10.0)
    assert count.upper_le == math.inf


def test_latency_threshold_below_first_bucket() -> None:
    count = latency_bad_events(BUCKETS, 1000.0, 0.05)
    assert (count.lower_le, count.bad_max) == (0.0, 1000.0)
    assert count.bad_min == 100.0
    assert count.bad == pytest.approx(1000.0 - 0.2 * 900.0)


def test_latency_no_traffic() -> None:
    count = latency_bad_events([(0.25, 0.0), (math.inf, 0.0)], 0.0, 0.25)
    assert count.sli is None
    assert count.sli_min is None


def test_latency_non_monotonic_counts_raised() -> None:
    buckets = [(0.25, 900.0), (0.5, 899.5), (math.inf, 1000.0)]
    count = latency_bad_events(buckets, 1000.0, 0.5)
    assert count.bad == 100.0


def test_latency_count_above_total_rejected() -> None:
    with pytest.raises(ValueError, match="is above the total"):
        latency_bad_events([(0.25, 900.0), (math.inf, 1100.0)], 1000.0, 0.25)


@pytest.mark.parametrize(
    ("buckets", "threshold", "message"),
    [
        ([], 0.3, "it has no buckets"),
        (BUCKETS, 0.0, "invalid latency threshold"),
        (BUCKETS, math.inf, "invalid latency threshold"),
        ([(0.25, -1.0)], 0.3, "invalid histogram count"),
        ([(math.nan, 1.0)], 0.3, "le NaN"),
    ],
)
def test_latency_invalid(
    buckets: list[tuple[float, float]], threshold: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        latency_bad_events(buckets, 1000.0, threshold)
