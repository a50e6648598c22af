"""Tests for slocli.core.escape.

The round-trip tests decode the output with an unquoter written here from the
Go string-literal rules that Loki and Tempo apply, independent of the code
under test.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from slocli.core.escape import (
    check_label_name,
    logql_string,
    quote_for_message,
    re2_escape,
    traceql_attribute,
    traceql_string,
)

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


def go_unquote(literal: str) -> str:
    """Decode a double-quoted Go string literal, raising ValueError where Go would.

    Escapes: \\a \\b \\f \\n \\r \\t \\v \\\\ \\", octal \\NNN up to 255, \\xNN,
    \\uNNNN and \\UNNNNNNNN. \\NNN and \\xNN give bytes, the others code points.
    Any other escape, a raw line break, an unescaped quote, a surrogate code
    point and a result that is not valid UTF-8 are errors.
    """
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise ValueError("not a double-quoted literal")
    body = literal[1:-1]
    output = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char == '"':
            raise ValueError("unescaped quote")
        if char == "\n":
            raise ValueError("literal not terminated")
        if char != "\\":
            output += char.encode("utf-8")  # a lone surrogate raises here
            index += 1
            continue

        escape = body[index + 1 : index + 2]
        if escape in _SIMPLE_ESCAPES:
            output += _SIMPLE_ESCAPES[escape].encode()
            index += 2
        elif escape and escape in "01234567":
            digits = body[index + 1 : index + 4]
            if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError(f"invalid octal escape {digits!r}")
            output.append(int(digits, 8))
            index += 4
        elif escape == "x":
            output.append(_hex_digits(body, index + 2, 2))
            index += 4
        elif escape in ("u", "U"):
            width = 4 if escape == "u" else 8
            code = _hex_digits(body, index + 2, width)
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                raise ValueError(f"invalid code point {code:#x}")
            output += chr(code).encode("utf-8")
            index += 2 + width
        else:
            raise ValueError(f"invalid escape \\{escape}")
    return output.decode("utf-8")


def _hex_digits(body: str, start: int, width: int) -> int:
    digits = body[start : start + width]
    if not re.fullmatch(f"[0-9a-fA-F]{{{width}}}", digits):
        raise ValueError(f"invalid hex escape {digits!r}")
    return int(digits, 16)


def unquote_attribute_name(quoted: str) -> str:
    """Decode a TraceQL quoted attribute name, where only \\" and \\\\ are escapes."""
    assert quoted.startswith('"')
    assert quoted.endswith('"')
    body = quoted[1:-1]
    output = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1]
            if escaped not in '"\\':
                raise ValueError(f"invalid escape \\{escaped}")
            output.append(escaped)
            index += 2
        elif char == '"':
            raise ValueError("unescaped quote")
        else:
            output.append(char)
            index += 1
    return "".join(output)


NASTY_STRINGS = [
    "",
    "plain",
    'C:\\tmp\\"q"',
    "\\d+",
    "\\",
    '"',
    '\\"',
    "a\nb",
    "\r\n\t",
    "\x00",
    "\x07\x08\x0b\x0c",
    "\x1b[31mred\x1b[0m",
    "\x7f",
    "\x80\x85\x9f",
    "\u00a0",
    "\u2028\u2029",
    "\ufeff",
    "\u200b\u200d",
    "\ufffe\uffff",
    "\U0010ffff",
    "\ue000",
    "😀",
    "👨\u200d👩\u200d👧",
    "`backtick`",
    "'single'",
    "ünïcödé 日本語",
    "\\x41\\u0041\\101",
    '{app="x"} |= `y`',
    "$(rm -rf /)",
    "k-1772359702123456789-8841",
]

_ALPHABET = (
    [chr(code) for code in range(0x20, 0x7F)]
    + [chr(code) for code in range(0x00, 0x20)]
    + ["\x7f", "\x80", "\x9f", "\u00a0", "\u2028", "\u200d", "\ufeff"]
    + ['"', "\\", "`", "'"] * 8
    + ["é", "ß", "日", "µ", "μ", "😀", "🏳\ufe0f\u200d🌈", "\U0010fffd"]
)


def random_strings(count: int, seed: int = 20260301) -> list[str]:
    generator = random.Random(seed)
    return [
        "".join(generator.choice(_ALPHABET) for _ in range(generator.randint(0, 24)))
        for _ in range(count)
    ]


ALL_STRINGS = NASTY_STRINGS + random_strings(300)


@pytest.mark.parametrize("value", ALL_STRINGS)
def test_logql_string_round_trip(value: str) -> None:
    assert go_unquote(logql_string(value)) == value


@pytest.mark.parametrize("value", ALL_STRINGS)
def test_traceql_string_round_trip(value: str) -> None:
    assert go_unquote(traceql_string(value)) == value


@pytest.mark.parametrize("value", ALL_STRINGS)
def test_logql_string_single_printable_line(value: str) -> None:
    assert logql_string(value).isprintable()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # A Windows path with quotes breaks naive concatenation.
        ('C:\\tmp\\"q"', '"C:\\\\tmp\\\\\\"q\\""'),
        ("a\nb\tc\rd", '"a\\nb\\tc\\rd"'),
        ("\x00\x1b\x7f", '"\\x00\\x1b\\x7f"'),
        ("\x85", '"\\u0085"'),
        ("\u2028", '"\\u2028"'),
        ("ünï 😀", '"ünï 😀"'),
        ("`x`", '"`x`"'),
    ],
)
def test_logql_string_exact(value: str, expected: str) -> None:
    assert logql_string(value) == expected


@pytest.mark.parametrize("function", [logql_string, traceql_string])
def test_string_rejects_lone_surrogate(function: Callable[[str], str]) -> None:
    with pytest.raises(ValueError, match="lone surrogate at index 1"):
        function("a\ud800b")


def test_go_unquote_rejects_invalid_escapes() -> None:
    for literal in ['"\\d"', '"\\."', '"\\\'"', '"a\nb"', '"\\400"', '"\\ud800"']:
        with pytest.raises(ValueError):
            go_unquote(literal)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.b*c", "a\\.b\\*c"),
        ("(x|y)+?", "\\(x\\|y\\)\\+\\?"),
        ("[a]{2}^$", "\\[a\\]\\{2\\}\\^\\$"),
        ("C:\\tmp", "C:\\\\tmp"),
        ("k-1_2 #/~é", "k-1_2 #/~é"),
    ],
)
def test_re2_escape_exact(value: str, expected: str) -> None:
    assert re2_escape(value) == expected


@pytest.mark.parametrize("value", ALL_STRINGS)
def test_re2_escape_matches_literal(value: str) -> None:
    # Python's re reads escaped punctuation and plain characters as RE2 does,
    # so it serves as an independent check here.
    assert re.fullmatch(re2_escape(value), value, flags=re.DOTALL) is not None


@pytest.mark.parametrize("value", ALL_STRINGS)
def test_re2_escape_then_logql_string(value: str) -> None:
    pattern = re2_escape(value)
    assert go_unquote(logql_string(pattern)) == pattern


@pytest.mark.parametrize("name", ["app", "_x", "a1", "grpc_method", "A_Z_0"])
def test_check_label_name_valid(name: str) -> None:
    assert check_label_name(name) == name


@pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", "é", "a\n", "a.b", "a:b"])
def test_check_label_name_invalid(name: str) -> None:
    with pytest.raises(ValueError, match="invalid label name"):
        check_label_name(name)


@pytest.mark.parametrize(
    ("name", "scope", "expected"),
    [
        ("context_key", "span", "span.context_key"),
        ("http.status_code", "span", "span.http.status_code"),
        ("service.name", "resource", "resource.service.name"),
        ("env-code", "resource", "resource.env-code"),
        ("x", "", ".x"),
        ("duration", "span", "span.duration"),
        ("name with space", "span", 'span."name with space"'),
        ('a"b\\c', "span", 'span."a\\"b\\\\c"'),
        ("a{b}", "event", 'event."a{b}"'),
        ("9lives", "link", 'link."9lives"'),
        ("ünï", "instrumentation", 'instrumentation."ünï"'),
    ],
)
def test_traceql_attribute_exact(name: str, scope: str, expected: str) -> None:
    assert traceql_attribute(name, scope) == expected


ATTRIBUTE_NAMES = [name for name in NASTY_STRINGS + random_strings(200, seed=7) if name]


@pytest.mark.parametrize("name", ATTRIBUTE_NAMES)
def test_traceql_attribute_round_trip(name: str) -> None:
    reference = traceql_attribute(name)
    suffix = reference.removeprefix("span.")
    decoded = unquote_attribute_name(suffix) if suffix.startswith('"') else suffix
    assert decoded == name


def test_traceql_attribute_unknown_scope() -> None:
    with pytest.raises(ValueError, match="invalid TraceQL scope"):
        traceql_attribute("x", "spans")


def test_traceql_attribute_empty_name() -> None:
    with pytest.raises(ValueError, match="it is empty"):
        traceql_attribute("")


def test_traceql_attribute_lone_surrogate() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        traceql_attribute("a\udc80")


def test_quote_for_message_lone_surrogate() -> None:
    assert quote_for_message("a\ud800\n") == '"a\\ud800\\n"'
