"""A LogQL parser and evaluator for the subset that slocli's tests need.

The Loki test server (``loki_server.py``) uses this module to run log queries
against in-memory streams. It reproduces the behaviour of Loki 3.x, read from
``grafana/loki`` (``pkg/logql/syntax``, ``pkg/logql/log``) and the libraries it
vendors, so that a client that works here also works against a real Loki:

* The lexer follows Loki's: Go ``text/scanner`` tokens, Go string escapes checked
  while scanning (``invalid char escape``, ``literal not terminated``), then
  unquoted like Prometheus' ``strutil.Unquote`` (``invalid syntax``). Single
  quotes are not strings. Errors read ``parse error at line L, col C: ...``, or
  ``parse error : ...`` for errors that Loki raises without a position.
* Stream selectors, line filters, ``json``, ``logfmt``, ``regexp`` and
  ``pattern`` parsers, and string, numeric and duration label filters evaluate
  as in Loki, including the ``__error__`` and ``__error_details__`` labels.
* Everything else (metric queries, ``line_format``, ``label_format``, ``unpack``,
  ``drop``, ``keep``, bytes and ip filters, pattern line filters, ``or`` between
  line filters) is rejected with a parse error that names the feature.

NOTE: syntax errors use Loki's wording (``syntax error: unexpected X, expecting
Y``), but the list after ``expecting`` is written by hand for common places and
is not guaranteed to equal what Loki's generated parser lists.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "EntryLabels",
    "LineInput",
    "LogQuery",
    "MetricQueryError",
    "ParseError",
    "format_go_duration",
    "format_prometheus_duration",
    "go_quote",
    "parse_go_duration",
    "parse_prometheus_duration",
    "parse_query",
    "unquote_string",
]

NANOSECOND: Final = 1
MICROSECOND: Final = 1_000
MILLISECOND: Final = 1_000_000
SECOND: Final = 1_000_000_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE

# Loki rejects queries of this many bytes or more before parsing them.
MAX_QUERY_BYTES: Final = 5120

ERROR_LABEL: Final = "__error__"
ERROR_DETAILS_LABEL: Final = "__error_details__"
JSON_PARSER_ERROR: Final = "JSONParserErr"
LOGFMT_PARSER_ERROR: Final = "LogfmtParserErr"
LABEL_FILTER_ERROR: Final = "LabelFilterErr"
EXTRACTED_SUFFIX: Final = "_extracted"

EMPTY_COMPATIBLE_SELECTOR_MESSAGE: Final = (
    "queries require at least one regexp or equality matcher that does not have "
    'an empty-compatible value. For instance, app=~".*" does not meet this '
    'requirement, but app=~".+" will'
)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ParseError(Exception):
    """A query that Loki would reject with HTTP 400, formatted as Loki does.

    ``line`` and ``col`` are 1-based; Loki reports errors found after parsing
    (validation, invalid regexes) with both set to 0 and a shorter prefix.
    """

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        self.message = message
        self.line = line
        self.col = col
        super().__init__(self.text)

    @property
    def text(self) -> str:
        if self.line == 0 and self.col == 0:
            return f"parse error : {self.message}"
        return f"parse error at line {self.line}, col {self.col}: {self.message}"


class MetricQueryError(ParseError):
    """A metric query: valid LogQL that the test server does not evaluate."""

    def __init__(self, line: int, col: int) -> None:
        super().__init__(
            "metric queries are not supported by the Loki test server, "
            "which evaluates log queries only",
            line,
            col,
        )


class _ScanError(Exception):
    """An error found while scanning one token; the caller adds the position."""


class RegexError(Exception):
    """A regular expression that Go's RE2 engine rejects, or that the test
    server cannot translate to Python's ``re``."""


# ---------------------------------------------------------------------------
# Go-compatible helpers: quoting, durations, floats
# ---------------------------------------------------------------------------

_GO_QUOTE_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(value: str) -> str:
    """Quote a string as Go's ``strconv.Quote`` does.

    Loki writes label values this way in label strings such as
    ``{app="x", level="error"}``, and sorts result streams by that string.
    Characters from ``surrogateescape`` decoding stand for raw bytes and are
    written as ``\\xNN``, as Go writes invalid UTF-8.
    """
    parts = ['"']
    for char in value:
        escaped = _GO_QUOTE_ESCAPES.get(char)
        if escaped is not None:
            parts.append(escaped)
            continue
        if char.isprintable():
            parts.append(char)
            continue
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            parts.append("\\ufffd")
        elif code < 0x20 or code == 0x7F:
            parts.append(f"\\x{code:02x}")
        elif code < 0x10000:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    parts.append('"')
    return "".join(parts)


def _go_time_quote(value: str) -> str:
    """Quote a string as Go's ``time`` package does in its error messages."""
    parts = ['"']
    for char in value:
        if char >= "\x80" or char < " ":
            for byte in char.encode("utf-8", "surrogateescape"):
                parts.append(f"\\x{byte:02x}")
        else:
            if char in '"\\':
                parts.append("\\")
            parts.append(char)
    parts.append('"')
    return "".join(parts)


_GO_DURATION_UNITS: Final = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_INT64_OVERFLOW: Final = 1 << 63


class GoDurationError(ValueError):
    """A string that Go's ``time.ParseDuration`` rejects; the text is Go's."""


def parse_go_duration(text: str) -> int:
    """Parse a duration like Go's ``time.ParseDuration`` and return nanoseconds.

    Loki parses label values this way for duration label filters, so a unit is
    required (``1.5`` fails) and only ns, us, µs, ms, s, m and h are units. The
    error messages are Go's, because Loki copies them into
    ``__error_details__``.
    """
    original = text
    negative = False
    if text and text[0] in "+-":
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise GoDurationError(f"time: invalid duration {_go_time_quote(original)}")
    total = 0
    while text:
        if not (text[0] == "." or "0" <= text[0] <= "9"):
            raise GoDurationError(f"time: invalid duration {_go_time_quote(original)}")
        index = 0
        whole = 0
        while index < len(text) and "0" <= text[index] <= "9":
            if whole > (_INT64_OVERFLOW - 1) // 10:
                raise GoDurationError(
                    f"time: invalid duration {_go_time_quote(original)}"
                )
            whole = whole * 10 + ord(text[index]) - 48
            if whole > _INT64_OVERFLOW:
                raise GoDurationError(
                    f"time: invalid duration {_go_time_quote(original)}"
                )
            index += 1
        has_whole = index > 0
        text = text[index:]
        fraction = 0
        scale = 1.0
        has_fraction = False
        if text.startswith("."):
            text = text[1:]
            index = 0
            overflowed = False
            while index < len(text) and "0" <= text[index] <= "9":
                if not overflowed:
                    if fraction > (_INT64_OVERFLOW - 1) // 10:
                        overflowed = True
                    else:
                        candidate = fraction * 10 + ord(text[index]) - 48
                        if candidate > _INT64_OVERFLOW:
                            overflowed = True
                        else:
                            fraction = candidate
                            scale *= 10
                index += 1
            has_fraction = index > 0
            text = text[index:]
        if not has_whole and not has_fraction:
            raise GoDurationError(f"time: invalid duration {_go_time_quote(original)}")
        index = 0
        while index < len(text) and not (
            text[index] == "." or "0" <= text[index] <= "9"
        ):
            index += 1
        if index == 0:
            raise GoDurationError(
                f"time: missing unit in duration {_go_time_quote(original)}"
            )
        unit_text = text[:index]
        text = text[index:]
        unit = _GO_DURATION_UNITS.get(unit_text)
        if unit is None:
            raise GoDurationError(
                f"time: unknown unit {_go_time_quote(unit_text)} in duration "
                f"{_go_time_quote(original)}"
            )
        if whole > _INT64_OVERFLOW // unit:
            raise GoDurationError(f"time: invalid duration {_go_time_quote(original)}")
        value = whole * unit
        if fraction > 0:
            # Go adds the fraction in float64, which is what makes 0.1s exact.
            value += int(float(fraction) * (float(unit) / scale))
            if value > _INT64_OVERFLOW:
                raise GoDurationError(
                    f"time: invalid duration {_go_time_quote(original)}"
                )
        total += value
        if total > _INT64_OVERFLOW:
            raise GoDurationError(f"time: invalid duration {_go_time_quote(original)}")
    if negative:
        return -total
    if total > _INT64_OVERFLOW - 1:
        raise GoDurationError(f"time: invalid duration {_go_time_quote(original)}")
    return total


_PROMETHEUS_DURATION_RE: Final = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
    r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_PROMETHEUS_DURATION_UNITS: Final = (
    365 * 24 * HOUR,
    7 * 24 * HOUR,
    24 * HOUR,
    HOUR,
    MINUTE,
    SECOND,
    MILLISECOND,
)


class PrometheusDurationError(ValueError):
    """A string that Prometheus' ``model.ParseDuration`` rejects."""


def parse_prometheus_duration(text: str) -> int:
    """Parse a Prometheus duration (``1d2h``, ``30d1h``, ``5m``) to nanoseconds.

    Loki reads ``since`` and ``step`` this way. Fractions are not allowed.
    """
    if text == "":
        raise PrometheusDurationError("empty duration string")
    if text == "0":
        return 0
    match = _PROMETHEUS_DURATION_RE.fullmatch(text)
    if match is None or not any(match.groups()):
        raise PrometheusDurationError(f"not a valid duration string: {go_quote(text)}")
    total = 0
    for number, unit in zip(match.groups(), _PROMETHEUS_DURATION_UNITS, strict=True):
        if number is not None:
            total += int(number) * unit
    if total >= _INT64_OVERFLOW:
        raise PrometheusDurationError(f"duration out of range: {go_quote(text)}")
    return total


def _format_fraction(value: int, precision: int) -> str:
    whole, fraction = divmod(value, 10**precision)
    digits = f"{fraction:0{precision}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def format_go_duration(nanoseconds: int) -> str:
    """Format nanoseconds as Go's ``time.Duration.String`` (``744h0m0s``)."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    value = abs(nanoseconds)
    if value < SECOND:
        if value < MICROSECOND:
            return f"{sign}{value}ns"
        if value < MILLISECOND:
            return f"{sign}{_format_fraction(value, 3)}\u00b5s"
        return f"{sign}{_format_fraction(value, 6)}ms"
    seconds, fraction = divmod(value, SECOND)
    text = _format_fraction((seconds % 60) * SECOND + fraction, 9) + "s"
    minutes = seconds // 60
    if minutes > 0:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours > 0:
            text = f"{hours}h{text}"
    return sign + text


def format_prometheus_duration(nanoseconds: int) -> str:
    """Format a duration as Prometheus' ``model.Duration.String`` (``30d1h``)."""
    milliseconds = nanoseconds // MILLISECOND
    if milliseconds == 0:
        return "0s"
    parts: list[str] = []
    day = 24 * 60 * 60 * 1000
    units = (
        ("y", 365 * day, True),
        ("w", 7 * day, True),
        ("d", day, False),
        ("h", 60 * 60 * 1000, False),
        ("m", 60 * 1000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    )
    for name, size, exact_only in units:
        if exact_only and milliseconds % size != 0:
            continue
        count = milliseconds // size
        if count > 0:
            parts.append(f"{count}{name}")
            milliseconds -= count * size
    return "".join(parts)


_GO_DECIMAL_FLOAT_RE: Final = re.compile(
    r"[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
    r"(?:[eE][+-]?[0-9](?:_?[0-9])*)?"
)
_GO_HEX_FLOAT_RE: Final = re.compile(
    r"[+-]?0[xX](?:_?[0-9a-fA-F])*(?:\.(?:[0-9a-fA-F]_?)*)?[pP][+-]?[0-9]+"
)
_GO_SPECIAL_FLOATS: Final = {
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
}


class GoFloatError(ValueError):
    """A string that Go's ``strconv.ParseFloat`` rejects; the text is Go's."""


def parse_go_float(text: str) -> float:
    """Parse a number as Go's ``strconv.ParseFloat(text, 64)`` does.

    Go accepts ``inf``, ``nan``, exponents and hexadecimal floats, but no
    spaces. Underscores are accepted only after a base prefix; this port does
    not accept them in decimal numbers either.
    """
    special = _GO_SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    if _GO_HEX_FLOAT_RE.fullmatch(text):
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("+-").replace("_", "")
        try:
            value = sign * float.fromhex(body)
        except OverflowError:
            value = sign * math.inf
    elif _GO_DECIMAL_FLOAT_RE.fullmatch(text) and "_" not in text:
        value = float(text)
    else:
        raise GoFloatError(
            f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax"
        )
    if math.isinf(value):
        raise GoFloatError(
            f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range"
        )
    return value


# ---------------------------------------------------------------------------
# LogQL string literals
# ---------------------------------------------------------------------------

_SIMPLE_ESCAPE_BYTES: Final = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
    '"': 0x22,
}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def unquote_string(token: str) -> str:
    """Return the value of a LogQL string literal, written with its quotes.

    Double-quoted strings take Go's escapes only: ``\\a \\b \\f \\n \\r \\t \\v
    \\\\ \\"``, three octal digits up to ``\\377``, ``\\xNN``, ``\\uNNNN`` and
    ``\\UNNNNNNNN``. Backtick strings are raw. Raises ``ValueError`` with Loki's
    message: ``literal not terminated``, ``invalid char escape`` (found while
    scanning) or ``invalid syntax`` (found while unquoting).

    ``\\x`` and octal escapes produce single bytes, as in Go, so ``"\\xc3\\xa9"``
    is ``é`` and ``"\\xff"`` is a byte that is not UTF-8 (kept as a
    ``surrogateescape`` character, which no log line can contain). A UTF-16
    surrogate in ``\\u`` becomes U+FFFD, as Prometheus' ``strutil.Unquote``
    writes it.
    """
    if not token or token[0] not in '"`':
        raise ValueError("invalid syntax")
    try:
        end = _scan_string(token, 0)
    except _ScanError as error:
        raise ValueError(str(error)) from None
    if end != len(token):
        raise ValueError("invalid syntax")
    return _unquote_checked(token)


def _scan_string(text: str, start: int) -> int:
    """Scan the string literal at ``start`` as Go's ``text/scanner`` does.

    Returns the index after the closing quote. Escapes are checked on the way,
    so an invalid escape is reported before a missing closing quote.
    """
    if text[start] == "`":
        end = text.find("`", start + 1)
        if end == -1:
            raise _ScanError("literal not terminated")
        return end + 1
    index = start + 1
    length = len(text)
    while True:
        if index >= length or text[index] == "\n":
            raise _ScanError("literal not terminated")
        char = text[index]
        if char == '"':
            return index + 1
        if char != "\\":
            index += 1
            continue
        index += 1
        escape = text[index] if index < length else ""
        if escape and escape in 'abfnrtv\\"':
            index += 1
        elif escape and escape in "01234567":
            index = _scan_escape_digits(text, index, "01234567", 3)
        elif escape in ("x", "u", "U"):
            count = {"x": 2, "u": 4, "U": 8}[escape]
            index = _scan_escape_digits(text, index + 1, _HEX_DIGITS, count)
        else:
            raise _ScanError("invalid char escape")


def _scan_escape_digits(
    token: str, index: int, digits: frozenset[str] | str, count: int
) -> int:
    for _ in range(count):
        if index >= len(token) or token[index] not in digits:
            raise _ScanError("invalid char escape")
        index += 1
    return index


def _unquote_checked(token: str) -> str:
    body = token[1:-1]
    if token[0] == "`":
        return body
    if "\\" not in body:
        return body
    output = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            output += char.encode("utf-8", "surrogateescape")
            index += 1
            continue
        escape = body[index + 1]
        index += 2
        if escape in _SIMPLE_ESCAPE_BYTES:
            output.append(_SIMPLE_ESCAPE_BYTES[escape])
        elif escape in "01234567":
            value = int(body[index - 1 : index + 2], 8)
            index += 2
            if value > 255:
                raise ValueError("invalid syntax")
            output.append(value)
        elif escape == "x":
            output.append(int(body[index : index + 2], 16))
            index += 2
        else:
            width = 4 if escape == "u" else 8
            value = int(body[index : index + width], 16)
            index += width
            if value > 0x10FFFF:
                raise ValueError("invalid syntax")
            if 0xD800 <= value <= 0xDFFF:
                value = 0xFFFD
            output += chr(value).encode("utf-8")
    return output.decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------
# RE2 regular expressions, translated to Python's re
# ---------------------------------------------------------------------------

_POSIX_CLASSES: Final = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_RE2_PERL_CLASSES: Final = {
    "d": "0-9",
    "s": "\\t\\n\\f\\r ",
    "w": "0-9A-Za-z_",
}
_RE2_ESCAPED_LETTERS: Final = {
    "a": "\\x07",
    "f": "\\x0c",
    "t": "\\t",
    "n": "\\n",
    "r": "\\r",
    "v": "\\x0b",
}
_REPEAT_RE: Final = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_FLAG_GROUP_RE: Final = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?(:|\))")
_RE2_MAX_REPEAT: Final = 1000


def _regex_error(code: str, fragment: str) -> RegexError:
    return RegexError(f"error parsing regexp: {code}: `{fragment}`")


def _unsupported_regex(feature: str) -> RegexError:
    return RegexError(f"the Loki test server does not support {feature} in regexes")


def compile_re2(pattern: str, *, anchored: bool, dot_all: bool) -> re.Pattern[str]:
    """Compile an RE2 pattern with Python's ``re``, keeping RE2's meaning.

    ``anchored`` wraps the pattern as Prometheus matchers do (``^(?s:re)$``),
    ``dot_all`` lets ``.`` match a newline. Constructs that RE2 rejects
    (lookarounds, backreferences, possessive quantifiers) raise
    ``RegexError`` with Go's message. ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are
    ASCII-only, as in RE2.

    NOTE: ``(?i)`` folds ASCII letters only (Python's ``re.ASCII``), while RE2
    folds Unicode letters too; Unicode classes (``\\pL``) and ``(?U)`` are
    rejected as unsupported.
    """
    translated = _translate_re2(pattern)
    if dot_all:
        translated = f"(?s:{translated})"
    if anchored:
        translated = f"^(?:{translated})\\Z"
    try:
        return re.compile(translated, re.ASCII)
    except re.error as error:
        raise _regex_error(str(error.msg), pattern) from None
    except RecursionError:
        raise _regex_error("expression nests too deeply", pattern) from None


@dataclass
class _RegexGroup:
    """State of one open group while translating an RE2 pattern."""

    # Flags of (?flags) groups opened inside this group, in order. RE2 applies
    # (?i) to the rest of the enclosing group, but Python allows global flags
    # only at the start. So each becomes a scoped (?i:...) group, closed at
    # every "|" and at the group's end, and reopened after each "|".
    scoped_flags: list[str] = field(default_factory=list)
    multiline: bool = False


def _translate_re2(pattern: str) -> str:
    output: list[str] = []
    groups = [_RegexGroup()]
    index = 0
    length = len(pattern)
    # What the previous item was: "none" (nothing to repeat), "atom",
    # "repeat" (a lazy "?" may follow) or "lazy".
    previous = "none"
    while index < length:
        char = pattern[index]
        repeat_text = ""
        if char in "*+?":
            repeat_text = char
        elif char == "{":
            match = _REPEAT_RE.match(pattern, index)
            if match is not None:
                repeat_text = match.group(0)
                low = int(match.group(1))
                high_text = match.group(3)
                too_large = low > _RE2_MAX_REPEAT or (
                    bool(high_text) and int(high_text) > _RE2_MAX_REPEAT
                )
                if too_large or (bool(high_text) and int(high_text) < low):
                    raise _regex_error("invalid repeat count", repeat_text)
        if repeat_text:
            if previous == "repeat" and repeat_text == "?":
                output.append("?")
                previous = "lazy"
            elif previous in ("repeat", "lazy"):
                raise _regex_error(
                    "invalid nested repetition operator",
                    pattern[max(index - 1, 0) : index + len(repeat_text)],
                )
            elif previous == "none":
                raise _regex_error(
                    "missing argument to repetition operator", repeat_text
                )
            else:
                output.append(repeat_text)
                previous = "repeat"
            index += len(repeat_text)
            continue
        if char == "\\":
            text, index = _translate_escape(pattern, index, in_class=False)
            output.append(text)
            previous = "atom"
        elif char == "[":
            text, index = _translate_class(pattern, index)
            output.append(text)
            previous = "atom"
        elif char == "(":
            index = _translate_group_open(pattern, index, output, groups)
            previous = "none" if output[-1].endswith(("(", ":", ">")) else previous
        elif char == ")":
            if len(groups) == 1:
                raise _regex_error("unexpected )", pattern)
            closed = groups.pop()
            output.append(")" * (len(closed.scoped_flags) + 1))
            index += 1
            previous = "atom"
        elif char == "|":
            scoped = groups[-1].scoped_flags
            output.append(")" * len(scoped) + "|")
            output.extend(f"(?{flags}:" for flags in scoped)
            index += 1
            previous = "none"
        else:
            if char == "$":
                output.append("$" if groups[-1].multiline else "\\Z")
            elif char == "{":
                output.append("\\{")
            elif char in "&~#\t\n\r\v\f ":
                output.append(re.escape(char))
            else:
                output.append(char)
            index += 1
            previous = "atom"
    if len(groups) > 1:
        raise _regex_error("missing closing )", pattern)
    output.append(")" * len(groups[0].scoped_flags))
    return "".join(output)


def _translate_group_open(
    pattern: str, index: int, output: list[str], groups: list[_RegexGroup]
) -> int:
    """Translate the group opening at ``index``; return the index after it."""
    multiline = groups[-1].multiline
    if not pattern.startswith("(?", index):
        output.append("(")
        groups.append(_RegexGroup(multiline=multiline))
        return index + 1

    for prefix in ("(?P<", "(?<"):
        if pattern.startswith(prefix, index) and not pattern.startswith(
            ("(?<=", "(?<!"), index
        ):
            end = pattern.find(">", index)
            name = pattern[index + len(prefix) : end] if end != -1 else ""
            if end == -1 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                fragment = pattern[index : end + 1] if end != -1 else pattern[index:]
                raise _regex_error("invalid named capture", fragment)
            output.append(f"(?P<{name}>")
            groups.append(_RegexGroup(multiline=multiline))
            return end + 1

    # Anything else must be a flag group: (?flags) or (?flags:re).
    match = _FLAG_GROUP_RE.match(pattern, index)
    if match is None or (
        not match.group(1) and match.group(2) is None and match.group(3) == ")"
    ):
        raise _regex_error(
            "invalid or unsupported Perl syntax", pattern[index : index + 3]
        )
    enabled, disabled, terminator = match.group(1), match.group(2) or "", match.group(3)
    if "U" in enabled or "U" in disabled:
        raise _unsupported_regex("the U (ungreedy) flag")

    if "m" in enabled:
        multiline = True
    if "m" in disabled:
        multiline = False
    flags = enabled + (f"-{disabled}" if disabled else "")

    if terminator == ":":
        output.append(f"(?{flags}:" if flags else "(?:")
        groups.append(_RegexGroup(multiline=multiline))
    else:
        if flags:
            output.append(f"(?{flags}:")
            groups[-1].scoped_flags.append(flags)
        groups[-1].multiline = multiline
    return match.end()


def _translate_escape(pattern: str, index: int, *, in_class: bool) -> tuple[str, int]:
    if index + 1 >= len(pattern):
        raise _regex_error("trailing backslash at end of expression", "")
    char = pattern[index + 1]
    fragment = pattern[index : index + 2]

    if char in _RE2_PERL_CLASSES:
        body = _RE2_PERL_CLASSES[char]
        return (body if in_class else f"[{body}]"), index + 2
    if char in "DSW":
        body = _RE2_PERL_CLASSES[char.lower()]
        if in_class:
            raise _unsupported_regex(f"{fragment} inside a character class")
        return f"[^{body}]", index + 2

    if char in _RE2_ESCAPED_LETTERS:
        return _RE2_ESCAPED_LETTERS[char], index + 2
    if char in "bB" and not in_class:
        return f"\\{char}", index + 2
    if char == "A" and not in_class:
        return "\\A", index + 2
    if char == "z" and not in_class:
        return "\\Z", index + 2

    if char == "x":
        if pattern.startswith("{", index + 2):
            end = pattern.find("}", index + 3)
            digits = pattern[index + 3 : end] if end != -1 else ""
            if end == -1 or not digits or not all(d in _HEX_DIGITS for d in digits):
                raise _regex_error("invalid escape sequence", pattern[index : end + 1])
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise _regex_error("invalid escape sequence", pattern[index : end + 1])
            return _python_char_escape(code), end + 1
        digits = pattern[index + 2 : index + 4]
        if len(digits) != 2 or not all(d in _HEX_DIGITS for d in digits):
            raise _regex_error("invalid escape sequence", pattern[index : index + 4])
        return f"\\x{digits}", index + 4

    # RE2 reads up to three octal digits, but a single 1-7 is a backreference,
    # which it does not support.
    if char in "01234567":
        end = index + 1
        while end < len(pattern) and end < index + 4 and pattern[end] in "01234567":
            end += 1
        digits = pattern[index + 1 : end]
        if char != "0" and len(digits) == 1:
            raise _regex_error("invalid escape sequence", fragment)
        return _python_char_escape(int(digits, 8)), end

    if char == "Q" and not in_class:
        end = pattern.find("\\E", index + 2)
        literal = pattern[index + 2 :] if end == -1 else pattern[index + 2 : end]
        next_index = len(pattern) if end == -1 else end + 2
        return "".join(re.escape(c) for c in literal), next_index

    if char in "pP":
        raise _unsupported_regex("Unicode character classes (\\p, \\P)")
    if char == "C":
        raise _unsupported_regex("\\C")

    if char.isascii() and not char.isalnum():
        return re.escape(char), index + 2
    raise _regex_error("invalid escape sequence", fragment)


def _python_char_escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _translate_class(pattern: str, index: int) -> tuple[str, int]:
    output = ["["]
    position = index + 1
    if pattern.startswith("^", position):
        output.append("^")
        position += 1
    first = True
    while True:
        if position >= len(pattern):
            raise _regex_error("missing closing ]", pattern[index:])
        char = pattern[position]
        if char == "]" and not first:
            output.append("]")
            return "".join(output), position + 1
        first = False
        if char == "[" and pattern.startswith("[:", position):
            end = pattern.find(":]", position + 2)
            name = pattern[position + 2 : end] if end != -1 else ""
            negated = name.startswith("^")
            body = _POSIX_CLASSES.get(name.lstrip("^")) if end != -1 else None
            if body is None:
                raise _regex_error("invalid character class range", pattern[position:])
            if negated:
                raise _unsupported_regex("negated POSIX classes ([:^name:])")
            output.append(body)
            position = end + 2
            continue
        if char == "\\":
            text, position = _translate_escape(pattern, position, in_class=True)
            output.append(text)
            continue
        if char in "[&~|":
            output.append("\\" + char)
        else:
            output.append(char)
        position += 1


# ---------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------

# Keywords and operators that Loki's lexer turns into tokens whatever follows
# them (pkg/logql/syntax/lex.go, "tokens"). Loki matches keywords in lower case,
# so a label called "json" or "by" cannot be written bare in a selector.
_KEYWORDS: Final = frozenset(
    {
        "by",
        "without",
        "bool",
        "label_replace",
        "offset",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "or",
        "and",
        "unless",
        "json",
        "regexp",
        "logfmt",
        "unpack",
        "pattern",
        "label_format",
        "line_format",
        "ip",
        "decolorize",
        "drop",
        "keep",
        "variants",
        "of",
        "unwrap",
    }
)
# Names that become function tokens only when "(" (or "by"/"without" and "(")
# follows; otherwise they are ordinary identifiers ("functionTokens").
_FUNCTIONS: Final = {
    "rate": "RATE",
    "rate_counter": "RATE_COUNTER",
    "count_over_time": "COUNT_OVER_TIME",
    "bytes_rate": "BYTES_RATE",
    "bytes_over_time": "BYTES_OVER_TIME",
    "avg_over_time": "AVG_OVER_TIME",
    "sum_over_time": "SUM_OVER_TIME",
    "min_over_time": "MIN_OVER_TIME",
    "max_over_time": "MAX_OVER_TIME",
    "stdvar_over_time": "STDVAR_OVER_TIME",
    "stddev_over_time": "STDDEV_OVER_TIME",
    "quantile_over_time": "QUANTILE_OVER_TIME",
    "first_over_time": "FIRST_OVER_TIME",
    "last_over_time": "LAST_OVER_TIME",
    "absent_over_time": "ABSENT_OVER_TIME",
    "vector": "VECTOR",
    "sum": "SUM",
    "avg": "AVG",
    "max": "MAX",
    "min": "MIN",
    "count": "COUNT",
    "stddev": "STDDEV",
    "stdvar": "STDVAR",
    "bottomk": "BOTTOMK",
    "topk": "TOPK",
    "sort": "SORT",
    "sort_desc": "SORT_DESC",
    "label_replace": "label_replace",
    "approx_topk": "APPROX_TOPK",
    "bytes": "BYTES_CONV",
    "duration": "DURATION_CONV",
    "duration_seconds": "DURATION_SECONDS_CONV",
    "ip": "ip",
}
_TWO_CHAR_OPERATORS: Final = frozenset(
    {"!=", "=~", "!~", "!>", "|=", "|~", "|>", "==", ">=", "<="}
)
_ONE_CHAR_OPERATORS: Final = frozenset("{},.=|()[]+-*/%^><")
_PARSER_FLAGS: Final = frozenset({"--strict", "--keep-empty"})
_GO_WHITESPACE: Final = frozenset("\t\n\r ")
_DURATION_RUNES: Final = frozenset("nuµmshdwy")
_BYTES_RUNES: Final = frozenset("BikKMGTP")

# Token kinds that are not operators or keywords, named as Loki's grammar names
# them in syntax errors.
IDENTIFIER: Final = "IDENTIFIER"
STRING: Final = "STRING"
NUMBER: Final = "NUMBER"
DURATION: Final = "DURATION"
BYTES: Final = "BYTES"
RANGE: Final = "RANGE"
PARSER_FLAG: Final = "PARSER_FLAG"
END: Final = "$end"


@dataclass(frozen=True, slots=True)
class Token:
    """One LogQL token: its kind, source text, parsed value and position."""

    kind: str
    text: str
    line: int
    col: int
    value: Any = None


def _is_ident_start(char: str) -> bool:
    return char == "_" or char.isalpha()


def _is_ident_char(char: str) -> bool:
    return char == "_" or char.isalpha() or unicodedata.category(char) == "Nd"


class _Lexer:
    """Split a query into tokens on demand, as Loki's lexer does.

    Tokens are produced one at a time so that, like Loki's parser, a syntax
    error before a bad string literal is reported instead of the literal.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0

    def position(self, index: int) -> tuple[int, int]:
        """Return Go's (line, column) for the character at ``index``."""
        if not self.text:
            return 0, 0
        line = self.text.count("\n", 0, index) + 1
        column = index - (self.text.rfind("\n", 0, index) + 1) + 1
        return line, column

    def error(self, message: str, index: int) -> ParseError:
        line, col = self.position(index)
        return ParseError(message, line, col)

    def next_token(self) -> Token:
        """Scan and return the next token; at the end, an ``$end`` token."""
        self._skip_space_and_comments()
        text = self.text
        length = len(text)
        start = self.index
        line, col = self.position(start)
        if start >= length:
            return Token(END, "", line, col)

        char = text[start]
        if _is_ident_start(char):
            end = start + 1
            while end < length and _is_ident_char(text[end]):
                end += 1
            self.index = end
            return self._word_token(text[start:end], line, col)
        if char.isdigit() or (
            char == "." and start + 1 < length and text[start + 1].isdigit()
        ):
            return self._number_token(start, line, col)
        if char in '"`':
            return self._string_token(start, line, col)
        if char == "'":
            return self._char_token(start, line, col)
        if char == "[":
            return self._range_token(start, line, col)
        if char == "-":
            token = self._dash_token(start, line, col)
            if token is not None:
                return token

        pair = text[start : start + 2]
        if pair in _TWO_CHAR_OPERATORS:
            self.index = start + 2
            return Token(pair, pair, line, col)
        self.index = start + 1
        if char in _ONE_CHAR_OPERATORS:
            return Token(char, char, line, col)
        # Loki's lexer hands any other character to the grammar as an
        # identifier, which the grammar then rejects.
        return Token(IDENTIFIER, char, line, col, char)

    def _skip_space_and_comments(self) -> None:
        """Skip white space, ``#`` comments (Loki's) and ``//`` and ``/* */``
        comments (Go's scanner skips those too)."""
        text = self.text
        length = len(text)
        while True:
            while self.index < length and text[self.index] in _GO_WHITESPACE:
                self.index += 1
            if text.startswith(("//", "#"), self.index):
                end = text.find("\n", self.index)
                self.index = length if end == -1 else end
            elif text.startswith("/*", self.index):
                end = text.find("*/", self.index + 2)
                if end == -1:
                    raise self.error("comment not terminated", self.index)
                self.index = end + 2
            else:
                return

    def _range_token(self, start: int, line: int, col: int) -> Token:
        text = self.text
        end = text.find("]", start + 1)
        if end == -1:
            self.index = len(text)
            raise ParseError("missing closing ']' in duration", line, col)
        self.index = end + 1
        try:
            value = parse_prometheus_duration(text[start + 1 : end])
        except PrometheusDurationError as error:
            raise ParseError(str(error), line, col) from None
        return Token(RANGE, text[start : end + 1], line, col, value)

    def _dash_token(self, start: int, line: int, col: int) -> Token | None:
        """Scan a parser flag (``--strict``) or a negative duration at "-"."""
        text = self.text
        if text.startswith("--", start):
            flag_end = start + 2
            while flag_end < len(text) and (
                text[flag_end].isalpha() or text[flag_end] == "-"
            ):
                flag_end += 1
            if text[start:flag_end] in _PARSER_FLAGS:
                self.index = flag_end
                return Token(PARSER_FLAG, text[start:flag_end], line, col)
        duration = self._try_duration(start + 1, "-")
        if duration is not None:
            return Token(DURATION, text[start : self.index], line, col, duration)
        return None

    def _word_token(self, word: str, line: int, col: int) -> Token:
        lower = word.lower()
        function = _FUNCTIONS.get(lower)
        if function is not None and self._function_follows():
            return Token(function, word, line, col)
        if lower in _KEYWORDS and function is None:
            return Token(lower, word, line, col)
        return Token(IDENTIFIER, word, line, col, word)

    def _function_follows(self) -> bool:
        rest = self.text[self.index :].lstrip("".join(_GO_WHITESPACE))
        if rest.startswith("("):
            return True
        for grouping in ("by", "without"):
            if rest[: len(grouping)].lower() == grouping:
                after = rest[len(grouping) :].lstrip("".join(_GO_WHITESPACE))
                return after.startswith("(")
        return False

    def _number_token(self, start: int, line: int, col: int) -> Token:
        text = self.text
        length = len(text)
        end = start
        if text.startswith(("0x", "0X"), start):
            end = start + 2
            while end < length and (text[end] in _HEX_DIGITS or text[end] == "_"):
                end += 1
            if end == start + 2:
                raise ParseError("hexadecimal literal has no digits", line, col)
        else:
            while end < length and (text[end].isdigit() or text[end] == "_"):
                end += 1
            if end < length and text[end] == ".":
                end += 1
                while end < length and (text[end].isdigit() or text[end] == "_"):
                    end += 1
            if end < length and text[end] in "eE":
                exponent = end + 1
                if exponent < length and text[exponent] in "+-":
                    exponent += 1
                digits_start = exponent
                while exponent < length and text[exponent].isdigit():
                    exponent += 1
                if exponent == digits_start:
                    raise ParseError("exponent has no digits", line, col)
                end = exponent
            number = text[start:end]
            if (
                len(number) > 1
                and number[0] == "0"
                and number[1:].isdigit()
                and any(d in "89" for d in number)
            ):
                invalid = next(d for d in number if d in "89")
                raise ParseError(
                    f"invalid digit '{invalid}' in octal literal", line, col
                )
        number_text = text[start:end]
        self.index = end
        duration = self._try_duration(end, number_text)
        if duration is not None:
            return Token(DURATION, text[start : self.index], line, col, duration)
        if self._try_bytes(end, number_text):
            return Token(BYTES, text[start : self.index], line, col)
        return Token(NUMBER, number_text, line, col, number_text)

    def _try_duration(self, index: int, prefix: str) -> int | None:
        """Read a duration literal such as ``1m30s`` or ``250ms``, as Loki does."""
        text = self.text
        end = index
        while end < len(text) and text[end] not in _GO_WHITESPACE:
            char = text[end]
            if not (char.isdigit() or char in _DURATION_RUNES or char == "."):
                break
            end += 1
        if end == index:
            return None
        candidate = prefix + text[index:end]
        try:
            value = parse_prometheus_duration(candidate)
        except PrometheusDurationError:
            try:
                value = parse_go_duration(candidate)
            except GoDurationError:
                return None
        self.index = end
        return value

    def _try_bytes(self, index: int, prefix: str) -> bool:
        text = self.text
        end = index
        while end < len(text) and text[end] not in _GO_WHITESPACE:
            char = text[end]
            if not (char.isdigit() or char in _BYTES_RUNES or char == "."):
                break
            end += 1
        if end == index:
            return False
        if not re.fullmatch(
            r"[0-9.]+\s*(?:[KMGTP]i?B?|[kK]B?|B)", prefix + text[index:end]
        ):
            return False
        self.index = end
        return True

    def _string_token(self, start: int, line: int, col: int) -> Token:
        try:
            self.index = _scan_string(self.text, start)
        except _ScanError as error:
            self.index = len(self.text)
            raise ParseError(str(error), line, col) from None
        token_text = self.text[start : self.index]
        try:
            value = _unquote_checked(token_text)
        except ValueError as error:
            raise ParseError(str(error), line, col) from None
        return Token(STRING, token_text, line, col, value)

    def _char_token(self, start: int, line: int, col: int) -> Token:
        """Scan a Go character literal; Loki's grammar treats it as an
        identifier, so ``{app='x'}`` fails with "unexpected IDENTIFIER"."""
        text = self.text
        end = start + 1
        count = 0
        while True:
            if end >= len(text) or text[end] == "\n":
                self.index = end
                raise ParseError("literal not terminated", line, col)
            if text[end] == "'":
                break
            end += 2 if text[end] == "\\" else 1
            count += 1
        self.index = end + 1
        if count != 1:
            raise ParseError("invalid char literal", line, col)
        return Token(IDENTIFIER, text[start : self.index], line, col, None)


# ---------------------------------------------------------------------------
# Evaluation state
# ---------------------------------------------------------------------------


class EntryLabels:
    """The labels of one log line while it passes through a pipeline.

    It mirrors Loki's ``LabelsBuilder``. ``base`` contains the stream labels
    and ``parsed`` the labels that parsers extracted. ``error`` and
    ``error_details`` are the values of ``__error__`` and
    ``__error_details__``, which Loki keeps apart from the other labels.
    """

    __slots__ = ("base", "error", "error_details", "parsed")

    def __init__(self, base: Mapping[str, str]) -> None:
        self.base = base
        self.parsed: dict[str, str] = {}
        self.error = ""
        self.error_details = ""

    def get(self, name: str) -> str | None:
        """Return a label's value, or None when the line has no such label.

        As in Loki, ``__error__`` and ``__error_details__`` are not found this
        way, so numeric filters on them drop the line and string filters on
        ``__error_details__`` compare with "".
        """
        value = self.parsed.get(name)
        if value is not None:
            return value
        return self.base.get(name)

    def set_error(self, error: str, details: str | None) -> None:
        """Set ``__error__`` and, when given, ``__error_details__``."""
        self.error = error
        if details is not None:
            self.error_details = details

    def parsed_labels(self) -> dict[str, str]:
        """Return the labels Loki reports as ``parsed``, errors included."""
        labels = dict(self.parsed)
        if self.error:
            labels[ERROR_LABEL] = self.error
        if self.error_details:
            labels[ERROR_DETAILS_LABEL] = self.error_details
        return labels

    def all_labels(self) -> dict[str, str]:
        """Return stream labels, parsed labels and error labels together."""
        labels = dict(self.base)
        labels.update(self.parsed_labels())
        return labels


@dataclass(slots=True)
class LineInput:
    """One log line handed to a pipeline.

    ``cache`` is a per-stream store, keyed by parser, of results that depend
    only on the line and the stream's labels. ``index`` is the line's position
    in its stream. Parsing a line as JSON or logfmt once per stream, instead
    of once per query, keeps paging through large streams fast.
    """

    line: str
    index: int = -1
    cache: dict[str, dict[Any, Any]] | None = None


class Stage:
    """One pipeline stage. ``process`` returns False to drop the line."""

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        raise NotImplementedError


def _cached(entry: LineInput, key: str, compute: Callable[[], Any]) -> Any:
    if entry.cache is None or entry.index < 0:
        return compute()
    bucket = entry.cache.get(key)
    if bucket is None:
        bucket = entry.cache[key] = {}
    result = bucket.get(entry.index)
    if result is None:
        result = bucket[entry.index] = compute()
    return result


# ---------------------------------------------------------------------------
# Matchers and line filters
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    """A label matcher: ``name op "value"`` with op ``=``, ``!=``, ``=~``, ``!~``.

    Regexes are anchored at both ends and ``.`` matches a newline, as in
    Prometheus' matchers, which Loki uses.
    """

    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    @classmethod
    def build(cls, name: str, op: str, value: str) -> Matcher:
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = compile_re2(value, anchored=True, dot_all=True)
            except RegexError as error:
                raise ParseError(str(error)) from None
        return cls(name, op, value, regex)

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self.regex is not None
        found = self.regex.match(value) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class LineFilter(Stage):
    """``|= "text"``, ``!= "text"``, ``|~ "re"`` or ``!~ "re"``.

    Line filter regexes are not anchored, and ``.`` does not match a newline.
    """

    op: str
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, line: str) -> bool:
        """Return whether the line passes this filter."""
        if self.op == "|=":
            return self.value in line
        if self.op == "!=":
            return self.value not in line
        assert self.regex is not None
        found = self.regex.search(line) is not None
        return found if self.op == "|~" else not found

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        return self.matches(entry.line)


# ---------------------------------------------------------------------------
# The json parser (a port of the lenient scanner Loki uses)
# ---------------------------------------------------------------------------

# Error texts of github.com/grafana/jsonparser, which Loki copies into
# __error_details__.
_JSON_MALFORMED: Final = "Malformed JSON error"
_JSON_MALFORMED_STRING: Final = "Value is string, but can't find closing '\"' symbol"
_JSON_MALFORMED_ARRAY: Final = "Value is array, but can't find closing ']' symbol"
_JSON_MALFORMED_OBJECT: Final = (
    "Value looks like object, but can't find closing '}' symbol"
)
_JSON_UNKNOWN_TYPE: Final = "Unknown value type"
_JSON_BAD_ESCAPE: Final = "Encountered an invalid escape sequence in a string"

_JSON_STRING = "string"
_JSON_NUMBER = "number"
_JSON_OBJECT = "object"
_JSON_ARRAY = "array"
_JSON_BOOLEAN = "boolean"
_JSON_NULL = "null"

_JSON_WHITESPACE: Final = frozenset(" \n\r\t")
_JSON_TOKEN_END_RE: Final = re.compile(r"[ \n\r\t,}\]]")
_JSON_SURROGATE_ESCAPE_RE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_JSON_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class _JsonError(Exception):
    pass


def _json_next_token(data: str, start: int) -> int:
    for index in range(start, len(data)):
        if data[index] not in _JSON_WHITESPACE:
            return index
    return -1


def _json_string_end(data: str, start: int) -> tuple[int, bool]:
    """Find the quote that ends the string starting at ``start``.

    Returns the index after it and whether a backslash came before it, or -1.
    """
    first_backslash = data.find("\\", start)
    index = start
    while True:
        quote = data.find('"', index)
        if quote == -1:
            return -1, first_backslash != -1
        backslashes = 0
        position = quote - 1
        while position >= start and data[position] == "\\":
            backslashes += 1
            position -= 1
        if backslashes % 2 == 0:
            return quote + 1, first_backslash != -1 and first_backslash < quote
        index = quote + 1


def _json_block_end(data: str, start: int, opening: str, closing: str) -> int:
    level = 0
    index = start
    length = len(data)
    while index < length:
        char = data[index]
        if char == '"':
            end, _escaped = _json_string_end(data, index + 1)
            if end == -1:
                return -1
            index = end
            continue
        if char == opening:
            level += 1
        elif char == closing:
            level -= 1
            if level == 0:
                return index + 1
        index += 1
    return -1


def _json_value(data: str, offset: int) -> tuple[str, str, int]:
    """Read the value at ``offset``: (text, type, index after it)."""
    offset = _json_next_token(data, offset)
    if offset == -1:
        raise _JsonError(_JSON_MALFORMED)

    char = data[offset]
    if char == '"':
        end, _escaped = _json_string_end(data, offset + 1)
        if end == -1:
            raise _JsonError(_JSON_MALFORMED_STRING)
        return data[offset + 1 : end - 1], _JSON_STRING, end
    if char == "[":
        end = _json_block_end(data, offset, "[", "]")
        if end == -1:
            raise _JsonError(_JSON_MALFORMED_ARRAY)
        return data[offset:end], _JSON_ARRAY, end
    if char == "{":
        end = _json_block_end(data, offset, "{", "}")
        if end == -1:
            raise _JsonError(_JSON_MALFORMED_OBJECT)
        return data[offset:end], _JSON_OBJECT, end

    # A number, boolean or null runs up to white space, "," "}" or "]"; only
    # its first character decides which it is, as in jsonparser.
    match = _JSON_TOKEN_END_RE.search(data, offset)
    end = match.start() if match else len(data)
    text = data[offset:end]
    if char in "tf":
        if text not in ("true", "false"):
            raise _JsonError(_JSON_UNKNOWN_TYPE)
        return text, _JSON_BOOLEAN, end
    if char in "un":
        if text != "null":
            raise _JsonError(_JSON_UNKNOWN_TYPE)
        return text, _JSON_NULL, end
    if char in "0123456789-":
        return text, _JSON_NUMBER, end
    raise _JsonError(_JSON_UNKNOWN_TYPE)


def _json_unescape(raw: str) -> str | None:
    """Unescape a JSON string body as jsonparser does; None if invalid."""
    if "\\" not in raw:
        return raw
    output: list[str] = []
    index = 0
    length = len(raw)
    while index < length:
        char = raw[index]
        if char != "\\":
            output.append(char)
            index += 1
            continue
        escape = raw[index + 1] if index + 1 < length else ""
        simple = _JSON_SIMPLE_ESCAPES.get(escape)
        if simple is not None:
            output.append(simple)
            index += 2
            continue
        if escape != "u":
            return None
        first = _json_hex4(raw, index)
        if first is None:
            return None
        if first <= 0xFFFF and not 0xD800 <= first <= 0xDFFF:
            output.append(chr(first))
            index += 6
            continue
        second = _json_hex4(raw, index + 6)
        if second is None or second < 0xDC00:
            return None
        combined = (((first - 0xD800) << 10) | (second - 0xDC00)) + 0x10000
        if combined > 0x10FFFF:
            return None
        output.append(chr(combined))
        index += 12
    return "".join(output)


def _json_hex4(raw: str, index: int) -> int | None:
    if not raw.startswith("\\u", index):
        return None
    digits = raw[index + 2 : index + 6]
    if len(digits) != 4 or not all(d in _HEX_DIGITS for d in digits):
        return None
    return int(digits, 16)


def _json_string_value(raw: str) -> str:
    """Loki's unescapeJSONString: "" when unescaping fails, and U+FFFD
    (invalid UTF-8) replaced by a space."""
    value = _json_unescape(raw)
    if value is None:
        return ""
    if "\ufffd" in value:
        value = value.replace("\ufffd", " ")
    return value


def _json_object_each(data: str, callback: Callable[[str, str, str], None]) -> None:
    """Call ``callback(key, value, type)`` for each member of a JSON object.

    A port of jsonparser's ObjectEach: it checks only what it walks over, calls
    back for the members before a syntax error, then raises ``_JsonError``.
    """
    offset = _json_next_token(data, 0)
    if offset == -1 or data[offset] != "{":
        raise _JsonError(_JSON_MALFORMED_OBJECT)
    offset += 1
    found = _json_next_token(data, offset)
    if found == -1:
        raise _JsonError(_JSON_MALFORMED)
    offset = found
    if data[offset] == "}":
        return
    last_comma = -1
    length = len(data)
    while offset < length:
        char = data[offset]
        if char == '"':
            offset += 1
        elif char == "}":
            if last_comma != -1 and last_comma + 1 == offset:
                raise _JsonError(_JSON_MALFORMED_OBJECT)
            return
        else:
            raise _JsonError(_JSON_MALFORMED_OBJECT)
        end, escaped = _json_string_end(data, offset)
        if end == -1:
            raise _JsonError(_JSON_MALFORMED)
        key = data[offset : end - 1]
        offset = end
        if escaped:
            unescaped = _json_unescape(key)
            if unescaped is None:
                raise _JsonError(_JSON_BAD_ESCAPE)
            key = unescaped
        found = _json_next_token(data, offset)
        if found == -1 or data[found] != ":":
            raise _JsonError(_JSON_MALFORMED)
        offset = found + 1
        value, value_type, offset = _json_value(data, offset)
        callback(key, value, value_type)
        found = _json_next_token(data, offset)
        if found == -1:
            raise _JsonError(_JSON_MALFORMED_ARRAY)
        offset = found
        if data[offset] == "}":
            return
        if data[offset] != ",":
            raise _JsonError(_JSON_MALFORMED_OBJECT)
        last_comma = offset
        offset += 1
        found = _json_next_token(data, offset)
        if found == -1:
            raise _JsonError(_JSON_MALFORMED_ARRAY)
        if found > offset:
            # jsonparser moves its comma marker this way; kept so that
            # '{"a":1, }' parses as it does in Loki.
            last_comma += found - offset - 1
        offset = found
    raise _JsonError(_JSON_MALFORMED_OBJECT)


_LABEL_KEY_INVALID_RE: Final = re.compile(r"[^A-Za-z0-9_]")
_sanitized_keys: dict[str, str] = {}


def sanitize_label_key(key: str) -> str:
    """Turn a JSON or logfmt key into a label name as Loki does.

    Surrounding space is trimmed, a leading digit gets a ``_`` in front, and
    every character outside ``[A-Za-z0-9_]`` becomes ``_``.
    """
    cached = _sanitized_keys.get(key)
    if cached is not None:
        return cached
    text = key.strip()
    if text and "0" <= text[0] <= "9":
        text = "_" + text
    text = _LABEL_KEY_INVALID_RE.sub("_", text)
    if len(_sanitized_keys) < 10_000:
        _sanitized_keys[key] = text
    return text


class _JsonObject(list[tuple[str, Any]]):
    """The members of a JSON object, in order, duplicates kept."""


class _JsonNumber(str):
    """A JSON number, kept as written."""


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_FAST_JSON: Final = json.JSONDecoder(
    object_pairs_hook=_JsonObject,
    parse_float=_JsonNumber,
    parse_int=_JsonNumber,
    parse_constant=_reject_json_constant,
)

JsonResult = tuple[tuple[tuple[str, str], ...], str | None]


def extract_json_labels(
    line: str,
    base: Mapping[str, str],
    names: dict[tuple[str, str], str] | None = None,
) -> JsonResult:
    """Return the labels ``| json`` extracts from a line, and the error.

    The labels come in the order Loki sets them (a later duplicate wins). The
    error is None, or the text Loki puts in ``__error_details__`` next to
    ``__error__="JSONParserErr"``. Labels found before a syntax error are kept.
    ``names`` caches label names by (prefix, key) for one set of stream
    labels.

    Well-formed lines go through Python's ``json`` module. A line that it
    rejects is walked again by the port of Loki's lenient scanner, which
    decides what Loki would extract and report.
    """
    if names is None:
        names = {}
    pairs: list[tuple[str, str]] = []
    if "\\u" not in line or not _JSON_SURROGATE_ESCAPE_RE.search(line):
        try:
            document = _FAST_JSON.decode(line)
        except (ValueError, RecursionError):
            document = None
        if type(document) is _JsonObject:
            _flatten_json(document, "", base, names, pairs)
            return tuple(pairs), None
    return _extract_json_labels_slowly(line, base)


def _json_label_name(
    prefix: str, key: str, base: Mapping[str, str], names: dict[tuple[str, str], str]
) -> str:
    name = names.get((prefix, key))
    if name is None:
        name = _json_nested_prefix(prefix, key)
        if name in base:
            name += EXTRACTED_SUFFIX
        names[(prefix, key)] = name
    return name


def _json_nested_prefix(prefix: str, key: str) -> str:
    return f"{prefix}_{sanitize_label_key(key)}" if prefix else sanitize_label_key(key)


def _flatten_json(
    members: _JsonObject,
    prefix: str,
    base: Mapping[str, str],
    names: dict[tuple[str, str], str],
    pairs: list[tuple[str, str]],
) -> None:
    for key, value in members:
        kind = type(value)
        if kind is str or kind is _JsonNumber:
            text = value.replace("\ufffd", " ") if "\ufffd" in value else value
        elif kind is _JsonObject:
            _flatten_json(value, _json_nested_prefix(prefix, key), base, names, pairs)
            continue
        elif kind is bool:
            text = "true" if value else "false"
        else:
            continue
        name = names.get((prefix, key)) or _json_label_name(prefix, key, base, names)
        # NOTE: Loki would set a label with an empty name for a key such as
        # "" or " "; the test server leaves such keys out.
        if name:
            pairs.append((name, text))


def _extract_json_labels_slowly(line: str, base: Mapping[str, str]) -> JsonResult:
    pairs: list[tuple[str, str]] = []
    names: dict[tuple[str, str], str] = {}

    def visit(data: str, prefix: str) -> None:
        def member(key: str, value: str, value_type: str) -> None:
            if value_type == _JSON_OBJECT:
                visit(value, _json_nested_prefix(prefix, key))
                return
            if value_type == _JSON_STRING:
                text = _json_string_value(value)
            elif value_type == _JSON_NUMBER:
                text = value
            elif value_type == _JSON_BOOLEAN:
                text = "true" if value == "true" else "false"
            else:
                return
            name = _json_label_name(prefix, key, base, names)
            if name:
                pairs.append((name, text))

        _json_object_each(data, member)

    try:
        visit(line, "")
    except _JsonError as error:
        return tuple(pairs), str(error)
    except RecursionError:
        return tuple(pairs), _JSON_MALFORMED
    return tuple(pairs), None


class JsonParser(Stage):
    """``| json``: every field, nested objects joined with ``_``, arrays and
    nulls skipped."""

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        cache = entry.cache
        if cache is None or entry.index < 0:
            pairs, error = extract_json_labels(entry.line, labels.base)
        else:
            results = cache.get("json")
            if results is None:
                results = cache["json"] = {}
            found = results.get(entry.index)
            if found is None:
                names = cache.get("json-names")
                if names is None:
                    names = cache["json-names"] = {}
                found = results[entry.index] = extract_json_labels(
                    entry.line, labels.base, names
                )
            pairs, error = found
        labels.parsed.update(pairs)
        if error is not None:
            labels.set_error(JSON_PARSER_ERROR, error)
        return True


JsonPath = tuple[str | int, ...]


def _json_array_item(data: str, wanted: int) -> tuple[str, str] | None:
    offset = _json_next_token(data, 0)
    if offset == -1 or data[offset] != "[":
        return None
    offset += 1
    position = 0
    while True:
        found = _json_next_token(data, offset)
        if found == -1 or data[found] == "]":
            return None
        value, value_type, offset = _json_value(data, found)
        if position == wanted:
            return value, value_type
        position += 1
        found = _json_next_token(data, offset)
        if found == -1 or data[found] != ",":
            return None
        offset = found + 1


def _json_lookup(line: str, path: JsonPath) -> tuple[str, str] | None:
    """Find the value at ``path``: (text, type), or None if it is missing.

    The first of duplicate keys wins, as in Loki's ``| json a="path"``.
    """
    data = line
    first = _json_next_token(line, 0)
    value_type = {"{": _JSON_OBJECT, "[": _JSON_ARRAY}.get(
        line[first] if first >= 0 else ""
    )
    for step in path:
        if isinstance(step, int):
            if value_type != _JSON_ARRAY:
                return None
            item = _json_array_item(data, step)
        elif value_type != _JSON_OBJECT:
            return None
        else:
            item = _json_member(data, step)
        if item is None:
            return None
        data, value_type = item
    return data, value_type or _JSON_OBJECT


def _json_member(data: str, expected_key: str) -> tuple[str, str] | None:
    found: list[tuple[str, str]] = []

    def member(key: str, value: str, member_type: str) -> None:
        if key == expected_key:
            found.append((value, member_type))
            raise _StopWalk

    with contextlib.suppress(_StopWalk):
        _json_object_each(data, member)
    return found[0] if found else None


class _StopWalk(Exception):
    pass


@dataclass(frozen=True)
class JsonExpressionParser(Stage):
    """``| json name="path", other="a.b[0]"``: selected fields only.

    A missing field sets its label to "", unless a label of that name exists.
    Objects and arrays become their JSON text.

    NOTE: on malformed JSON, Loki's path scanner sometimes reports
    JSONParserErr, but this port sets the missing fields to "". Lines that do
    not start with ``{``, ``[`` or ``"`` do get ``__error__="JSONParserErr"``
    without details, as in Loki.
    """

    expressions: tuple[tuple[str, JsonPath], ...]

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        line = entry.line
        if not line:
            return True
        if line[0] not in '"{[':
            labels.set_error(JSON_PARSER_ERROR, None)
            return True
        for name, path in self.expressions:
            try:
                found = _json_lookup(line, path)
            except _JsonError:
                found = None
            if found is None:
                if labels.get(name) is None:
                    labels.parsed[name] = ""
                continue
            text, value_type = found
            label = name + EXTRACTED_SUFFIX if name in labels.base else name
            if value_type == _JSON_NULL:
                labels.parsed[label] = ""
            elif value_type == _JSON_OBJECT:
                labels.parsed[label] = text
            else:
                labels.parsed[label] = _json_string_value(text)
        return True


_JSON_PATH_STEP_RE: Final = re.compile(
    r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]|\[("(?:[^"\\]|\\.)*")\]'
)


def parse_json_path(text: str) -> JsonPath:
    """Parse a ``| json`` path such as ``a.b``, ``a[0].c`` or ``a["b c"]``.

    Raises ValueError for paths outside that form.
    """
    steps: list[str | int] = []
    index = 0
    while index < len(text):
        match = _JSON_PATH_STEP_RE.match(text, index)
        if match is None or (index == 0 and text.startswith(".")):
            raise ValueError(text)
        if match.group(1) is not None:
            if index > 0 and not text.startswith(".", index):
                raise ValueError(text)
            steps.append(match.group(1))
        elif match.group(2) is not None:
            steps.append(int(match.group(2)))
        else:
            steps.append(unquote_string(match.group(3)))
        index = match.end()
    if not steps:
        raise ValueError(text)
    return tuple(steps)


# ---------------------------------------------------------------------------
# The logfmt parser (a port of Loki's decoder)
# ---------------------------------------------------------------------------


class _LogfmtDecoder:
    """Loki's logfmt decoder: reads key=value pairs from one line of bytes."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.position = 0
        self.key: bytes | None = None
        self.value: bytes | None = None
        self.error: str | None = None

    def at_end(self) -> bool:
        return self.position >= len(self.line)

    def _syntax_error(self, message: str) -> None:
        self.error = f"logfmt syntax error at pos {self.position + 1} : {message}"

    def _unexpected(self, byte: int) -> None:
        self._syntax_error(f"unexpected {_go_quote_byte(byte)}")

    def _skip_value(self) -> bool:
        line = self.line
        while self.position < len(line) and line[self.position] > 0x20:
            self.position += 1
        return False

    def scan(self) -> bool:
        """Read the next pair into ``key`` and ``value``; False on error or
        at the end of the line."""
        self.key = self.value = None
        line = self.line
        length = len(line)
        while self.position < length and line[self.position] <= 0x20:
            self.position += 1
        if self.position >= length:
            return False

        start = self.position
        while self.position < length:
            byte = line[self.position]
            if byte == 0x3D:  # "="
                if self.position > start:
                    self.key = line[start : self.position]
                    if _has_replacement_char(self.key):
                        self._syntax_error("invalid key")
                        return self._skip_value()
                if self.key is None:
                    self._unexpected(byte)
                    return self._skip_value()
                return self._scan_value()
            if byte == 0x22:  # '"'
                self._unexpected(byte)
                return self._skip_value()
            if byte <= 0x20:
                self.key = line[start : self.position]
                if _has_replacement_char(self.key):
                    self._syntax_error("invalid key")
                    return False
                return True
            self.position += 1

        self.key = line[start:]
        if _has_replacement_char(self.key):
            self._syntax_error("invalid key")
            return False
        return True

    def _scan_value(self) -> bool:
        line = self.line
        length = len(line)
        self.position += 1
        if self.position >= length:
            return True
        byte = line[self.position]
        if byte <= 0x20:
            return True
        if byte == 0x22:
            return self._scan_quoted_value()
        start = self.position
        while self.position < length:
            byte = line[self.position]
            if byte in (0x3D, 0x22):
                self._unexpected(byte)
                return self._skip_value()
            if byte <= 0x20:
                if self.position > start:
                    self.value = line[start : self.position]
                return True
            self.position += 1
        if self.position > start:
            self.value = line[start:]
        return True

    def _scan_quoted_value(self) -> bool:
        line = self.line
        start = self.position
        index = start + 1
        has_escape = escaped = False
        while index < len(line):
            byte = line[index]
            if escaped:
                escaped = False
            elif byte == 0x5C:
                has_escape = escaped = True
            elif byte == 0x22:
                self.position = index + 1
                if has_escape:
                    value = _logfmt_unquote(line[start + 1 : index])
                    if value is None:
                        self._syntax_error("invalid quoted value")
                        return False
                    self.value = value
                elif index > start + 1:
                    self.value = line[start + 1 : index]
                return True
            index += 1
        self.position = len(line)
        self._syntax_error("unterminated quoted value")
        return False


def _has_replacement_char(data: bytes) -> bool:
    return "\ufffd" in data.decode("utf-8", "replace")


def _go_quote_byte(byte: int) -> str:
    """Format a byte as Go's %q does for a byte value (a quoted rune)."""
    char = chr(byte)
    if char == "'":
        return "'\\''"
    escaped = _GO_QUOTE_ESCAPES.get(char)
    if escaped is not None and char != '"':
        return f"'{escaped}'"
    if char.isprintable():
        return f"'{char}'"
    return f"'\\x{byte:02x}'"


def _logfmt_unquote(body: bytes) -> bytes | None:
    """Unquote a quoted logfmt value the way Go's encoding/json does."""
    text = body.decode("utf-8", "replace")
    output: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            escape = text[index + 1] if index + 1 < len(text) else ""
            if escape in ('"', "\\", "/", "'"):
                output.append(escape)
                index += 2
            elif escape and escape in "bfnrt":
                output.append(_JSON_SIMPLE_ESCAPES[escape])
                index += 2
            elif escape == "u":
                first = _json_hex4(text, index)
                if first is None:
                    return None
                index += 6
                if 0xD800 <= first <= 0xDFFF:
                    second = _json_hex4(text, index)
                    if (
                        0xD800 <= first <= 0xDBFF
                        and second is not None
                        and 0xDC00 <= second <= 0xDFFF
                    ):
                        first = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                        index += 6
                    else:
                        first = 0xFFFD
                output.append(chr(first))
            else:
                return None
        elif char == '"' or char < " ":
            return None
        else:
            output.append(char)
            index += 1
    return "".join(output).encode("utf-8")


def extract_logfmt_labels(
    line: str, base: Mapping[str, str], *, strict: bool, keep_empty: bool
) -> JsonResult:
    """Return the labels ``| logfmt`` extracts, and the error (strict only).

    Without ``--strict`` a malformed pair is skipped and parsing goes on; with
    it, parsing stops there and the line gets ``__error__="LogfmtParserErr"``.
    Empty values are dropped unless ``--keep-empty`` is given.
    """
    decoder = _LogfmtDecoder(line.encode("utf-8", "surrogateescape"))
    pairs: list[tuple[str, str]] = []
    while not decoder.at_end():
        if not decoder.scan():
            if strict:
                break
            continue
        assert decoder.key is not None
        name = sanitize_label_key(decoder.key.decode("utf-8", "replace"))
        if not name:
            continue
        if name in base:
            name += EXTRACTED_SUFFIX
        value = (decoder.value or b"").decode("utf-8", "replace").replace("\ufffd", " ")
        if not keep_empty and not value:
            continue
        pairs.append((name, value))
    error = decoder.error if strict else None
    return tuple(pairs), error


@dataclass(frozen=True)
class LogfmtParser(Stage):
    """``| logfmt`` with the optional ``--strict`` and ``--keep-empty`` flags."""

    strict: bool = False
    keep_empty: bool = False

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        pairs, error = _cached(
            entry,
            f"logfmt:{self.strict}:{self.keep_empty}",
            lambda: extract_logfmt_labels(
                entry.line,
                labels.base,
                strict=self.strict,
                keep_empty=self.keep_empty,
            ),
        )
        labels.parsed.update(pairs)
        if error is not None:
            labels.set_error(LOGFMT_PARSER_ERROR, error)
        return True


# ---------------------------------------------------------------------------
# The regexp and pattern parsers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RegexpParser(Stage):
    """``| regexp "(?P<name>re)"``: each named group becomes a label.

    A group that does not take part in the match sets its label to "".
    """

    regex: re.Pattern[str]

    @classmethod
    def build(cls, pattern: str) -> RegexpParser:
        try:
            regex = compile_re2(pattern, anchored=False, dot_all=False)
        except RegexError as error:
            message = str(error)
            if message.startswith("the Loki test server"):
                raise ParseError(message) from None
            raise ParseError(f"invalid regexp parser: {message}") from None
        if not regex.groupindex:
            raise ParseError(
                "invalid regexp parser: at least one named capture must be supplied"
            )
        return cls(regex)

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        match = self.regex.search(entry.line)
        if match is None:
            return True
        names = sorted(self.regex.groupindex.items(), key=lambda item: item[1])
        for name, group in names:
            label = name + EXTRACTED_SUFFIX if name in labels.base else name
            labels.parsed[label] = match.group(group) or ""
        return True


_PATTERN_CAPTURE_RE: Final = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


@dataclass(frozen=True)
class PatternParser(Stage):
    """``| pattern "<_> <method> <path>"``.

    ``<name>`` captures up to the next literal text; ``<_>`` captures nothing.
    Literal text before the first capture must start the line. When a literal
    is not found, the capture before it takes the rest of the line and later
    captures are not set.
    """

    # Literal text (a str) and captures (a 1-tuple with the capture name).
    pieces: tuple[str | tuple[str], ...]

    @classmethod
    def build(cls, pattern: str) -> PatternParser:
        pieces: list[str | tuple[str]] = []
        index = 0
        for match in _PATTERN_CAPTURE_RE.finditer(pattern):
            if match.start() > index:
                pieces.append(pattern[index : match.start()])
            pieces.append((match.group(1),))
            index = match.end()
        if index < len(pattern):
            pieces.append(pattern[index:])

        if not pieces:
            raise ParseError(
                "invalid pattern parser: syntax error: unexpected $end, "
                "expecting IDENTIFIER or LITERAL"
            )

        names = [piece[0] for piece in pieces if isinstance(piece, tuple)]
        named = [name for name in names if name != "_"]
        if not named:
            raise ParseError("invalid pattern parser: at least one capture is required")
        for first, second in itertools.pairwise(pieces):
            if isinstance(first, tuple) and isinstance(second, tuple):
                raise ParseError(
                    "invalid pattern parser: found consecutive capture "
                    f"'<{first[0]}><{second[0]}>': invalid expression"
                )

        seen: set[str] = set()
        for name in named:
            if name in seen:
                raise ParseError(
                    f"invalid pattern parser: duplicate capture name ({name}): "
                    "invalid expression"
                )
            seen.add(name)
        return cls(tuple(pieces))

    def captures(self, line: str) -> list[tuple[str, str]]:
        """Return (name, value) for each named capture that matched."""
        if not line:
            return []
        pieces = self.pieces
        rest = line
        if isinstance(pieces[0], str):
            if not rest.startswith(pieces[0]):
                return []
            rest = rest[len(pieces[0]) :]
            pieces = pieces[1:]
        if not pieces:
            return []
        found: list[tuple[str, str]] = []
        while pieces:
            capture = pieces[0]
            assert isinstance(capture, tuple)
            if len(pieces) == 1:
                if capture[0] != "_":
                    found.append((capture[0], rest))
                return found
            literal = pieces[1]
            assert isinstance(literal, str)
            pieces = pieces[2:]
            position = rest.find(literal)
            if position == -1:
                if capture[0] != "_":
                    found.append((capture[0], rest))
                return found
            if capture[0] != "_":
                found.append((capture[0], rest[:position]))
            rest = rest[position + len(literal) :]
        return found

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        for name, value in self.captures(entry.line):
            label = name + EXTRACTED_SUFFIX if name in labels.base else name
            labels.parsed[label] = value
        return True


# ---------------------------------------------------------------------------
# Label filters
# ---------------------------------------------------------------------------

_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": lambda left, right: left == right,
    "!=": lambda left, right: left != right,
    ">": lambda left, right: left > right,
    ">=": lambda left, right: left >= right,
    "<": lambda left, right: left < right,
    "<=": lambda left, right: left <= right,
}


class StringLabelFilter(Stage):
    """``| name="value"`` (or ``!=``, ``=~``, ``!~``). A missing label is "".

    This is the only filter that reads ``__error__``.
    """

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        name = matcher.name
        if name == ERROR_LABEL:
            self._value: Callable[[EntryLabels], str] = lambda labels: labels.error
        else:
            self._value = lambda labels: (
                labels.parsed.get(name) or labels.base.get(name) or ""
            )
        expected = matcher.value
        if matcher.op == "=":
            self._check: Callable[[str], bool] = lambda value: value == expected
        elif matcher.op == "!=":
            self._check = lambda value: value != expected
        else:
            self._check = matcher.matches

    def __repr__(self) -> str:
        return f"StringLabelFilter({self.matcher!r})"

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        return self._check(self._value(labels))


@dataclass(frozen=True)
class NumericLabelFilter(Stage):
    """``| name > 1.5``: compares the label read as a Go float.

    A missing label drops the line. A value that is not a number keeps the
    line and sets ``__error__="LabelFilterErr"`` unless an error is already set.
    """

    name: str
    op: str
    value: float

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        text = labels.get(self.name)
        if text is None:
            return False
        try:
            number = parse_go_float(text)
        except GoFloatError as error:
            if not labels.error:
                labels.set_error(LABEL_FILTER_ERROR, str(error))
            return True
        return _COMPARISONS[self.op](number, self.value)


@dataclass(frozen=True)
class DurationLabelFilter(Stage):
    """``| name > 1s``: compares the label read as a Go duration.

    The label value needs a unit (``1.5s``, ``1500ms``, ``1m30s``); ``1500`` or
    a JSON number keeps the line with ``__error__="LabelFilterErr"`` unless an
    error is already set. A missing label drops the line.
    """

    name: str
    op: str
    nanoseconds: int

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        text = labels.get(self.name)
        if text is None:
            return False
        try:
            value = parse_go_duration(text)
        except GoDurationError as error:
            if not labels.error:
                labels.set_error(LABEL_FILTER_ERROR, str(error))
            return True
        return _COMPARISONS[self.op](value, self.nanoseconds)


@dataclass(frozen=True)
class BinaryLabelFilter(Stage):
    """``left and right`` or ``left or right``; both sides run in order,
    except that ``or`` skips the right side when the left one passes."""

    left: Stage
    right: Stage
    is_and: bool

    def process(self, labels: EntryLabels, entry: LineInput) -> bool:
        left = self.left.process(labels, entry)
        if not self.is_and and left:
            return True
        right = self.right.process(labels, entry)
        return (left and right) if self.is_and else right


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogQuery:
    """A parsed log query: a stream selector and its pipeline stages."""

    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...]

    def selects(self, stream_labels: Mapping[str, str]) -> bool:
        """Return whether the selector matches a stream's labels."""
        return all(
            matcher.matches(stream_labels.get(matcher.name, ""))
            for matcher in self.matchers
        )

    @property
    def has_parsers(self) -> bool:
        """Whether the pipeline can add labels, so that entries of one stream
        may end up in several result streams."""
        return any(not isinstance(stage, LineFilter) for stage in self.stages)

    @property
    def line_filters(self) -> tuple[LineFilter, ...] | None:
        """The stages, when all of them are line filters; otherwise None."""
        if self.has_parsers:
            return None
        return tuple(stage for stage in self.stages if isinstance(stage, LineFilter))

    def process(
        self, stream_labels: Mapping[str, str], entry: LineInput
    ) -> EntryLabels | None:
        """Run the pipeline on one line; None when a stage drops it."""
        labels = EntryLabels(stream_labels)
        for stage in self.stages:
            if not stage.process(labels, entry):
                return None
        return labels


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------

_METRIC_START_KINDS: Final = frozenset(
    {kind for kind in _FUNCTIONS.values() if kind != "ip"}
    | {NUMBER, "+", "-", "variants"}
)
_LINE_FILTER_KINDS: Final = frozenset({"|=", "!=", "|~", "!~", "|>", "!>"})
_SELECTOR_OPS: Final = frozenset({"=", "!=", "=~", "!~"})
_ORDER_OPS: Final = frozenset({">", ">=", "<", "<="})
_UNSUPPORTED_STAGES: Final = {
    "unpack": "| unpack",
    "line_format": "| line_format",
    "label_format": "| label_format",
    "drop": "| drop",
    "keep": "| keep",
    "decolorize": "| decolorize",
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.lexer = _Lexer(text)
        self.current = self.lexer.next_token()

    def advance(self) -> Token:
        token = self.current
        self.current = self.lexer.next_token()
        return token

    def unexpected(self, expecting: str = "") -> ParseError:
        token = self.current
        message = f"syntax error: unexpected {token.kind}"
        if expecting:
            message += f", expecting {expecting}"
        return ParseError(message, token.line, token.col)

    def unsupported(self, feature: str, token: Token | None = None) -> ParseError:
        token = token or self.current
        return ParseError(
            f"the Loki test server does not support {feature}", token.line, token.col
        )

    def expect(self, kind: str, expecting: str | None = None) -> Token:
        if self.current.kind != kind:
            raise self.unexpected(expecting or kind)
        return self.advance()

    def parse(self) -> LogQuery:
        depth = 0
        while self.current.kind == "(":
            self.advance()
            depth += 1
        if self.current.kind in _METRIC_START_KINDS:
            raise MetricQueryError(self.current.line, self.current.col)
        if self.current.kind != "{":
            raise self.unexpected()
        matchers = self.parse_selector()
        stages = self.parse_pipeline()
        for _ in range(depth):
            self.expect(")")
        if self.current.kind != END:
            raise self.unexpected()
        if not any(not matcher.matches("") for matcher in matchers):
            raise ParseError(EMPTY_COMPATIBLE_SELECTOR_MESSAGE)
        return LogQuery(tuple(matchers), tuple(stages))

    def parse_selector(self) -> list[Matcher]:
        self.expect("{")
        matchers: list[Matcher] = []
        if self.current.kind == "}":
            self.advance()
            return matchers
        expecting_name = "IDENTIFIER or }"
        while True:
            name = self.expect(IDENTIFIER, expecting_name)
            if self.current.kind not in _SELECTOR_OPS:
                raise self.unexpected("= or =~ or !~ or !=")
            op = self.advance().kind
            value = self.expect(STRING)
            matchers.append(Matcher.build(name.text, op, value.value))
            if self.current.kind == ",":
                self.advance()
                expecting_name = IDENTIFIER
                continue
            if self.current.kind == "}":
                self.advance()
                return matchers
            raise self.unexpected("} or ,")

    def parse_pipeline(self) -> list[Stage]:
        stages: list[Stage] = []
        while True:
            kind = self.current.kind
            if kind in _LINE_FILTER_KINDS:
                stages.append(self.parse_line_filter())
            elif kind == "|":
                self.advance()
                stages.append(self.parse_pipe_stage())
            else:
                return stages

    def parse_line_filter(self) -> Stage:
        op = self.advance()
        if op.kind in ("|>", "!>"):
            raise self.unsupported("pattern line filters (|> and !>)", op)
        if self.current.kind == "ip":
            raise self.unsupported("ip() line filters")
        value = self.expect(STRING, "STRING or ip")
        if self.current.kind == "or":
            raise self.unsupported("or between line filters")
        regex = None
        if op.kind in ("|~", "!~"):
            try:
                regex = compile_re2(value.value, anchored=False, dot_all=False)
            except RegexError as error:
                # NOTE: Loki checks line filter regexes when it runs the query;
                # the HTTP status it then returns was not confirmed.
                raise ParseError(str(error)) from None
        return LineFilter(op.kind, value.value, regex)

    def parse_pipe_stage(self) -> Stage:
        token = self.current
        kind = token.kind
        if kind == "json":
            self.advance()
            if self.current.kind == IDENTIFIER:
                return self.parse_json_expressions()
            return JsonParser()
        if kind == "logfmt":
            self.advance()
            flags: set[str] = set()
            while self.current.kind == PARSER_FLAG:
                flags.add(self.advance().text)
            if self.current.kind == IDENTIFIER:
                raise self.unsupported("| logfmt with label extraction expressions")
            return LogfmtParser(
                strict="--strict" in flags, keep_empty="--keep-empty" in flags
            )
        if kind == "regexp":
            self.advance()
            return RegexpParser.build(self.expect(STRING).value)
        if kind == "pattern":
            self.advance()
            return PatternParser.build(self.expect(STRING).value)
        if kind in _UNSUPPORTED_STAGES:
            raise self.unsupported(_UNSUPPORTED_STAGES[kind])
        if kind in (IDENTIFIER, "("):
            return self.parse_label_filter()
        raise self.unexpected()

    def parse_json_expressions(self) -> Stage:
        expressions: list[tuple[str, JsonPath]] = []
        while True:
            name = self.expect(IDENTIFIER)
            path_text = name.text
            path_token = name
            if self.current.kind == "=":
                self.advance()
                path_token = self.expect(STRING)
                path_text = path_token.value
            try:
                path = parse_json_path(path_text)
            except ValueError:
                raise self.unsupported(
                    f"the JSON path {go_quote(path_text)}", path_token
                ) from None
            expressions.append((name.text, path))
            if self.current.kind != ",":
                return JsonExpressionParser(tuple(expressions))
            self.advance()

    def parse_label_filter(self) -> Stage:
        left = self.parse_label_filter_and()
        while self.current.kind == "or":
            self.advance()
            right = self.parse_label_filter_and()
            left = BinaryLabelFilter(left, right, is_and=False)
        return left

    def parse_label_filter_and(self) -> Stage:
        left = self.parse_label_filter_primary()
        while True:
            if self.current.kind in ("and", ","):
                self.advance()
            elif self.current.kind not in (IDENTIFIER, "("):
                return left
            right = self.parse_label_filter_primary()
            left = BinaryLabelFilter(left, right, is_and=True)

    def parse_label_filter_primary(self) -> Stage:
        if self.current.kind == "(":
            self.advance()
            inner = self.parse_label_filter()
            self.expect(")")
            return inner
        name = self.expect(IDENTIFIER).text
        op = self.current
        if op.kind in ("=~", "!~"):
            self.advance()
            value = self.expect(STRING)
            return StringLabelFilter(Matcher.build(name, op.kind, value.value))
        if op.kind not in ("=", "!=", "==") and op.kind not in _ORDER_OPS:
            raise self.unexpected()
        self.advance()
        value_token = self.current
        comparison = "==" if op.kind == "=" else op.kind
        if value_token.kind == STRING and op.kind in ("=", "!="):
            self.advance()
            return StringLabelFilter(Matcher.build(name, op.kind, value_token.value))
        if value_token.kind == DURATION:
            self.advance()
            return DurationLabelFilter(name, comparison, value_token.value)
        if value_token.kind == BYTES:
            raise self.unsupported("bytes label filters")
        if value_token.kind == "ip":
            raise self.unsupported("ip() label filters")
        if value_token.kind in (NUMBER, "+", "-"):
            return NumericLabelFilter(name, comparison, self.parse_number())
        raise self.unexpected()

    def parse_number(self) -> float:
        negative = False
        if self.current.kind in ("+", "-"):
            negative = self.advance().kind == "-"
        token = self.expect(NUMBER)
        try:
            value = parse_go_float(token.text)
        except GoFloatError as error:
            raise ParseError(f"unable to parse literal as a float: {error}") from None
        return -value if negative else value


def parse_query(text: str) -> LogQuery:
    """Parse a LogQL log query, raising ``ParseError`` as Loki would.

    Metric queries raise ``MetricQueryError``, and features outside the
    supported subset raise a ``ParseError`` that names them.
    """
    size = len(text.encode("utf-8", "surrogateescape"))
    if size >= MAX_QUERY_BYTES:
        raise ParseError(f"input size too long ({size} > {MAX_QUERY_BYTES})")
    return _Parser(text).parse()
