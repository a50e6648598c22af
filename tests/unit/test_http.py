"""Tests for slocli.backends.http: auth, tenant, retries and error messages."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from slocli.backends.http import (
    MAX_RETRY_AFTER_SECONDS,
    parse_retry_after,
    redact_headers,
    redact_text,
    redact_url,
)
from slocli.errors import (
    BackendHTTPError,
    BackendResponseError,
    BackendUnreachable,
)
from tests.unit.backend_fakes import (
    NOW,
    Harness,
    json_response,
    make_http,
    replies,
    text_response,
)

OK = json_response({"status": "success"})


def basic(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


# --- the request that is sent ---


def test_get_sends_path_params_and_tenant() -> None:
    harness = make_http(replies([OK]), url="http://loki.test", tenant="team-a")

    response = harness.http.get("/loki/api/v1/labels", {"start": "1", "end": "2"})

    assert response.status_code == 200
    request = harness.requests[0]
    assert request.method == "GET"
    assert str(request.url) == "http://loki.test/loki/api/v1/labels?start=1&end=2"
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.headers["Accept"] == "application/json"
    assert "Authorization" not in request.headers


def test_no_tenant_header_without_tenant() -> None:
    harness = make_http(replies([OK]))

    harness.http.get("/x")

    assert "X-Scope-OrgID" not in harness.requests[0].headers


def test_multi_tenant_header_sent_verbatim() -> None:
    harness = make_http(replies([OK]), tenant="team-a|team-b")

    harness.http.get("/x")

    assert harness.requests[0].headers["X-Scope-OrgID"] == "team-a|team-b"


def test_basic_auth_from_settings() -> None:
    harness = make_http(replies([OK]), username="alice", password="pw-456")

    harness.http.get("/x")

    assert harness.requests[0].headers["Authorization"] == basic("alice", "pw-456")


def test_bearer_token_from_settings() -> None:
    harness = make_http(replies([OK]), bearer_token="tok-123")

    harness.http.get("/x")

    assert harness.requests[0].headers["Authorization"] == "Bearer tok-123"


def test_url_credentials_become_basic_auth() -> None:
    harness = make_http(replies([OK]), url="http://user:secret@loki.test:3100")

    harness.http.get("/loki/api/v1/labels")

    request = harness.requests[0]
    assert request.headers["Authorization"] == basic("user", "secret")
    assert str(request.url) == "http://loki.test:3100/loki/api/v1/labels"
    assert harness.http.base_url == "http://loki.test:3100"


def test_url_credentials_percent_decoded() -> None:
    # A URL must percent-encode "@" and ":" in user info, and the server
    # expects the decoded values in the Authorization header.
    harness = make_http(replies([OK]), url="http://us%40er:p%40ss%3Aw@loki.test")

    harness.http.get("/x")

    assert harness.requests[0].headers["Authorization"] == basic("us@er", "p@ss:w")


def test_base_url_path_prefix_kept() -> None:
    harness = make_http(replies([OK]), url="http://gateway.test/loki")

    harness.http.get("/loki/api/v1/labels")

    assert harness.paths() == ["/loki/loki/api/v1/labels"]


def test_get_json_returns_parsed_body() -> None:
    harness = make_http(replies([json_response({"data": [1, 2]})]))

    assert harness.http.get_json("/x") == {"data": [1, 2]}


def test_get_json_rejects_body_not_json() -> None:
    page = httpx.Response(
        200, headers={"content-type": "text/html"}, content=b"<html>Sign in</html>"
    )
    harness = make_http(replies([page]), url="http://user:secret@loki.test")

    with pytest.raises(BackendResponseError) as caught:
        harness.http.get_json("/loki/api/v1/query_range")

    message = str(caught.value)
    assert "Loki returned a body that is not JSON" in message
    assert "http://loki.test/loki/api/v1/query_range" in message
    assert "secret" not in message


# --- retries ---


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_status_retried(status: int) -> None:
    harness = make_http(replies([text_response("busy", status), OK]))

    response = harness.http.get("/x")

    assert response.status_code == 200
    assert len(harness.requests) == 2
    assert len(harness.sleeps) == 1
    assert 0 <= harness.sleeps[0] <= 0.5


def test_connect_error_retried() -> None:
    harness = make_http(replies([connect_error(), connect_error(), OK]))

    response = harness.http.get("/x")

    assert response.status_code == 200
    assert len(harness.requests) == 3
    assert len(harness.sleeps) == 2


def test_connect_error_gives_up_after_bound() -> None:
    harness = make_http(replies([connect_error()] * 4), url="http://loki.test")

    with pytest.raises(BackendUnreachable) as caught:
        harness.http.get("/loki/api/v1/query_range")

    message = str(caught.value)
    assert len(harness.requests) == 4
    assert len(harness.sleeps) == 3
    assert message.startswith("Loki request failed after 4 attempts")
    assert "ConnectError" in message
    assert "http://loki.test/loki/api/v1/query_range" in message
    assert caught.value.backend == "Loki"


def test_timeout_gives_up_after_bound() -> None:
    harness = make_http(
        replies([httpx.ReadTimeout("timed out")] * 2), retries=1, timeout="5s"
    )

    with pytest.raises(BackendUnreachable) as caught:
        harness.http.get("/x")

    assert len(harness.requests) == 2
    assert "timed out after 5s" in str(caught.value)


def test_transient_status_gives_up_after_bound() -> None:
    busy = [text_response("too many outstanding requests", 429)] * 4
    harness = make_http(replies(busy), url="http://loki.test")

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/loki/api/v1/query_range")

    message = str(caught.value)
    assert len(harness.requests) == 4
    assert len(harness.sleeps) == 3
    assert caught.value.status == 429
    assert "too many outstanding requests" in message
    assert "gave up after 4 attempts" in message


def test_retries_setting_sets_bound() -> None:
    harness = make_http(replies([text_response("down", 503)] * 2), retries=1)

    with pytest.raises(BackendHTTPError):
        harness.http.get("/x")

    assert len(harness.requests) == 2
    assert len(harness.sleeps) == 1


def test_zero_retries_sends_once() -> None:
    harness = make_http(replies([text_response("down", 503)]), retries=0)

    with pytest.raises(BackendHTTPError):
        harness.http.get("/x")

    assert len(harness.requests) == 1
    assert harness.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500])
def test_other_errors_not_retried(status: int) -> None:
    harness = make_http(replies([text_response("failed", status)]))

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/x")

    assert caught.value.status == status
    assert len(harness.requests) == 1
    assert harness.sleeps == []


def run_until_failure(seed: int) -> Harness:
    harness = make_http(replies([text_response("down", 503)] * 4), seed=seed)
    with pytest.raises(BackendHTTPError):
        harness.http.get("/x")
    return harness


def test_backoff_jitter_within_doubling_ceilings() -> None:
    harness = run_until_failure(seed=7)

    assert len(harness.sleeps) == 3
    for delay, ceiling in zip(harness.sleeps, [0.5, 1.0, 2.0], strict=True):
        assert 0 <= delay <= ceiling


def test_backoff_jitter_follows_seed() -> None:
    first = run_until_failure(seed=7).sleeps
    again = run_until_failure(seed=7).sleeps
    other = run_until_failure(seed=8).sleeps

    assert first == again
    assert first != other


def test_retry_after_seconds_honoured() -> None:
    busy = text_response("busy", 429, headers={"Retry-After": "7"})
    harness = make_http(replies([busy, OK]))

    harness.http.get("/x")

    assert harness.sleeps == [7.0]


def test_retry_after_http_date_honoured() -> None:
    when = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    busy = text_response("busy", 503, headers={"Retry-After": when})
    harness = make_http(replies([busy, OK]))

    harness.http.get("/x")

    assert harness.sleeps == [12.0]


def test_retry_after_in_past_uses_backoff() -> None:
    when = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    busy = text_response("busy", 503, headers={"Retry-After": when})
    harness = make_http(replies([busy, OK]))

    harness.http.get("/x")

    assert len(harness.sleeps) == 1
    assert 0 <= harness.sleeps[0] <= 0.5


def test_retry_after_invalid_uses_backoff() -> None:
    busy = text_response("busy", 429, headers={"Retry-After": "soon"})
    harness = make_http(replies([busy, OK]))

    harness.http.get("/x")

    assert len(harness.sleeps) == 1
    assert 0 <= harness.sleeps[0] <= 0.5


def test_retry_after_at_cap_waited() -> None:
    wait = f"{MAX_RETRY_AFTER_SECONDS:g}"
    busy = text_response("busy", 429, headers={"Retry-After": wait})
    harness = make_http(replies([busy, OK]))

    harness.http.get("/x")

    assert harness.sleeps == [MAX_RETRY_AFTER_SECONDS]


@pytest.mark.parametrize(
    "retry_after",
    ["3600", format_datetime(NOW + timedelta(hours=1), usegmt=True)],
    ids=["seconds", "http-date"],
)
def test_retry_after_above_cap_fails_at_once(retry_after: str) -> None:
    busy = text_response(
        "too many outstanding requests", 429, headers={"Retry-After": retry_after}
    )
    harness = make_http(replies([busy]), url="http://loki.test")

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/loki/api/v1/query_range")

    message = str(caught.value)
    assert len(harness.requests) == 1
    assert harness.sleeps == []
    assert caught.value.status == 429
    assert "asked to wait 3600s" in message
    assert "too many outstanding requests" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Sun, 01 Mar 2026 10:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 09:59:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


# --- error messages ---


def test_loki_plain_text_error_in_message() -> None:
    body = "parse error at line 1, col 5: syntax error: unexpected IDENTIFIER"
    harness = make_http(replies([text_response(body, 400)]), url="http://loki.test")

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/loki/api/v1/query_range", {"query": "{app"})

    message = str(caught.value)
    assert message.startswith("Loki returned HTTP 400 Bad Request (")
    assert body in message
    assert "for GET http://loki.test/loki/api/v1/query_range" in message
    assert caught.value.server_message == body
    assert caught.value.backend == "Loki"
    assert caught.value.url == "http://loki.test/loki/api/v1/query_range"


def test_prometheus_json_error_in_message() -> None:
    body = {
        "status": "error",
        "errorType": "bad_data",
        "error": 'invalid parameter "query": 1:5: parse error: unclosed left brace',
    }
    harness = make_http(
        replies([json_response(body, 400)]),
        name="Prometheus",
        url="http://prometheus.test",
    )

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/api/v1/query", {"query": "up{"})

    message = str(caught.value)
    expected = (
        'bad_data: invalid parameter "query": 1:5: parse error: unclosed left brace'
    )
    assert message.startswith("Prometheus returned HTTP 400 Bad Request (")
    assert expected in message
    assert caught.value.server_message == expected


def test_empty_error_body_named() -> None:
    harness = make_http(replies([text_response("", 500)]))

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/x")

    assert "(empty body)" in str(caught.value)
    assert "the Loki server failed" in str(caught.value)


@pytest.mark.parametrize(
    ("backend", "variable"), [("Loki", "LOKI_ORG_ID"), ("Tempo", "TEMPO_ORG_ID")]
)
def test_missing_tenant_hint_names_org_id(backend: str, variable: str) -> None:
    # dskit's middleware writes this error with http.Error, which appends a
    # newline.
    harness = make_http(replies([text_response("no org id\n", 401)]), name=backend)

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/x")

    message = str(caught.value)
    assert "no org id" in message
    assert f"the server requires a tenant; set {variable}" in message
    assert "PASSWORD" not in message


def test_unauthorized_hint_names_credentials() -> None:
    harness = make_http(replies([text_response("invalid credentials", 401)]))

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/x")

    message = str(caught.value)
    assert "LOKI_USERNAME and LOKI_PASSWORD" in message
    assert "ORG_ID" not in message


def test_long_error_body_shortened() -> None:
    harness = make_http(replies([text_response("x" * 5000, 400)]))

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/x")

    assert caught.value.server_message == "x" * 300 + "…"


def test_error_body_made_one_line() -> None:
    body = "line one\n\tline two \x1b[31mred\x1b[0m"
    harness = make_http(replies([text_response(body, 400)]))

    with pytest.raises(BackendHTTPError) as caught:
        harness.http.get("/x")

    assert caught.value.server_message == "line one line two \\x1b[31mred\\x1b[0m"
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "answers",
    [
        [text_response("bad query", 400)],
        [text_response("down", 503)] * 4,
        [connect_error()] * 4,
        [httpx.ReadTimeout("timed out")] * 4,
        [httpx.Response(200, content=b"not json")],
    ],
    ids=["400", "503-exhausted", "connect-error", "timeout", "not-json"],
)
def test_url_credentials_never_in_messages(
    answers: list[httpx.Response | Exception], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="slocli")
    harness = make_http(replies(answers), url="http://user:secret@loki.test:3100")

    with pytest.raises(
        (BackendHTTPError, BackendUnreachable, BackendResponseError)
    ) as caught:
        harness.http.get_json("/loki/api/v1/query_range", {"query": '{app="a"}'})

    message = str(caught.value)
    assert "loki.test:3100/loki/api/v1/query_range" in message
    assert "secret" not in message
    assert "user" not in message
    assert "secret" not in caught.value.url
    assert "secret" not in caplog.text


# --- redaction helpers ---


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://loki.test:3100", "http://loki.test:3100"),
        ("http://user:secret@loki.test:3100/x?a=1", "http://loki.test:3100/x?a=1"),
        ("https://user@loki.test/prefix", "https://loki.test/prefix"),
        ("http://user:secret@[::1]:3100/x", "http://[::1]:3100/x"),
        ("http://user:secret@[::1]/x", "http://[::1]/x"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "slo misses --loki-addr http://user:secret@loki.test/x --since 1h",
            "slo misses --loki-addr http://loki.test/x --since 1h",
        ),
        (
            "a https://u:p@one.test and http://v:q@two.test:80",
            "a https://one.test and http://two.test:80",
        ),
        # With an unencoded "@" in the password, user info runs to the last
        # "@" of the authority, as urllib and httpx parse it.
        ("http://user:p@ss@loki.test/x", "http://loki.test/x"),
        ("mail admin@example.com", "mail admin@example.com"),
        ("http://loki.test/x?owner=a@b", "http://loki.test/x?owner=a@b"),
        ("http://loki.test?owner=a@b", "http://loki.test?owner=a@b"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_headers_hides_secrets() -> None:
    headers = {
        "Authorization": "Bearer tok-123",
        "Cookie": "session=1",
        "X-Scope-OrgID": "team-a",
    }

    assert redact_headers(headers) == {
        "Authorization": "[redacted]",
        "Cookie": "[redacted]",
        "X-Scope-OrgID": "team-a",
    }
