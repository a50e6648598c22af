"""Tests for slocli.backends.prometheus against Prometheus' own response examples."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from slocli.backends.prometheus import PrometheusClient, finite_or_none
from slocli.errors import BackendHTTPError, BackendResponseError
from tests.unit.backend_fakes import (
    Harness,
    json_response,
    load_fixture,
    make_http,
    replies,
)

AT = datetime(2015, 7, 1, 20, 10, 51, 781000, tzinfo=UTC)


def client_for(body: Any, status: int = 200) -> tuple[PrometheusClient, Harness]:
    harness = make_http(
        replies([json_response(body, status)]),
        name="Prometheus",
        url="http://prometheus.test",
        tenant="team-a",
    )
    return PrometheusClient(harness.http), harness


def scalar_response(fixture: str) -> dict[str, Any]:
    # Prometheus' codec tests encode the bare scalar as "data", but the query
    # API wraps every result in {"resultType", "result"}.
    body = load_fixture(fixture)
    return {
        "status": body["status"],
        "data": {"resultType": "scalar", "result": body["data"]},
    }


def vector_of(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"i": str(index)}, "value": [1700000000, value]}
                for index, value in enumerate(values)
            ],
        },
    }


def test_query_sends_expr_and_time() -> None:
    client, harness = client_for(load_fixture("prom_docs_query_vector.json"))

    client.query("up", AT)

    request = harness.requests[0]
    assert request.url.path == "/api/v1/query"
    assert harness.params() == {"query": "up", "time": "1435781451.781"}
    assert request.headers["X-Scope-OrgID"] == "team-a"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (AT, "1435781451.781"),
        (AT.replace(microsecond=0), "1435781451.000"),
        (AT.replace(microsecond=781499), "1435781451.781"),
        (AT.replace(microsecond=999), "1435781451.001"),
        (AT.astimezone(timezone(timedelta(hours=-5))), "1435781451.781"),
    ],
    ids=["ms", "whole-second", "sub-ms-rounded", "one-ms", "other-offset"],
)
def test_time_sent_as_seconds_with_ms(at: datetime, expected: str) -> None:
    client, harness = client_for(load_fixture("prom_docs_query_vector.json"))

    client.query("up", at)

    assert harness.params()["time"] == expected


def test_vector_from_docs_example() -> None:
    client, _ = client_for(load_fixture("prom_docs_query_vector.json"))

    result = client.query("up", AT)

    assert [sample.labels for sample in result.samples] == [
        {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
        {"__name__": "up", "job": "node", "instance": "localhost:9100"},
    ]
    assert [sample.value for sample in result.samples] == [1.0, 0.0]
    assert [sample.time for sample in result.samples] == [1435781451.781] * 2
    assert result.warnings == []


def test_vector_from_codec_test() -> None:
    client, _ = client_for(load_fixture("prom_codec_vector.json"))

    result = client.query("foo or bar", AT)

    assert [(s.labels["__name__"], s.time, s.value) for s in result.samples] == [
        ("foo", 1.0, 1.0),
        ("bar", 2.0, 2.0),
    ]


def test_vector_special_values() -> None:
    client, _ = client_for(vector_of("NaN", "+Inf", "-Inf", "1e-07"))

    values = [sample.value for sample in client.query("x", AT).samples]

    assert math.isnan(values[0])
    assert values[1] == math.inf
    assert values[2] == -math.inf
    assert values[3] == 1e-07


def test_empty_vector_is_empty() -> None:
    client, _ = client_for(vector_of())

    assert client.query("x", AT).samples == []


def test_scalar_nan() -> None:
    client, _ = client_for(scalar_response("prom_codec_scalar_nan.json"))

    samples = client.query("0/0", AT).samples

    assert len(samples) == 1
    assert samples[0].labels == {}
    assert samples[0].time == 0.0
    assert math.isnan(samples[0].value)


def test_scalar_positive_infinity() -> None:
    client, _ = client_for(scalar_response("prom_codec_scalar_pinf.json"))

    samples = client.query("1/0", AT).samples

    assert samples[0].value == math.inf


def test_scalar_ms_timestamp() -> None:
    client, _ = client_for(scalar_response("prom_codec_scalar_ms_timestamp.json"))

    samples = client.query("20", AT).samples

    assert samples[0].time == 0.01
    assert samples[0].value == 20.0


def test_warnings_and_infos_kept() -> None:
    body = load_fixture("prom_docs_query_vector.json")
    body["warnings"] = ["results truncated due to limit"]
    body["infos"] = [
        "PromQL info: metric might not be a counter, name does not end in "
        '_total/_sum/_count/_bucket: "foo" (1:6)'
    ]
    client, _ = client_for(body)

    result = client.query("rate(foo[5m])", AT)

    assert result.warnings == body["warnings"] + body["infos"]


def test_error_envelope_in_message() -> None:
    # Prometheus sends errorType not_acceptable with HTTP 406.
    client, harness = client_for(load_fixture("prom_error_not_acceptable.json"), 406)

    with pytest.raises(BackendHTTPError) as caught:
        client.query("up", AT)

    expected = "not_acceptable: cannot encode response as application/default-format"
    assert caught.value.status == 406
    assert caught.value.server_message == expected
    assert expected in str(caught.value)
    assert "http://prometheus.test/api/v1/query" in str(caught.value)
    assert len(harness.requests) == 1


def test_error_status_in_success_response() -> None:
    client, _ = client_for(load_fixture("prom_error_not_acceptable.json"))

    with pytest.raises(BackendResponseError) as caught:
        client.query("up", AT)

    assert "the status is not success" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        load_fixture("prom_docs_query_range_matrix.json"),
        {"status": "success"},
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"value": [1]}]},
        },
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"value": [1, 2]}]},
        },
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"value": [1, "x"]}]},
        },
        {"status": "success", "data": {"resultType": "scalar", "result": []}},
    ],
    ids=[
        "matrix",
        "no-data",
        "short-value",
        "number-value",
        "text-value",
        "empty-scalar",
    ],
)
def test_invalid_instant_result_rejected(body: dict[str, Any]) -> None:
    client, _ = client_for(body)

    with pytest.raises(BackendResponseError) as caught:
        client.query("up", AT)

    assert str(caught.value).startswith("Prometheus returned an invalid response (")


def test_query_range_sends_window_and_step() -> None:
    client, harness = client_for(load_fixture("prom_docs_query_range_matrix.json"))

    client.query_range("up", AT, AT + timedelta(seconds=30), 15)

    assert harness.requests[0].url.path == "/api/v1/query_range"
    assert harness.params() == {
        "query": "up",
        "start": "1435781451.781",
        "end": "1435781481.781",
        "step": "15",
    }


@pytest.mark.parametrize(
    ("step", "expected"),
    [(15, "15"), (0.5, "0.5"), (86400, "86400"), (1234567, "1234567")],
)
def test_query_range_step_exact(step: float, expected: str) -> None:
    client, harness = client_for(load_fixture("prom_docs_query_range_matrix.json"))

    client.query_range("up", AT, AT + timedelta(days=30), step)

    assert harness.params()["step"] == expected


def test_matrix_from_docs_example() -> None:
    client, _ = client_for(load_fixture("prom_docs_query_range_matrix.json"))

    series, warnings = client.query_range("up", AT, AT + timedelta(seconds=30), 15)

    assert [s.labels["job"] for s in series] == ["prometheus", "node"]
    assert series[0].points == [
        (1435781430.781, 1.0),
        (1435781445.781, 1.0),
        (1435781460.781, 1.0),
    ]
    assert [value for _, value in series[1].points] == [0.0, 0.0, 1.0]
    assert warnings == []


def test_query_range_rejects_vector() -> None:
    client, _ = client_for(load_fixture("prom_docs_query_vector.json"))

    with pytest.raises(BackendResponseError) as caught:
        client.query_range("up", AT, AT + timedelta(seconds=30), 15)

    assert "unexpected resultType 'vector'" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.5, 1.5), (0.0, 0.0), (math.nan, None), (math.inf, None), (-math.inf, None)],
)
def test_finite_or_none(value: float, expected: float | None) -> None:
    assert finite_or_none(value) == expected
