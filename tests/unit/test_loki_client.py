"""Tests for slocli.backends.loki: query_range paging, dedup and window splitting."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from slocli.backends.loki import (
    MAX_ENTRIES_LIMIT,
    MAX_QUERY_LENGTH,
    LogEntry,
    LokiClient,
)
from slocli.core.timewindow import TimeWindow
from slocli.errors import BackendError, BackendHTTPError, BackendResponseError
from tests.unit.backend_fakes import (
    Harness,
    json_response,
    load_fixture,
    make_http,
    replies,
    text_response,
)

QUERY = '{app="gramophile"}'
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=START, end=START + timedelta(hours=1))
# The upstream fixtures hold timestamps from 1970, as Loki's own tests write them.
FIXTURE_WINDOW = TimeWindow(
    start=datetime(1970, 1, 1, tzinfo=UTC), end=datetime(1970, 1, 3, tzinfo=UTC)
)
T0 = WINDOW.start_ns  # entries below sit a few nanoseconds after the start


@dataclass(frozen=True)
class Stored:
    """One entry held by the fake Loki."""

    ts_ns: int
    labels: tuple[tuple[str, str], ...]
    line: str


def stored(offset_ns: int, line: str, **labels: str) -> Stored:
    return Stored(T0 + offset_ns, tuple(sorted(labels.items())), line)


def streams_body(entries: list[Stored]) -> dict[str, Any]:
    streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
    for entry in entries:
        streams.setdefault(entry.labels, []).append([str(entry.ts_ns), entry.line])
    return {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [
                {"stream": dict(labels), "values": values}
                for labels, values in sorted(streams.items())
            ],
        },
    }


def fake_loki(entries: list[Stored]) -> Any:
    """Serve forward query_range requests as Loki does.

    ``start`` is inclusive and ``end`` exclusive, both in nanoseconds. A page
    contains the first ``limit`` entries across all streams, oldest first, and
    nothing marks what it left out.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert request.url.path == "/loki/api/v1/query_range"
        assert params["direction"] == "forward"
        start, end = int(params["start"]), int(params["end"])
        limit = int(params["limit"])
        if limit > MAX_ENTRIES_LIMIT:
            message = (
                "max entries limit per query exceeded, limit > "
                f"max_entries_limit_per_query ({limit} > {MAX_ENTRIES_LIMIT})"
            )
            return text_response(message, 400)
        selected = sorted(
            (entry for entry in entries if start <= entry.ts_ns < end),
            key=lambda entry: (entry.ts_ns, entry.labels),
        )
        return json_response(streams_body(selected[:limit]))

    return handler


def loki_over(entries: list[Stored], **settings: Any) -> tuple[LokiClient, Harness]:
    harness = make_http(fake_loki(entries), url="http://loki.test", **settings)
    return LokiClient(harness.http), harness


def client_answering(*bodies: Any) -> tuple[LokiClient, Harness]:
    harness = make_http(replies([json_response(body) for body in bodies]))
    return LokiClient(harness.http), harness


def as_tuples(entries: list[LogEntry]) -> list[tuple[int, dict[str, str], str]]:
    return [(entry.ts_ns - T0, entry.labels, entry.line) for entry in entries]


def page_params(harness: Harness) -> list[tuple[int, int]]:
    """Return (start offset from T0, limit) of every request sent."""
    return [
        (int(request.url.params["start"]) - T0, int(request.url.params["limit"]))
        for request in harness.requests
    ]


# --- one page and its wire format ---


def test_request_params_and_headers() -> None:
    client, harness = loki_over([], tenant="team-a", username="u", password="p")

    client.query_logs(QUERY, WINDOW, page_size=50)

    assert harness.params(0) == {
        "query": QUERY,
        "start": "1772359200000000000",
        "end": "1772362800000000000",
        "limit": "50",
        "direction": "forward",
    }
    assert harness.requests[0].headers["X-Scope-OrgID"] == "team-a"
    assert harness.requests[0].headers["Authorization"].startswith("Basic ")


def test_streams_fixture_parsed() -> None:
    client, _ = client_answering(load_fixture("loki_query_range_streams.json"))

    result = client.query_logs(QUERY, FIXTURE_WINDOW)

    assert [(e.ts_ns, e.labels, e.line) for e in result.entries] == [
        (123456789012345, {"test": "test"}, "super line"),
        (123456789012346, {"test": "test"}, "super line with labels"),
    ]
    assert result.warnings == ["this is a warning"]
    assert result.complete is True
    assert result.requests == 1


def test_categorize_labels_fixture_merged() -> None:
    fixture = load_fixture("loki_query_range_streams_categorize_labels.json")
    client, _ = client_answering(fixture)

    result = client.query_logs(QUERY, FIXTURE_WINDOW)

    assert [(e.ts_ns, e.labels, e.line) for e in result.entries] == [
        (123456789012345, {"test": "test"}, "super line"),
        (
            123456789012346,
            {"test": "test", "foo": "a", "bar": "b"},
            "super line with labels",
        ),
        (
            123456789012347,
            {"test": "test", "foo": "a", "bar": "b", "msg": "text"},
            "super line with labels msg=text",
        ),
    ]


def test_matrix_result_rejected() -> None:
    client, _ = client_answering(load_fixture("loki_query_range_matrix.json"))

    with pytest.raises(BackendResponseError) as caught:
        client.query_logs("rate({app='a'}[1m])", WINDOW)

    message = str(caught.value)
    assert "resultType is 'matrix', expected streams" in message
    assert "must be a log query, not a metric query" in message
    assert "http://backend.test/loki/api/v1/query_range" in message


@pytest.mark.parametrize(
    "body",
    [
        {"status": "error"},
        {"status": "success"},
        {"status": "success", "data": {"resultType": "streams", "result": ["x"]}},
        {
            "status": "success",
            "data": {"resultType": "streams", "result": [{"values": [["1"]]}]},
        },
        {
            "status": "success",
            "data": {"resultType": "streams", "result": [{"values": [["x", "a"]]}]},
        },
        {
            "status": "success",
            "data": {"resultType": "streams", "result": [{"values": [{"ts": "1"}]}]},
        },
    ],
    ids=[
        "status-error",
        "no-data",
        "stream-string",
        "short-entry",
        "bad-ts",
        "entry-object",
    ],
)
def test_invalid_response_rejected(body: dict[str, Any]) -> None:
    client, _ = client_answering(body)

    with pytest.raises(BackendResponseError) as caught:
        client.query_logs(QUERY, WINDOW)

    assert str(caught.value).startswith("Loki returned an invalid response (")


def test_entries_sorted_oldest_first() -> None:
    entries = [
        stored(3, "c", app="b"),
        stored(1, "a", app="b"),
        stored(2, "b", app="a"),
    ]
    client, _ = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW)

    assert [entry.line for entry in result.entries] == ["a", "b", "c"]


# --- paging ---


def test_full_page_fetches_next_page() -> None:
    # Loki returns exactly `limit` entries and no flag, so only a short page
    # proves the window is exhausted.
    entries = [stored(i, f"line {i}", app="a") for i in (1, 2, 3)]
    client, harness = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=3)

    assert [entry.line for entry in result.entries] == ["line 1", "line 2", "line 3"]
    assert page_params(harness) == [(0, 3), (3, 3)]
    assert result.requests == 2
    assert result.complete is True


def test_pages_until_short_page() -> None:
    entries = [stored(i, f"line {i}", app="a") for i in range(1, 9)]
    client, harness = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=3)

    assert [entry.ts_ns - T0 for entry in result.entries] == list(range(1, 9))
    assert page_params(harness) == [(0, 3), (3, 3), (5, 3), (7, 3)]
    assert result.complete is True


def test_boundary_entries_in_two_streams_kept() -> None:
    # Two streams log the same line in the same nanosecond, and the page ends
    # between them. Comparing lines alone, as logcli does, would drop b's entry.
    entries = [
        stored(1, "first", pod="a"),
        stored(1, "second", pod="a"),
        stored(2, "same", pod="a"),
        stored(2, "same", pod="b"),
        stored(3, "last", pod="b"),
    ]
    client, harness = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=3)

    assert as_tuples(result.entries) == [
        (1, {"pod": "a"}, "first"),
        (1, {"pod": "a"}, "second"),
        (2, {"pod": "a"}, "same"),
        (2, {"pod": "b"}, "same"),
        (3, {"pod": "b"}, "last"),
    ]
    assert page_params(harness) == [(0, 3), (2, 3), (3, 3)]


def test_same_line_at_other_times_kept() -> None:
    entries = [stored(i, "retrying", app="a") for i in (1, 2, 3, 4)]
    client, _ = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=2)

    assert [entry.ts_ns - T0 for entry in result.entries] == [1, 2, 3, 4]


def test_full_page_at_one_timestamp_grows_limit() -> None:
    entries = [stored(5, f"line {i}", pod=f"p{i}") for i in range(7)]
    entries.append(stored(6, "after", pod="p0"))
    client, harness = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=3)

    assert len(result.entries) == 8
    assert result.entries[-1].line == "after"
    # The first page moves the start to 5 ns. The page there is full of one
    # timestamp, so the limit doubles until the page reaches past it.
    assert page_params(harness) == [(0, 3), (5, 3), (5, 6), (5, 12)]
    assert result.complete is True


def test_more_than_max_limit_at_one_timestamp_fails() -> None:
    entries = [
        stored(5, f"line {i}", pod=f"p{i:05}") for i in range(MAX_ENTRIES_LIMIT + 1)
    ]
    client, harness = loki_over(entries)

    with pytest.raises(BackendError) as caught:
        client.query_logs(QUERY, WINDOW, page_size=1000)

    assert [limit for _, limit in page_params(harness)] == [
        1000,
        1000,
        2000,
        4000,
        5000,
    ]
    assert f"more than {MAX_ENTRIES_LIMIT} entries at one timestamp" in str(
        caught.value
    )


def test_max_entries_marks_incomplete() -> None:
    entries = [stored(i, f"line {i}", app="a") for i in range(1, 11)]
    client, harness = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=3, max_entries=5)

    assert result.complete is False
    assert result.stopped_at_cap == 5
    assert [entry.ts_ns - T0 for entry in result.entries] == [1, 2, 3, 4, 5]
    assert [r.url.params["limit"] for r in harness.requests] == ["3", "3", "1"]


def test_max_entries_below_page_size() -> None:
    entries = [stored(i, f"line {i}", app="a") for i in range(1, 11)]
    client, harness = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=1000, max_entries=1)

    assert result.complete is False
    assert [entry.ts_ns - T0 for entry in result.entries] == [1]
    assert [r.url.params["limit"] for r in harness.requests] == ["2"]


def test_max_entries_exactly_all_is_complete() -> None:
    entries = [stored(i, f"line {i}", app="a") for i in range(1, 6)]
    client, _ = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=1000, max_entries=5)

    assert result.complete is True
    assert len(result.entries) == 5


def test_max_entries_not_reached_is_complete() -> None:
    entries = [stored(i, f"line {i}", app="a") for i in range(1, 5)]
    client, _ = loki_over(entries)

    result = client.query_logs(QUERY, WINDOW, page_size=10, max_entries=5)

    assert result.complete is True
    assert result.stopped_at_cap is None
    assert len(result.entries) == 4


def test_overload_mid_paging_retried() -> None:
    entries = [stored(i, f"line {i}", app="a") for i in range(1, 5)]
    serve = fake_loki(entries)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 2:
            return text_response("too many outstanding requests", 429)
        return serve(request)

    harness = make_http(handler)
    result = LokiClient(harness.http).query_logs(QUERY, WINDOW, page_size=3)

    assert len(result.entries) == 4
    assert result.complete is True
    assert len(harness.sleeps) == 1


def test_error_mid_paging_raises() -> None:
    entries = [stored(i, f"line {i}", app="a") for i in range(1, 5)]
    serve = fake_loki(entries)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 2:
            return text_response("the query time range exceeds the limit", 400)
        return serve(request)

    client = LokiClient(make_http(handler).http)

    with pytest.raises(BackendHTTPError) as caught:
        client.query_logs(QUERY, WINDOW, page_size=3)

    assert caught.value.status == 400


# --- long windows ---


def test_long_window_split_into_720h_pieces() -> None:
    window = TimeWindow(start=START, end=START + timedelta(days=31, seconds=1))
    client, harness = loki_over([])

    result = client.query_logs(QUERY, window)

    bounds = [
        (int(request.url.params["start"]), int(request.url.params["end"]))
        for request in harness.requests
    ]
    # Loki's default max_query_length is 30d1h, and the client keeps pieces
    # within 720h.
    limit_ns = 720 * 3600 * 10**9
    assert len(bounds) == 2
    assert bounds[0][0] == window.start_ns
    assert bounds[-1][1] == window.end_ns
    for (_, end), (next_start, _) in itertools.pairwise(bounds):
        assert end == next_start
    for start, end in bounds:
        assert 0 < end - start <= limit_ns
    assert result.complete is True


def test_entries_from_every_piece_kept() -> None:
    window = TimeWindow(start=START, end=START + timedelta(days=40))
    late = window.start_ns + 35 * 86400 * 10**9
    entries = [
        Stored(window.start_ns + 1, (("app", "a"),), "early"),
        Stored(late, (("app", "a"),), "late"),
    ]
    client, harness = loki_over(entries)

    result = client.query_logs(QUERY, window)

    assert [entry.line for entry in result.entries] == ["early", "late"]
    assert len(harness.requests) == 2


def test_entry_at_piece_boundary_once() -> None:
    window = TimeWindow(start=START, end=START + timedelta(days=40))
    boundary = window.start_ns + int(MAX_QUERY_LENGTH.total_seconds()) * 10**9
    entries = [Stored(boundary, (("app", "a"),), "on the boundary")]
    client, _ = loki_over(entries)

    result = client.query_logs(QUERY, window)

    assert [entry.line for entry in result.entries] == ["on the boundary"]


def test_entry_outside_window_rejected() -> None:
    body = {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [{"stream": {"app": "a"}, "values": [["1000", "old line"]]}],
        },
    }
    client, _ = client_answering(body)

    with pytest.raises(BackendResponseError) as caught:
        client.query_logs(QUERY, WINDOW)

    assert "outside the requested window" in str(caught.value)
