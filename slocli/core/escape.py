"""Safe embedding of values and names in LogQL and TraceQL queries.

A context key can hold any character, so every value placed in a query goes
through one of these functions instead of string concatenation.

LogQL and TraceQL both read double-quoted string literals with Go's escape rules:
``\\a \\b \\f \\n \\r \\t \\v \\\\ \\"``, octal ``\\NNN``, ``\\xNN``, ``\\uNNNN`` and
``\\UNNNNNNNN``. Any other backslash sequence and a raw line break are syntax
errors, and the decoded text must be valid UTF-8. Sources: grafana/loki
``pkg/logql/syntax/lex.go`` (unquoting by ``prometheus/util/strutil.Unquote``)
and grafana/tempo ``pkg/traceql/lexer.go`` (``strconv.Unquote``).
"""

from __future__ import annotations

import re

__all__ = [
    "check_label_name",
    "logql_string",
    "quote_for_message",
    "re2_escape",
    "traceql_attribute",
    "traceql_string",
]

_NAMED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}

# The characters Go's regexp.QuoteMeta escapes (golang/go src/regexp/regexp.go).
# LogQL, PromQL and TraceQL regexes use RE2 syntax, where each of these escapes
# stands for the literal character.
_RE2_METACHARACTERS = frozenset("\\.+*?()|[]{}^$")

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Attribute names that TraceQL reads without quotes. Tempo's lexer ends a bare
# name only at whitespace or one of {}()=~!<>&|^, so this set is narrower than
# needed, and a name outside it is quoted.
_BARE_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")

_TRACEQL_SCOPES = ("span", "resource", "event", "link", "instrumentation", "")


def logql_string(value: str) -> str:
    """Return a double-quoted LogQL string literal that decodes to exactly ``value``.

    Backslash, double quote, ``\\n``, ``\\r`` and ``\\t`` get their short escapes,
    other ASCII control characters and DEL become ``\\xNN``, and other characters
    that are not printable (C1 controls, format characters, separators other
    than the space) become ``\\uNNNN`` or ``\\UNNNNNNNN``. Everything else is
    written as is. Raises ValueError for a lone surrogate, which has no UTF-8
    form, so no log line can contain it.
    """
    return _quote_go_string(value, language="LogQL")


def traceql_string(value: str) -> str:
    """Return a double-quoted TraceQL string literal that decodes to exactly ``value``.

    TraceQL uses the same escapes as LogQL, so the output equals
    :func:`logql_string`. Raises ValueError for a lone surrogate.
    """
    return _quote_go_string(value, language="TraceQL")


def re2_escape(value: str) -> str:
    """Escape RE2 metacharacters so the regex matches ``value`` literally.

    The result is a regex, not a string literal: pass it through
    :func:`logql_string` or :func:`traceql_string` before placing it after
    ``=~``, ``!~`` or ``|~``. Loki stream selectors and TraceQL anchor their
    regexes at both ends, and LogQL line filters do not, so the caller adds
    ``.*`` where a substring match is meant.
    """
    return "".join(
        "\\" + char if char in _RE2_METACHARACTERS else char for char in value
    )


def check_label_name(name: str) -> str:
    """Return ``name`` if it is a valid Prometheus-style label name.

    LogQL cannot quote label names in a stream selector, so a name outside
    ``[A-Za-z_][A-Za-z0-9_]*`` cannot be used there. Raises ValueError otherwise.
    """
    if _LABEL_NAME.fullmatch(name) is None:
        raise ValueError(
            f"invalid label name {quote_for_message(name)}; use letters, digits "
            "and underscores, not starting with a digit"
        )
    return name


def traceql_attribute(name: str, scope: str = "span") -> str:
    """Return the TraceQL reference to attribute ``name`` in ``scope``.

    ``scope`` is one of span, resource, event, link or instrumentation, or the
    empty string for an unscoped ``.name`` that matches any scope. A plain name
    such as ``context_key`` or ``http.status_code`` is written bare
    (``span.context_key``). Any other name is quoted (``span."name with space"``),
    where Tempo accepts only the escapes ``\\"`` and ``\\\\``. Raises ValueError
    for an unknown scope, an empty name or a name with a lone surrogate.
    """
    if scope not in _TRACEQL_SCOPES:
        raise ValueError(
            f"invalid TraceQL scope {quote_for_message(scope)}; use span, resource, "
            "event, link, instrumentation or an empty string for any scope"
        )
    if not name:
        raise ValueError("invalid TraceQL attribute name, it is empty; give a name")
    _reject_surrogates(name, destination="a TraceQL attribute name")

    if _BARE_ATTRIBUTE.fullmatch(name) is not None:
        return f"{scope}.{name}"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'{scope}."{escaped}"'


def quote_for_message(value: str) -> str:
    """Quote ``value`` for an error message, keeping the message on one line.

    Uses the same escapes as :func:`logql_string`, but writes a lone surrogate
    as ``\\uXXXX`` instead of raising, so building an error message cannot fail.
    """
    parts = ['"']
    for char in value:
        if 0xD800 <= ord(char) <= 0xDFFF:
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(_escape_char(char))
    parts.append('"')
    return "".join(parts)


def _quote_go_string(value: str, *, language: str) -> str:
    _reject_surrogates(value, destination=f"a {language} string")
    return '"' + "".join(_escape_char(char) for char in value) + '"'


def _escape_char(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named

    code = ord(char)
    # \xNN yields a byte, not a code point, in Go, so it is only safe below 0x80.
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if char.isprintable():
        return char
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _reject_surrogates(value: str, *, destination: str) -> None:
    for index, char in enumerate(value):
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(
                f"invalid text for {destination}, {quote_for_message(value)} has a lone "
                f"surrogate at index {index}, which has no UTF-8 form; pass text "
                "decoded from valid UTF-8"
            )
