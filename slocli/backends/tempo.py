"""Tempo HTTP API client: trace by id (v1 and v2) and TraceQL search.

Facts this client relies on, from grafana/tempo (``pkg/api/http.go``,
``modules/frontend/combiner``, ``pkg/tempopb``):
- ``/api/traces/<id>`` (v1) returns ``{"batches": [ResourceSpans...]}`` and 404
  with an empty body when the trace is unknown.
- ``/api/v2/traces/<id>`` (Tempo 2.6 and newer) returns
  ``{"trace": {"resourceSpans": [...]}}`` and, for an unknown trace, 200 with an
  empty ``trace`` object.
- Both write ids as base64 (gogo jsonpb encodes proto bytes that way), int64
  values as strings, and enums by name.
- Search results carry hex trace ids with leading zeros stripped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from slocli.backends.http import BackendHTTP
from slocli.core.ids import decode_otlp_id, parse_trace_id
from slocli.errors import BackendHTTPError, BackendResponseError

# Tempo's default max_duration for search (query_frontend.search); a longer
# start..end range is rejected with 400. Pieces stay 2 s shorter so that
# rounding to whole seconds keeps them inside it.
MAX_SEARCH_RANGE = timedelta(hours=168) - timedelta(seconds=2)


class SpanModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service_name: str
    kind: str  # server, client, producer, consumer, internal or unspecified
    start_ns: int
    end_ns: int
    status: str  # ok, error or unset
    status_message: str = ""
    attributes: dict[str, Any] = {}


class TraceModel(BaseModel):
    trace_id: str
    spans: list[SpanModel]
    # The v2 API sets PARTIAL when it returned a subset of the spans.
    partial_reason: str | None = None


class SearchHit(BaseModel):
    trace_id: str
    root_service_name: str | None
    root_trace_name: str | None
    start_ns: int | None
    duration_ms: int | None


def _any_value(value: dict[str, Any]) -> Any:
    """Decode an OTLP AnyValue, as jsonpb writes it, into a Python value."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _any_value(item.get("value") or {}) for item in items}


def _kind(raw: Any) -> str:
    if isinstance(raw, int):  # proto enum number, as some encoders send it
        names = ["unspecified", "internal", "server", "client", "producer", "consumer"]
        return names[raw] if 0 <= raw < len(names) else "unspecified"
    text = str(raw or "SPAN_KIND_UNSPECIFIED")
    return text.removeprefix("SPAN_KIND_").lower()


def _status(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, dict):
        return "unset", ""
    code = raw.get("code", "STATUS_CODE_UNSET")
    if isinstance(code, int):
        name = {0: "unset", 1: "ok", 2: "error"}.get(code, "unset")
    else:
        name = str(code).removeprefix("STATUS_CODE_").lower()
    return name, str(raw.get("message", ""))


def parse_otlp_trace(
    resource_spans: list[dict[str, Any]], trace_id: str
) -> list[SpanModel]:
    """Flatten OTLP ResourceSpans (jsonpb form) into spans with hex ids."""
    spans: list[SpanModel] = []
    for batch in resource_spans:
        resource = _attributes((batch.get("resource") or {}).get("attributes") or [])
        service = str(resource.get("service.name", "unknown"))
        # Tempo before 2.0 wrote instrumentationLibrarySpans.
        scopes = (
            batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []
        )
        for scope in scopes:
            for span in scope.get("spans") or []:
                status, message = _status(span.get("status"))
                parent = decode_otlp_id(span.get("parentSpanId") or "", 8)
                if parent.strip("0") == "":
                    parent = ""  # absent or all zeros: a root span
                spans.append(
                    SpanModel(
                        trace_id=decode_otlp_id(span.get("traceId", ""), 16)
                        if span.get("traceId")
                        else trace_id,
                        span_id=decode_otlp_id(span["spanId"], 8),
                        parent_span_id=parent or None,
                        name=str(span.get("name", "")),
                        service_name=service,
                        kind=_kind(span.get("kind")),
                        start_ns=int(span.get("startTimeUnixNano", 0)),
                        end_ns=int(span.get("endTimeUnixNano", 0)),
                        status=status,
                        status_message=message,
                        attributes=_attributes(span.get("attributes") or []),
                    )
                )
    return spans


class TempoClient:
    def __init__(self, http: BackendHTTP, *, api: str = "auto") -> None:
        self.http = http
        self.api = api

    def _invalid(self, path: str, problem: str) -> BackendResponseError:
        url = f"{self.http.base_url}{path}"
        return BackendResponseError(
            f"Tempo returned an invalid response ({problem}), for GET {url}; "
            "check that the URL points at Tempo's HTTP API",
            backend="Tempo",
            url=url,
        )

    def trace(
        self,
        trace_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> TraceModel | None:
        """Fetch one trace by id; returns None when Tempo does not have it."""
        trace_id = parse_trace_id(trace_id)
        params: dict[str, str] = {}
        if start is not None and end is not None:
            # Whole seconds, rounded outwards.
            params = {
                "start": str(math.floor(start.timestamp())),
                "end": str(math.ceil(end.timestamp()) + 1),
            }
        if self.api in ("auto", "v2"):
            try:
                return self._trace_v2(trace_id, params)
            except BackendHTTPError as exc:
                # Tempo before 2.6 has no v2 route and returns 404. v2 itself
                # returns 200 for an unknown trace, so 404 means "no such route".
                if self.api == "v2" or exc.status != 404:
                    raise
        return self._trace_v1(trace_id, params)

    def _trace_v2(self, trace_id: str, params: dict[str, str]) -> TraceModel | None:
        path = f"/api/v2/traces/{trace_id}"
        body = self.http.get_json(path, params)
        if not isinstance(body, dict):
            raise self._invalid(path, "the body is not an object")
        trace = body.get("trace") or {}
        resource_spans = trace.get("resourceSpans") or trace.get("batches") or []
        if not resource_spans:
            return None
        try:
            spans = parse_otlp_trace(resource_spans, trace_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._invalid(path, str(exc)) from None
        partial = None
        if body.get("status") == "PARTIAL":
            partial = str(body.get("message") or "Tempo returned a partial trace")
        return TraceModel(trace_id=trace_id, spans=spans, partial_reason=partial)

    def _trace_v1(self, trace_id: str, params: dict[str, str]) -> TraceModel | None:
        path = f"/api/traces/{trace_id}"
        try:
            body = self.http.get_json(path, params)
        except BackendHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(body, dict):
            raise self._invalid(path, "the body is not an object")
        resource_spans = body.get("batches") or body.get("resourceSpans") or []
        if not resource_spans:
            return None
        try:
            spans = parse_otlp_trace(resource_spans, trace_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._invalid(path, str(exc)) from None
        return TraceModel(trace_id=trace_id, spans=spans)

    def search(
        self, traceql: str, *, start: datetime, end: datetime, limit: int
    ) -> tuple[list[SearchHit], bool]:
        """Run a TraceQL search over [start, end].

        Returns the hits, newest piece first, and whether any piece came back
        full, in which case more traces may match than were returned. Windows
        longer than Tempo's default search limit of 168h are split.
        """
        hits: dict[str, SearchHit] = {}
        maybe_more = False
        piece_end = end
        while piece_end > start:
            piece_start = max(start, piece_end - MAX_SEARCH_RANGE)
            found = self._search_piece(traceql, piece_start, piece_end, limit)
            maybe_more = maybe_more or len(found) >= limit
            for hit in found:
                hits.setdefault(hit.trace_id, hit)
            piece_end = piece_start
        return list(hits.values()), maybe_more

    def _search_piece(
        self, traceql: str, start: datetime, end: datetime, limit: int
    ) -> list[SearchHit]:
        path = "/api/search"
        # Tempo reads start and end as whole Unix seconds; round outwards.
        start_s = math.floor(start.timestamp())
        end_s = math.ceil(end.timestamp())
        params = {
            "q": traceql,
            "start": str(start_s),
            "end": str(max(end_s, start_s + 1)),
            "limit": str(limit),
        }
        body = self.http.get_json(path, params)
        if not isinstance(body, dict):
            raise self._invalid(path, "the body is not an object")
        hits: list[SearchHit] = []
        try:
            for item in body.get("traces") or []:
                root = item.get("rootServiceName")
                if root == "<root span not yet received>":
                    root = None
                start_ns = item.get("startTimeUnixNano")
                hits.append(
                    SearchHit(
                        trace_id=parse_trace_id(item["traceID"]),
                        root_service_name=root,
                        root_trace_name=item.get("rootTraceName"),
                        start_ns=int(start_ns) if start_ns is not None else None,
                        duration_ms=item.get("durationMs"),
                    )
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise self._invalid(path, str(exc)) from None
        return hits
