"""Duration parsing and formatting.

Three duration grammars meet in slocli:

- Go's ``time.ParseDuration``, used by services that log durations (``850µs``,
  ``1m2.5s``), by Loki's duration label filters and by Tempo's ``minDuration``.
  Units ns, us, µs, μs, ms, s, m and h. A unit is required except for ``0``.
- Relative windows on the command line (``--since 1d12h``): the Go grammar
  without a sign, with days and weeks added and the sub-millisecond units left out.
- Prometheus durations in PromQL range selectors (``[30d]``): whole
  milliseconds, units ms, s, m, h, d, w and y, largest unit first.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal

from slocli.core.escape import quote_for_message
from slocli.errors import UsageError

__all__ = [
    "format_duration",
    "format_go_duration",
    "format_go_duration_ns",
    "format_prometheus_duration",
    "parse_go_duration",
    "parse_go_duration_ns",
    "parse_window",
]

_NS_PER_US = 1_000
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_NS_PER_MIN = 60 * _NS_PER_S
_NS_PER_H = 60 * _NS_PER_MIN

# Go's unit table (golang/go src/time/format.go): both micro signs are accepted,
# U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU.
_GO_UNITS_NS = {
    "ns": 1,
    "us": _NS_PER_US,
    "\u00b5s": _NS_PER_US,
    "\u03bcs": _NS_PER_US,
    "ms": _NS_PER_MS,
    "s": _NS_PER_S,
    "m": _NS_PER_MIN,
    "h": _NS_PER_H,
}

# One part of a Go duration: digits, an optional fraction, then a unit. Go takes
# every character up to the next digit or dot as the unit, so "1 s" has the
# unknown unit " s" rather than a space to skip.
_GO_PART = re.compile(r"(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?P<unit>[^0-9.]*)")

_INT64_MAX = 2**63 - 1

_WINDOW_UNITS_US = {
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_WINDOW_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ms|s|m|h|d|w)")
_WINDOW = re.compile(rf"(?:{_WINDOW_PART.pattern})+")

# Prometheus model.Duration.String (prometheus/common model/time.go): years and
# weeks only when they divide the rest exactly, so 90 days prints as 90d, not 12w6d.
_PROMETHEUS_UNITS_MS = (
    ("y", 365 * 86_400_000, True),
    ("w", 7 * 86_400_000, True),
    ("d", 86_400_000, False),
    ("h", 3_600_000, False),
    ("m", 60_000, False),
    ("s", 1_000, False),
    ("ms", 1, False),
)


def parse_go_duration_ns(text: str) -> int:
    """Parse a Go duration string into whole nanoseconds like ``time.ParseDuration``.

    Accepts an optional sign and one or more parts, each a decimal number with
    an optional fraction and a unit (``1m2.5s``, ``-1.5h``, ``.5s``, ``1.s``).
    A bare ``0`` is the only value without a unit. Raises ValueError naming
    the value for anything else, including values outside Go's int64 range.
    """
    body = text[1:] if text[:1] in ("+", "-") else text
    negative = text[:1] == "-"
    if body == "0":
        return 0
    if not body:
        raise _go_duration_error(text, "it is empty")

    total = 0
    position = 0
    while position < len(body):
        part = _GO_PART.match(body, position)
        assert part is not None  # every group may be empty, so the match never fails
        if not part["int"] and not part["frac"]:
            raise _go_duration_error(text, "a number is missing")
        unit = part["unit"]
        if not unit:
            raise _go_duration_error(text, "a unit is missing")
        if unit not in _GO_UNITS_NS:
            reason = f"the unit {quote_for_message(unit)} is unknown"
            raise _go_duration_error(text, reason)

        total += _go_part_ns(part["int"], part["frac"] or "", _GO_UNITS_NS[unit])
        position = part.end()

    limit = _INT64_MAX + 1 if negative else _INT64_MAX
    if total > limit:
        raise _go_duration_error(
            text, "it is longer than Go's limit of about 292 years"
        )
    return -total if negative else total


def parse_go_duration(text: str) -> float:
    """Parse a Go duration string into seconds. See :func:`parse_go_duration_ns`."""
    return parse_go_duration_ns(text) / _NS_PER_S


def format_go_duration_ns(nanoseconds: int) -> str:
    """Format whole nanoseconds as Go's ``Duration.String`` does.

    Below one second the largest fitting unit of ns, µs (U+00B5) and ms carries
    a fraction (``850µs``, ``12.5ms``). From one second on the form is hours,
    minutes and seconds with leading zero units left out (``1.4s``, ``1m2.5s``,
    ``1h0m0s``). Zero is ``0s``.
    """
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    size = abs(nanoseconds)

    if size < _NS_PER_US:
        return f"{sign}{size}ns"
    if size < _NS_PER_MS:
        return f"{sign}{_decimal_text(size, 3)}\u00b5s"
    if size < _NS_PER_S:
        return f"{sign}{_decimal_text(size, 6)}ms"

    minutes, rest_ns = divmod(size, _NS_PER_MIN)
    hours, minutes = divmod(minutes, 60)
    seconds = f"{_decimal_text(rest_ns, 9)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return f"{sign}{seconds}"


def format_go_duration(seconds: float) -> str:
    """Format seconds as Go's ``Duration.String`` would print them.

    The value is first rounded to whole nanoseconds from its shortest decimal
    form, so ``1.4`` prints as ``1.4s``. Raises ValueError for NaN or infinity.
    """
    _check_finite(seconds)
    nanoseconds = round(Decimal(repr(seconds)) * _NS_PER_S)
    return format_go_duration_ns(nanoseconds)


def parse_window(text: str, option: str = "--since") -> timedelta:
    """Parse a positive relative window such as ``24h``, ``1h30m`` or ``1d12h``.

    Units are ms, s, m, h, d (24 hours) and w (7 days). Parts may come in any
    order and may have a decimal fraction (``1.5h``); the result is rounded to
    whole microseconds, the resolution of ``timedelta``. Raises UsageError
    naming ``option`` for a malformed, zero or negative value.
    """
    stripped = text.strip()
    negative = stripped.startswith("-")
    try:
        window = _parse_window_or_none(stripped[1:] if negative else stripped)
    except OverflowError:
        raise UsageError(
            f"invalid duration {quote_for_message(text)} for {option}, it is too "
            "long; use a shorter duration such as 30d"
        ) from None
    if window is None:
        raise UsageError(
            f"invalid duration {quote_for_message(text)} for {option}; use a number "
            "with a unit s, m, h, d or w, such as 24h"
        )
    if negative or window == timedelta(0):
        reason = "negative" if negative else "zero"
        raise UsageError(
            f"invalid duration {quote_for_message(text)} for {option}, it is "
            f"{reason}; use a positive duration such as 24h"
        )
    return window


def format_prometheus_duration(duration: timedelta) -> str:
    """Format ``duration`` as the Prometheus duration string used in range selectors.

    Matches Prometheus' own ``model.Duration.String``: ``30d``, ``1h``,
    ``1m30s``, and ``4w`` for 28 days. The value is rounded to whole
    milliseconds, the resolution of PromQL durations. Raises ValueError when
    the rounded value is below 1ms or beyond Prometheus' limit of about 292 years.
    """
    microseconds = duration // timedelta(microseconds=1)
    milliseconds = (microseconds + 500) // 1000
    if milliseconds < 1:
        raise ValueError(
            f"invalid range {duration} for a PromQL range selector, it is below "
            "1ms; use a range of at least 1ms"
        )
    if milliseconds * _NS_PER_MS > _INT64_MAX:
        raise ValueError(
            f"invalid range {duration} for a PromQL range selector, it is longer "
            "than Prometheus' limit of about 292 years; use a shorter range"
        )

    text = ""
    for unit, size, whole_only in _PROMETHEUS_UNITS_MS:
        if whole_only and milliseconds % size:
            continue
        count, milliseconds = divmod(milliseconds, size)
        if count:
            text += f"{count}{unit}"
    return text


def format_duration(seconds: float) -> str:
    """Format seconds in a short human form for tables.

    Three significant places at most, picking the unit by size after rounding:
    ``250ns``, ``850µs``, ``12ms``, ``1.40s``, ``2m03s``, ``1h05m``, ``3d04h``.
    Negative values get a leading ``-``. Raises ValueError for NaN or infinity.
    """
    _check_finite(seconds)
    nanoseconds = round(Decimal(repr(seconds)) * _NS_PER_S)
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    size = abs(nanoseconds)

    # Round to each unit in turn and keep the first that stays below its limit,
    # so 999.6ms becomes 1.00s instead of 1000ms.
    if size < 1_000:
        return f"{sign}{size}ns"
    microseconds = _round_half_up(size, _NS_PER_US)
    if microseconds < 1_000:
        return f"{sign}{microseconds}\u00b5s"
    milliseconds = _round_half_up(size, _NS_PER_MS)
    if milliseconds < 1_000:
        return f"{sign}{milliseconds}ms"
    centiseconds = _round_half_up(size, _NS_PER_S // 100)
    if centiseconds < 6_000:
        return f"{sign}{centiseconds // 100}.{centiseconds % 100:02d}s"
    whole_seconds = _round_half_up(size, _NS_PER_S)
    if whole_seconds < 3_600:
        return f"{sign}{whole_seconds // 60}m{whole_seconds % 60:02d}s"
    whole_minutes = _round_half_up(size, _NS_PER_MIN)
    if whole_minutes < 1_440:
        return f"{sign}{whole_minutes // 60}h{whole_minutes % 60:02d}m"
    whole_hours = _round_half_up(size, _NS_PER_H)
    return f"{sign}{whole_hours // 24}d{whole_hours % 24:02d}h"


def _parse_window_or_none(text: str) -> timedelta | None:
    """Parse a window, or return None when ``text`` is not in the window grammar.

    Raises OverflowError when the value does not fit in a ``timedelta``.
    """
    if text == "0":
        return timedelta(0)
    if _WINDOW.fullmatch(text) is None:
        return None

    microseconds = Decimal(0)
    for number, unit in _WINDOW_PART.findall(text):
        microseconds += Decimal(number) * _WINDOW_UNITS_US[unit]
    return timedelta(microseconds=int(microseconds.to_integral_value()))


def _go_part_ns(integer: str, fraction: str, unit_ns: int) -> int:
    """Return the nanoseconds of one Go duration part, rounding as Go does.

    Go keeps fraction digits only while they fit in 63 bits and then adds
    ``uint64(float64(f) * (float64(unit) / scale))``, a float64 step that
    truncates toward zero (golang/go src/time/format.go, leadingFraction and
    ParseDuration). The same steps here give the same nanosecond.
    """
    value = int(integer or "0") * unit_ns
    fraction_value = 0
    scale = 1.0
    for char in fraction:
        if fraction_value > _INT64_MAX // 10 or fraction_value * 10 + int(char) > 2**63:
            break
        fraction_value = fraction_value * 10 + int(char)
        scale *= 10
    if fraction_value:
        value += int(float(fraction_value) * (float(unit_ns) / scale))
    return value


def _go_duration_error(text: str, reason: str) -> ValueError:
    return ValueError(
        f"invalid Go duration {quote_for_message(text)}, {reason}; use numbers with "
        "a unit ns, us, µs, ms, s, m or h, such as 1.5s or 1m2.5s"
    )


def _decimal_text(value: int, fraction_digits: int) -> str:
    """Write ``value / 10**fraction_digits`` without trailing zeros in the fraction."""
    whole, fraction = divmod(value, 10**fraction_digits)
    fraction_text = f"{fraction:0{fraction_digits}d}".rstrip("0")
    return f"{whole}.{fraction_text}" if fraction_text else str(whole)


def _round_half_up(value: int, step: int) -> int:
    return (value + step // 2) // step


def _check_finite(seconds: float) -> None:
    if not math.isfinite(seconds):
        raise ValueError(
            f"invalid duration {seconds!r} seconds, it is not a finite number; "
            "pass a finite number of seconds"
        )
