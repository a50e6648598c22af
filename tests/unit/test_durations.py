"""Tests for slocli.core.durations."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from slocli.core.durations import (
    format_duration,
    format_go_duration,
    format_go_duration_ns,
    format_prometheus_duration,
    parse_go_duration,
    parse_go_duration_ns,
    parse_window,
)
from slocli.errors import UsageError

# Expected values follow the Go documentation of time.ParseDuration and
# Duration.String, worked out by hand.


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("850µs", 850_000),  # U+00B5 MICRO SIGN
        ("850μs", 850_000),  # U+03BC GREEK SMALL LETTER MU
        ("850us", 850_000),
        ("12.5ms", 12_500_000),
        ("1.4s", 1_400_000_000),
        ("1m2.5s", 62_500_000_000),
        ("2h45m", 9_900_000_000_000),
        ("1h0m0s", 3_600_000_000_000),
        ("100ns", 100),
        ("0", 0),
        ("-0", 0),
        ("+0", 0),
        ("0s", 0),
        ("-1.5h", -5_400_000_000_000),
        ("+5s", 5_000_000_000),
        (".5s", 500_000_000),
        ("1.s", 1_000_000_000),
        ("1m1m", 120_000_000_000),
        ("1s1h", 3_601_000_000_000),
        ("0.000000001s", 1),
        ("0.0000000019s", 1),
        ("9223372036854775807ns", 2**63 - 1),
        ("-9223372036854775808ns", -(2**63)),
        ("2562047h47m16.854775807s", 2**63 - 1),
    ],
)
def test_parse_go_duration_ns_valid(text: str, nanoseconds: int) -> None:
    assert parse_go_duration_ns(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("850µs", 0.00085), ("1.4s", 1.4), ("1m2.5s", 62.5), ("0", 0.0)],
)
def test_parse_go_duration_seconds(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("-", "it is empty"),
        ("1", "a unit is missing"),
        ("1500", "a unit is missing"),
        ("1.5", "a unit is missing"),
        ("00", "a unit is missing"),
        (".s", "a number is missing"),
        ("s", "a number is missing"),
        ("--1s", "a number is missing"),
        ("1x", 'the unit "x" is unknown'),
        ("1 s", 'the unit " s" is unknown'),
        ("1S", 'the unit "S" is unknown'),
        ("1d", 'the unit "d" is unknown'),
        ("1e3s", 'the unit "e" is unknown'),
        (" 1s", "a number is missing"),
        ("1s ", 'the unit "s " is unknown'),
        ("9223372036854775808ns", "292 years"),
        ("2562048h", "292 years"),
    ],
)
def test_parse_go_duration_invalid(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid Go duration") as caught:
        parse_go_duration(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.00085, "850µs"),
        (0.0125, "12.5ms"),
        (1.4, "1.4s"),
        (62.5, "1m2.5s"),
        (0, "0s"),
        (3600, "1h0m0s"),
        (1e-7, "100ns"),
        (-1.5, "-1.5s"),
        (90061.001, "25h1m1.001s"),
        (0.000001, "1µs"),
    ],
)
def test_format_go_duration(seconds: float, expected: str) -> None:
    assert format_go_duration(seconds) == expected


def test_format_go_duration_micro_sign() -> None:
    assert format_go_duration(0.00085)[-2] == "\u00b5"


def test_format_go_duration_nan() -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        format_go_duration(float("nan"))


def test_go_duration_ns_round_trip() -> None:
    generator = random.Random(42)
    for _ in range(2000):
        nanoseconds = generator.randint(-(2**63), 2**63 - 1) >> generator.randint(0, 62)
        assert parse_go_duration_ns(format_go_duration_ns(nanoseconds)) == nanoseconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2d", 172_800),  # the --since 2d case that Go-only parsers reject
        ("1h30m", 5_400),
        ("1d12h", 129_600),
        ("1w", 604_800),
        ("100ms", 0.1),
        ("1.5h", 5_400),
        ("90s", 90),
        ("30m1d", 88_200),
        (" 24h ", 86_400),
    ],
)
def test_parse_window_valid(text: str, seconds: float) -> None:
    assert parse_window(text) == timedelta(seconds=seconds)


def test_parse_window_invalid_message() -> None:
    with pytest.raises(UsageError) as caught:
        parse_window("5x")
    assert str(caught.value) == (
        'invalid duration "5x" for --since; use a number with a unit s, m, h, d or w, '
        "such as 24h"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "use a number with a unit"),
        ("1H", "use a number with a unit"),
        ("1y", "use a number with a unit"),
        ("1", "use a number with a unit"),
        ("1 h", "use a number with a unit"),
        ("0", "it is zero"),
        ("0s", "it is zero"),
        ("-1h", "it is negative"),
        ("99999999999999w", "it is too long"),
    ],
)
def test_parse_window_invalid(text: str, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_window(text)
    assert reason in str(caught.value)


def test_parse_window_names_option() -> None:
    with pytest.raises(UsageError, match="for --window;"):
        parse_window("x", "--window")


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(days=30), "30d"),
        (timedelta(hours=1), "1h"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(days=28), "4w"),
        (timedelta(days=90), "90d"),
        (timedelta(days=365), "1y"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(seconds=1.5), "1s500ms"),
        (timedelta(microseconds=1500), "2ms"),
        (timedelta(microseconds=1499), "1ms"),
    ],
)
def test_format_prometheus_duration(duration: timedelta, expected: str) -> None:
    assert format_prometheus_duration(duration) == expected


@pytest.mark.parametrize(
    "duration", [timedelta(0), timedelta(microseconds=400), timedelta(hours=-1)]
)
def test_format_prometheus_duration_below_1ms(duration: timedelta) -> None:
    with pytest.raises(ValueError, match="below 1ms"):
        format_prometheus_duration(duration)


def test_format_prometheus_duration_too_long() -> None:
    with pytest.raises(ValueError, match="292 years"):
        format_prometheus_duration(timedelta(days=300 * 365))


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (2.5e-7, "250ns"),
        (0.00085, "850µs"),
        (0.012, "12ms"),
        (0.0124, "12ms"),
        (0.9996, "1.00s"),
        (1.4, "1.40s"),
        (59.996, "1m00s"),
        (123, "2m03s"),
        (3599.6, "1h00m"),
        (3900, "1h05m"),
        (86_400 * 3 + 4 * 3600, "3d04h"),
        (-1.4, "-1.40s"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_format_duration_infinity() -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        format_duration(float("inf"))
