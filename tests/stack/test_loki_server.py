"""Tests for the Loki test server and its LogQL subset.

Wire-shape tests compare against real Loki responses (expected outputs of
Loki's own encoder tests). They read those files from ``tests/fixtures`` or
from the directory named by ``SLOCLI_REFERENCE_FIXTURES``, and are skipped with
a reason when the files are missing.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import logql
from tests.stack.logql import ParseError, parse_query, unquote_string
from tests.stack.loki_server import LokiTestServer, parse_loki_timestamp
from tests.stack.model import LogStream

REFERENCE_FIXTURES = Path(
    os.environ.get(
        "SLOCLI_REFERENCE_FIXTURES",
        Path(__file__).resolve().parents[1] / "fixtures",
    )
)

SECOND = 1_000_000_000
T0_SECONDS = 1_772_359_702  # 2026-03-01T10:08:22Z
T0 = T0_SECONDS * SECOND
TENANT = "team-a"
QUERY_RANGE = "/loki/api/v1/query_range"
WINDOW = {"start": str(T0), "end": str(T0 + 3600 * SECOND)}

# A context key with a backslash and double quotes (pitfall: query strings
# built by concatenation break on it).
NASTY_KEY = 'C:\\tmp\\"q"'


def load_fixture(name: str) -> Any:
    path = REFERENCE_FIXTURES / name
    if not path.exists():
        pytest.skip(
            f"reference fixture {name} not found in {REFERENCE_FIXTURES}; copy the "
            "Loki fixtures there or set SLOCLI_REFERENCE_FIXTURES"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def logql_string(value: str) -> str:
    """Write a LogQL double-quoted string; JSON escapes are valid Go escapes."""
    return json.dumps(value, ensure_ascii=False)


def api_line(index: int, latency: str, key: str) -> str:
    return json.dumps(
        {
            "ts": f"2026-03-01T10:08:{22 + index:02d}Z",
            "kind": "api",
            "method": "/gramophile.GramophileEService/GetRecord",
            "code": "OK",
            "latency": latency,
            "context_key": key,
        }
    )


def sample_streams() -> list[LogStream]:
    prod = LogStream(
        {"app": "gramophile", "env": "prod"},
        [(T0 + i * SECOND, api_line(i, f"{i}.5s", f"k-{i}")) for i in range(10)],
    )
    dev = LogStream(
        {"app": "gramophile", "env": "dev"},
        [(T0 + i * SECOND + 500_000_000, f"plain line {i}") for i in range(10)],
    )
    other = LogStream({"app": "other"}, [(T0, "other app line")])
    return [prod, dev, other]


@pytest.fixture(scope="module")
def server() -> Iterator[LokiTestServer]:
    with LokiTestServer(sample_streams(), tenant=TENANT) as running:
        yield running


@pytest.fixture
def client(server: LokiTestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"X-Scope-OrgID": TENANT}) as http:
        yield http


def query_range(client: httpx.Client, query: str, **params: Any) -> httpx.Response:
    merged = {**WINDOW, "query": query, **{k: str(v) for k, v in params.items()}}
    return client.get(QUERY_RANGE, params=merged)


def entries(response: httpx.Response) -> list[tuple[int, str, dict[str, str]]]:
    """Flatten a streams response to (timestamp, line, stream labels), oldest
    first, whatever the query direction."""
    assert response.status_code == 200, response.text
    flat = []
    for stream in response.json()["data"]["result"]:
        for value in stream["values"]:
            flat.append((int(value[0]), value[1], stream["stream"]))
    return sorted(flat, key=lambda entry: entry[0])


def assert_plain_error(response: httpx.Response, status: int, body: str) -> None:
    assert response.status_code == status
    assert response.text == body
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"


# ---------------------------------------------------------------------------
# LogQL strings and errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"\""', '"'),
        (r'"\\"', "\\"),
        (r'"\x41"', "A"),
        (r'"\u00e9"', "é"),
        (r'"\U0001F600"', "\U0001f600"),
        (r'"\101"', "A"),
        (r'"\xc3\xa9"', "é"),
        (r'"a\tb\n"', "a\tb\n"),
        (r'"\a\b\f\v\r"', "\a\b\f\v\r"),
        ("`C:\\tmp\\d+`", "C:\\tmp\\d+"),
        ("`two\nlines`", "two\nlines"),
        (r'"\uD83D"', "\ufffd"),
        (r'"\xff"', "\udcff"),
        ('"é raw"', "é raw"),
    ],
)
def test_unquote_accepts_go_escapes(literal: str, value: str) -> None:
    assert unquote_string(literal) == value


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (r'"\d"', "invalid char escape"),
        (r'"\."', "invalid char escape"),
        (r'"\'"', "invalid char escape"),
        (r'"\x4"', "invalid char escape"),
        (r'"\u00e"', "invalid char escape"),
        (r'"\08"', "invalid char escape"),
        (r'"\400"', "invalid syntax"),
        (r'"\U00110000"', "invalid syntax"),
        ('"abc', "literal not terminated"),
        ('"a\nb"', "literal not terminated"),
        ("`abc", "literal not terminated"),
        ("'x'", "invalid syntax"),
        (r'"\d', "invalid char escape"),
    ],
)
def test_unquote_rejects_invalid_literals(literal: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        unquote_string(literal)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "value",
    [NASTY_KEY, "k-1772359702123456789-8841", "tab\tnew\nline", "é😀", "back`tick", ""],
)
def test_json_quoting_round_trips(value: str) -> None:
    query = parse_query(f'{{app="x"}} |= {logql_string(value)}')
    line_filter = query.stages[0]
    assert isinstance(line_filter, logql.LineFilter)
    assert line_filter.value == value


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("", "parse error : syntax error: unexpected $end"),
        (
            "{app='x'}",
            "parse error at line 1, col 6: syntax error: unexpected IDENTIFIER, "
            "expecting STRING",
        ),
        ("{app='xy'}", "parse error at line 1, col 6: invalid char literal"),
        ('{app="\\d"}', "parse error at line 1, col 6: invalid char escape"),
        ('{app="\\400"}', "parse error at line 1, col 6: invalid syntax"),
        (
            '{app="x"} |= "a\nb"',
            "parse error at line 1, col 14: literal not terminated",
        ),
        (
            '{app="x"',
            "parse error at line 1, col 9: syntax error: unexpected $end, "
            "expecting } or ,",
        ),
        (
            '{json="x"}',
            "parse error at line 1, col 2: syntax error: unexpected json, "
            "expecting IDENTIFIER or }",
        ),
        (
            '{app="x"}\n| json\n| latency ~ 1',
            "parse error at line 3, col 11: syntax error: unexpected IDENTIFIER",
        ),
        (
            '{app=~".*"}',
            "parse error : " + logql.EMPTY_COMPATIBLE_SELECTOR_MESSAGE,
        ),
        ("{}", "parse error : " + logql.EMPTY_COMPATIBLE_SELECTOR_MESSAGE),
        ('{app!="x"}', "parse error : " + logql.EMPTY_COMPATIBLE_SELECTOR_MESSAGE),
        (
            '{app="x"} | regexp "abc"',
            "parse error : invalid regexp parser: at least one named capture "
            "must be supplied",
        ),
        (
            '{app="x"} | pattern "<_> literal"',
            "parse error : invalid pattern parser: at least one capture is required",
        ),
        (
            '{app="x"} | pattern "<a><b>"',
            "parse error : invalid pattern parser: found consecutive capture "
            "'<a><b>': invalid expression",
        ),
        (
            '{app=~"(?=x)"}',
            "parse error : error parsing regexp: invalid or unsupported Perl "
            "syntax: `(?=`",
        ),
        (
            '{app="x"} |~ "(a)\\\\1"',
            "parse error : error parsing regexp: invalid escape sequence: `\\1`",
        ),
        (
            '{app="x"} |~ "a*+"',
            "parse error : error parsing regexp: invalid nested repetition "
            "operator: `*+`",
        ),
    ],
)
def test_parse_errors_use_loki_text(query: str, text: str) -> None:
    with pytest.raises(ParseError) as raised:
        parse_query(query)
    assert raised.value.text == text


@pytest.mark.parametrize(
    ("query", "feature"),
    [
        ('{app="x"} | line_format "{{.a}}"', "| line_format"),
        ('{app="x"} | label_format a="b"', "| label_format"),
        ('{app="x"} | unpack', "| unpack"),
        ('{app="x"} | drop a', "| drop"),
        ('{app="x"} | keep a', "| keep"),
        ('{app="x"} |> "<_> x"', "pattern line filters (|> and !>)"),
        ('{app="x"} |= "a" or "b"', "or between line filters"),
        ('{app="x"} |= ip("10.0.0.1")', "ip() line filters"),
        ('{app="x"} | json | size > 1KB', "bytes label filters"),
        ('{app="x"} | logfmt a, b="c"', "| logfmt with label extraction expressions"),
        ('{app="x"} | json a="b[*]"', 'the JSON path "b[*]"'),
    ],
)
def test_unsupported_features_are_named(query: str, feature: str) -> None:
    with pytest.raises(ParseError) as raised:
        parse_query(query)
    assert f"the Loki test server does not support {feature}" in raised.value.text


@pytest.mark.parametrize(
    "query",
    [
        'count_over_time({app="x"}[5m])',
        'sum by (code) (rate({app="x"} | json [1m]))',
        "1 + 1",
        '(rate({app="x"}[1m]))',
    ],
)
def test_metric_queries_are_rejected(query: str) -> None:
    with pytest.raises(logql.MetricQueryError) as raised:
        parse_query(query)
    assert "metric queries are not supported" in raised.value.text


# ---------------------------------------------------------------------------
# Go-compatible durations and regexes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("1.5s", 1_500_000_000),
        ("1500ms", 1_500_000_000),
        ("1m30s", 90 * SECOND),
        ("0.9s", 900_000_000),
        ("850µs", 850_000),
        ("850us", 850_000),
        ("-1.5h", -5400 * SECOND),
        ("1h2m3.5s", 3723 * SECOND + 500_000_000),
        ("0", 0),
        (".5s", 500_000_000),
    ],
)
def test_go_duration_parses(text: str, nanoseconds: int) -> None:
    assert logql.parse_go_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1500", 'time: missing unit in duration "1500"'),
        ("1.5", 'time: missing unit in duration "1.5"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("", 'time: invalid duration ""'),
        ("fast", 'time: invalid duration "fast"'),
        ("1.5 s", 'time: unknown unit " s" in duration "1.5 s"'),
    ],
)
def test_go_duration_errors_match_go(text: str, message: str) -> None:
    with pytest.raises(logql.GoDurationError) as raised:
        logql.parse_go_duration(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (744 * 3600 * SECOND, "744h0m0s"),
        (721 * 3600 * SECOND + 1_000_000, "721h0m0.001s"),
        (1_500_000_000, "1.5s"),
        (500_000_000, "500ms"),
        (1_500, "1.5µs"),
        (0, "0s"),
        (61 * SECOND, "1m1s"),
    ],
)
def test_go_duration_formats(nanoseconds: int, text: str) -> None:
    assert logql.format_go_duration(nanoseconds) == text


def test_prometheus_duration_formats() -> None:
    assert logql.format_prometheus_duration(721 * 3600 * SECOND) == "30d1h"
    assert logql.format_prometheus_duration(7 * 24 * 3600 * SECOND) == "1w"
    assert logql.format_prometheus_duration(90 * SECOND) == "1m30s"


@pytest.mark.parametrize(
    ("pattern", "anchored", "text", "matches"),
    [
        ("api", True, "api-v2", False),
        ("api.*", True, "api-v2", True),
        ("a.c", True, "a\nc", True),
        ("a$", True, "a\n", False),
        (r"\d+", True, "١٢", False),
        ("x(?i)abc", False, "xABC", True),
        ("x(?i)abc|ABC", False, "ABC", True),
        ("x(?i)abc|ABC", False, "abc", True),
        ("a{,2}", False, "a{,2}", True),
        ("[[:digit:]]+", True, "123", True),
        ("(?P<key>k-[0-9]+)", False, "key=k-12", True),
    ],
)
def test_re2_semantics(pattern: str, anchored: bool, text: str, matches: bool) -> None:
    regex = logql.compile_re2(pattern, anchored=anchored, dot_all=anchored)
    found = regex.match(text) if anchored else regex.search(text)
    assert (found is not None) == matches


# ---------------------------------------------------------------------------
# Paging, time bounds and direction
# ---------------------------------------------------------------------------


def test_limit_truncates_without_a_flag(client: httpx.Client) -> None:
    response = query_range(client, '{app="gramophile"}', limit=3)
    body = response.json()
    flat = entries(response)
    assert len(flat) == 3
    assert "warnings" not in body
    assert body["data"]["stats"]["summary"]["totalEntriesReturned"] == 3
    # Backward: the three newest entries over both streams together.
    timestamps = sorted(timestamp for timestamp, _, _ in flat)
    assert timestamps == [
        T0 + 8 * SECOND + 500_000_000,
        T0 + 9 * SECOND,
        T0 + 9 * SECOND + 500_000_000,
    ]


def test_forward_limit_takes_oldest(client: httpx.Client) -> None:
    response = query_range(client, '{app="gramophile"}', limit=3, direction="forward")
    timestamps = sorted(timestamp for timestamp, _, _ in entries(response))
    assert timestamps == [T0, T0 + 500_000_000, T0 + SECOND]


def test_streams_sorted_and_entries_in_direction(client: httpx.Client) -> None:
    for direction, descending in (("BACKWARD", True), ("Forward", False)):
        response = query_range(client, '{app="gramophile"}', direction=direction)
        result = response.json()["data"]["result"]
        assert [stream["stream"]["env"] for stream in result] == ["dev", "prod"]
        for stream in result:
            timestamps = [int(value[0]) for value in stream["values"]]
            assert timestamps == sorted(timestamps, reverse=descending)


def test_default_limit_is_100() -> None:
    many = LogStream({"app": "many"}, [(T0 + i, f"line {i}") for i in range(150)])
    with LokiTestServer([many]) as loki, httpx.Client(base_url=loki.url) as http:
        response = http.get(QUERY_RANGE, params={**WINDOW, "query": '{app="many"}'})
        assert len(entries(response)) == 100


def test_paging_by_end_collects_every_entry() -> None:
    # Five entries share one nanosecond; pages of 3 must still see all 12.
    stream = LogStream(
        {"app": "page"},
        [(T0 + i * SECOND, f"line {i}") for i in range(7)]
        + [(T0 + 7 * SECOND, f"same ns {i}") for i in range(5)],
    )
    with LokiTestServer([stream]) as loki, httpx.Client(base_url=loki.url) as http:
        seen: set[tuple[int, str]] = set()
        end = T0 + 3600 * SECOND
        for _ in range(20):
            params = {"query": '{app="page"}', "start": str(T0), "end": str(end)}
            page = entries(http.get(QUERY_RANGE, params={**params, "limit": "6"}))
            new = {(timestamp, line) for timestamp, line, _ in page} - seen
            if not new:
                break
            seen |= new
            end = min(timestamp for timestamp, _, _ in page) + 1
        assert len(seen) == 12


def test_start_inclusive_end_exclusive(client: httpx.Client) -> None:
    start = T0 + 2 * SECOND
    end = T0 + 4 * SECOND
    response = query_range(client, '{env="prod"}', start=start, end=end)
    assert sorted(t for t, _, _ in entries(response)) == [start, T0 + 3 * SECOND]


def rfc3339(nanoseconds: int) -> str:
    seconds, fraction = divmod(nanoseconds, SECOND)
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def test_rfc3339_bounds(client: httpx.Client) -> None:
    response = query_range(
        client,
        '{env="dev"}',
        start=rfc3339(T0 + 2 * SECOND + 500_000_000),
        end=rfc3339(T0 + 4 * SECOND + 500_000_000),
    )
    assert sorted(t for t, _, _ in entries(response)) == [
        T0 + 2 * SECOND + 500_000_000,
        T0 + 3 * SECOND + 500_000_000,
    ]


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        (str(T0), T0),
        (str(T0_SECONDS), T0),
        (f"{T0_SECONDS}.5", T0 + 500_000_000),
        (f"{T0_SECONDS}.0004", T0),
        (f"{T0_SECONDS}.0006", T0 + 1_000_000),
        (str(T0_SECONDS * 1000), T0_SECONDS * 1000),
        ("2026-03-01T10:08:22Z", T0),
        ("2026-03-01T11:08:22.25+01:00", T0 + 250_000_000),
        ("0", 0),
    ],
)
def test_timestamp_parsing_follows_loki(text: str, nanoseconds: int) -> None:
    assert parse_loki_timestamp(text) == nanoseconds


def test_millisecond_epoch_reads_as_nanoseconds(client: httpx.Client) -> None:
    response = query_range(
        client,
        '{app="gramophile"}',
        start=T0_SECONDS * 1000,
        end=(T0_SECONDS + 3600) * 1000,
    )
    assert entries(response) == []


def test_since_sets_start_before_end(client: httpx.Client) -> None:
    params = {"query": '{env="prod"}', "end": str(T0 + 5 * SECOND), "since": "2s"}
    response = client.get(QUERY_RANGE, params=params)
    assert sorted(t for t, _, _ in entries(response)) == [
        T0 + 3 * SECOND,
        T0 + 4 * SECOND,
    ]


def test_interval_skips_close_entries(client: httpx.Client) -> None:
    response = query_range(client, '{env="prod"}', interval="3s", direction="forward")
    assert [t for t, _, _ in entries(response)] == [
        T0 + i * SECOND for i in (0, 3, 6, 9)
    ]


def test_post_form_encoded_query(client: httpx.Client, server: LokiTestServer) -> None:
    form = {**WINDOW, "query": '{env="prod"}', "limit": "2"}
    response = client.post(QUERY_RANGE, data=form, params={"limit": "5"})
    assert len(entries(response)) == 2
    recorded = server.requests[-1]
    assert recorded.method == "POST"
    assert recorded.params["limit"] == "2"
    assert recorded.headers["X-Scope-OrgID"] == TENANT


def test_html_characters_escaped_in_json() -> None:
    stream = LogStream({"app": "html"}, [(T0, "<b> & </b>")])
    with LokiTestServer([stream]) as loki, httpx.Client(base_url=loki.url) as http:
        response = http.get(QUERY_RANGE, params={**WINDOW, "query": '{app="html"}'})
        assert "\\u003cb\\u003e \\u0026 \\u003c/b\\u003e" in response.text
        assert entries(response)[0][1] == "<b> & </b>"
        assert response.text.endswith("}\n")


def test_duplicate_entries_stored_once() -> None:
    stream = LogStream({"app": "dup"}, [(T0, "same"), (T0, "same"), (T0, "other")])
    with LokiTestServer([stream]) as loki, httpx.Client(base_url=loki.url) as http:
        response = http.get(QUERY_RANGE, params={**WINDOW, "query": '{app="dup"}'})
        assert sorted(line for _, line, _ in entries(response)) == ["other", "same"]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"limit": "0"}, "limit must be a positive value"),
        ({"limit": "-5"}, "limit must be a positive value"),
        ({"limit": "ten"}, 'strconv.Atoi: parsing "ten": invalid syntax'),
        (
            {"limit": "5001"},
            "max entries limit per query exceeded, limit > "
            "max_entries_limit_per_query (5001 > 5000)",
        ),
        ({"direction": "sideways"}, "invalid direction 'sideways'"),
        (
            {"start": str(T0 + SECOND), "end": str(T0)},
            "end timestamp must not be before or equal to start time",
        ),
        (
            {"start": "yesterday"},
            "could not parse 'start' parameter: strconv.ParseInt: parsing "
            '"yesterday": invalid syntax',
        ),
        (
            {"end": "2026-03-01 10:00:00"},
            "could not parse 'end' parameter: strconv.ParseInt: parsing "
            '"2026-03-01 10:00:00": invalid syntax',
        ),
        (
            {"step": "0"},
            "zero or negative query resolution step widths are not accepted. "
            "Try a positive integer",
        ),
        (
            {"step": "0.1"},
            "exceeded maximum resolution of 11,000 points per time series. "
            "Try increasing the value of the step parameter",
        ),
        ({"step": "fast"}, 'cannot parse "fast" to a valid duration'),
        ({"interval": "-1"}, "interval must be >= 0"),
        (
            {"since": "1.5h", "start": "", "end": str(T0)},
            "could not parse 'since' parameter: not a valid duration string: \"1.5h\"",
        ),
    ],
)
def test_parameter_errors_use_loki_text(
    client: httpx.Client, params: dict[str, str], body: str
) -> None:
    response = query_range(client, '{app="gramophile"}', **params)
    assert_plain_error(response, 400, body)


def test_parse_error_over_http(client: httpx.Client) -> None:
    # Single quotes make a Go character literal, which is no LogQL string.
    response = query_range(client, "{app='gramophile'}")
    assert_plain_error(
        response, 400, "parse error at line 1, col 6: invalid char literal"
    )


def test_query_length_measured_in_milliseconds(client: httpx.Client) -> None:
    limit = 721 * 3600 * SECOND
    ok = query_range(client, '{app="other"}', start=T0, end=T0 + limit + 1)
    assert ok.status_code == 200
    too_long = query_range(
        client, '{app="other"}', start=T0, end=T0 + limit + 1_000_000
    )
    assert_plain_error(
        too_long,
        400,
        "the query time range exceeds the limit "
        "(query length: 721h0m0.001s, limit: 30d1h)",
    )


def test_instant_log_query_rejected(client: httpx.Client) -> None:
    response = client.get("/loki/api/v1/query", params={"query": '{app="gramophile"}'})
    assert_plain_error(
        response,
        400,
        "log queries are not supported as an instant query type, please change "
        "your query to a range query type",
    )


def test_metric_query_rejected_over_http(client: httpx.Client) -> None:
    for path in (QUERY_RANGE, "/loki/api/v1/query"):
        response = client.get(
            path, params={**WINDOW, "query": 'sum(count_over_time({app="x"}[5m]))'}
        )
        assert response.status_code == 400
        assert (
            "metric queries are not supported by the Loki test server" in response.text
        )


def test_missing_tenant_is_401(server: LokiTestServer) -> None:
    response = httpx.get(
        server.url + QUERY_RANGE, params={**WINDOW, "query": '{app="gramophile"}'}
    )
    assert_plain_error(response, 401, "no org id\n")


def test_other_tenant_sees_nothing(server: LokiTestServer) -> None:
    with httpx.Client(base_url=server.url, headers={"X-Scope-OrgID": "team-b"}) as http:
        response = query_range(http, '{app="gramophile"}')
        assert entries(response) == []
        labels = http.get("/loki/api/v1/labels", params=WINDOW)
        assert labels.json() == {"status": "success"}


def test_injected_429_then_success() -> None:
    streams = sample_streams()
    with LokiTestServer(streams) as loki, httpx.Client(base_url=loki.url) as http:
        loki.inject_errors(429, "too many outstanding requests", 2, retry_after="3")
        for _ in range(2):
            response = query_range(http, '{env="prod"}')
            assert_plain_error(response, 429, "too many outstanding requests")
            assert response.headers["retry-after"] == "3"
        assert http.get("/ready").status_code == 200
        assert len(entries(query_range(http, '{env="prod"}'))) == 10


def test_injected_502_without_retry_after() -> None:
    with (
        LokiTestServer(sample_streams()) as loki,
        httpx.Client(base_url=loki.url) as http,
    ):
        loki.inject_errors(502, "bad gateway", 1)
        response = http.get("/loki/api/v1/labels", params=WINDOW)
        assert_plain_error(response, 502, "bad gateway")
        assert "retry-after" not in response.headers
        assert http.get("/loki/api/v1/labels", params=WINDOW).status_code == 200


def test_basic_and_bearer_credentials() -> None:
    with LokiTestServer(
        sample_streams(), username="reader", password="s3cret", bearer_token="tok"
    ) as loki:
        params = {**WINDOW, "query": '{env="prod"}'}
        assert httpx.get(loki.url + QUERY_RANGE, params=params).status_code == 401
        wrong = httpx.get(loki.url + QUERY_RANGE, params=params, auth=("reader", "x"))
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == 'Basic realm="loki"'
        basic = httpx.get(
            loki.url + QUERY_RANGE, params=params, auth=("reader", "s3cret")
        )
        assert basic.status_code == 200
        bearer = httpx.get(
            loki.url + QUERY_RANGE,
            params=params,
            headers={"Authorization": "Bearer tok"},
        )
        assert bearer.status_code == 200


def test_ready_and_unknown_path(server: LokiTestServer) -> None:
    ready = httpx.get(server.url + "/ready")
    assert ready.status_code == 200
    assert ready.text == "ready\n"
    missing = httpx.get(server.url + "/loki/api/v1/nope")
    assert_plain_error(missing, 404, "404 page not found\n")


# ---------------------------------------------------------------------------
# Response shapes against Loki's own encoder output
# ---------------------------------------------------------------------------


def key_tree(value: Any) -> Any:
    """Keys in order, with leaf values replaced by their JSON type."""
    if isinstance(value, dict):
        return [(key, key_tree(item)) for key, item in value.items()]
    return type(value).__name__


def test_streams_shape_matches_fixture(client: httpx.Client) -> None:
    fixture = load_fixture("loki_query_range_streams.json")
    body = query_range(client, '{env="prod"}', limit=2).json()
    assert list(body) == [key for key in fixture if key != "warnings"]
    assert list(body["data"]) == list(fixture["data"])
    assert key_tree(body["data"]["stats"]) == key_tree(fixture["data"]["stats"])
    stream = body["data"]["result"][0]
    assert list(stream) == list(fixture["data"]["result"][0])
    for value in stream["values"]:
        assert len(value) == 2
        assert isinstance(value[0], str)
        assert value[0].isdigit()


def test_categorize_labels_shape_matches_fixture(client: httpx.Client) -> None:
    fixture = load_fixture("loki_query_range_streams_categorize_labels.json")
    categorized = client.get(
        QUERY_RANGE,
        params={**WINDOW, "query": '{app="gramophile"} | json', "limit": "4"},
        headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
    ).json()
    assert list(categorized) == [key for key in fixture if key != "warnings"]
    assert list(categorized["data"]) == list(fixture["data"])
    assert categorized["data"]["encodingFlags"] == ["categorize-labels"]
    result = categorized["data"]["result"]
    assert [stream["stream"] for stream in result] == [
        {"app": "gramophile", "env": "dev"},
        {"app": "gramophile", "env": "prod"},
    ]
    for stream in result:
        for value in stream["values"]:
            assert len(value) == 3
            assert set(value[2]) <= {"structuredMetadata", "parsed"}
    dev_metadata = result[0]["values"][0][2]
    assert dev_metadata["parsed"]["__error__"] == "JSONParserErr"
    prod_metadata = result[1]["values"][0][2]
    assert prod_metadata["parsed"]["context_key"].startswith("k-")
    assert "app" not in prod_metadata["parsed"]


def test_categorize_labels_empty_object_without_parsers(client: httpx.Client) -> None:
    body = client.get(
        QUERY_RANGE,
        params={**WINDOW, "query": '{env="prod"}', "limit": "1"},
        headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
    ).json()
    assert body["data"]["result"][0]["values"][0][2] == {}


def test_merged_labels_split_streams(client: httpx.Client) -> None:
    response = query_range(client, '{env="prod"} | json', limit=3)
    result = response.json()["data"]["result"]
    assert len(result) == 3
    for stream in result:
        assert stream["stream"]["app"] == "gramophile"
        assert stream["stream"]["kind"] == "api"
        assert len(stream["values"]) == 1
    keys = [stream["stream"]["context_key"] for stream in result]
    assert keys == sorted(keys)


def test_labels_and_label_values(client: httpx.Client) -> None:
    labels = client.get("/loki/api/v1/labels", params=WINDOW).json()
    assert labels == {"status": "success", "data": ["app", "env"]}
    values = client.get("/loki/api/v1/label/env/values", params=WINDOW).json()
    assert values == {"status": "success", "data": ["dev", "prod"]}
    selected = client.get(
        "/loki/api/v1/label/env/values", params={**WINDOW, "query": '{env="prod"}'}
    ).json()
    assert selected["data"] == ["prod"]
    empty = client.get("/loki/api/v1/label/nope/values", params=WINDOW)
    assert empty.text == '{"status":"success"}\n'


def test_labels_shape_matches_fixture(client: httpx.Client) -> None:
    fixture = load_fixture("loki_labels.json")
    body = client.get("/loki/api/v1/labels", params=WINDOW).json()
    assert list(body) == list(fixture)


# ---------------------------------------------------------------------------
# Parsers and label filters
# ---------------------------------------------------------------------------


def broken_json_server() -> LokiTestServer:
    lines = [
        api_line(0, "0.2s", "k-good"),
        "panic: runtime error: invalid memory address or nil pointer dereference",
        '{"kind":"api","latency":"1.',
    ]
    stream = LogStream({"app": "svc"}, [(T0 + i, line) for i, line in enumerate(lines)])
    return LokiTestServer([stream])


def test_json_errors_keep_the_line() -> None:
    with broken_json_server() as loki, httpx.Client(base_url=loki.url) as http:
        flat = entries(query_range(http, '{app="svc"} | json', direction="forward"))
        assert len(flat) == 3
        good, panic, truncated = (labels for _, _, labels in flat)
        assert "__error__" not in good
        assert good["latency"] == "0.2s"
        assert panic["__error__"] == "JSONParserErr"
        assert panic["__error_details__"] == (
            "Value looks like object, but can't find closing '}' symbol"
        )
        assert truncated["__error__"] == "JSONParserErr"
        assert truncated["__error_details__"] == (
            "Value is string, but can't find closing '\"' symbol"
        )
        # Fields before the syntax error are kept, as in Loki.
        assert truncated["kind"] == "api"


def test_error_filters_select_lines() -> None:
    with broken_json_server() as loki, httpx.Client(base_url=loki.url) as http:
        clean = entries(query_range(http, '{app="svc"} | json | __error__=""'))
        assert [labels["context_key"] for _, _, labels in clean] == ["k-good"]
        failed = entries(query_range(http, '{app="svc"} | json | __error__!=""'))
        assert len(failed) == 2


def latency_server() -> LokiTestServer:
    latencies: list[Any] = ["1.5s", "1500ms", "1m30s", "0.9s", "1500", 1.5]
    lines = [
        json.dumps({"latency": latency, "context_key": f"k-{i}"})
        for i, latency in enumerate(latencies)
    ]
    lines.append(json.dumps({"context_key": "k-no-latency"}))
    stream = LogStream({"app": "svc"}, [(T0 + i, line) for i, line in enumerate(lines)])
    return LokiTestServer([stream])


def test_duration_filter_follows_go_durations() -> None:
    with latency_server() as loki, httpx.Client(base_url=loki.url) as http:
        query = '{app="svc"} | json | latency > 1s'
        flat = entries(query_range(http, query, direction="forward"))
        by_key = {labels["context_key"]: labels for _, _, labels in flat}
        assert sorted(by_key) == ["k-0", "k-1", "k-2", "k-4", "k-5"]
        for key in ("k-0", "k-1", "k-2"):
            assert "__error__" not in by_key[key]
        assert by_key["k-4"]["__error__"] == "LabelFilterErr"
        assert by_key["k-4"]["__error_details__"] == (
            'time: missing unit in duration "1500"'
        )
        assert by_key["k-5"]["__error__"] == "LabelFilterErr"
        assert by_key["k-5"]["__error_details__"] == (
            'time: missing unit in duration "1.5"'
        )


def test_duration_filter_variants() -> None:
    with latency_server() as loki, httpx.Client(base_url=loki.url) as http:
        cases = {
            '{app="svc"} | json | latency >= 1500ms | __error__=""': [
                "k-0",
                "k-1",
                "k-2",
            ],
            '{app="svc"} | json | latency > 1m | __error__=""': ["k-2"],
            '{app="svc"} | json | latency == 90s': ["k-2", "k-4", "k-5"],
            '{app="svc"} | json | latency < 1s, __error__=""': ["k-3"],
            '{app="svc"} | json | latency < 1s or latency > 1m | __error__=""': [
                "k-2",
                "k-3",
            ],
        }
        for query, expected in cases.items():
            flat = entries(query_range(http, query))
            assert sorted(labels["context_key"] for _, _, labels in flat) == expected, (
                query
            )


def test_numeric_filter_on_json_number() -> None:
    with latency_server() as loki, httpx.Client(base_url=loki.url) as http:
        flat = entries(query_range(http, '{app="svc"} | json | latency > 1'))
        by_key = {labels["context_key"]: labels for _, _, labels in flat}
        assert "__error__" not in by_key["k-5"]
        assert "__error__" not in by_key["k-4"]
        assert by_key["k-0"]["__error__"] == "LabelFilterErr"
        assert by_key["k-0"]["__error_details__"] == (
            'strconv.ParseFloat: parsing "1.5s": invalid syntax'
        )


def nasty_key_server() -> LokiTestServer:
    json_lines = [
        json.dumps({"context_key": NASTY_KEY, "code": "OK"}),
        json.dumps({"context_key": NASTY_KEY + "x", "code": "OK"}),
        json.dumps({"context_key": "C:\\tmp", "code": "OK"}),
    ]
    plain_lines = [f"request {NASTY_KEY} done", "request C:\\tmp done"]
    return LokiTestServer(
        [
            LogStream(
                {"app": "json"}, [(T0 + i, line) for i, line in enumerate(json_lines)]
            ),
            LogStream(
                {"app": "plain"}, [(T0 + i, line) for i, line in enumerate(plain_lines)]
            ),
        ]
    )


def test_nasty_key_matched_exactly() -> None:
    with nasty_key_server() as loki, httpx.Client(base_url=loki.url) as http:
        label_query = f'{{app="json"}} | json | context_key={logql_string(NASTY_KEY)}'
        flat = entries(query_range(http, label_query))
        assert [labels["context_key"] for _, _, labels in flat] == [NASTY_KEY]

        plain_query = f'{{app="plain"}} |= {logql_string(NASTY_KEY)}'
        assert [line for _, line, _ in entries(query_range(http, plain_query))] == [
            f"request {NASTY_KEY} done"
        ]

        # In a JSON line the key is JSON-escaped, so a line filter must search
        # for the escaped form.
        escaped = json.dumps(NASTY_KEY)[1:-1]
        raw_on_json = f'{{app="json"}} |= {logql_string(NASTY_KEY)}'
        assert entries(query_range(http, raw_on_json)) == []
        escaped_on_json = f'{{app="json"}} |= {logql_string(escaped)}'
        assert len(entries(query_range(http, escaped_on_json))) == 2


def test_nasty_key_in_backtick_string() -> None:
    with nasty_key_server() as loki, httpx.Client(base_url=loki.url) as http:
        query = f'{{app="json"}} | json | context_key=`{NASTY_KEY}`'
        flat = entries(query_range(http, query))
        assert [labels["context_key"] for _, _, labels in flat] == [NASTY_KEY]


def plain_text_server() -> LokiTestServer:
    lines = [
        "2026/03/01 10:15:02 Processing Time: (/pkg.Svc/GetRecord) 1.4s",
        "2026/03/01 10:15:03 Processing Time: (/pkg.Svc/ListRecords) 250ms",
        "2026/03/01 10:15:04 starting worker",
    ]
    stream = LogStream(
        {"app": "legacy"}, [(T0 + i, line) for i, line in enumerate(lines)]
    )
    return LokiTestServer([stream])


def test_pattern_parser_on_plain_text() -> None:
    with plain_text_server() as loki, httpx.Client(base_url=loki.url) as http:
        query = (
            '{app="legacy"} | pattern "<date> <_> Processing Time: (<method>) '
            '<latency>" | latency > 1s'
        )
        flat = entries(query_range(http, query))
        assert len(flat) == 1
        labels = flat[0][2]
        assert labels["method"] == "/pkg.Svc/GetRecord"
        assert labels["latency"] == "1.4s"
        assert labels["date"] == "2026/03/01"
        assert "_" not in labels


def test_pattern_without_match_keeps_line_unlabelled() -> None:
    with plain_text_server() as loki, httpx.Client(base_url=loki.url) as http:
        query = (
            '{app="legacy"} | pattern "<_> <_> Processing Time: (<method>) <latency>"'
        )
        flat = entries(query_range(http, query, direction="forward"))
        assert len(flat) == 3
        # The literal is missing, so the capture before it is the rest of the line.
        assert "method" not in flat[2][2]


def test_regexp_parser_on_plain_text() -> None:
    with plain_text_server() as loki, httpx.Client(base_url=loki.url) as http:
        query = (
            '{app="legacy"} | regexp `\\((?P<method>[^)]+)\\) (?P<latency>\\S+)$` '
            "| latency < 1s"
        )
        flat = entries(query_range(http, query))
        assert [labels["method"] for _, _, labels in flat] == ["/pkg.Svc/ListRecords"]


def test_logfmt_skips_malformed_pairs() -> None:
    line = 'level=error msg="call failed" bad"pair latency=1.2s app=other'
    stream = LogStream({"app": "svc"}, [(T0, line)])
    with LokiTestServer([stream]) as loki, httpx.Client(base_url=loki.url) as http:
        flat = entries(query_range(http, '{app="svc"} | logfmt'))
        labels = flat[0][2]
        assert labels["msg"] == "call failed"
        assert labels["latency"] == "1.2s"
        assert labels["app_extracted"] == "other"
        assert "__error__" not in labels
        strict = entries(query_range(http, '{app="svc"} | logfmt --strict'))[0][2]
        assert strict["__error__"] == "LogfmtParserErr"
        assert "latency" not in strict


def test_json_nested_and_sanitized_keys() -> None:
    line = json.dumps(
        {
            "app": "inner",
            "request": {"user-agent": "curl", "ids": [1, 2], "none": None},
            "1st": True,
            "a.b": 2.50,
        }
    )
    stream = LogStream({"app": "svc"}, [(T0, line)])
    with LokiTestServer([stream]) as loki, httpx.Client(base_url=loki.url) as http:
        labels = entries(query_range(http, '{app="svc"} | json'))[0][2]
        assert labels == {
            "app": "svc",
            "app_extracted": "inner",
            "request_user_agent": "curl",
            "_1st": "true",
            "a_b": "2.5",
        }


def test_json_selected_fields() -> None:
    line = json.dumps({"request": {"headers": {"User-Agent": "curl"}}, "ids": [7, 8]})
    stream = LogStream({"app": "svc"}, [(T0, line), (T0 + 1, "not json")])
    with LokiTestServer([stream]) as loki, httpx.Client(base_url=loki.url) as http:
        query = (
            '{app="svc"} | json agent="request.headers[\\"User-Agent\\"]", '
            'first="ids[0]", missing="nope"'
        )
        flat = entries(query_range(http, query, direction="forward"))
        assert flat[0][2] == {
            "app": "svc",
            "agent": "curl",
            "first": "7",
            "missing": "",
        }
        assert flat[1][2] == {"app": "svc", "__error__": "JSONParserErr"}


def test_line_filters_chain() -> None:
    with plain_text_server() as loki, httpx.Client(base_url=loki.url) as http:
        query = '{app="legacy"} |= "Processing" != "List" |~ "Get[A-Z]" !~ "(?i)WORKER"'
        flat = entries(query_range(http, query))
        assert [line for _, line, _ in flat] == [
            "2026/03/01 10:15:02 Processing Time: (/pkg.Svc/GetRecord) 1.4s"
        ]


def test_selector_regex_is_anchored(client: httpx.Client) -> None:
    assert entries(query_range(client, '{app=~"gram"}')) == []
    assert len(entries(query_range(client, '{app=~"gram.*", env!~"de."}'))) == 10


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_equal_timestamps_ordered_by_labels(direction: str) -> None:
    # At one timestamp, Loki's merge takes the stream with the smaller label
    # string first, in both directions.
    streams = [
        LogStream({"app": "tie", "pod": "b"}, [(T0, "from b")]),
        LogStream({"app": "tie", "pod": "a"}, [(T0, "from a")]),
    ]
    with LokiTestServer(streams) as loki, httpx.Client(base_url=loki.url) as http:
        response = query_range(http, '{app="tie"}', limit=1, direction=direction)
        assert [line for _, line, _ in entries(response)] == ["from a"]


def test_lazy_and_eager_json_agree() -> None:
    lines = [
        api_line(0, "0.2s", NASTY_KEY),
        "panic: boom",
        '{"kind":"api","latency":"1.',
        '{"a":{"b":1},"a":{"c":2},"d":"\\ud800"}',
    ]
    stream = LogStream({"app": "svc"}, [(T0 + i, line) for i, line in enumerate(lines)])
    results = []
    for preparse in (True, False):
        with (
            LokiTestServer([stream], preparse_json=preparse) as loki,
            httpx.Client(base_url=loki.url) as http,
        ):
            results.append(entries(query_range(http, '{app="svc"} | json')))
    assert results[0] == results[1]
    nested = results[0][3][2]
    assert nested["a_b"] == "1"
    assert nested["a_c"] == "2"
    assert nested["d"] == ""
