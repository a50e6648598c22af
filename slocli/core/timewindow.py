"""Time windows from the ``--since``, ``--from``, ``--to`` and ``--tz`` options.

Every time becomes a timezone-aware UTC ``datetime`` here, at the edge. The
caller passes ``now`` in, so replayed runs and tests pin the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slocli.core.durations import parse_window
from slocli.core.escape import quote_for_message
from slocli.errors import UsageError

__all__ = ["TimeWindow", "load_zone", "parse_time", "resolve_window"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# RFC 3339 date-times, with "T", "t" or a space between date and time, and the
# same without an offset (read in --tz). A date alone means midnight in --tz.
_ISO_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?)?"
)

_TIME_FORMS = (
    "use RFC 3339 such as 2026-03-01T10:00:00Z, a local time such as "
    "2026-03-01T10:00:00, a duration ago such as 2h, or now"
)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open query window ``[start, end)`` in UTC.

    Both ends must be timezone-aware and are converted to UTC on creation.
    Raises ValueError for a naive datetime or when ``end`` is not after ``start``.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(
                    f"invalid TimeWindow {name} {value.isoformat()}, it has no time "
                    "zone; pass a timezone-aware datetime"
                )
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError(
                f"invalid TimeWindow, end {_format_utc(self.end)} is not after start "
                f"{_format_utc(self.start)}; pass an end later than the start"
            )

    @property
    def duration(self) -> timedelta:
        """Length of the window."""
        return self.end - self.start

    @property
    def start_ns(self) -> int:
        """Start as Unix nanoseconds, exact to the microsecond of ``datetime``."""
        return _unix_ns(self.start)

    @property
    def end_ns(self) -> int:
        """End as Unix nanoseconds, exact to the microsecond of ``datetime``."""
        return _unix_ns(self.end)

    def describe(self) -> str:
        """Return the window as an ISO 8601 interval in UTC.

        For example ``2026-03-01T10:00:00Z/2026-03-02T10:00:00Z``. Fractional
        seconds appear only when an end has them.
        """
        return f"{_format_utc(self.start)}/{_format_utc(self.end)}"


def load_zone(tz: str, option: str = "--tz") -> tzinfo:
    """Return the time zone named by the IANA name ``tz``, such as Europe/Berlin.

    ``UTC`` is accepted in any letter case. Raises UsageError naming ``option``
    for an unknown name.
    """
    if tz.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ZoneInfo raises ValueError for malformed keys and OSError (such as
        # IsADirectoryError for "America") for paths that are not zone files.
        raise UsageError(
            f"unknown time zone {quote_for_message(tz)} for {option}; use an IANA "
            "name such as UTC, Europe/Berlin or America/New_York"
        ) from None


def parse_time(text: str, *, tz: str, now: datetime, option: str) -> datetime:
    """Parse a ``--from`` or ``--to`` value into a UTC datetime.

    Accepted forms:

    - RFC 3339 with an offset or ``Z``: ``2026-03-01T10:00:00+01:00``.
    - The same without an offset, or a date alone, read as a local time in the
      zone ``tz``. A local time that the zone skips (the spring-forward gap) or
      repeats (the fall-back hour) raises UsageError instead of guessing.
    - A relative duration such as ``2h``, ``30m`` or ``1d``, meaning ``now``
      minus that duration; ``now-2h`` means the same.
    - ``now``.

    ``now`` must be timezone-aware. Raises UsageError naming ``option`` for
    anything else, and for an unknown zone ``tz``.
    """
    zone = load_zone(tz)
    now_utc = _require_aware(now)
    stripped = text.strip()

    if stripped == "now":
        return now_utc
    match = _ISO_TIME.fullmatch(stripped)
    if match is not None:
        return _parse_iso(text, match, zone=zone, tz=tz, option=option)

    relative = stripped.removeprefix("now-")
    try:
        return now_utc - parse_window(relative, option)
    except (UsageError, OverflowError):
        raise UsageError(
            f"invalid time {quote_for_message(text)} for {option}; {_TIME_FORMS}"
        ) from None


def resolve_window(
    *,
    since: str | None,
    start: str | None,
    end: str | None,
    tz: str,
    now: datetime,
    default_since: str = "1h",
) -> TimeWindow:
    """Turn the ``--since``, ``--from``, ``--to`` and ``--tz`` values into a window.

    ``--since`` counts back from ``--to``, or from ``now`` when ``--to`` is not
    given; without ``--since`` and ``--from``, ``default_since`` does the same.
    A relative ``--from`` such as ``2h`` counts back from ``now``, not from
    ``--to``. An end in the future is allowed. Raises UsageError when
    ``--since`` and ``--from`` are both given, when a value is invalid, and when
    the end is not after the start.
    """
    load_zone(tz)
    if since is not None and start is not None:
        raise UsageError(
            f"conflicting options --since {quote_for_message(since)} and --from "
            f"{quote_for_message(start)}; use --since to count back from --to or "
            "now, or --from to set the start"
        )

    if end is not None:
        end_time = parse_time(end, tz=tz, now=now, option="--to")
    else:
        end_time = _require_aware(now)

    if start is not None:
        start_time = parse_time(start, tz=tz, now=now, option="--from")
    else:
        window = parse_window(since if since is not None else default_since)
        try:
            start_time = end_time - window
        except OverflowError:
            raise UsageError(
                f"invalid duration {quote_for_message(since or default_since)} for "
                "--since, it reaches before the year 1; use a shorter duration"
            ) from None

    if end_time <= start_time:
        end_text = quote_for_message(end) if end is not None else "now"
        raise UsageError(
            f"empty time window, --from {quote_for_message(start or '')} "
            f"({_format_utc(start_time)}) is not before --to {end_text} "
            f"({_format_utc(end_time)}); give a --from earlier than --to"
        )
    check_query_time(start_time, "--from" if start else "--since")
    check_query_time(end_time, "--to")
    if end_time - start_time < MIN_WINDOW:
        raise UsageError(
            f"invalid window {_format_utc(start_time)}/{_format_utc(end_time)}, it "
            "is shorter than one second; widen --since or --from/--to"
        )
    return TimeWindow(start_time, end_time)


# Backends take times as Unix nanoseconds in a signed 64-bit integer, which
# ends in April 2262; none stores data from before 1970.
EARLIEST_QUERY_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_QUERY_TIME = datetime(2262, 4, 11, tzinfo=UTC)
MIN_WINDOW = timedelta(seconds=1)


def check_query_time(value: datetime, option: str) -> datetime:
    """Reject a time no backend can be asked about; returns it unchanged."""
    if not EARLIEST_QUERY_TIME <= value <= LATEST_QUERY_TIME:
        raise UsageError(
            f"invalid time {_format_utc(value)} for {option}, it is outside "
            "1970-01-01 to 2262-04-11, the range backends store; check the year"
        )
    return value


def _parse_iso(
    text: str, match: re.Match[str], *, zone: tzinfo, tz: str, option: str
) -> datetime:
    normalized = match["date"]
    if match["time"] is not None:
        normalized += "T" + match["time"] + (match["offset"] or "").upper()
    try:
        parsed = datetime.fromisoformat(normalized)
    except ValueError as error:
        raise UsageError(
            f"invalid time {quote_for_message(text)} for {option}, {error}; "
            f"{_TIME_FORMS}"
        ) from None

    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return _localize(parsed, zone=zone, tz=tz, text=text, option=option)


def _localize(
    naive: datetime, *, zone: tzinfo, tz: str, text: str, option: str
) -> datetime:
    """Read ``naive`` as a wall-clock time in ``zone``, rejecting gaps and repeats.

    Python gives a skipped or repeated wall time two different offsets for
    ``fold=0`` and ``fold=1`` (PEP 495). A skipped time does not survive the
    round trip through UTC; a repeated one does.
    """
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)

    example = naive.isoformat()
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        raise UsageError(
            f"nonexistent local time {quote_for_message(text)} for {option}, the "
            f"clocks in {tz} skip it at a daylight saving change; give a UTC "
            f"offset, such as {example}{_offset_text(first)}, or a time outside "
            "the gap"
        )
    raise UsageError(
        f"ambiguous local time {quote_for_message(text)} for {option}, it occurs "
        f"twice in {tz} because the clocks go back; give a UTC offset, "
        f"{example}{_offset_text(first)} for the first or "
        f"{example}{_offset_text(second)} for the second"
    )


def _offset_text(value: datetime) -> str:
    offset = value.utcoffset()
    assert offset is not None  # only called with aware datetimes
    minutes = offset // timedelta(minutes=1)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            f"invalid now {now.isoformat()}, it has no time zone; pass a "
            "timezone-aware datetime such as datetime.now(UTC)"
        )
    return now.astimezone(UTC)


def _unix_ns(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + (
        delta.microseconds * 1_000
    )


def _format_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
