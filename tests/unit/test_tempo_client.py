"""Tests for slocli.backends.tempo: trace by id (v1 and v2) and TraceQL search."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from slocli.backends.tempo import TempoClient
from slocli.errors import BackendHTTPError, BackendResponseError
from tests.unit.backend_fakes import (
    Harness,
    json_response,
    load_fixture,
    make_http,
    replies,
    text_response,
)

# Tempo's trace JSON writes ids as base64 of the raw bytes.
TRACE_ID_B64 = "AI7/95gDgQPSabYzgT/HAw=="
TRACE_ID_HEX = "008efff798038103d269b633813fc703"
SPAN_ID_B64 = "fm5NzlE0BTs="
SPAN_ID_HEX = "7e6e4dce5134053b"

DOCS_TRACE_ID = "5b8efff798038103d269b633813fc700"
VULTURE_TRACE_ID = "3149195ffb0bec05347b48efe8ecc1b0"

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def tempo(
    answers: list[httpx.Response | Exception], api: str = "auto", **settings: Any
) -> tuple[TempoClient, Harness]:
    harness = make_http(
        replies(answers), name="Tempo", url="http://tempo.test", **settings
    )
    return TempoClient(harness.http, api=api), harness


def v1_body(resource_spans: list[dict[str, Any]]) -> dict[str, Any]:
    # The v1 JSON is the jsonpb Trace with "resourceSpans" renamed "batches".
    return {"batches": resource_spans}


def v2_body(trace: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"trace": trace, "metrics": {"inspectedBytes": "1024"}, **extra}


def one_span_batch(**span: Any) -> list[dict[str, Any]]:
    fields = {
        "traceId": TRACE_ID_B64,
        "spanId": SPAN_ID_B64,
        "name": "GetRecord",
        "startTimeUnixNano": "1772359200000000000",
        "endTimeUnixNano": "1772359201400000000",
        "status": {},
    }
    fields.update(span)
    return [
        {
            "resource": {
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": "gramophile"}}
                ]
            },
            "scopeSpans": [{"scope": {"name": "otelgrpc"}, "spans": [fields]}],
        }
    ]


# --- trace by id ---


def test_v1_base64_ids_become_hex() -> None:
    client, harness = tempo([json_response(v1_body(one_span_batch()))], api="v1")

    trace = client.trace(TRACE_ID_HEX)

    assert trace is not None
    assert harness.paths() == [f"/api/traces/{TRACE_ID_HEX}"]
    assert trace.trace_id == TRACE_ID_HEX
    [span] = trace.spans
    assert span.trace_id == TRACE_ID_HEX
    assert span.span_id == SPAN_ID_HEX
    assert span.parent_span_id is None
    assert span.service_name == "gramophile"
    assert span.start_ns == 1772359200000000000
    assert span.end_ns == 1772359201400000000
    assert trace.partial_reason is None


def test_v1_vulture_fixture() -> None:
    resource_spans = load_fixture("tempo_trace_jsonpb_vulture_fixture.json")
    body = v1_body(resource_spans["resourceSpans"])
    client, _ = tempo([json_response(body)], api="v1")

    trace = client.trace(VULTURE_TRACE_ID)

    assert trace is not None
    span_ids = {span.span_id for span in trace.spans}
    roots = [span for span in trace.spans if span.parent_span_id is None]
    assert len(trace.spans) == sum(
        len(scope["spans"])
        for batch in resource_spans["resourceSpans"]
        for scope in batch["scopeSpans"]
    )
    assert {span.trace_id for span in trace.spans} == {VULTURE_TRACE_ID}
    assert all(len(span_id) == 16 for span_id in span_ids)
    assert [root.span_id for root in roots] == ["4b23de25d1fb6641", "083a27a20c7b6de3"]
    assert all(
        span.parent_span_id in span_ids
        for span in trace.spans
        if span.parent_span_id is not None
    )
    assert {span.kind for span in trace.spans} == {"unspecified"}
    assert {span.status for span in trace.spans} == {"unset"}


def test_v1_kinds_and_statuses() -> None:
    resource_spans = load_fixture("tempo_trace_jsonpb_kinds_status.json")
    client, _ = tempo(
        [json_response(v1_body(resource_spans["resourceSpans"]))], api="v1"
    )

    trace = client.trace("e8b6dff9f8d44b28f1b22bc3bd2f6768")

    assert trace is not None
    by_name = {span.name: span for span in trace.spans}
    assert by_name["requester"].kind == "client"
    assert by_name["requester"].status == "error"
    assert by_name["requester"].service_name == "mythical-requester"
    assert by_name["POST /:endpoint"].kind == "server"
    assert by_name["POST /:endpoint"].status == "error"
    assert by_name["POST /:endpoint"].parent_span_id == by_name["requester"].span_id
    assert by_name["tcp.connect"].kind == "internal"
    assert by_name["tcp.connect"].status == "unset"


def test_v2_docs_example() -> None:
    body = load_fixture("tempo_trace_v2_docs_example.json")
    client, harness = tempo([json_response(body)], api="v2")

    trace = client.trace(DOCS_TRACE_ID)

    assert trace is not None
    assert harness.paths() == [f"/api/v2/traces/{DOCS_TRACE_ID}"]
    [span] = trace.spans
    assert span.trace_id == DOCS_TRACE_ID
    assert span.span_id == "eee19b7ec3c1b100"
    assert span.name == "I am a span!"
    assert span.service_name == "my.service"
    assert span.kind == "server"
    assert span.status == "unset"
    assert span.attributes == {"my.span.attr": "some value"}


def test_v2_vulture_fixture_in_auto_mode() -> None:
    body = v2_body(load_fixture("tempo_trace_jsonpb_vulture_fixture.json"))
    client, harness = tempo([json_response(body)])

    trace = client.trace(VULTURE_TRACE_ID)

    assert trace is not None
    assert harness.paths() == [f"/api/v2/traces/{VULTURE_TRACE_ID}"]
    assert {span.trace_id for span in trace.spans} == {VULTURE_TRACE_ID}


def test_v2_partial_status_kept() -> None:
    message = "Trace exceeds maximum size of 5000000 bytes, a partial trace is returned"
    body = v2_body(
        {"resourceSpans": one_span_batch()}, status="PARTIAL", message=message
    )
    client, _ = tempo([json_response(body)])

    trace = client.trace(TRACE_ID_HEX)

    assert trace is not None
    assert trace.partial_reason == message


def test_v2_empty_trace_is_none() -> None:
    # Tempo's v2 route returns 200 with an empty trace for an unknown trace.
    client, harness = tempo([json_response(v2_body({}))])

    assert client.trace(TRACE_ID_HEX) is None
    assert harness.paths() == [f"/api/v2/traces/{TRACE_ID_HEX}"]


def test_v1_not_found_is_none() -> None:
    client, harness = tempo([text_response("", 404)], api="v1")

    assert client.trace(TRACE_ID_HEX) is None
    assert len(harness.requests) == 1


def test_v1_empty_batches_is_none() -> None:
    client, _ = tempo([json_response({"batches": []})], api="v1")

    assert client.trace(TRACE_ID_HEX) is None


def test_auto_falls_back_to_v1_on_404() -> None:
    # Tempo before 2.6 has no v2 route.
    answers = [
        text_response("404 page not found\n", 404),
        json_response(v1_body(one_span_batch())),
    ]
    client, harness = tempo(answers)

    trace = client.trace(TRACE_ID_HEX)

    assert trace is not None
    assert trace.spans[0].span_id == SPAN_ID_HEX
    assert harness.paths() == [
        f"/api/v2/traces/{TRACE_ID_HEX}",
        f"/api/traces/{TRACE_ID_HEX}",
    ]


def test_auto_both_routes_404_is_none() -> None:
    client, harness = tempo([text_response("", 404), text_response("", 404)])

    assert client.trace(TRACE_ID_HEX) is None
    assert len(harness.requests) == 2


def test_v2_mode_does_not_fall_back() -> None:
    client, harness = tempo([text_response("404 page not found\n", 404)], api="v2")

    with pytest.raises(BackendHTTPError) as caught:
        client.trace(TRACE_ID_HEX)

    assert caught.value.status == 404
    assert len(harness.requests) == 1


def test_auto_other_error_does_not_fall_back() -> None:
    client, harness = tempo([text_response("trace exceeds max size", 422)])

    with pytest.raises(BackendHTTPError) as caught:
        client.trace(TRACE_ID_HEX)

    assert caught.value.status == 422
    assert "trace exceeds max size" in str(caught.value)
    assert len(harness.requests) == 1


@pytest.mark.parametrize(
    "given",
    [
        "8efff798038103d269b633813fc703",
        "008EFFF798038103D269B633813FC703",
        TRACE_ID_B64,
    ],
    ids=["leading-zeros-stripped", "upper-case", "base64"],
)
def test_trace_id_normalised_in_path(given: str) -> None:
    client, harness = tempo([json_response(v2_body({}))])

    client.trace(given)

    assert harness.paths() == [f"/api/v2/traces/{TRACE_ID_HEX}"]


def test_trace_window_sent_as_whole_seconds() -> None:
    client, harness = tempo([json_response(v2_body({}))])

    client.trace(
        TRACE_ID_HEX,
        start=START + timedelta(milliseconds=500),
        end=START + timedelta(hours=1, milliseconds=200),
    )

    start_s = int(START.timestamp())
    params = harness.params()
    assert int(params["start"]) <= start_s
    assert int(params["end"]) >= start_s + 3601
    assert set(params) == {"start", "end"}


def test_trace_without_window_sends_no_params() -> None:
    client, harness = tempo([json_response(v2_body({}))])

    client.trace(TRACE_ID_HEX)

    assert harness.params() == {}


def test_trace_sends_tenant_and_bearer() -> None:
    client, harness = tempo(
        [json_response(v2_body({}))], tenant="team-a", bearer_token="tok-123"
    )

    client.trace(TRACE_ID_HEX)

    headers = harness.requests[0].headers
    assert headers["X-Scope-OrgID"] == "team-a"
    assert headers["Authorization"] == "Bearer tok-123"


@pytest.mark.parametrize("parent", ["", "AAAAAAAAAAA=", "0000000000000000"])
def test_empty_or_zero_parent_is_root(parent: str) -> None:
    body = v1_body(one_span_batch(parentSpanId=parent))
    client, _ = tempo([json_response(body)], api="v1")

    trace = client.trace(TRACE_ID_HEX)

    assert trace is not None
    assert trace.spans[0].parent_span_id is None


def test_hex_ids_accepted_in_trace_json() -> None:
    body = v1_body(
        one_span_batch(
            traceId=TRACE_ID_HEX, spanId=SPAN_ID_HEX, parentSpanId="00f067aa0ba902b7"
        )
    )
    client, _ = tempo([json_response(body)], api="v1")

    trace = client.trace(TRACE_ID_HEX)

    assert trace is not None
    assert trace.spans[0].span_id == SPAN_ID_HEX
    assert trace.spans[0].parent_span_id == "00f067aa0ba902b7"


def test_pre_2_0_scope_key_read() -> None:
    batch = one_span_batch()
    batch[0]["instrumentationLibrarySpans"] = batch[0].pop("scopeSpans")
    client, _ = tempo([json_response(v1_body(batch))], api="v1")

    trace = client.trace(TRACE_ID_HEX)

    assert trace is not None
    assert [span.span_id for span in trace.spans] == [SPAN_ID_HEX]


def test_invalid_span_id_rejected() -> None:
    body = v1_body(one_span_batch(spanId="not an id"))
    client, _ = tempo([json_response(body)], api="v1")

    with pytest.raises(BackendResponseError) as caught:
        client.trace(TRACE_ID_HEX)

    assert str(caught.value).startswith("Tempo returned an invalid response (")


# --- search ---


def search_body(*traces: dict[str, Any]) -> dict[str, Any]:
    return {"traces": list(traces), "metrics": {"inspectedBytes": "1", "totalJobs": 1}}


def test_search_docs_example() -> None:
    body = load_fixture("tempo_search_traceql_docs_example.json")
    client, harness = tempo([json_response(body)])
    end = START + timedelta(hours=1)

    hits, maybe_more = client.search(
        '{ span.context_key = "k-1" }', start=START, end=end, limit=20
    )

    assert harness.requests[0].url.path == "/api/search"
    assert harness.params() == {
        "q": '{ span.context_key = "k-1" }',
        "start": str(int(START.timestamp())),
        "end": str(int(end.timestamp())),
        "limit": "20",
    }
    [hit] = hits
    assert hit.trace_id == DOCS_TRACE_ID
    assert hit.root_service_name == "my.service"
    assert hit.root_trace_name == "I am a span!"
    assert hit.start_ns == 1694718625557000000
    assert hit.duration_ms == 10000
    assert maybe_more is False


def test_search_pads_stripped_trace_ids() -> None:
    body = search_body({"traceID": "8efff798038103d269b633813fc703"})
    client, _ = tempo([json_response(body)])

    hits, _ = client.search("{}", start=START, end=START + timedelta(hours=1), limit=20)

    assert [hit.trace_id for hit in hits] == [TRACE_ID_HEX]


def test_search_partial_hit_fields_optional() -> None:
    body = search_body(
        {
            "traceID": "abc",
            "rootServiceName": "<root span not yet received>",
            "startTimeUnixNano": "1772359200000000000",
        }
    )
    client, _ = tempo([json_response(body)])

    [hit], _ = client.search(
        "{}", start=START, end=START + timedelta(hours=1), limit=20
    )

    assert hit.trace_id == "00000000000000000000000000000abc"
    assert hit.root_service_name is None
    assert hit.root_trace_name is None
    assert hit.duration_ms is None
    assert hit.start_ns == 1772359200000000000


def test_search_full_page_sets_maybe_more() -> None:
    body = search_body({"traceID": "a1"}, {"traceID": "a2"})
    client, _ = tempo([json_response(body)])

    hits, maybe_more = client.search(
        "{}", start=START, end=START + timedelta(hours=1), limit=2
    )

    assert len(hits) == 2
    assert maybe_more is True


def test_search_empty_result() -> None:
    client, _ = tempo([json_response({"metrics": {}})])

    hits, maybe_more = client.search(
        "{}", start=START, end=START + timedelta(hours=1), limit=20
    )

    assert hits == []
    assert maybe_more is False


def test_search_over_10_days_split_within_168h() -> None:
    start = START + timedelta(milliseconds=300)
    end = start + timedelta(days=10, milliseconds=400)
    pieces = [json_response(search_body({"traceID": f"{i + 1:x}"})) for i in range(2)]
    client, harness = tempo(pieces)

    hits, maybe_more = client.search("{}", start=start, end=end, limit=20)

    bounds = [
        (int(request.url.params["start"]), int(request.url.params["end"]))
        for request in harness.requests
    ]
    assert len(bounds) == 2
    for piece_start, piece_end in bounds:
        assert 0 < piece_end - piece_start <= 168 * 3600
    # Newest piece first; together they cover the window rounded outwards.
    assert bounds[0][1] == int(end.timestamp()) + 1
    assert bounds[-1][0] == int(start.timestamp())
    assert bounds[1][1] >= bounds[0][0]
    assert len(hits) == 2
    assert maybe_more is False


def test_search_full_piece_sets_maybe_more() -> None:
    end = START + timedelta(days=10)
    pieces = [
        json_response(search_body({"traceID": "a1"})),
        json_response(search_body()),
    ]
    client, _ = tempo(pieces)

    _, maybe_more = client.search("{}", start=START, end=end, limit=1)

    assert maybe_more is True


def test_search_hit_in_two_pieces_once() -> None:
    end = START + timedelta(days=10)
    same = {"traceID": "a1", "rootServiceName": "api"}
    client, _ = tempo(
        [json_response(search_body(same)), json_response(search_body(same))]
    )

    hits, _ = client.search("{}", start=START, end=end, limit=20)

    assert [hit.trace_id for hit in hits] == ["000000000000000000000000000000a1"]


def test_search_error_message_from_tempo() -> None:
    body = "invalid TraceQL query: parse error at line 1, col 3: syntax error"
    client, harness = tempo([text_response(body, 400)])

    with pytest.raises(BackendHTTPError) as caught:
        client.search("{ .", start=START, end=START + timedelta(hours=1), limit=20)

    assert body in str(caught.value)
    assert "Tempo returned HTTP 400" in str(caught.value)
    assert len(harness.requests) == 1


def test_search_invalid_trace_id_rejected() -> None:
    client, _ = tempo([json_response(search_body({"traceID": "xyz"}))])

    with pytest.raises(BackendResponseError):
        client.search("{}", start=START, end=START + timedelta(hours=1), limit=20)


def test_fixture_unchanged_by_client() -> None:
    body = load_fixture("tempo_trace_v2_docs_example.json")
    original = copy.deepcopy(body)
    client, _ = tempo([json_response(body)], api="v2")

    client.trace(DOCS_TRACE_ID)

    assert body == original
