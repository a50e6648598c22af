"""Tests for slocli.core.timewindow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from slocli.core.timewindow import TimeWindow, load_zone, parse_time, resolve_window
from slocli.errors import UsageError

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def resolve(**options: str | None) -> TimeWindow:
    arguments: dict[str, str | None] = {
        "since": None,
        "start": None,
        "end": None,
        "tz": "UTC",
    }
    arguments.update(options)
    tz = arguments.pop("tz")
    assert tz is not None
    return resolve_window(
        since=arguments["since"],
        start=arguments["start"],
        end=arguments["end"],
        tz=tz,
        now=NOW,
    )


def test_since_2d_is_172800_seconds() -> None:
    window = resolve(since="2d")
    assert window.duration.total_seconds() == 172_800


def test_dst_offsets_window_is_one_hour() -> None:
    # Across the US spring-forward change: -05:00 before it, -04:00 after it.
    window = resolve(start="2024-03-10T01:30:00-05:00", end="2024-03-10T03:30:00-04:00")
    assert window.start.timestamp() == 1_710_052_200
    assert window.end.timestamp() == 1_710_055_800
    assert window.duration == timedelta(hours=1)


def test_naive_time_in_dst_gap_rejected() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(start="2024-03-10T02:30:00", tz="America/New_York")
    message = str(caught.value)
    assert message.startswith('nonexistent local time "2024-03-10T02:30:00" for --from')
    assert "America/New_York" in message
    assert "2024-03-10T02:30:00-05:00" in message


def test_naive_time_in_repeated_hour_rejected() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(start="2024-11-03T01:30:00", end="now", tz="America/New_York")
    message = str(caught.value)
    assert message.startswith('ambiguous local time "2024-11-03T01:30:00" for --from')
    assert "2024-11-03T01:30:00-04:00 for the first" in message
    assert "2024-11-03T01:30:00-05:00 for the second" in message


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        (
            "2026-03-01T10:00:00",
            "Europe/Berlin",
            datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        ),
        (
            "2026-07-01T10:00:00",
            "Europe/Berlin",
            datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
        ),
        (
            "2024-03-10T03:30:00",
            "America/New_York",
            datetime(2024, 3, 10, 7, 30, tzinfo=UTC),
        ),
        ("2026-03-01", "America/New_York", datetime(2026, 3, 1, 5, 0, tzinfo=UTC)),
        ("2026-03-01 10:00", "UTC", datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),
        ("2026-03-01T10:00:00Z", "Asia/Tokyo", datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),
        ("2026-03-01t10:00:00z", "UTC", datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),
        ("2026-03-01T11:30:00+01:30", "UTC", datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),
        (
            "2026-03-01T10:00:00.123456789Z",
            "UTC",
            datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC),
        ),
        ("now", "UTC", NOW),
        ("2h", "UTC", NOW - timedelta(hours=2)),
        ("1d", "UTC", NOW - timedelta(days=1)),
        ("now-30m", "UTC", NOW - timedelta(minutes=30)),
    ],
)
def test_parse_time_forms(text: str, tz: str, expected: datetime) -> None:
    assert parse_time(text, tz=tz, now=NOW, option="--from") == expected


def test_parse_time_returns_utc() -> None:
    parsed = parse_time(
        "2026-03-01T10:00:00", tz="Europe/Berlin", now=NOW, option="--to"
    )
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["yesterday", "2026-03-01T10", "20260301T100000Z", "0s", "-2h", "2026/03/01"],
)
def test_parse_time_invalid(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_time(text, tz="UTC", now=NOW, option="--to")
    assert str(caught.value).startswith(f'invalid time "{text}" for --to')


def test_parse_time_invalid_date_reason() -> None:
    with pytest.raises(UsageError, match=r"month must be in 1\.\.12"):
        parse_time("2026-13-01T00:00:00Z", tz="UTC", now=NOW, option="--from")


def test_parse_time_naive_now() -> None:
    with pytest.raises(ValueError, match="it has no time zone"):
        parse_time("now", tz="UTC", now=datetime(2026, 3, 1), option="--to")


@pytest.mark.parametrize(
    "tz", ["Mars/Base", "", "America", "../etc/passwd", "/etc/UTC"]
)
def test_unknown_zone(tz: str) -> None:
    with pytest.raises(UsageError) as caught:
        resolve(since="1h", tz=tz)
    assert str(caught.value).startswith(f'unknown time zone "{tz}" for --tz;')


@pytest.mark.parametrize("tz", ["UTC", "utc"])
def test_load_zone_utc(tz: str) -> None:
    assert load_zone(tz) is UTC


def test_since_with_from_rejected() -> None:
    with pytest.raises(UsageError, match='conflicting options --since "1h" and --from'):
        resolve(since="1h", start="2026-03-01T08:00:00Z")


def test_since_counts_back_from_to() -> None:
    window = resolve(since="30m", end="2026-03-01T09:00:00Z")
    assert window.start == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def test_default_since_is_one_hour() -> None:
    window = resolve()
    assert window.start == NOW - timedelta(hours=1)
    assert window.end == NOW


def test_relative_from_counts_back_from_now() -> None:
    window = resolve(start="2h", end="2026-03-01T09:30:00Z")
    assert window.start == NOW - timedelta(hours=2)


def test_end_in_future_allowed() -> None:
    window = resolve(start="2026-03-01T09:00:00Z", end="2026-03-02T00:00:00Z")
    assert window.end > NOW


def test_end_before_start_names_both() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(start="2026-03-02T10:00:00Z", end="2026-03-01T10:00:00Z")
    assert str(caught.value) == (
        'empty time window, --from "2026-03-02T10:00:00Z" (2026-03-02T10:00:00Z) is '
        'not before --to "2026-03-01T10:00:00Z" (2026-03-01T10:00:00Z); give a '
        "--from earlier than --to"
    )


def test_end_equal_start_rejected() -> None:
    with pytest.raises(UsageError, match="empty time window"):
        resolve(start="2026-03-01T10:00:00Z", end="2026-03-01T11:00:00+01:00")


def test_invalid_since_names_option() -> None:
    with pytest.raises(UsageError, match='invalid duration "5x" for --since'):
        resolve(since="5x")


def test_time_window_describe() -> None:
    window = TimeWindow(
        datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)
    )
    assert window.describe() == "2026-03-01T10:00:00Z/2026-03-02T10:00:00Z"


def test_time_window_normalizes_to_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    window = TimeWindow(
        datetime(2026, 3, 1, 11, tzinfo=plus_one), datetime(2026, 3, 1, 12, tzinfo=UTC)
    )
    assert window.start == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert window.start.tzinfo is UTC


def test_time_window_nanoseconds() -> None:
    window = TimeWindow(
        datetime(2024, 3, 10, 6, 30, 0, 123456, tzinfo=UTC),
        datetime(2024, 3, 10, 7, 30, tzinfo=UTC),
    )
    assert window.start_ns == 1_710_052_200_123_456_000
    assert window.end_ns == 1_710_055_800_000_000_000


def test_time_window_naive_rejected() -> None:
    with pytest.raises(ValueError, match="it has no time zone"):
        TimeWindow(datetime(2026, 3, 1), datetime(2026, 3, 2, tzinfo=UTC))


def test_time_window_empty_rejected() -> None:
    with pytest.raises(ValueError, match="is not after start"):
        TimeWindow(NOW, NOW)
