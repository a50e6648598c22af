"""A TraceQL subset for the Tempo test server: lexer, parser and evaluator.

The subset covers what slocli sends to Tempo:

- spanset filters ``{ <expr> }``; ``{}`` and ``{ }`` match every span;
- attributes ``span.x``, ``resource.x`` and unscoped ``.x`` (true when the span
  or the resource attribute matches), with quoted names such as
  ``span."attr with space"``;
- the intrinsics ``name``, ``status``, ``statusMessage``, ``kind``,
  ``duration``, ``rootName``, ``rootServiceName`` and ``traceDuration``;
- ``=``, ``!=``, ``=~``, ``!~`` (RE2 syntax, fully anchored), ``>``, ``>=``,
  ``<``, ``<=``; ``&&``, ``||`` and parentheses inside a filter;
- literals: strings, integers, floats, durations (``100ms``, ``1.5s``,
  ``1h30m``), ``true``, ``false``, ``nil`` (only in ``!= nil``), and the status
  and kind keywords (``status = error``, ``kind = server``);
- ``&&`` and ``||`` between spanset filters.

Everything else raises ``TraceQLError``, which the server reports as 400
``invalid TraceQL query: <message>``. Valid TraceQL outside the subset
(pipelines, aggregates, structural operators, arithmetic, other scopes) gets a
message saying the test server does not support it, so a test never passes on a
query that the server quietly misread. Messages start with ``parse error at
line L, col C:``, the form of Tempo's parser errors, whose lexer records line
and column. The text after that prefix is this module's own wording, not the
goyacc text that Tempo prints.

Behaviour follows grafana/tempo ``pkg/traceql`` (``lexer.go``, ``expr.y``,
``ast_execute.go``, ``engine.go``) as read on the main branch in 2026.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from tests.stack.model import AttributeValue, Span

# ---------------------------------------------------------------------------
# Go-compatible literal helpers
# ---------------------------------------------------------------------------

_GO_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Quote ``text`` the way Go's ``strconv.Quote`` does, for error messages."""
    parts = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            parts.append("\\" + char)
        elif char in _GO_QUOTE_ESCAPES:
            parts.append(_GO_QUOTE_ESCAPES[char])
        elif char.isprintable():
            parts.append(char)
        elif code < 0x80:
            parts.append(f"\\x{code:02x}")
        elif code < 0x10000:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    parts.append('"')
    return "".join(parts)


_GO_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_INT64 = (1 << 63) - 1


def parse_go_duration(text: str) -> int:
    """Parse a Go ``time.ParseDuration`` string into nanoseconds.

    Raises ``ValueError`` with Go's message, for example
    ``time: unknown unit "seconds" in duration "10seconds"``.
    """
    invalid = ValueError(f"time: invalid duration {go_quote(text)}")
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if rest == "":
        raise invalid
    total = 0
    while rest:
        if not (rest[0] == "." or "0" <= rest[0] <= "9"):
            raise invalid
        integer_digits = _leading_ascii_digits(rest)
        rest = rest[len(integer_digits) :]
        fraction_digits = ""
        if rest.startswith("."):
            rest = rest[1:]
            fraction_digits = _leading_ascii_digits(rest)
            rest = rest[len(fraction_digits) :]
        if not integer_digits and not fraction_digits:
            raise invalid
        unit_length = 0
        while unit_length < len(rest) and not (
            rest[unit_length] == "." or "0" <= rest[unit_length] <= "9"
        ):
            unit_length += 1
        if unit_length == 0:
            raise ValueError(f"time: missing unit in duration {go_quote(text)}")
        unit = rest[:unit_length]
        rest = rest[unit_length:]
        if unit not in _GO_DURATION_UNITS_NS:
            raise ValueError(
                f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}"
            )
        unit_ns = _GO_DURATION_UNITS_NS[unit]
        value = int(integer_digits or "0") * unit_ns
        if fraction_digits:
            # Go scales the fraction in float64, so this matches its rounding.
            scale = 10 ** len(fraction_digits)
            value += int(float(int(fraction_digits)) * (unit_ns / scale))
        total += value
        if total > 1 << 63:
            raise invalid
    if negative:
        return -total
    if total > _MAX_INT64:
        raise invalid
    return total


def _leading_ascii_digits(text: str) -> str:
    end = 0
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return text[:end]


# Prometheus durations (prometheus/common model.ParseDuration), which Tempo's
# lexer tries before Go durations: integer counts of y, w, d, h, m, s, ms.
_PROMETHEUS_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_PROMETHEUS_UNITS_NS = (
    365 * 86400 * 10**9,
    7 * 86400 * 10**9,
    86400 * 10**9,
    3600 * 10**9,
    60 * 10**9,
    10**9,
    10**6,
)


def parse_traceql_duration(text: str) -> int | None:
    """Return the nanoseconds of a TraceQL duration literal, or None if invalid.

    Tempo tries the Prometheus form first (``1d``, ``2w``, ``1h30m``) and falls
    back to Go's ``time.ParseDuration`` (``1.5s``, ``250us``).
    """
    if text == "0":
        return 0
    match = _PROMETHEUS_DURATION.fullmatch(text)
    if text and match is not None:
        total = sum(
            int(count) * unit
            for count, unit in zip(match.groups(), _PROMETHEUS_UNITS_NS, strict=True)
            if count is not None
        )
        if total <= _MAX_INT64:
            return total
    try:
        return parse_go_duration(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Errors and tokens
# ---------------------------------------------------------------------------


class TraceQLError(ValueError):
    """A query outside the accepted subset, with the 1-based line and column."""

    def __init__(self, message: str, query: str, offset: int) -> None:
        line = query.count("\n", 0, offset) + 1
        column = offset - (query.rfind("\n", 0, offset) + 1) + 1
        super().__init__(f"parse error at line {line}, col {column}: {message}")
        self.line = line
        self.column = column
        self.detail = message


ErrorFactory = Callable[[str], TraceQLError]


@dataclass(frozen=True)
class Token:
    """A lexer token; ``offset`` is its index in the query."""

    # One of: { } ( ) , && || ! | - comparison arithmetic structural string
    # int float duration identifier attribute eof.
    kind: str
    text: str
    offset: int
    # Decoded value: str for strings and identifiers, int for integers and
    # durations (nanoseconds), float for floats, Attribute for attributes.
    value: str | int | float | Attribute | None = None


SUPPORTED_INTRINSICS = (
    "name",
    "status",
    "statusMessage",
    "kind",
    "duration",
    "rootName",
    "rootServiceName",
    "traceDuration",
)
# Valid TraceQL names the test server does not evaluate.
_UNSUPPORTED_IDENTIFIERS = {
    "childCount": "the childCount intrinsic",
    "parent": "the parent intrinsic",
    "nestedSetLeft": "nested set intrinsics",
    "nestedSetRight": "nested set intrinsics",
    "nestedSetParent": "nested set intrinsics",
    "count": "aggregates such as count()",
    "avg": "aggregates such as avg()",
    "max": "aggregates such as max()",
    "min": "aggregates such as min()",
    "sum": "aggregates such as sum()",
    "by": "by() grouping",
    "coalesce": "coalesce()",
    "select": "select()",
    "with": "query hints (with ...)",
    "rate": "TraceQL metrics",
    "count_over_time": "TraceQL metrics",
    "quantile_over_time": "TraceQL metrics",
    "histogram_over_time": "TraceQL metrics",
    "compare": "TraceQL metrics",
}
_STATUS_KEYWORDS = ("ok", "error", "unset")
_KIND_KEYWORDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
# Characters that end an unquoted attribute name (Tempo's isAttributeRune).
_ATTRIBUTE_TERMINATORS = frozenset("{}()=~!<>&|^,")
# Runes Tempo's lexer accepts after a number while it tries to read a duration.
_DURATION_RUNES = frozenset("0123456789nsumµhdwy.")
_SIMPLE_ESCAPES = {
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


def _unsupported(feature: str) -> str:
    return (
        f"the Tempo test server does not support {feature} "
        "(valid TraceQL outside its subset)"
    )


# ---------------------------------------------------------------------------
# AST
# ---------------------------------------------------------------------------

AttributeScope = Literal["span", "resource", "unscoped"]


@dataclass(frozen=True)
class Attribute:
    """A span or resource attribute reference such as ``span.http.method``."""

    scope: AttributeScope
    name: str


@dataclass(frozen=True)
class Intrinsic:
    """A span or trace intrinsic such as ``status`` or ``traceDuration``."""

    name: str


Field = Attribute | Intrinsic
StaticType = Literal[
    "string", "int", "float", "bool", "duration", "status", "kind", "nil"
]


@dataclass(frozen=True)
class Static:
    """A typed value: a literal in a query, or a value read from a span.

    Durations are in nanoseconds. Status and kind values are the TraceQL
    keywords (``error``, ``server``).
    """

    type: StaticType
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Comparison:
    field: Field
    operator: str
    static: Static
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Logical:
    operator: Literal["&&", "||"]
    left: FieldExpression
    right: FieldExpression


FieldExpression = Comparison | Constant | Logical


@dataclass(frozen=True)
class SpansetFilter:
    expression: FieldExpression


@dataclass(frozen=True)
class SpansetOperation:
    operator: Literal["&&", "||"]
    left: SpansetExpression
    right: SpansetExpression


SpansetExpression = SpansetFilter | SpansetOperation


# ---------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------


class _Lexer:
    def __init__(self, query: str) -> None:
        self.query = query
        self.position = 0

    def error(self, message: str, offset: int) -> TraceQLError:
        return TraceQLError(message, self.query, offset)

    def tokens(self) -> list[Token]:
        result: list[Token] = []
        while True:
            token = self._next()
            result.append(token)
            if token.kind == "eof":
                return result

    def _peek(self, ahead: int = 0) -> str:
        index = self.position + ahead
        return self.query[index] if index < len(self.query) else ""

    def _next(self) -> Token:
        query = self.query
        while self.position < len(query) and query[self.position].isspace():
            self.position += 1
        start = self.position
        char = self._peek()
        if char == "":
            return Token("eof", "", start)
        if char in "{}(),":
            self.position += 1
            return Token(char, char, start)
        if char == '"':
            return self._double_quoted_string()
        if char == "`":
            return self._raw_string()
        if char == "'":
            raise self.error(
                "single quotes start a character literal, not a string; "
                "use double quotes or backticks",
                start,
            )
        if "0" <= char <= "9" or (char == "." and "0" <= self._peek(1) <= "9"):
            return self._number()
        if char == ".":
            self.position += 1
            return self._attribute("unscoped", start)
        if char.isalpha() or char == "_":
            return self._identifier_or_attribute()
        return self._operator()

    def _identifier_or_attribute(self) -> Token:
        start = self.position
        end = start
        while end < len(self.query) and (
            self.query[end].isalnum() or self.query[end] == "_"
        ):
            end += 1
        word = self.query[start:end]
        self.position = end
        following = self._peek()
        if following == "." and word in ("span", "resource"):
            self.position += 1
            scope: AttributeScope = "span" if word == "span" else "resource"
            return self._attribute(scope, start)
        if following == "." and word in ("parent", "event", "link", "instrumentation"):
            raise self.error(_unsupported(f"the {word}. scope"), start)
        if following == ":" and word in (
            "span",
            "trace",
            "event",
            "link",
            "instrumentation",
        ):
            raise self.error(_unsupported(f"the {word}: intrinsic syntax"), start)
        return Token("identifier", word, start, word)

    def _attribute(self, scope: AttributeScope, start: int) -> Token:
        if self._peek() == '"':
            name = self._quoted_attribute_name()
            if self._peek() and self._is_attribute_char(self._peek()):
                raise self.error(
                    "unexpected character after a quoted attribute name",
                    self.position,
                )
        else:
            name_start = self.position
            while self._peek() and self._is_attribute_char(self._peek()):
                self.position += 1
            name = self.query[name_start : self.position]
        if name == "":
            raise self.error("missing attribute name", start)
        text = self.query[start : self.position]
        return Token("attribute", text, start, Attribute(scope, name))

    @staticmethod
    def _is_attribute_char(char: str) -> bool:
        return not char.isspace() and char not in _ATTRIBUTE_TERMINATORS

    def _quoted_attribute_name(self) -> str:
        # Tempo documents only \" and \\ inside quoted attribute names, so any
        # other backslash sequence is rejected instead of guessed at.
        start = self.position
        self.position += 1
        characters: list[str] = []
        while True:
            char = self._peek()
            if char == "":
                raise self.error("quoted attribute name not terminated", start)
            if char == "\\":
                escaped = self._peek(1)
                if escaped not in ('"', "\\"):
                    raise self.error(
                        'only \\" and \\\\ escapes are allowed in a quoted '
                        "attribute name",
                        self.position,
                    )
                characters.append(escaped)
                self.position += 2
                continue
            self.position += 1
            if char == '"':
                return "".join(characters)
            characters.append(char)

    def _double_quoted_string(self) -> Token:
        # Go's strconv.Unquote rules: the escapes \a \b \f \n \r \t \v \\ \",
        # \xHH, \OOO (octal, at most 255), \uHHHH and \UHHHHHHHH without
        # surrogate halves. Anything else, and raw newlines, are errors.
        start = self.position
        self.position += 1
        data = bytearray()
        while True:
            char = self._peek()
            if char in ("", "\n"):
                raise self.error("string literal not terminated", start)
            if char == '"':
                self.position += 1
                break
            if char != "\\":
                data += char.encode("utf-8", "surrogatepass")
                self.position += 1
                continue
            self._escape_sequence(data)
        value = data.decode("utf-8", "surrogateescape")
        return Token("string", self.query[start : self.position], start, value)

    def _escape_sequence(self, data: bytearray) -> None:
        start = self.position
        escape = self._peek(1)
        if escape in _SIMPLE_ESCAPES:
            data.append(_SIMPLE_ESCAPES[escape])
            self.position += 2
            return
        if escape in ("x", "u", "U"):
            digits = {"x": 2, "u": 4, "U": 8}[escape]
            text = self.query[start + 2 : start + 2 + digits]
            if len(text) != digits or any(
                c not in "0123456789abcdefABCDEF" for c in text
            ):
                raise self.error(f"invalid escape sequence \\{escape}{text}", start)
            code = int(text, 16)
            self.position = start + 2 + digits
            if escape == "x":
                data.append(code)
                return
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                raise self.error(
                    f"invalid escape sequence \\{escape}{text}: surrogate halves "
                    "and code points above U+10FFFF are not allowed",
                    start,
                )
            data += chr(code).encode("utf-8")
            return
        if escape and escape in "01234567":
            text = self.query[start + 1 : start + 4]
            if len(text) != 3 or any(c not in "01234567" for c in text):
                raise self.error(f"invalid octal escape sequence \\{text}", start)
            code = int(text, 8)
            if code > 0xFF:
                raise self.error(f"octal escape \\{text} is above 255", start)
            data.append(code)
            self.position = start + 4
            return
        if escape == "":
            raise self.error("string literal not terminated", start)
        raise self.error(f"unknown escape sequence \\{escape}", start)

    def _raw_string(self) -> Token:
        start = self.position
        end = self.query.find("`", start + 1)
        if end < 0:
            raise self.error("raw string literal not terminated", start)
        self.position = end + 1
        # strconv.Unquote drops carriage returns from raw strings.
        value = self.query[start + 1 : end].replace("\r", "")
        return Token("string", self.query[start : self.position], start, value)

    def _number(self) -> Token:
        query = self.query
        start = self.position
        end = start
        is_float = False
        while end < len(query) and "0" <= query[end] <= "9":
            end += 1
        if end < len(query) and query[end] == ".":
            is_float = True
            end += 1
            while end < len(query) and "0" <= query[end] <= "9":
                end += 1

        if end < len(query) and query[end] in "eE":
            exponent = end + 1
            if exponent < len(query) and query[exponent] in "+-":
                exponent += 1
            if exponent < len(query) and "0" <= query[exponent] <= "9":
                is_float = True
                end = exponent
                while end < len(query) and "0" <= query[end] <= "9":
                    end += 1

        # Like Tempo's tryScanDuration: read on while the runes could belong to
        # a duration, and keep the longer token only if it parses as one.
        duration_end = end
        while (
            duration_end < len(query)
            and not query[duration_end].isspace()
            and query[duration_end] in _DURATION_RUNES
        ):
            duration_end += 1
        if duration_end > end:
            nanoseconds = parse_traceql_duration(query[start:duration_end])
            if nanoseconds is not None:
                self.position = duration_end
                text = query[start:duration_end]
                return Token("duration", text, start, nanoseconds)

        self.position = end
        text = query[start:end]
        if is_float:
            return Token("float", text, start, float(text))
        value = int(text)
        if value > _MAX_INT64:
            raise self.error(f"integer {text} is out of range", start)
        return Token("int", text, start, value)

    def _operator(self) -> Token:
        start = self.position
        two = self.query[start : start + 2]
        three = self.query[start : start + 3]
        if three in ("&>>", "&<<", "!>>", "!<<"):
            self.position += 3
            return Token("structural", three, start)
        if two in ("!=", "=~", "!~", ">=", "<="):
            self.position += 2
            return Token("comparison", two, start)
        if two in ("&&", "||"):
            self.position += 2
            return Token(two, two, start)
        if two in (">>", "<<", "&>", "&<", "&~", "!>", "!<"):
            self.position += 2
            return Token("structural", two, start)
        char = self.query[start]
        self.position += 1
        if char in "=<>":
            return Token("comparison", char, start)
        if char == "~":
            return Token("structural", char, start)
        if char in "!|-":
            return Token(char, char, start)
        if char in "+*/%^":
            return Token("arithmetic", char, start)
        raise self.error(f"unexpected character {go_quote(char)}", start)


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _Lexer(query).tokens()
        self.index = 0

    def error(self, message: str, token: Token) -> TraceQLError:
        return TraceQLError(message, self.query, token.offset)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def expect(self, kind: str, description: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.error(f"expected {description}, found {_describe(token)}", token)
        return self.advance()

    def parse(self) -> SpansetExpression:
        if self.peek().kind == "eof":
            raise self.error("empty query", self.peek())
        expression = self.spanset_expression()
        token = self.peek()
        if token.kind == "eof":
            return expression
        if token.kind == "|":
            raise self.error(_unsupported("a pipeline (| ...)"), token)
        self.reject_spanset_operator(token)
        raise self.error(f"unexpected {_describe(token)} after a spanset", token)

    def reject_spanset_operator(self, token: Token) -> None:
        if token.kind in ("structural", "comparison") or token.text == "!":
            raise self.error(
                _unsupported(f"the structural operator {token.text} between spansets"),
                token,
            )

    def spanset_expression(self) -> SpansetExpression:
        # Tempo's grammar gives && and || the same precedence, left to right:
        # {a} || {b} && {c} means ({a} || {b}) && {c}.
        left = self.spanset_primary()
        while self.peek().kind in ("&&", "||"):
            operator = _logical_operator(self.advance())
            right = self.spanset_primary()
            left = SpansetOperation(operator, left, right)
        self.reject_spanset_operator(self.peek())
        return left

    def spanset_primary(self) -> SpansetExpression:
        token = self.peek()
        if token.kind == "{":
            self.advance()
            if self.peek().kind == "}":
                self.advance()
                return SpansetFilter(Constant(True))
            field_expression = self.field_expression()
            self.expect("}", "'}' to close the spanset filter")
            return SpansetFilter(field_expression)
        if token.kind == "(":
            self.advance()
            grouped = self.spanset_expression()
            self.expect(")", "')'")
            return grouped
        if token.kind == "identifier" and token.text in _UNSUPPORTED_IDENTIFIERS:
            raise self.error(_unsupported(_UNSUPPORTED_IDENTIFIERS[token.text]), token)
        raise self.error(
            f"expected '{{' to start a spanset filter, found {_describe(token)}", token
        )

    def field_expression(self) -> FieldExpression:
        # Same precedence for && and || inside a filter too, as in expr.y.
        left = self.field_operand()
        while self.peek().kind in ("&&", "||"):
            operator = _logical_operator(self.advance())
            right = self.field_operand()
            left = Logical(operator, left, right)
        return left

    def field_operand(self) -> FieldExpression:
        token = self.peek()
        if token.kind == "(":
            self.advance()
            expression = self.field_expression()
            self.expect(")", "')'")
            return expression
        if token.kind == "!":
            raise self.error(_unsupported("negation with !"), token)
        left = self.value()
        operator_token = self.peek()
        if operator_token.kind != "comparison":
            if isinstance(left, Static) and left.type == "bool":
                return Constant(bool(left.value))
            self.reject_inside_filter(operator_token)
            raise self.error(
                f"expected a comparison operator, found {_describe(operator_token)}",
                operator_token,
            )
        self.advance()
        right = self.value()
        self.reject_inside_filter(self.peek())
        return self.comparison(left, operator_token, right)

    def reject_inside_filter(self, token: Token) -> None:
        if token.kind == "arithmetic" or token.kind == "-":
            raise self.error(_unsupported("arithmetic"), token)
        if token.kind == "comparison":
            raise self.error("comparisons cannot be chained", token)

    def value(self) -> Field | Static:
        token = self.advance()
        if token.kind == "-":
            number = self.advance()
            if number.kind not in ("int", "float", "duration"):
                raise self.error(_unsupported("unary minus on a non-number"), token)
            static = _number_static(number)
            assert isinstance(static.value, int | float)
            return Static(static.type, -static.value)
        if token.kind in ("int", "float", "duration"):
            return _number_static(token)
        if token.kind == "attribute":
            assert isinstance(token.value, Attribute)
            return token.value
        if token.kind == "string":
            assert isinstance(token.value, str)
            return Static("string", token.value)
        if token.kind == "identifier":
            return self.keyword(token)
        if token.kind == "arithmetic":
            raise self.error(_unsupported("arithmetic"), token)
        raise self.error(f"unexpected {_describe(token)}", token)

    def keyword(self, token: Token) -> Field | Static:
        word = token.text
        if word in SUPPORTED_INTRINSICS:
            return Intrinsic(word)
        if word in ("true", "false"):
            return Static("bool", word == "true")
        if word == "nil":
            return Static("nil", None)
        if word in _STATUS_KEYWORDS:
            return Static("status", word)
        if word in _KIND_KEYWORDS:
            return Static("kind", word)
        if word in _UNSUPPORTED_IDENTIFIERS:
            raise self.error(_unsupported(_UNSUPPORTED_IDENTIFIERS[word]), token)
        raise self.error(
            f"unexpected identifier {word}; attributes need a scope such as "
            f"span.{word}, resource.{word} or .{word}",
            token,
        )

    def comparison(
        self, left: Field | Static, operator_token: Token, right: Field | Static
    ) -> Comparison:
        operator = operator_token.text
        if isinstance(left, Static) and isinstance(right, Attribute | Intrinsic):
            if operator in ("=~", "!~"):
                raise self.error(
                    _unsupported("a regex with the pattern on the left"), operator_token
                )
            mirrored = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
            left, right = right, left
            operator = mirrored.get(operator, operator)
        if not isinstance(left, Attribute | Intrinsic) or not isinstance(right, Static):
            raise self.error(
                _unsupported("a comparison that is not between a field and a literal"),
                operator_token,
            )
        _check_types(
            left, operator, right, lambda message: self.error(message, operator_token)
        )
        pattern = None
        if operator in ("=~", "!~"):
            pattern = _compile_re2(
                str(right.value), lambda message: self.error(message, operator_token)
            )
        return Comparison(left, operator, right, pattern)


def _logical_operator(token: Token) -> Literal["&&", "||"]:
    return "&&" if token.kind == "&&" else "||"


def _number_static(token: Token) -> Static:
    if token.kind == "float":
        assert isinstance(token.value, float)
        return Static("float", token.value)
    assert isinstance(token.value, int)
    return Static("duration" if token.kind == "duration" else "int", token.value)


def _describe(token: Token) -> str:
    if token.kind == "eof":
        return "end of query"
    return go_quote(token.text)


def _field_text(field: Field) -> str:
    if isinstance(field, Intrinsic):
        return field.name
    prefix = "." if field.scope == "unscoped" else f"{field.scope}."
    return prefix + field.name


def _check_types(
    field: Field,
    operator: str,
    static: Static,
    error: ErrorFactory,
) -> None:
    """Reject comparisons of mismatched types and those outside the subset."""
    equality = operator in ("=", "!=")
    regex = operator in ("=~", "!~")
    ordering = operator in (">", ">=", "<", "<=")
    text = _field_text(field)

    if static.type == "nil":
        if isinstance(field, Attribute) and operator == "!=":
            return
        raise error(_unsupported(f"{text} {operator} nil; only <attribute> != nil is"))

    if isinstance(field, Intrinsic) and field.name == "status":
        if static.type != "status" or not equality:
            raise error(
                "status can only be compared with = or != to ok, error or unset"
            )
        return

    if isinstance(field, Intrinsic) and field.name == "kind":
        if static.type != "kind" or not equality:
            raise error(
                "kind can only be compared with = or != to " + ", ".join(_KIND_KEYWORDS)
            )
        return

    if isinstance(field, Intrinsic) and field.name in ("duration", "traceDuration"):
        if static.type != "duration" or regex:
            raise error(
                _unsupported(
                    f"comparing {text} to anything but a duration such as 100ms"
                )
            )
        return

    if static.type in ("status", "kind", "duration"):
        raise error(_unsupported(f"comparing {text} to a {static.type} literal"))
    if isinstance(field, Intrinsic) and static.type != "string":
        raise error(f"{text} is a string and can only be compared to a string")
    if regex and static.type != "string":
        raise error("regular expressions must be strings")
    if ordering and static.type not in ("int", "float"):
        raise error(_unsupported(f"{operator} with a {static.type} literal"))
    if static.type == "bool" and not equality:
        raise error(_unsupported(f"{operator} with a boolean literal"))


def _compile_re2(pattern: str, error: ErrorFactory) -> re.Pattern[str]:
    """Compile an RE2 pattern with Python's ``re``, rejecting constructs RE2 lacks.

    NOTE: Python's ``re`` approximates RE2: ``re.ASCII`` gives RE2's ASCII
    ``\\d``, ``\\w``, ``\\s`` and ``\\b``, but also makes ``(?i)`` fold ASCII
    letters only, where RE2 folds all of Unicode.
    """
    translated: list[str] = []
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            # RE2 has no backreferences and no \Z; Python has no \Q...\E.
            if escaped in tuple("123456789QEZ"):
                raise error(_not_re2("\\" + escaped, pattern))
            translated.append("\\Z" if escaped == "z" else "\\" + escaped)
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            # A ] right after [ or [^ is a literal, not the end of the class.
            class_body = index + 1
            if pattern[class_body : class_body + 1] == "^":
                class_body += 1
            if pattern[class_body : class_body + 1] == "]":
                class_body += 1
            translated.append(pattern[index:class_body])
            index = class_body
            in_class = True
            continue
        elif pattern.startswith("(?", index):
            _check_group_syntax(pattern, index, error)
        elif char in "*+?}" and pattern[index + 1 : index + 2] == "+":
            raise error(_not_re2(char + "+", pattern))
        translated.append(char)
        index += 1
    try:
        return re.compile("".join(translated), re.ASCII)
    except re.error as exc:
        raise error(f"error parsing regexp: {exc} in {go_quote(pattern)}") from exc


def _check_group_syntax(pattern: str, index: int, error: ErrorFactory) -> None:
    # RE2 has no lookaround, atomic groups, named backreferences, comments or
    # conditionals, and Python has no U (ungreedy) flag.
    rest = pattern[index + 2 :]
    for prefix in ("=", "!", "<=", "<!", ">", "P=", "#", "("):
        if rest.startswith(prefix):
            raise error(_not_re2("(?" + prefix, pattern))
    flags = re.match(r"[a-zA-Z-]*", rest)
    if flags is not None and "U" in flags.group(0):
        raise error(_not_re2("(?" + flags.group(0), pattern))


def _not_re2(construct: str, pattern: str) -> str:
    return (
        f"error parsing regexp: {construct} is not RE2 syntax or not supported "
        f"by the test server, in {go_quote(pattern)}"
    )


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

_STATUS_KEYWORD_BY_CODE = {
    "STATUS_CODE_UNSET": "unset",
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
}
_KIND_KEYWORD_BY_ENUM = {
    "SPAN_KIND_UNSPECIFIED": "unspecified",
    "SPAN_KIND_INTERNAL": "internal",
    "SPAN_KIND_SERVER": "server",
    "SPAN_KIND_CLIENT": "client",
    "SPAN_KIND_PRODUCER": "producer",
    "SPAN_KIND_CONSUMER": "consumer",
}


def status_keyword(span: Span) -> str:
    """Return the TraceQL status keyword (``error``, ``ok``, ``unset``) of a span."""
    return _STATUS_KEYWORD_BY_CODE[span.status_code]


def kind_keyword(span: Span) -> str:
    """Return the TraceQL kind keyword (``server``, ``client`` ...) of a span."""
    return _KIND_KEYWORD_BY_ENUM[span.kind]


def resource_attributes(span: Span) -> dict[str, AttributeValue]:
    """Return the resource attributes of a span, with ``service.name`` first."""
    attributes: dict[str, AttributeValue] = {"service.name": span.service_name}
    for key, value in span.resource_attributes.items():
        if key != "service.name":
            attributes[key] = value
    return attributes


def static_from_attribute(value: AttributeValue) -> Static:
    """Wrap an attribute value in a Static of the matching TraceQL type."""
    if isinstance(value, bool):
        return Static("bool", value)
    if isinstance(value, int):
        return Static("int", value)
    if isinstance(value, float):
        return Static("float", value)
    return Static("string", value)


@dataclass(frozen=True)
class TraceView:
    """The spans of one trace as the server stores them, with trace-level values.

    ``root`` is None when the trace has no span without a parent, for example
    when the test server dropped it to simulate a partial trace.
    """

    trace_id: str
    spans: Sequence[Span]
    root: Span | None
    start_ns: int
    end_ns: int

    @classmethod
    def from_spans(cls, trace_id: str, spans: Sequence[Span]) -> TraceView:
        ordered = sorted(spans, key=lambda span: (span.start_ns, span.span_id))
        roots = [span for span in ordered if span.parent_span_id == ""]
        return cls(
            trace_id=trace_id,
            spans=tuple(ordered),
            root=roots[0] if roots else None,
            start_ns=min(span.start_ns for span in ordered),
            end_ns=max(span.end_ns for span in ordered),
        )

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True)
class ResolvedField:
    """A field value found on a span, with the key Tempo reports for it."""

    key: str
    scope: str
    value: Static


def resolve_field(field: Field, span: Span, trace: TraceView) -> ResolvedField | None:
    """Look up a field on a span; None when the span does not have it."""
    if isinstance(field, Attribute):
        scopes: tuple[str, ...] = (
            ("span", "resource") if field.scope == "unscoped" else (field.scope,)
        )
        for scope in scopes:
            source = span.attributes if scope == "span" else resource_attributes(span)
            if field.name in source:
                value = static_from_attribute(source[field.name])
                return ResolvedField(field.name, scope, value)
        return None
    intrinsic = _intrinsic_value(field.name, span, trace)
    if intrinsic is None:
        return None
    return ResolvedField(field.name, "intrinsic", intrinsic)


def _intrinsic_value(name: str, span: Span, trace: TraceView) -> Static | None:
    if name == "name":
        return Static("string", span.name)
    if name == "status":
        return Static("status", status_keyword(span))
    if name == "statusMessage":
        return Static("string", span.status_message)
    if name == "kind":
        return Static("kind", kind_keyword(span))
    if name == "duration":
        return Static("duration", span.end_ns - span.start_ns)
    if name == "traceDuration":
        return Static("duration", trace.duration_ns)
    if trace.root is None:
        return None
    if name == "rootName":
        return Static("string", trace.root.name)
    if name == "rootServiceName":
        return Static("string", trace.root.service_name)
    raise AssertionError(f"intrinsic {name} is not handled")


def _compare(value: Static | None, comparison: Comparison) -> bool:
    # A value of another type never matches, not even with != or !~, because
    # BinaryOperation.execute (pkg/traceql/ast_execute.go) returns false then.
    # NOTE: a missing field never matches either, since Tempo's storage layer
    # fetches only spans that have the attribute. That was read in code only.
    static = comparison.static
    operator = comparison.operator
    if static.type == "nil":
        return value is not None
    if value is None:
        return False

    if comparison.pattern is not None:
        if value.type != "string":
            return False
        matched = comparison.pattern.fullmatch(str(value.value)) is not None
        return matched if operator == "=~" else not matched
    numeric = ("int", "float")
    same_family = value.type == static.type or (
        value.type in numeric and static.type in numeric
    )
    if not same_family:
        return False

    left = value.value
    right = static.value
    if operator == "=":
        return left == right
    if operator == "!=":
        return left != right
    assert isinstance(left, int | float) and isinstance(right, int | float)
    if operator == ">":
        return left > right
    if operator == ">=":
        return left >= right
    if operator == "<":
        return left < right
    return left <= right


def _matches(expression: FieldExpression, span: Span, trace: TraceView) -> bool:
    if isinstance(expression, Constant):
        return expression.value
    if isinstance(expression, Logical):
        left = _matches(expression.left, span, trace)
        if expression.operator == "&&":
            return left and _matches(expression.right, span, trace)
        return left or _matches(expression.right, span, trace)

    field = expression.field
    if isinstance(field, Attribute) and field.scope == "unscoped":
        # An unscoped attribute matches when either scope's value does.
        scoped = (Attribute("span", field.name), Attribute("resource", field.name))
        values = [resolve_field(attribute, span, trace) for attribute in scoped]
        found = [resolved.value for resolved in values if resolved is not None]
        if expression.static.type == "nil":
            return bool(found)
        return any(_compare(value, expression) for value in found)
    resolved = resolve_field(field, span, trace)
    return _compare(resolved.value if resolved else None, expression)


@dataclass(frozen=True)
class Query:
    """A parsed query: evaluate it per trace with ``matching_spans``."""

    text: str
    root: SpansetExpression

    def matching_spans(self, trace: TraceView) -> list[Span]:
        """Return the spans the query selects in a trace; empty when none match."""
        return _evaluate(self.root, trace)

    def fields(self) -> list[Field]:
        """Return the fields the query references, in order, without repeats."""
        found: list[Field] = []
        for field in _walk_fields(self.root):
            if field not in found:
                found.append(field)
        return found


def _evaluate(expression: SpansetExpression, trace: TraceView) -> list[Span]:
    if isinstance(expression, SpansetFilter):
        return [
            span for span in trace.spans if _matches(expression.expression, span, trace)
        ]
    left = _evaluate(expression.left, trace)
    right = _evaluate(expression.right, trace)
    if expression.operator == "&&" and not (left and right):
        return []
    union = {id(span): span for span in [*left, *right]}
    return sorted(union.values(), key=lambda span: (span.start_ns, span.span_id))


def _walk_fields(expression: SpansetExpression | FieldExpression) -> Iterator[Field]:
    if isinstance(expression, SpansetFilter):
        yield from _walk_fields(expression.expression)
    elif isinstance(expression, SpansetOperation | Logical):
        yield from _walk_fields(expression.left)
        yield from _walk_fields(expression.right)
    elif isinstance(expression, Comparison):
        yield expression.field


def parse(query: str) -> Query:
    """Parse a TraceQL query of the supported subset; raise TraceQLError otherwise."""
    return Query(query, _Parser(query).parse())
