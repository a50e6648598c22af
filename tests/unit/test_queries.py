"""Tests for slocli.core.queries: exact LogQL, TraceQL and PromQL text.

String literals in the queries are decoded by ``go_unquote`` below, written
from the Go string-literal rules that Loki and Tempo apply. It accepts the
escapes \\a \\b \\f \\n \\r \\t \\v \\\\ \\", octal \\NNN up to 255, \\xNN, \\uNNNN
and \\UNNNNNNNN. Any other backslash sequence, a raw line break and invalid
UTF-8 are errors. Backtick strings are raw and cannot contain a backtick.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from slocli.config import (
    LatencyObjective,
    LogsShape,
    MetricsShape,
    ObjectivesConfig,
)
from slocli.core.queries import (
    api_misses_query,
    context_key_query,
    context_key_traceql,
    duration_filter,
    format_logql_duration,
    promql_failures,
    promql_latency_buckets,
    promql_queue_buckets,
    promql_requests,
    queue_misses_query,
    threshold_in_unit,
    unparsed_lines_query,
)

_SIMPLE = {
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
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def go_unquote(body: str) -> str:
    """Decode the inside of a double-quoted Go string literal, or raise ValueError."""
    output = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\n":
            raise ValueError("literal not terminated")
        if char == '"':
            raise ValueError("unescaped quote")
        if char != "\\":
            output += char.encode("utf-8")
            index += 1
            continue
        if index + 1 >= len(body):
            raise ValueError("escape at end")
        kind = body[index + 1]
        if kind in _SIMPLE:
            output += _SIMPLE[kind].encode()
            index += 2
        elif kind in _HEX_DIGITS:
            size = _HEX_DIGITS[kind]
            digits = body[index + 2 : index + 2 + size]
            if len(digits) != size or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise ValueError(f"invalid \\{kind} escape")
            value = int(digits, 16)
            if kind == "x":
                output.append(value)
            else:
                if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
                    raise ValueError("invalid code point")
                output += chr(value).encode("utf-8")
            index += 2 + size
        elif kind in "01234567":
            digits = body[index + 1 : index + 4]
            if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid octal escape")
            output.append(int(digits, 8))
            index += 4
        else:
            raise ValueError(f"invalid char escape \\{kind}")
    return output.decode("utf-8")  # raises on invalid UTF-8


def split_literals(query: str) -> tuple[str, list[str]]:
    """Return the query with each string literal replaced by S, and the literals.

    The literals are decoded and listed in order.
    """
    skeleton = []
    found = []
    index = 0
    while index < len(query):
        char = query[index]
        if char == "`":
            end = query.index("`", index + 1)
            found.append(query[index + 1 : end])
        elif char == '"':
            end = index + 1
            while query[end] != '"':
                end += 2 if query[end] == "\\" else 1
            found.append(go_unquote(query[index + 1 : end]))
        else:
            skeleton.append(char)
            index += 1
            continue
        skeleton.append("S")
        index = end + 1
    return "".join(skeleton), found


def string_literals(query: str) -> list[str]:
    return split_literals(query)[1]


def logs_shape(**changes: Any) -> LogsShape:
    return LogsShape.model_validate(changes)


def objectives(**changes: Any) -> ObjectivesConfig:
    return ObjectivesConfig.model_validate(changes)


DEFAULT_CODES = (
    'code=~"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"'
)

# The unquoter ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("plain", "plain"),
        ('a\\"b', 'a"b'),
        ("C:\\\\tmp", "C:\\tmp"),
        ("\\n\\t", "\n\t"),
        ("\\x41\\101\\u00fc\\U0001F600", "AAü😀"),
        ("\\xc3\\xbc", "ü"),
    ],
)
def test_unquoter_accepts(body: str, expected: str) -> None:
    assert go_unquote(body) == expected


@pytest.mark.parametrize(
    "body", ["\\d", "\\.", "\\'", "a\nb", 'a"b', "\\400", "\\xff", "\\ud83d", "\\"]
)
def test_unquoter_rejects(body: str) -> None:
    with pytest.raises(ValueError):
        go_unquote(body)


# LogQL: default shapes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (
            None,
            '{app="gramophile"} | json | kind="api" | latency > 1s or ' + DEFAULT_CODES,
        ),
        (
            "GetRecord",
            '{app="gramophile"} | json | kind="api" | method=~"(.*/)?GetRecord" | '
            "latency > 1s or " + DEFAULT_CODES,
        ),
        (
            "/pkg.Svc/GetRecord",
            '{app="gramophile"} | json | kind="api" | method="/pkg.Svc/GetRecord" | '
            "latency > 1s or " + DEFAULT_CODES,
        ),
    ],
    ids=["all", "bare-method", "full-method"],
)
def test_api_misses_default(method: str | None, expected: str) -> None:
    assert api_misses_query(LogsShape(), ObjectivesConfig(), method) == expected


def test_api_misses_numeric_unit() -> None:
    query = api_misses_query(logs_shape(duration_unit="ms"), ObjectivesConfig())

    assert query == (
        '{app="gramophile"} | json | kind="api" | latency > 1000 or ' + DEFAULT_CODES
    )


def test_api_misses_without_kind_or_codes() -> None:
    logs = logs_shape(fields={"kind": ""})
    config = objectives(api_availability={"failure_codes": []})

    assert api_misses_query(logs, config) == '{app="gramophile"} | json | latency > 1s'


def test_api_misses_custom_shape() -> None:
    logs = logs_shape(
        selector='{job="legacy"}',
        parser='pattern "<_> Processing Time: (<method>) <latency>"',
    )
    config = objectives(
        api_latency={"threshold": "250ms"},
        api_availability={"failure_codes": ["Internal"]},
    )

    assert api_misses_query(logs, config) == (
        '{job="legacy"} | pattern "<_> Processing Time: (<method>) <latency>" | '
        'kind="api" | latency > 250ms or code=~"Internal"'
    )


def test_api_misses_rejects_bad_field() -> None:
    logs = logs_shape(fields={"latency": "latency-ms"})

    with pytest.raises(ValueError, match="invalid label name"):
        api_misses_query(logs, ObjectivesConfig())


@pytest.mark.parametrize(
    ("entry_type", "expected"),
    [
        (
            None,
            '{app="gramophile"} | json | kind="queue" | '
            'entry_type="RefreshRelease" and run_time > 2m or '
            'entry_type="Validate" and run_time > 20s or '
            'entry_type!~"RefreshRelease|Validate" and run_time > 30s',
        ),
        (
            "RefreshRelease",
            '{app="gramophile"} | json | kind="queue" | '
            'entry_type="RefreshRelease" | run_time > 2m',
        ),
        (
            "Other",
            '{app="gramophile"} | json | kind="queue" | entry_type="Other" | '
            "run_time > 30s",
        ),
    ],
)
def test_queue_misses(entry_type: str | None, expected: str) -> None:
    config = objectives(
        queue_latency={
            "types": {
                "RefreshRelease": {"threshold": "2m"},
                "Validate": {"threshold": "20s"},
            }
        }
    )

    assert queue_misses_query(LogsShape(), config, entry_type) == expected


def test_queue_misses_default() -> None:
    assert queue_misses_query(LogsShape(), ObjectivesConfig()) == (
        '{app="gramophile"} | json | kind="queue" | run_time > 30s'
    )


def test_queue_misses_numeric_unit() -> None:
    query = queue_misses_query(logs_shape(duration_unit="ms"), ObjectivesConfig())

    assert query == '{app="gramophile"} | json | kind="queue" | run_time > 30000'


@pytest.mark.parametrize(
    ("parser", "expected"),
    [
        ("json", '{app="gramophile"} | json | __error__!=""'),
        ("logfmt", '{app="gramophile"} | logfmt | __error__!=""'),
        (
            'regexp "(?P<latency>\\\\S+)"',
            '{app="gramophile"} | regexp "(?P<latency>\\\\S+)" | latency=""',
        ),
    ],
)
def test_unparsed_lines(parser: str, expected: str) -> None:
    assert unparsed_lines_query(logs_shape(parser=parser)) == expected


# LogQL: context keys ----------------------------------------------------------------


def test_context_key_default() -> None:
    key = "k-1772359702123456789-8841"

    assert context_key_query(LogsShape(), key) == (
        '{app="gramophile"} |= "k-1772359702123456789-8841" | json | '
        'context_key="k-1772359702123456789-8841"'
    )


HARD_KEY = 'C:\\tmp\\"q"`x\nü'


def test_context_key_hard_exact() -> None:
    assert context_key_query(LogsShape(), HARD_KEY) == (
        '{app="gramophile"} | json | context_key="C:\\\\tmp\\\\\\"q\\"`x\\nü"'
    )


HARD_KEYS = [
    HARD_KEY,
    'quote"',
    "back\\slash",
    "back`tick",
    "new\nline",
    "tab\tand\rreturn",
    "nul\x00del\x7f",
    "ünïcødé-ключ-鍵",
    "emoji-😀",
    "line\u2028separator",
    "zero\u200bwidth",
    "",
    "\\x41",
    "\\u00fc",
    "%s {} [] () | =~ ",
]


@pytest.mark.parametrize("key", HARD_KEYS)
def test_context_key_round_trip(key: str) -> None:
    query = context_key_query(LogsShape(), key)

    skeleton, literals = split_literals(query)
    assert skeleton in (
        "{app=S} | json | context_key=S",
        "{app=S} |= S | json | context_key=S",
    )
    assert literals[0] == "gramophile"
    assert set(literals[1:]) == {key}


@pytest.mark.parametrize("key", HARD_KEYS)
def test_context_key_literals_single_line(key: str) -> None:
    assert "\n" not in context_key_query(LogsShape(), key)


@pytest.mark.parametrize(
    ("key", "raw_filter"),
    [
        ("k-1-2", True),
        ("k 1 2", True),
        ("k`1", True),
        ("k'1", True),
        ('k"1', False),
        ("k\\1", False),
        ("k<1", False),
        ("k>1", False),
        ("k&1", False),
        ("k/1", False),
        ("k\n1", False),
        ("k\t1", False),
        ("k\x7f1", False),
        ("kü1", False),
        ("k\u20281", False),
    ],
)
def test_raw_line_filter_use(key: str, raw_filter: bool) -> None:
    query = context_key_query(LogsShape(), key)

    assert ("|=" in query) is raw_filter


def test_context_key_other_field() -> None:
    logs = logs_shape(fields={"context_key": "request_id"}, parser="logfmt")

    assert context_key_query(logs, "abc") == (
        '{app="gramophile"} |= "abc" | logfmt | request_id="abc"'
    )


# LogQL: method filters --------------------------------------------------------------


def method_pattern(method: str) -> str:
    query = api_misses_query(LogsShape(), ObjectivesConfig(), method)
    stage = next(s for s in query.split(" | ") if s.startswith("method"))
    return string_literals(stage)[0]


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        ("GetRecord", True),
        ("/pkg.Svc/GetRecord", True),
        ("/gramophile.GramophileEService/GetRecord", True),
        ("GetRecords", False),
        ("XGetRecord", False),
        ("/pkg.Svc/XGetRecord", False),
        ("/pkg.Svc/GetRecord/", False),
    ],
)
def test_bare_method_matches(value: str, matches: bool) -> None:
    # LogQL's =~ is fully anchored: the regex must match the whole value.
    pattern = method_pattern("GetRecord")

    assert (re.fullmatch(pattern, value) is not None) is matches


def test_method_metacharacters_escaped() -> None:
    pattern = method_pattern("Get.Record")

    assert re.fullmatch(pattern, "Get.Record") is not None
    assert re.fullmatch(pattern, "GetXRecord") is None


# Durations in LogQL ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "literal"),
    [
        (1, "1s"),
        (0.5, "500ms"),
        (1.5, "1500ms"),
        (90, "90s"),
        (60, "1m"),
        (3600, "1h"),
        (5400, "90m"),
        (0.0001, "100us"),
        (0.0000015, "1500ns"),
        (0.3, "300ms"),
    ],
)
def test_logql_duration_literal(seconds: float, literal: str) -> None:
    assert format_logql_duration(seconds) == literal


@pytest.mark.parametrize(
    ("threshold", "unit", "expected"),
    [
        (timedelta(seconds=1), None, "latency > 1s"),
        (timedelta(seconds=1), "s", "latency > 1"),
        (timedelta(seconds=1), "ms", "latency > 1000"),
        (timedelta(seconds=1), "us", "latency > 1000000"),
        (timedelta(seconds=1), "ns", "latency > 1000000000"),
        (timedelta(milliseconds=1500), "s", "latency > 1.5"),
        (timedelta(milliseconds=43), "ms", "latency > 43"),
        (timedelta(microseconds=250), "ms", "latency > 0.25"),
        (timedelta(milliseconds=300), "ns", "latency > 300000000"),
    ],
)
def test_duration_filter(threshold: timedelta, unit: str | None, expected: str) -> None:
    assert duration_filter("latency", threshold, unit) == expected


def test_threshold_in_unit_exact() -> None:
    wrong = [
        ms
        for ms in range(1, 5001)
        if threshold_in_unit(
            LatencyObjective(threshold=timedelta(milliseconds=ms)), "ms"
        )
        != ms
    ]

    assert wrong == []


@pytest.mark.parametrize(
    ("threshold", "unit", "expected"),
    [
        (timedelta(seconds=1), "s", 1.0),
        (timedelta(seconds=1), "ms", 1000.0),
        (timedelta(milliseconds=300), "s", 0.3),
        (timedelta(milliseconds=2500), "ms", 2500.0),
        (timedelta(microseconds=5), "ns", 5000.0),
    ],
)
def test_threshold_in_unit(threshold: timedelta, unit: str, expected: float) -> None:
    assert threshold_in_unit(LatencyObjective(threshold=threshold), unit) == expected


# TraceQL ---------------------------------------------------------------------------------


def test_traceql_default() -> None:
    assert context_key_traceql("context_key", "k-1") == '{ span.context_key = "k-1" }'


@pytest.mark.parametrize("key", HARD_KEYS)
def test_traceql_round_trip(key: str) -> None:
    query = context_key_traceql("context_key", key)

    skeleton, literals = split_literals(query)
    assert skeleton == "{ span.context_key = S }"
    assert literals == [key]


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("app.context_key", '{ span.app.context_key = "k" }'),
        ("context key", '{ span."context key" = "k" }'),
    ],
)
def test_traceql_attribute(attribute: str, expected: str) -> None:
    assert context_key_traceql(attribute, "k") == expected


# PromQL ------------------------------------------------------------------------------------

FAILURE_CODES = ("Unknown", "DeadlineExceeded", "Unavailable")


def test_promql_requests_default() -> None:
    assert promql_requests(MetricsShape(), timedelta(days=30)) == (
        "sum (increase(grpc_server_handled_total{}[30d]))"
    )


def test_promql_requests_by_method() -> None:
    query = promql_requests(
        MetricsShape(),
        timedelta(hours=1),
        by=("grpc_method",),
        method="/pkg.Svc/GetRecord",
    )

    assert query == (
        "sum by (grpc_method) (increase("
        'grpc_server_handled_total{grpc_method=~"(.*/)?GetRecord"}[1h]))'
    )


def test_promql_failures_default() -> None:
    assert promql_failures(MetricsShape(), FAILURE_CODES, timedelta(minutes=5)) == (
        "sum (increase(grpc_server_handled_total"
        '{grpc_code=~"Unknown|DeadlineExceeded|Unavailable"}[5m]))'
    )


def test_promql_failures_with_matchers() -> None:
    metrics = MetricsShape(matchers='job="gramophile"')

    query = promql_failures(
        metrics, ("Internal",), timedelta(hours=6), method="GetRecord"
    )

    assert query == (
        "sum (increase(grpc_server_handled_total"
        '{job="gramophile", grpc_code=~"Internal", grpc_method=~"(.*/)?GetRecord"}'
        "[6h]))"
    )


def test_promql_latency_buckets() -> None:
    query = promql_latency_buckets(
        MetricsShape(), timedelta(hours=6), by=("grpc_method",)
    )

    assert query == (
        "sum by (grpc_method, le) (increase(grpc_server_handling_seconds_bucket{}[6h]))"
    )


def test_promql_queue_buckets() -> None:
    assert promql_queue_buckets(MetricsShape(), timedelta(days=1)) == (
        "sum by (type, le) (increase(gramophile_queue_time_bucket{}[1d]))"
    )


def test_promql_otel_names() -> None:
    metrics = MetricsShape(
        handled_total="rpc_server_call_duration_seconds_count",
        method_label="rpc_method",
        code_label="rpc_status_code",
    )

    query = promql_failures(metrics, ("Internal",), timedelta(minutes=30))

    assert query == (
        "sum (increase(rpc_server_call_duration_seconds_count"
        '{rpc_status_code=~"Internal"}[30m]))'
    )


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=28), "4w"),
        (timedelta(seconds=1.5), "1s500ms"),
    ],
)
def test_promql_window_text(window: timedelta, text: str) -> None:
    assert promql_requests(MetricsShape(), window).endswith(f"[{text}]))")


def test_promql_rejects_bad_label() -> None:
    with pytest.raises(ValueError, match="invalid label name"):
        promql_requests(MetricsShape(), timedelta(hours=1), by=("grpc-method",))
