"""Tests for slocli.backends.bundle: recording, saving and replaying exchanges."""

from __future__ import annotations

import base64
import gzip
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from slocli.backends.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    Bundle,
    RecordingTransport,
    ReplayTransport,
    load_bundle,
)
from slocli.backends.http import BackendHTTP
from slocli.config import BackendConfig
from slocli.errors import BackendHTTPError, ReplayMissError, UsageError
from tests.unit.backend_fakes import NOW, Handler, json_response, replies, text_response

LOKI_PAGE = {
    "status": "success",
    "data": {
        "resultType": "streams",
        "result": [{"stream": {"app": "a"}, "values": [["1", "é line"]]}],
    },
}


class Run:
    """The BackendHTTP clients of one recording or replaying run."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def http(
        self, name: str, transport: httpx.BaseTransport, **settings: Any
    ) -> BackendHTTP:
        settings.setdefault("url", "http://backend.test")
        return BackendHTTP(
            name,
            BackendConfig(**settings),
            transport=transport,
            sleep=self.sleeps.append,
            rng=random.Random(7),
            clock=lambda: NOW,
        )


def recorder(name: str, bundle: Bundle, handler: Handler) -> RecordingTransport:
    return RecordingTransport(name, bundle, httpx.MockTransport(handler))


def saved(bundle: Bundle, tmp_path: Path) -> Path:
    path = tmp_path / "run.json"
    bundle.save(path)
    return path


def test_record_then_replay_same_answers(tmp_path: Path) -> None:
    tempo_trace = {"batches": []}
    bundle = Bundle(recorded_at=NOW)
    recording = Run()
    loki = recording.http(
        "Loki", recorder("Loki", bundle, replies([json_response(LOKI_PAGE)]))
    )
    tempo = recording.http(
        "Tempo",
        recorder(
            "Tempo",
            bundle,
            replies([text_response("", 404), json_response(tempo_trace)]),
        ),
    )
    params = {"query": '{app="a"}', "start": "1", "end": "2", "limit": "3"}
    assert loki.get_json("/loki/api/v1/query_range", params) == LOKI_PAGE
    with pytest.raises(BackendHTTPError):
        tempo.get("/api/v2/traces/0af7651916cd43dd8448eb211c80319c")
    assert tempo.get_json("/api/traces/0af7651916cd43dd8448eb211c80319c") == (
        tempo_trace
    )
    path = saved(bundle, tmp_path)

    loaded = load_bundle(path)
    replaying = Run()
    loki = replaying.http("Loki", ReplayTransport("Loki", loaded, str(path)))
    tempo = replaying.http("Tempo", ReplayTransport("Tempo", loaded, str(path)))

    assert loaded.recorded_at == NOW
    assert loki.get_json("/loki/api/v1/query_range", params) == LOKI_PAGE
    with pytest.raises(BackendHTTPError) as caught:
        tempo.get("/api/v2/traces/0af7651916cd43dd8448eb211c80319c")
    assert caught.value.status == 404
    assert tempo.get_json("/api/traces/0af7651916cd43dd8448eb211c80319c") == (
        tempo_trace
    )


def test_saved_document_shape(tmp_path: Path) -> None:
    bundle = Bundle(recorded_at=NOW, meta={"key": "k-1"})
    http = Run().http(
        "Loki", recorder("Loki", bundle, replies([json_response(LOKI_PAGE)]))
    )
    http.get("/loki/api/v1/query_range", {"query": '{app="a"}', "limit": "3"})
    bundle.commands.append(["misses", "--since", "1h"])

    path = saved(bundle, tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))

    assert document["format"] == BUNDLE_FORMAT
    assert document["version"] == BUNDLE_VERSION
    assert document["recorded_at"] == "2026-03-01T10:00:00Z"
    assert document["commands"] == [["misses", "--since", "1h"]]
    assert document["meta"] == {"key": "k-1"}
    assert document["exchanges"] == [
        {
            "backend": "Loki",
            "method": "GET",
            "path": "/loki/api/v1/query_range",
            "params": [["query", '{app="a"}'], ["limit", "3"]],
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(LOKI_PAGE),
        }
    ]
    assert not path.with_name("run.json.tmp").exists()


def test_no_credentials_in_saved_bundle(tmp_path: Path) -> None:
    bundle = Bundle(recorded_at=NOW)
    run = Run()
    clients = [
        run.http(
            "Loki",
            recorder("Loki", bundle, replies([json_response(LOKI_PAGE)])),
            url="http://lokiuser:secret-1@loki.test",
            tenant="team-a",
        ),
        run.http(
            "Prometheus",
            recorder("Prometheus", bundle, replies([json_response({})])),
            url="http://prometheus.test",
            username="promuser",
            password="secret-2",
        ),
        run.http(
            "Tempo",
            recorder("Tempo", bundle, replies([json_response({})])),
            url="http://tempo.test",
            bearer_token="secret-3",
        ),
    ]
    for http in clients:
        http.get("/x", {"query": "q"})

    text = saved(bundle, tmp_path).read_text(encoding="utf-8")

    assert len(json.loads(text)["exchanges"]) == 3
    assert "authorization" not in text.lower()
    for secret in ("secret-1", "secret-2", "secret-3", "lokiuser", "promuser"):
        assert secret not in text
    for pair in ("lokiuser:secret-1", "promuser:secret-2"):
        assert base64.b64encode(pair.encode()).decode() not in text


def test_replay_unknown_request_raises(tmp_path: Path) -> None:
    bundle = Bundle(recorded_at=NOW)
    http = Run().http(
        "Loki", recorder("Loki", bundle, replies([json_response(LOKI_PAGE)]))
    )
    http.get("/loki/api/v1/query_range", {"query": '{app="a"}'})
    path = saved(bundle, tmp_path)

    transport = ReplayTransport("Loki", load_bundle(path), str(path))
    replayed = Run().http("Loki", transport)
    with pytest.raises(ReplayMissError) as caught:
        replayed.get("/loki/api/v1/query_range", {"query": '{app="b"}'})

    message = str(caught.value)
    assert message.startswith("Loki request not in the evidence bundle")
    assert "/loki/api/v1/query_range" in message
    assert '{app="b"}' in message
    assert str(path) in message
    assert "rerun that command with --replay" in message
    assert "record a new bundle" in message
    assert caught.value.backend == "Loki"


def test_replay_serves_only_its_backend(tmp_path: Path) -> None:
    bundle = Bundle(recorded_at=NOW)
    http = Run().http("Loki", recorder("Loki", bundle, replies([json_response({})])))
    http.get("/x")

    replayed = Run().http("Tempo", ReplayTransport("Tempo", bundle, "run.json"))
    with pytest.raises(ReplayMissError):
        replayed.get("/x")


def test_replay_ignores_param_order() -> None:
    bundle = Bundle(recorded_at=NOW)
    http = Run().http("Loki", recorder("Loki", bundle, replies([json_response({})])))
    http.get("/x", {"a": "1", "b": "2"})

    replayed = Run().http("Loki", ReplayTransport("Loki", bundle, "run.json"))

    assert replayed.get_json("/x", {"b": "2", "a": "1"}) == {}


def test_replay_repeats_last_answer() -> None:
    bundle = Bundle(recorded_at=NOW)
    http = Run().http(
        "Loki", recorder("Loki", bundle, replies([json_response({"n": 1})]))
    )
    http.get("/x")

    replayed = Run().http("Loki", ReplayTransport("Loki", bundle, "run.json"))

    assert replayed.get_json("/x") == {"n": 1}
    assert replayed.get_json("/x") == {"n": 1}


def test_recorded_retry_replays_as_retry(tmp_path: Path) -> None:
    bundle = Bundle(recorded_at=NOW)
    answers = [
        text_response("too many outstanding requests", 429, {"Retry-After": "3"}),
        json_response(LOKI_PAGE),
    ]
    recording = Run()
    http = recording.http("Loki", recorder("Loki", bundle, replies(answers)))
    assert http.get_json("/loki/api/v1/query_range") == LOKI_PAGE
    assert recording.sleeps == [3.0]
    path = saved(bundle, tmp_path)

    loaded = load_bundle(path)
    replaying = Run()
    replayed = replaying.http("Loki", ReplayTransport("Loki", loaded, str(path)))

    assert [exchange["status"] for exchange in loaded.exchanges] == [429, 200]
    assert loaded.exchanges[0]["headers"]["retry-after"] == "3"
    assert replayed.get_json("/loki/api/v1/query_range") == LOKI_PAGE
    assert replaying.sleeps == [3.0]


def test_record_gzip_response_decoded(tmp_path: Path) -> None:
    # Prometheus compresses API responses when the request accepts gzip, and
    # httpx requests gzip by default.
    body = json.dumps(LOKI_PAGE).encode("utf-8")
    compressed = httpx.Response(
        200,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        content=gzip.compress(body),
    )
    bundle = Bundle(recorded_at=NOW)
    http = Run().http(
        "Prometheus", recorder("Prometheus", bundle, replies([compressed]))
    )

    assert http.get_json("/api/v1/query") == LOKI_PAGE
    assert bundle.exchanges[0]["body"] == body.decode("utf-8")
    assert "content-encoding" not in bundle.exchanges[0]["headers"]
    path = saved(bundle, tmp_path)
    replayed = Run().http(
        "Prometheus", ReplayTransport("Prometheus", load_bundle(path), str(path))
    )
    assert replayed.get_json("/api/v1/query") == LOKI_PAGE


def valid_document() -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "recorded_at": "2026-03-01T10:00:00Z",
        "commands": [],
        "meta": {},
        "exchanges": [
            {
                "backend": "Loki",
                "method": "GET",
                "path": "/x",
                "params": [["a", "1"]],
                "status": 200,
                "headers": {},
                "body": "{}",
            }
        ],
    }


def with_changes(**changes: Any) -> str:
    document = valid_document()
    for key, value in changes.items():
        if value is None:
            del document[key]
        else:
            document[key] = value
    return json.dumps(document)


def with_exchange(**changes: Any) -> str:
    document = valid_document()
    exchange = document["exchanges"][0]
    for key, value in changes.items():
        if value is None:
            del exchange[key]
        else:
            exchange[key] = value
    return json.dumps(document)


def test_load_valid_document(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(valid_document()), encoding="utf-8")

    bundle = load_bundle(path)

    assert bundle.recorded_at == NOW
    assert len(bundle.exchanges) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "cannot read evidence bundle"),
        ("\udcff", "cannot read evidence bundle"),
        ("[]", "not an slocli evidence bundle"),
        (json.dumps({"format": "har", "version": 1}), "not an slocli evidence bundle"),
        (with_changes(version=2), "unsupported evidence bundle version 2"),
        (with_changes(recorded_at=None), "invalid evidence bundle"),
        (with_changes(recorded_at="yesterday"), "invalid evidence bundle"),
        (with_changes(recorded_at="2026-03-01T10:00:00"), "invalid evidence bundle"),
        (with_changes(exchanges=None), "invalid evidence bundle"),
        (with_changes(exchanges=5), "invalid evidence bundle"),
        (with_changes(exchanges={"a": 1}), "invalid evidence bundle"),
        (with_changes(exchanges=["x"]), "invalid evidence bundle"),
        (with_changes(meta="x"), "invalid evidence bundle"),
        (with_changes(commands=5), "invalid evidence bundle"),
        (with_exchange(method=None), "invalid evidence bundle"),
        (with_exchange(params=[["a"]]), "invalid evidence bundle"),
        (with_exchange(params="a=1"), "invalid evidence bundle"),
        (with_exchange(status="OK"), "invalid evidence bundle"),
        (with_exchange(body=None), "invalid evidence bundle"),
        (with_exchange(headers=[]), "invalid evidence bundle"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "array",
        "other-format",
        "future-version",
        "no-recorded-at",
        "bad-recorded-at",
        "naive-recorded-at",
        "no-exchanges",
        "exchanges-number",
        "exchanges-object",
        "exchange-string",
        "meta-string",
        "commands-number",
        "exchange-no-method",
        "exchange-short-param",
        "exchange-params-string",
        "exchange-status-text",
        "exchange-no-body",
        "exchange-headers-list",
    ],
)
def test_load_invalid_bundle_names_path(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(content.encode("utf-8", errors="surrogateescape"))

    with pytest.raises(UsageError) as caught:
        load_bundle(path)

    message = str(caught.value)
    assert expected in message
    assert str(path) in message


def test_load_missing_bundle_names_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"

    with pytest.raises(UsageError) as caught:
        load_bundle(path)

    assert str(caught.value) == (
        f"evidence bundle not found, {path}; give the file written by --record"
    )


def test_load_directory_names_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_bundle(tmp_path)

    assert "cannot read evidence bundle" in str(caught.value)
    assert str(tmp_path) in str(caught.value)
