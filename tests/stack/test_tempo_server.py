"""Tests for the Tempo test server and its TraceQL subset.

Wire-shape tests compare against real Tempo responses (jsonpb output from
Tempo's own test data and documentation examples) in ``tests/fixtures``, whose
SOURCES.md names the upstream file and commit of each.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import traceql
from tests.stack.model import Span
from tests.stack.tempo_server import (
    ROOT_SPAN_NOT_YET_RECEIVED,
    TempoTestServer,
    encode_go_json,
    format_go_duration,
)

REFERENCE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

T0 = 1_772_359_702  # 2026-03-01T10:08:22Z, in Unix seconds
SECOND = 1_000_000_000

# Trace and span ids from a Tempo bug report about base64 ids: the trace id
# starts with a zero byte, so search results print it without "00".
TRACE_A = "008efff798038103d269b633813fc703"
TRACE_A_BASE64 = "AI7/95gDgQPSabYzgT/HAw=="
ROOT_A = "7e6e4dce5134053b"
ROOT_A_BASE64 = "fm5NzlE0BTs="
CHILD_A = "a1a2a3a4a5a6a7a8"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_C = "000000000000000000000000000abcde"

# A context key with every character that breaks naive query building.
SPECIAL_KEY = 'k-1772359702123456789-8841 "quoted" back\\slash `tick`'


def at(seconds: float) -> int:
    """Return Unix nanoseconds ``seconds`` after T0."""
    return T0 * SECOND + round(seconds * SECOND)


def sample_spans() -> list[Span]:
    """Return three traces: A contains SPECIAL_KEY, B a near miss, C a short id."""
    return [
        Span(
            trace_id=TRACE_A,
            span_id=ROOT_A,
            parent_span_id="",
            name="/gramophile.GramophileEService/GetRecord",
            service_name="api",
            start_ns=at(0),
            end_ns=at(2.5),
            kind="SPAN_KIND_SERVER",
            status_code="STATUS_CODE_ERROR",
            status_message="Discogs <rate limit> & retry",
            attributes={"context_key": SPECIAL_KEY, "rpc.grpc.status_code": 14},
            resource_attributes={"k8s.namespace.name": "prod"},
        ),
        Span(
            trace_id=TRACE_A,
            span_id=CHILD_A,
            parent_span_id=ROOT_A,
            name="RefreshRelease",
            service_name="queue",
            start_ns=at(0.5),
            end_ns=at(1.7),
            kind="SPAN_KIND_UNSPECIFIED",
            attributes={"context_key": SPECIAL_KEY, "ratio": 0.25},
        ),
        Span(
            trace_id=TRACE_B,
            span_id="b1b2b3b4b5b6b7b8",
            parent_span_id="",
            name="/gramophile.GramophileEService/GetRecord",
            service_name="api",
            start_ns=at(60),
            end_ns=at(60.2),
            kind="SPAN_KIND_SERVER",
            status_code="STATUS_CODE_OK",
            attributes={"context_key": SPECIAL_KEY + "x"},
        ),
        Span(
            trace_id=TRACE_C,
            span_id="c1c2c3c4c5c6c7c8",
            parent_span_id="",
            name="validate",
            service_name="validator",
            start_ns=at(120),
            end_ns=at(120.001),
        ),
    ]


def traceql_string(value: str) -> str:
    """Write a TraceQL double-quoted string; JSON escapes are valid Go escapes."""
    return json.dumps(value, ensure_ascii=False)


def load_fixture(name: str) -> Any:
    path = REFERENCE_FIXTURES / name
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def server() -> Iterator[TempoTestServer]:
    with TempoTestServer(sample_spans()) as running:
        yield running


@pytest.fixture
def client(server: TempoTestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as http:
        yield http


def all_spans(batches: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        span
        for batch in batches
        for scope_spans in batch["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def search_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [trace["traceID"] for trace in response.json().get("traces", [])]


def assert_key_order_agrees(
    ours: Sequence[str], references: Sequence[Sequence[str]]
) -> None:
    """Assert that every pair of keys ours shares with a reference keeps its order."""
    for reference in references:
        shared = [key for key in ours if key in reference]
        assert shared == sorted(shared, key=reference.index), (ours, reference)


def fixture_span_key_orders() -> list[list[str]]:
    orders = []
    for name in (
        "tempo_trace_jsonpb_vulture_fixture.json",
        "tempo_trace_jsonpb_kinds_status.json",
    ):
        trace = load_fixture(name)
        orders += [list(span) for span in all_spans(trace["resourceSpans"])]
    return orders


# ---------------------------------------------------------------------------
# Trace by ID
# ---------------------------------------------------------------------------


def test_v1_ids_are_base64(client: httpx.Client) -> None:
    response = client.get(f"/api/traces/{TRACE_A}")
    assert response.status_code == 200
    spans = {span["name"]: span for span in all_spans(response.json()["batches"])}
    root = spans["/gramophile.GramophileEService/GetRecord"]
    child = spans["RefreshRelease"]

    assert root["traceId"] == TRACE_A_BASE64
    assert root["spanId"] == ROOT_A_BASE64
    assert child["parentSpanId"] == ROOT_A_BASE64
    assert base64.b64decode(root["traceId"]).hex() == TRACE_A
    assert base64.b64decode(root["spanId"]).hex() == ROOT_A
    assert base64.b64decode(child["spanId"]).hex() == CHILD_A


def test_v1_accepts_short_and_upper_ids(client: httpx.Client) -> None:
    full = client.get(f"/api/traces/{TRACE_A}")
    for trace_id in (TRACE_A.lstrip("0"), TRACE_A.upper(), "abcde", "ABCDE"):
        response = client.get(f"/api/traces/{trace_id}")
        assert response.status_code == 200, trace_id
    assert client.get(f"/api/traces/{TRACE_A.lstrip('0')}").content == full.content


def test_v1_body_is_compact_jsonpb(client: httpx.Client) -> None:
    response = client.get(f"/api/traces/{TRACE_A}")
    body = response.text
    assert response.headers["content-type"] == "application/json"
    assert body.startswith('{"batches":[{"resource":{"attributes":[')
    assert '": ' not in body
    assert '", "' not in body
    assert "}, {" not in body
    # Go's encoding/json escapes <, > and & inside strings.
    assert '"message":"Discogs \\u003crate limit\\u003e \\u0026 retry"' in body
    assert "resourceSpans" not in body


def test_v1_omits_zero_values(client: httpx.Client) -> None:
    batches = client.get(f"/api/traces/{TRACE_A}").json()["batches"]
    spans = {span["name"]: span for span in all_spans(batches)}
    root = spans["/gramophile.GramophileEService/GetRecord"]
    child = spans["RefreshRelease"]

    assert "parentSpanId" not in root
    assert root["kind"] == "SPAN_KIND_SERVER"
    assert list(root["status"]) == ["message", "code"]
    assert root["status"]["code"] == "STATUS_CODE_ERROR"
    assert "kind" not in child
    assert child["status"] == {}
    assert root["startTimeUnixNano"] == str(at(0))
    assert root["endTimeUnixNano"] == str(at(2.5))


def test_v1_attribute_values(client: httpx.Client) -> None:
    batches = client.get(f"/api/traces/{TRACE_A}").json()["batches"]
    spans = {span["name"]: span for span in all_spans(batches)}
    root_attributes = spans["/gramophile.GramophileEService/GetRecord"]["attributes"]
    child_attributes = spans["RefreshRelease"]["attributes"]

    assert root_attributes == [
        {"key": "context_key", "value": {"stringValue": SPECIAL_KEY}},
        {"key": "rpc.grpc.status_code", "value": {"intValue": "14"}},
    ]
    assert child_attributes[1] == {"key": "ratio", "value": {"doubleValue": 0.25}}


def test_v1_groups_spans_by_resource(client: httpx.Client) -> None:
    batches = client.get(f"/api/traces/{TRACE_A}").json()["batches"]

    assert [list(batch) for batch in batches] == [["resource", "scopeSpans"]] * 2
    assert batches[0]["resource"]["attributes"] == [
        {"key": "service.name", "value": {"stringValue": "api"}},
        {"key": "k8s.namespace.name", "value": {"stringValue": "prod"}},
    ]
    assert batches[1]["resource"]["attributes"] == [
        {"key": "service.name", "value": {"stringValue": "queue"}},
    ]
    assert batches[0]["scopeSpans"][0]["scope"] == {}


def test_v1_key_order_matches_fixtures(client: httpx.Client) -> None:
    vulture = load_fixture("tempo_trace_jsonpb_vulture_fixture.json")
    batches = client.get(f"/api/traces/{TRACE_A}").json()["batches"]
    reference_batch = vulture["resourceSpans"][0]

    assert list(batches[0]) == list(reference_batch)
    assert list(batches[0]["scopeSpans"][0]) == list(reference_batch["scopeSpans"][0])
    for span in all_spans(batches):
        assert_key_order_agrees(list(span), fixture_span_key_orders())


def test_v1_unknown_trace_is_empty_404(client: httpx.Client) -> None:
    response = client.get(f"/api/traces/{'f' * 32}")

    assert response.status_code == 404
    assert response.content == b""
    assert "content-type" not in response.headers


def test_v2_unknown_trace_is_200(client: httpx.Client) -> None:
    response = client.get(f"/api/v2/traces/{'f' * 32}")

    assert response.status_code == 200
    assert response.text == '{"trace":{},"metrics":{}}'


def test_v2_found_trace_shape(client: httpx.Client) -> None:
    docs_example = load_fixture("tempo_trace_v2_docs_example.json")
    payload = client.get(f"/api/v2/traces/{TRACE_A}").json()
    v1 = client.get(f"/api/traces/{TRACE_A}").json()

    assert list(payload) == ["trace", "metrics"]
    assert list(payload["trace"]) == list(docs_example["trace"])
    assert payload["trace"]["resourceSpans"] == v1["batches"]
    assert payload["metrics"]["inspectedBytes"].isdigit()
    assert "status" not in payload


@pytest.mark.parametrize(
    ("trace_id", "message"),
    [
        (
            "12xz",
            "trace IDs can only contain hex characters: "
            "invalid character 'x' at position 3",
        ),
        (
            "abc%20",
            "trace IDs can only contain hex characters: "
            "invalid character ' ' at position 4",
        ),
        ("1" * 33, "trace IDs can't be larger than 128 bits"),
    ],
)
def test_trace_id_errors(client: httpx.Client, trace_id: str, message: str) -> None:
    for version in ("", "v2/"):
        response = client.get(f"/api/{version}traces/{trace_id}")
        assert response.status_code == 400
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.text == message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "x"},
            'invalid start: strconv.ParseInt: parsing "x": invalid syntax',
        ),
        (
            {"end": "1.5"},
            'invalid end: strconv.ParseInt: parsing "1.5": invalid syntax',
        ),
        (
            {"start": "10", "end": "5"},
            "http parameter start must be before end. received start=10 end=5",
        ),
        (
            {"start": "7", "end": "7"},
            "http parameter start must be before end. received start=7 end=7",
        ),
        ({"mode": "sideways"}, "invalid value for mode sideways"),
    ],
)
def test_trace_range_errors(
    client: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = client.get(f"/api/traces/{TRACE_A}", params=params)

    assert response.status_code == 400
    assert response.text == message


def test_trace_range_overlap(client: httpx.Client) -> None:
    def status(start: int, end: int) -> int:
        params = {"start": str(start), "end": str(end)}
        return client.get(f"/api/traces/{TRACE_A}", params=params).status_code

    # Trace A runs from T0 to T0 + 2.5 s.
    assert status(T0 - 60, T0 - 1) == 404
    assert status(T0 - 60, T0) == 200
    assert status(T0 + 1, T0 + 2) == 200
    assert status(T0 + 2, T0 + 60) == 200
    assert status(T0 + 3, T0 + 60) == 404


# ---------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------


def test_search_exact_special_key(client: httpx.Client) -> None:
    query = f"{{ span.context_key = {traceql_string(SPECIAL_KEY)} }}"
    response = client.get("/api/search", params={"q": query})

    assert search_ids(response) == [TRACE_A.lstrip("0")]
    span_set = response.json()["traces"][0]["spanSet"]
    assert span_set["matched"] == 2
    assert span_set["spans"][0]["attributes"] == [
        {"key": "context_key", "value": {"stringValue": SPECIAL_KEY}}
    ]


def test_search_raw_string_literal(client: httpx.Client) -> None:
    near_miss = SPECIAL_KEY.replace("`", "") + "x"
    server_spans = [
        Span(
            TRACE_B,
            "b1b2b3b4b5b6b7b8",
            "",
            "op",
            "api",
            at(0),
            at(1),
            attributes={"context_key": near_miss},
        )
    ]
    with TempoTestServer(server_spans) as server:
        query = f"{{ span.context_key = `{near_miss}` }}"
        response = httpx.get(server.url + "/api/search", params={"q": query})
    assert search_ids(response) == [TRACE_B]


def test_search_strips_leading_zeros(client: httpx.Client) -> None:
    response = client.get("/api/search", params={"q": "{ }"})
    ids = search_ids(response)

    assert TRACE_A.lstrip("0") in ids
    assert "abcde" in ids
    assert all(not trace_id.startswith("0") for trace_id in ids)
    for trace_id in ids:
        assert client.get(f"/api/traces/{trace_id}").status_code == 200


def test_search_newest_first(client: httpx.Client) -> None:
    response = client.get("/api/search", params={"q": "{}"})

    assert search_ids(response) == ["abcde", TRACE_B, TRACE_A.lstrip("0")]


def test_search_no_match_omits_traces(client: httpx.Client) -> None:
    response = client.get("/api/search", params={"q": '{ span.context_key = "none" }'})

    assert response.status_code == 200
    assert response.json() == {
        "metrics": {
            "inspectedTraces": 3,
            "inspectedBytes": response.json()["metrics"]["inspectedBytes"],
            "completedJobs": 1,
            "totalJobs": 1,
        }
    }


def test_search_metadata_values(client: httpx.Client) -> None:
    query = f"{{ span.context_key = {traceql_string(SPECIAL_KEY)} && status = error }}"
    trace = client.get("/api/search", params={"q": query}).json()["traces"][0]

    assert trace["traceID"] == TRACE_A.lstrip("0")
    assert trace["rootServiceName"] == "api"
    assert trace["rootTraceName"] == "/gramophile.GramophileEService/GetRecord"
    assert trace["startTimeUnixNano"] == str(at(0))
    assert trace["durationMs"] == 2500
    assert trace["spanSets"] == [trace["spanSet"]]
    assert trace["spanSet"]["matched"] == 1
    span = trace["spanSet"]["spans"][0]
    assert span["spanID"] == ROOT_A
    assert span["durationNanos"] == str(2_500_000_000)
    assert {"key": "status", "value": {"stringValue": "error"}} in span["attributes"]
    assert trace["serviceStats"] == {
        "api": {"spanCount": 1, "errorCount": 1},
        "queue": {"spanCount": 1},
    }


def test_search_name_only_when_queried(client: httpx.Client) -> None:
    by_key = client.get(
        "/api/search", params={"q": '{ resource.service.name = "api" }'}
    )
    by_name = client.get("/api/search", params={"q": '{ name = "validate" }'})

    spans = [s for t in by_key.json()["traces"] for s in t["spanSet"]["spans"]]
    assert all("name" not in span for span in spans)
    assert by_name.json()["traces"][0]["spanSet"]["spans"][0]["name"] == "validate"
    assert "durationMs" in by_name.json()["traces"][0]
    assert by_name.json()["traces"][0]["durationMs"] == 1


def test_search_spans_per_span_set(client: httpx.Client) -> None:
    query = f"{{ .context_key = {traceql_string(SPECIAL_KEY)} }}"
    single = client.get("/api/search", params={"q": query, "spss": "1"}).json()

    assert len(single["traces"][0]["spanSet"]["spans"]) == 1
    assert single["traces"][0]["spanSet"]["matched"] == 2


def test_search_shape_matches_docs_fixture(client: httpx.Client) -> None:
    reference = load_fixture("tempo_search_traceql_docs_example.json")
    query = '{ resource.service.name = "api" }'
    payload = client.get("/api/search", params={"q": query}).json()
    reference_trace = reference["traces"][0]

    assert list(payload) == list(reference)
    for trace in payload["traces"]:
        assert_key_order_agrees(list(trace), [list(reference_trace)])
        assert list(trace["spanSet"]) == list(reference_trace["spanSet"])
        for span in trace["spanSet"]["spans"]:
            assert list(span) == list(reference_trace["spanSet"]["spans"][0])
            assert isinstance(span["startTimeUnixNano"], str)
            assert isinstance(span["durationNanos"], str)
        assert isinstance(trace["startTimeUnixNano"], str)
        assert isinstance(trace["durationMs"], int)
    assert_key_order_agrees(list(payload["metrics"]), [list(reference["metrics"])])
    assert isinstance(payload["metrics"]["inspectedBytes"], str)


def test_search_tags_shape_matches_fixture(client: httpx.Client) -> None:
    reference = load_fixture("tempo_search_tags_based_docs_example.json")
    payload = client.get("/api/search", params={"tags": "service.name=api"}).json()

    assert list(payload) == list(reference)
    for trace in payload["traces"]:
        assert_key_order_agrees(list(trace), [list(reference["traces"][0])])
        assert "spanSet" not in trace
        assert "spanSets" not in trace
    assert sorted(
        search_ids(client.get("/api/search", params={"service.name": "api"}))
    ) == sorted([TRACE_A.lstrip("0"), TRACE_B])


def test_search_window_overlap() -> None:
    spans = [
        Span("1" * 32, "1" * 16, "", "before", "api", at(-100), at(-50)),
        Span("2" * 32, "2" * 16, "", "straddles", "api", at(-50), at(5)),
        Span("3" * 32, "3" * 16, "", "at end", "api", at(10), at(20)),
        Span("4" * 32, "4" * 16, "", "after", "api", at(11), at(20)),
    ]
    with TempoTestServer(spans) as server:
        params = {"q": "{}", "start": str(T0), "end": str(T0 + 10)}
        response = httpx.get(server.url + "/api/search", params=params)

    assert search_ids(response) == ["3" * 32, "2" * 32]
    assert response.json()["metrics"]["inspectedTraces"] == 2


def test_search_limit_truncates() -> None:
    spans = [
        Span(f"{i:032x}", f"{i:016x}", "", f"op{i}", "api", at(i * 10), at(i * 10 + 1))
        for i in range(1, 26)
    ]
    with TempoTestServer(spans) as server:
        two = httpx.get(server.url + "/api/search", params={"q": "{}", "limit": "2"})
        default = httpx.get(server.url + "/api/search", params={"q": "{}"})

    assert search_ids(two) == [f"{25:x}", f"{24:x}"]
    assert len(search_ids(default)) == 20
    assert search_ids(default)[-1] == f"{6:x}"
    assert default.json()["metrics"]["inspectedTraces"] == 25


def test_search_custom_limits() -> None:
    spans = sample_spans()
    with TempoTestServer(spans, default_limit=1, max_limit=2) as server:
        default = httpx.get(server.url + "/api/search", params={"q": "{}"})
        too_many = httpx.get(server.url + "/api/search", params={"limit": "3"})

    assert len(search_ids(default)) == 1
    assert too_many.status_code == 400
    assert too_many.text == "limit 3 exceeds max limit 2"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "1.5", "end": str(T0)},
            'invalid start: strconv.ParseUint: parsing "1.5": invalid syntax',
        ),
        (
            {"start": str(T0 * 1000), "end": str(T0 * 1000 + 1)},
            f'invalid start: strconv.ParseUint: parsing "{T0 * 1000}": value out of range',
        ),
        (
            {"start": str(T0), "end": str(T0 * SECOND)},
            f'invalid end: strconv.ParseUint: parsing "{T0 * SECOND}": value out of range',
        ),
        (
            {"start": "-1", "end": str(T0)},
            'invalid start: strconv.ParseUint: parsing "-1": invalid syntax',
        ),
        (
            {"start": "2026-03-01T10:00:00Z", "end": str(T0)},
            'invalid start: strconv.ParseUint: parsing "2026-03-01T10:00:00Z": '
            "invalid syntax",
        ),
        (
            {"start": "20", "end": "10"},
            "http parameter start must be before end. received start=20 end=10",
        ),
        (
            {"start": "7", "end": "7"},
            "http parameter start must be before end. received start=7 end=7",
        ),
        (
            {"start": "5"},
            "http parameter start must be before end. received start=5 end=0",
        ),
        (
            {"start": str(T0), "end": str(T0 + 168 * 3600 + 1)},
            "range specified by start and end exceeds 168h0m0s. "
            f"received start={T0} end={T0 + 168 * 3600 + 1}",
        ),
        ({"limit": "0"}, "invalid limit: must be a positive number"),
        (
            {"limit": "x"},
            'invalid limit: strconv.ParseUint: parsing "x": invalid syntax',
        ),
        (
            {"limit": "-5"},
            'invalid limit: strconv.ParseUint: parsing "-5": invalid syntax',
        ),
        ({"limit": "262145"}, "limit 262145 exceeds max limit 262144"),
        ({"spss": "0"}, "invalid spss: must be a positive number"),
        ({"spss": "101"}, "spans per span set exceeds 100. received 101"),
        (
            {"q": "{}", "tags": "service.name=api"},
            "invalid request: can't specify tags and q in the same query",
        ),
        ({"tags": "a=1 a=2"}, "invalid tags: tag a has been set twice"),
        ({"tags": "service.name=foo=bar"}, "invalid tags: unexpected '=' at pos 17"),
        (
            {"minDuration": "10seconds"},
            'invalid minDuration: time: unknown unit "seconds" in duration "10seconds"',
        ),
        (
            {"maxDuration": "10"},
            'invalid maxDuration: time: missing unit in duration "10"',
        ),
        (
            {"minDuration": "20s", "maxDuration": "5s"},
            "invalid maxDuration: must be greater than minDuration",
        ),
    ],
)
def test_search_parameter_errors(
    client: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/search", params=params)

    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == message


def test_search_range_limit_is_configurable() -> None:
    with TempoTestServer(sample_spans(), max_search_duration_s=3600) as server:
        params = {"start": str(T0), "end": str(T0 + 3601)}
        response = httpx.get(server.url + "/api/search", params=params)

    assert response.status_code == 400
    assert response.text == (
        f"range specified by start and end exceeds 1h0m0s. received start={T0} "
        f"end={T0 + 3601}"
    )


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("{ span.context_key = 'k' }", 22),
        ('{ span.context_key = "bad \\q escape" }', 27),
        ('{ span.context_key = "\\uD83D\\uDE00" }', 23),
        ('{ span.context_key = "open }', 22),
        ('{ span.context_key = "k" } | count() > 1', 28),
        ('{ span.context_key = "k" } | select(span.entry_type)', 28),
        ("{ } | rate()", 5),
        ('{ context_key = "k" }', 3),
        ('{ span.context_key = "k" } >> { }', 28),
        ("{ status = 2 }", 10),
    ],
)
def test_search_invalid_traceql(client: httpx.Client, query: str, column: int) -> None:
    response = client.get("/api/search", params={"q": query})

    assert response.status_code == 400
    assert response.text.startswith(
        f"invalid TraceQL query: parse error at line 1, col {column}: "
    )


def test_search_duration_filters_tags_only(client: httpx.Client) -> None:
    tags = client.get("/api/search", params={"tags": "", "minDuration": "1s"})
    traceql_search = client.get("/api/search", params={"q": "{}", "minDuration": "1s"})

    assert search_ids(tags) == [TRACE_A.lstrip("0")]
    assert len(search_ids(traceql_search)) == 3


# ---------------------------------------------------------------------------
# Partial traces
# ---------------------------------------------------------------------------


def test_partial_trace_search_hit() -> None:
    with TempoTestServer(sample_spans(), drop_root_of={TRACE_A}) as server:
        query = f"{{ span.context_key = {traceql_string(SPECIAL_KEY)} }}"
        response = httpx.get(server.url + "/api/search", params={"q": query})
        by_root = httpx.get(
            server.url + "/api/search", params={"q": '{ rootServiceName = "api" }'}
        )

    trace = response.json()["traces"][0]
    assert trace["rootServiceName"] == ROOT_SPAN_NOT_YET_RECEIVED
    assert "rootTraceName" not in trace
    # Only the child (0.5 s to 1.7 s) is left of the 2.5 s trace.
    assert trace["durationMs"] == 1200
    assert trace["startTimeUnixNano"] == str(at(0.5))
    assert trace["spanSet"]["matched"] == 1
    assert search_ids(by_root) == [TRACE_B]


def test_partial_trace_has_orphans() -> None:
    with TempoTestServer(sample_spans(), drop_root_of={TRACE_A.lstrip("0")}) as server:
        v1 = httpx.get(f"{server.url}/api/traces/{TRACE_A}")
        v2 = httpx.get(f"{server.url}/api/v2/traces/{TRACE_A}")

    spans = all_spans(v1.json()["batches"])
    span_ids = {span["spanId"] for span in spans}
    assert [span["name"] for span in spans] == ["RefreshRelease"]
    assert all("parentSpanId" in span for span in spans)
    assert spans[0]["parentSpanId"] == ROOT_A_BASE64
    assert spans[0]["parentSpanId"] not in span_ids
    assert v2.status_code == 200
    assert "status" not in v2.json()


# ---------------------------------------------------------------------------
# Tenants, credentials and injected errors
# ---------------------------------------------------------------------------


def test_tenant_header_required() -> None:
    with TempoTestServer(sample_spans(), tenant="acme") as server:
        missing = httpx.get(server.url + "/api/search", params={"q": "{}"})
        missing_trace = httpx.get(f"{server.url}/api/traces/{TRACE_A}")
        ready = httpx.get(server.url + "/ready")

    assert missing.status_code == 401
    assert missing.text == "no org id\n"
    assert missing_trace.status_code == 401
    assert ready.status_code == 200


def test_tenant_isolation() -> None:
    with TempoTestServer(sample_spans(), tenant="acme") as server:

        def get(path: str, org_id: str) -> httpx.Response:
            headers = {"X-Scope-OrgID": org_id}
            return httpx.get(server.url + path, params={"q": "{}"}, headers=headers)

        other_search = get("/api/search", "other")
        other_v1 = get(f"/api/traces/{TRACE_A}", "other")
        other_v2 = get(f"/api/v2/traces/{TRACE_A}", "other")
        own_search = get("/api/search", "acme")
        federated = get("/api/search", "other|acme")

    assert search_ids(other_search) == []
    assert other_v1.status_code == 404
    assert other_v2.json() == {"trace": {}, "metrics": {}}
    assert len(search_ids(own_search)) == 3
    assert len(search_ids(federated)) == 3


@pytest.mark.parametrize(
    ("token", "username", "authorization", "status"),
    [
        ("s3cret", None, None, 401),
        ("s3cret", None, "Bearer wrong", 401),
        ("s3cret", None, "Bearer s3cret", 200),
        (None, "u", None, 401),
        (None, "u", "Basic dTp4", 401),  # u:x
        (None, "u", "Basic dTpw", 200),  # u:p
    ],
)
def test_gateway_credentials(
    token: str | None, username: str | None, authorization: str | None, status: int
) -> None:
    password = None if username is None else "p"
    headers = {} if authorization is None else {"Authorization": authorization}
    with TempoTestServer(
        sample_spans(), bearer_token=token, username=username, password=password
    ) as server:
        response = httpx.get(server.url + "/api/echo", headers=headers)

    assert response.status_code == status


def test_injected_429_retry_after() -> None:
    with TempoTestServer(sample_spans()) as server:
        server.inject_errors(
            429, "too many outstanding requests", count=2, retry_after=3
        )
        with httpx.Client(base_url=server.url) as http:
            ready = http.get("/ready")
            first = http.get("/api/search", params={"q": "{}"})
            second = http.get(f"/api/traces/{TRACE_A}")
            third = http.get("/api/search", params={"q": "{}"})

    assert ready.status_code == 200
    for response in (first, second):
        assert response.status_code == 429
        assert response.text == "too many outstanding requests"
        assert response.headers["retry-after"] == "3"
    assert third.status_code == 200
    assert "retry-after" not in third.headers


def test_injected_errors_queue_in_order() -> None:
    with TempoTestServer(sample_spans()) as server:
        server.inject_errors(503, "unavailable")
        server.inject_errors(500, "boom", count=2)
        statuses = [httpx.get(server.url + "/api/echo").status_code for _ in range(4)]

    assert statuses == [503, 500, 500, 200]


# ---------------------------------------------------------------------------
# Other endpoints and bookkeeping
# ---------------------------------------------------------------------------


def test_echo_and_ready(client: httpx.Client) -> None:
    echo = client.get("/api/echo")
    ready = client.get("/ready")

    assert (echo.status_code, echo.text) == (200, "echo\n")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert ready.headers["content-type"] == "text/plain; charset=utf-8"


def test_unknown_path_and_method(client: httpx.Client) -> None:
    unknown = client.get("/api/nothing")
    post = client.post("/api/search", content=b"q={}")

    assert unknown.status_code == 404
    assert unknown.text == "404 page not found\n"
    assert post.status_code == 405


def test_tag_names_shape(client: httpx.Client) -> None:
    v1 = client.get("/api/search/tags").json()
    v2 = client.get("/api/v2/search/tags", params={"scope": "resource"}).json()
    bad = client.get("/api/search/tags", params={"scope": "everything"})

    assert list(v1) == ["tagNames", "metrics"]
    assert "context_key" in v1["tagNames"]
    assert "service.name" in v1["tagNames"]
    assert v2["scopes"] == [
        {"name": "resource", "tags": ["k8s.namespace.name", "service.name"]}
    ]
    assert (bad.status_code, bad.text) == (400, "invalid scope: everything")


def test_tag_values_shape_matches_fixtures(client: httpx.Client) -> None:
    v1_reference = load_fixture("tempo_search_tag_values_docs_example.json")
    v2_reference = load_fixture("tempo_search_tag_values_v2_docs_example.json")
    v1 = client.get("/api/search/tag/service.name/values").json()
    v2 = client.get("/api/v2/search/tag/resource.service.name/values").json()

    assert list(v1) == list(v1_reference)
    assert v1["tagValues"] == ["api", "queue", "validator"]
    assert list(v2) == list(v2_reference)
    assert [list(value) for value in v2["tagValues"]] == [
        list(v2_reference["tagValues"][0])
    ] * 3
    assert v2["tagValues"][0] == {"type": "string", "value": "api"}


def test_tag_values_typed(client: httpx.Client) -> None:
    status = client.get("/api/v2/search/tag/status/values").json()
    codes = client.get("/api/v2/search/tag/span.rpc.grpc.status_code/values").json()

    assert status["tagValues"] == [
        {"type": "keyword", "value": "error"},
        {"type": "keyword", "value": "ok"},
        {"type": "keyword", "value": "unset"},
    ]
    assert codes["tagValues"] == [{"type": "int", "value": "14"}]


def test_requests_are_recorded() -> None:
    with TempoTestServer(sample_spans()) as server:
        httpx.get(
            server.url + "/api/search",
            params={"q": '{ name = "a b" }', "limit": "5"},
            headers={"X-Scope-OrgID": "acme"},
        )
        recorded = server.requests

    assert len(recorded) == 1
    assert recorded[0].method == "GET"
    assert recorded[0].path == "/api/search"
    assert recorded[0].params == {"q": ['{ name = "a b" }'], "limit": ["5"]}
    assert recorded[0].headers["x-scope-orgid"] == "acme"


def test_server_restarts_on_new_port() -> None:
    server = TempoTestServer(sample_spans())
    first_url = server.start()
    server.stop()
    second_url = server.start()
    try:
        assert httpx.get(second_url + "/ready").status_code == 200
    finally:
        server.stop()
    assert first_url.startswith("http://127.0.0.1:")


def test_invalid_span_ids_rejected() -> None:
    bad = Span("xyz", "1" * 16, "", "op", "api", at(0), at(1))

    with pytest.raises(ValueError, match="invalid trace id 'xyz'"):
        TempoTestServer([bad])


# ---------------------------------------------------------------------------
# Go-compatible encoding helpers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (1.5, "1.5"),
        (100.0, "100"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (0.00001, "0.00001"),
        ("a<b>&\u2028\b\f\n\x01é", '"a\\u003cb\\u003e\\u0026\\u2028\\b\\f\\n\\u0001é"'),
        ({"a": [True, None, 2]}, '{"a":[true,null,2]}'),
    ],
)
def test_encode_go_json(value: Any, encoded: str) -> None:
    assert encode_go_json(value) == encoded


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (168 * 3600 * SECOND, "168h0m0s"),
        (90 * SECOND, "1m30s"),
        (1_500_000_000, "1.5s"),
        (2_500_000, "2.5ms"),
        (1_500, "1.5µs"),
        (7, "7ns"),
        (0, "0s"),
    ],
)
def test_format_go_duration(nanoseconds: int, text: str) -> None:
    assert format_go_duration(nanoseconds) == text


# ---------------------------------------------------------------------------
# TraceQL subset
# ---------------------------------------------------------------------------


def trace_view(spans: Sequence[Span]) -> traceql.TraceView:
    return traceql.TraceView.from_spans(spans[0].trace_id, spans)


def matched_names(query: str, spans: Sequence[Span]) -> list[str]:
    return [
        span.name for span in traceql.parse(query).matching_spans(trace_view(spans))
    ]


def query_span(name: str, **attributes: str | int | float | bool) -> Span:
    return Span(
        TRACE_B, "1" * 16, "", name, "api", at(0), at(1), attributes=dict(attributes)
    )


def test_traceql_and_or_same_precedence() -> None:
    spans = [query_span("only a", a=1)]

    # Tempo reads this as (a || b) && c, which no span satisfies.
    assert matched_names("{ span.a = 1 || span.b = 2 && span.c = 3 }", spans) == []
    assert matched_names("{ span.a = 1 || (span.b = 2 && span.c = 3) }", spans) == [
        "only a"
    ]


def test_traceql_regex_is_anchored() -> None:
    spans = [query_span("GetRecord")]

    assert matched_names('{ name =~ "Get" }', spans) == []
    assert matched_names('{ name =~ "Get.*" }', spans) == ["GetRecord"]
    assert matched_names('{ name !~ "Get" }', spans) == ["GetRecord"]


def test_traceql_missing_attribute_never_matches() -> None:
    spans = [query_span("no attributes")]

    assert matched_names('{ span.x != "a" }', spans) == []
    assert matched_names('{ span.x !~ "a" }', spans) == []
    assert matched_names("{ span.x != nil }", spans) == []
    assert matched_names("{ span.x != nil }", [query_span("has x", x="a")]) == ["has x"]


def test_traceql_scopes() -> None:
    span = sample_spans()[0]

    assert matched_names('{ .k8s.namespace.name = "prod" }', [span]) != []
    assert matched_names('{ resource.k8s.namespace.name = "prod" }', [span]) != []
    assert matched_names('{ span.k8s.namespace.name = "prod" }', [span]) == []
    assert matched_names('{ .service.name = "api" }', [span]) != []


def test_traceql_typed_comparisons() -> None:
    spans = [query_span("typed", code=14, ratio=0.25, flag=True, text="14")]

    assert matched_names("{ span.code = 14.0 }", spans) == ["typed"]
    assert matched_names("{ span.code >= 10 && span.ratio < 0.5 }", spans) == ["typed"]
    assert matched_names("{ span.flag = true }", spans) == ["typed"]
    assert matched_names("{ span.text = 14 }", spans) == []
    assert matched_names('{ span.code = "14" }', spans) == []


def test_traceql_intrinsics() -> None:
    spans = sample_spans()[:2]

    assert matched_names("{ status = error }", spans) == [spans[0].name]
    assert matched_names("{ kind = server }", spans) == [spans[0].name]
    assert matched_names("{ kind = unspecified }", spans) == ["RefreshRelease"]
    assert matched_names("{ duration > 2s }", spans) == [spans[0].name]
    assert matched_names("{ duration < 1500ms && duration > 1.1s }", spans) == [
        "RefreshRelease"
    ]
    assert len(matched_names("{ traceDuration = 2.5s }", spans)) == 2
    assert len(matched_names('{ rootServiceName = "api" }', spans)) == 2
    assert matched_names('{ statusMessage =~ "Discogs.*" }', spans) == [spans[0].name]


def test_traceql_spanset_operators() -> None:
    spans = sample_spans()[:2]

    both = '{ kind = server } && { name = "RefreshRelease" }'
    assert matched_names(both, spans) == [spans[0].name, "RefreshRelease"]
    assert matched_names('{ kind = server } && { name = "nothing" }', spans) == []
    assert matched_names('{ kind = server } || { name = "nothing" }', spans) == [
        spans[0].name
    ]


def test_traceql_string_escapes() -> None:
    spans = [query_span("escapes", text='tab\there "q" \\ é')]

    assert matched_names(
        '{ span.text = "tab\\there \\"q\\" \\\\ \\u00e9" }', spans
    ) == ["escapes"]
    assert matched_names(
        '{ span.text = "tab\\x09here \\"q\\" \\\\ \\303\\251" }', spans
    ) == ["escapes"]
    # Raw strings keep backslashes: a backslash and a t is not a tab.
    assert matched_names(r'{ span.text = `tab\there "q" \ é` }', spans) == []
    assert matched_names('{ span."text" = `tab\there "q" \\ é` }', spans) == ["escapes"]


def test_traceql_quoted_attribute_names() -> None:
    spans = [query_span("quoted", **{'with space "and" quote': "v"})]

    query = '{ span."with space \\"and\\" quote" = "v" }'
    assert matched_names(query, spans) == ["quoted"]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("{ span.x = 'a' }", "single quotes"),
        ('{ span.x = "\\q" }', "unknown escape sequence \\q"),
        ('{ span.x = "\\uD83D" }', "surrogate halves"),
        ('{ span.x = "\\400" }', "above 255"),
        ('{ span."a\\nb" = 1 }', 'only \\" and \\\\ escapes'),
        ("{ span.x = 1 } | count() > 1", "does not support a pipeline"),
        ("{ span.x = nil }", "does not support span.x = nil"),
        ('{ status = "error" }', "status can only be compared"),
        ("{ kind = error }", "kind can only be compared"),
        ("{ duration > 100 }", "does not support comparing duration"),
        ('{ name > "a" }', "does not support > with a string"),
        ("{ span.x + 1 = 2 }", "does not support arithmetic"),
        ("{ !(span.x = 1) }", "does not support negation"),
        ("{ span.a = 1 } >> { span.b = 1 }", "structural operator >>"),
        ("{ parent.x = 1 }", "parent. scope"),
        ("{ span:duration > 1s }", "span: intrinsic syntax"),
        ('{ span.x =~ "(?=a)" }', "not RE2 syntax"),
        ('{ span.x =~ "(a)\\\\1" }', "not RE2 syntax"),
        ('{ span.x =~ "(" }', "error parsing regexp"),
        ("{ x = 1 }", "unexpected identifier x"),
        ("{ span.x = 1", "expected '}'"),
        ("", "empty query"),
    ],
)
def test_traceql_rejects(query: str, detail: str) -> None:
    with pytest.raises(traceql.TraceQLError) as raised:
        traceql.parse(query)

    assert detail in str(raised.value)
    assert str(raised.value).startswith("parse error at line 1, col ")


def test_traceql_error_position() -> None:
    with pytest.raises(traceql.TraceQLError) as raised:
        traceql.parse("{ span.a = \"x\" &&\n  span.b = 'y' }")

    assert (raised.value.line, raised.value.column) == (2, 12)


@pytest.mark.parametrize(
    ("literal", "nanoseconds"),
    [
        ("100ms", 100_000_000),
        ("1.5s", 1_500_000_000),
        ("1h30m", 5_400 * SECOND),
        ("2d", 172_800 * SECOND),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("3ns", 3),
    ],
)
def test_traceql_duration_literals(literal: str, nanoseconds: int) -> None:
    root = traceql.parse(f"{{ duration = {literal} }}").root
    assert isinstance(root, traceql.SpansetFilter)
    comparison = root.expression

    assert isinstance(comparison, traceql.Comparison)
    assert comparison.static == traceql.Static("duration", nanoseconds)


def test_traceql_fields_in_order() -> None:
    query = traceql.parse('{ span.a = 1 && name = "x" } || { span.a = 2 && .b = 3 }')

    assert query.fields() == [
        traceql.Attribute("span", "a"),
        traceql.Intrinsic("name"),
        traceql.Attribute("unscoped", "b"),
    ]


def test_go_duration_errors() -> None:
    with pytest.raises(ValueError, match='time: invalid duration "abc"'):
        traceql.parse_go_duration("abc")
    assert traceql.parse_go_duration("-1.5h") == -5_400 * SECOND


def test_traceql_unscoped_either_scope() -> None:
    span = Span(
        TRACE_B,
        "1" * 16,
        "",
        "both scopes",
        "api",
        at(0),
        at(1),
        attributes={"region": "eu"},
        resource_attributes={"region": "us"},
    )

    assert matched_names('{ .region = "eu" }', [span]) == ["both scopes"]
    assert matched_names('{ .region = "us" }', [span]) == ["both scopes"]
    assert matched_names('{ span.region = "us" }', [span]) == []
    assert matched_names('{ .region = "ap" }', [span]) == []
