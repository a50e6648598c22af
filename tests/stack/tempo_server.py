"""A Tempo-compatible HTTP server for tests, on 127.0.0.1.

Tempo cannot be installed on the test machines, so the tests run this server. It
serves the parts of Tempo's query API that slocli uses, with Tempo's wire
details:

- trace by ID (v1) in gogo ``jsonpb`` form: base64 ids, ``batches``, and 404
  with an empty body for an unknown trace;
- trace by ID (v2): 200 with an empty trace for an unknown trace;
- search: trace ids without leading zeros, newest first, TraceQL (the subset in
  ``tests.stack.traceql``) or legacy tags;
- Tempo's parameter checks with their plain-text 400 messages, and tenants.

It also simulates failures: injected error responses, and traces whose root
span never arrived. Behaviour follows grafana/tempo's main branch as read in
2026 (``pkg/api/http.go``, ``modules/frontend``, ``modules/frontend/combiner``,
``pkg/traceql``, ``pkg/util/traceid.go``).

Usage::

    with TempoTestServer(spans, tenant="acme") as server:
        httpx.get(server.url + "/api/search", params={"q": "{}"},
                  headers={"X-Scope-OrgID": "acme"})
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Protocol
from urllib.parse import parse_qs, unquote

from tests.stack import traceql
from tests.stack.model import AttributeValue, Span
from tests.stack.traceql import (
    Attribute,
    Intrinsic,
    Static,
    TraceView,
    go_quote,
    parse_go_duration,
)

logger = logging.getLogger(__name__)

ROOT_SPAN_NOT_YET_RECEIVED = "<root span not yet received>"
DEFAULT_SPANS_PER_SPAN_SET = 3
MAX_SPANS_PER_SPAN_SET = 100
TEXT_PLAIN = "text/plain; charset=utf-8"
APPLICATION_JSON = "application/json"
_NANOSECONDS_PER_SECOND = 1_000_000_000
_SEARCH_RESERVED_PARAMETERS = frozenset(
    ("q", "tags", "minDuration", "maxDuration", "limit", "spss", "start", "end")
)
_TAG_SCOPES = frozenset(
    ("", "none", "span", "resource", "intrinsic", "event", "link", "instrumentation")
)


# ---------------------------------------------------------------------------
# Go-compatible number parsing and formatting
# ---------------------------------------------------------------------------


class GoParseError(ValueError):
    """A number that Go's strconv would reject, with Go's message."""


def parse_go_uint(text: str, bits: int) -> int:
    """Parse like Go's ``strconv.ParseUint(text, 10, bits)``."""
    if text == "" or any(not "0" <= char <= "9" for char in text):
        raise GoParseError(
            f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax"
        )
    value = int(text)
    if value >= 1 << bits:
        raise GoParseError(
            f"strconv.ParseUint: parsing {go_quote(text)}: value out of range"
        )
    return value


def parse_go_int64(text: str) -> int:
    """Parse like Go's ``strconv.ParseInt(text, 10, 64)``."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits == "" or any(not "0" <= char <= "9" for char in digits):
        raise GoParseError(
            f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax"
        )
    value = int(text)
    if not -(1 << 63) <= value < 1 << 63:
        raise GoParseError(
            f"strconv.ParseInt: parsing {go_quote(text)}: value out of range"
        )
    return value


def format_go_duration(nanoseconds: int) -> str:
    """Format nanoseconds like Go's ``time.Duration.String`` (``168h0m0s``)."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    size = abs(nanoseconds)
    if size < 1_000:
        return f"{sign}{size}ns"
    if size < 1_000_000:
        return sign + _decimal_fraction(size, 1_000) + "µs"
    if size < _NANOSECONDS_PER_SECOND:
        return sign + _decimal_fraction(size, 1_000_000) + "ms"
    seconds, fraction = divmod(size, _NANOSECONDS_PER_SECOND)
    hours, remainder = divmod(seconds, 3600)
    minutes, whole_seconds = divmod(remainder, 60)
    seconds_text = _decimal_fraction(
        whole_seconds * _NANOSECONDS_PER_SECOND + fraction, _NANOSECONDS_PER_SECOND
    )
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds_text}s"
    if minutes:
        return f"{sign}{minutes}m{seconds_text}s"
    return f"{sign}{seconds_text}s"


def _decimal_fraction(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if fraction == 0:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")


# ---------------------------------------------------------------------------
# JSON encoding as Go's encoding/json (used by gogo jsonpb) writes it
# ---------------------------------------------------------------------------

JSONValue = (
    None | bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"]
)


def encode_go_json(value: JSONValue) -> str:
    """Encode compactly, with Go's string escapes and float format.

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 as ``\\u003c`` and so on,
    writes ``\\b`` and ``\\f`` short (Go 1.22 and later), and formats floats in
    the shortest form without a trailing ``.0``.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, Mapping):
        members = (
            _go_string(key) + ":" + encode_go_json(member)
            for key, member in value.items()
        )
        return "{" + ",".join(members) + "}"
    return "[" + ",".join(encode_go_json(item) for item in value) + "]"


_GO_JSON_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _go_string(text: str) -> str:
    parts = ['"']
    for char in text:
        code = ord(char)
        if char in _GO_JSON_SHORT_ESCAPES:
            parts.append(_GO_JSON_SHORT_ESCAPES[char])
        elif code < 0x20 or char in "<>&" or code in (0x2028, 0x2029):
            parts.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            # A lone surrogate stands for invalid UTF-8, which Go replaces.
            parts.append("\\ufffd")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)


def _go_float(number: float) -> str:
    # jsonpb writes non-finite doubles as strings.
    if math.isnan(number):
        return '"NaN"'
    if math.isinf(number):
        return '"Infinity"' if number > 0 else '"-Infinity"'
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = repr(number).partition("e")
        sign = exponent[0]
        return f"{mantissa}e{sign}{int(exponent[1:])}"
    text = format(Decimal(repr(number)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# ---------------------------------------------------------------------------
# OTLP rendering of stored traces
# ---------------------------------------------------------------------------


def _base64_of_hex(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def any_value(value: AttributeValue) -> dict[str, JSONValue]:
    """Return an OTLP AnyValue as jsonpb writes it (64-bit ints as strings)."""
    return static_any_value(traceql.static_from_attribute(value))


def static_any_value(static: Static) -> dict[str, JSONValue]:
    """Return the AnyValue Tempo writes for a TraceQL static in search results.

    Durations, statuses, kinds and nil become strings (``AsAnyValue`` in
    ``pkg/traceql/engine.go``).
    """
    if static.type == "bool":
        return {"boolValue": bool(static.value)}
    if static.type == "int":
        return {"intValue": str(static.value)}
    if static.type == "float":
        assert isinstance(static.value, float)
        return {"doubleValue": static.value}
    if static.type == "duration":
        assert isinstance(static.value, int)
        return {"stringValue": format_go_duration(static.value)}
    if static.type == "nil":
        return {"stringValue": "nil"}
    return {"stringValue": str(static.value)}


def _key_values(attributes: Mapping[str, AttributeValue]) -> list[JSONValue]:
    return [
        {"key": key, "value": any_value(value)} for key, value in attributes.items()
    ]


def _span_json(span: Span) -> dict[str, JSONValue]:
    # Field order and omissions follow jsonpb on OTLP's Span message: proto
    # declaration order, zero values left out, but the non-nullable status
    # always present (``{}`` when unset). Status writes message before code.
    rendered: dict[str, JSONValue] = {
        "traceId": _base64_of_hex(span.trace_id),
        "spanId": _base64_of_hex(span.span_id),
    }
    if span.parent_span_id:
        rendered["parentSpanId"] = _base64_of_hex(span.parent_span_id)
    if span.name:
        rendered["name"] = span.name
    if span.kind != "SPAN_KIND_UNSPECIFIED":
        rendered["kind"] = span.kind
    if span.start_ns:
        rendered["startTimeUnixNano"] = str(span.start_ns)
    if span.end_ns:
        rendered["endTimeUnixNano"] = str(span.end_ns)
    if span.attributes:
        rendered["attributes"] = _key_values(span.attributes)
    status: dict[str, JSONValue] = {}
    if span.status_message:
        status["message"] = span.status_message
    if span.status_code != "STATUS_CODE_UNSET":
        status["code"] = span.status_code
    rendered["status"] = status
    return rendered


def resource_spans(trace: TraceView) -> list[JSONValue]:
    """Group a trace's spans by resource into OTLP ResourceSpans.

    Spans keep Tempo's sorted order (start time, then span id), and each
    resource appears where its first span does. The model has no
    instrumentation scope, so ``scope`` is empty, as in Tempo's vulture fixture.
    """
    groups: dict[tuple[tuple[str, AttributeValue], ...], list[Span]] = {}
    for span in trace.spans:
        resource = traceql.resource_attributes(span)
        key = tuple(sorted(resource.items(), key=lambda item: item[0]))
        groups.setdefault(key, []).append(span)
    batches: list[JSONValue] = []
    for spans in groups.values():
        resource = traceql.resource_attributes(spans[0])
        batches.append(
            {
                "resource": {"attributes": _key_values(resource)},
                "scopeSpans": [
                    {"scope": {}, "spans": [_span_json(span) for span in spans]}
                ],
            }
        )
    return batches


# ---------------------------------------------------------------------------
# Stored data
# ---------------------------------------------------------------------------


def _normalise_hex(value: str, length: int, description: str) -> str:
    lowered = value.lower()
    if len(lowered) != length or any(
        char not in "0123456789abcdef" for char in lowered
    ):
        raise ValueError(
            f"invalid {description} {value!r}: expected {length} hex characters"
        )
    return lowered


@dataclass(frozen=True)
class _StoredTrace:
    view: TraceView
    v1_body: bytes
    size_bytes: int


class _TraceStore:
    """Traces by 32-character trace id, with dropped roots already removed."""

    def __init__(self, spans: Iterable[Span], drop_root_of: Iterable[str]) -> None:
        dropped = {trace_id.lower().rjust(32, "0") for trace_id in drop_root_of}
        by_trace: dict[str, list[Span]] = {}
        for span in spans:
            trace_id = _normalise_hex(span.trace_id, 32, "trace id")
            _normalise_hex(span.span_id, 16, "span id")
            if span.parent_span_id:
                _normalise_hex(span.parent_span_id, 16, "parent span id")
            if trace_id in dropped and not span.parent_span_id:
                continue
            by_trace.setdefault(trace_id, []).append(span)
        self.traces: dict[str, _StoredTrace] = {}
        for trace_id, trace_spans in by_trace.items():
            view = TraceView.from_spans(trace_id, trace_spans)
            body = encode_go_json({"batches": resource_spans(view)}).encode("utf-8")
            self.traces[trace_id] = _StoredTrace(view, body, len(body))


# ---------------------------------------------------------------------------
# Requests and responses
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    ``path`` is percent-decoded and has no query string; ``headers`` has
    lower-case names.
    """

    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _text(status: int, message: str) -> _Response:
    """Return a plain-text error as Tempo's frontend writes it, without a newline."""
    return _Response(status, message.encode("utf-8"), TEXT_PLAIN)


def _http_error(status: int, message: str) -> _Response:
    """Return a response as Go's ``http.Error`` writes it: a trailing newline."""
    return _Response(
        status,
        (message + "\n").encode("utf-8"),
        TEXT_PLAIN,
        {"X-Content-Type-Options": "nosniff"},
    )


def _json(payload: JSONValue) -> _Response:
    return _Response(200, encode_go_json(payload).encode("utf-8"), APPLICATION_JSON)


class _BadRequest(Exception):
    """A request that Tempo rejects with 400 and this message as the body."""


@dataclass
class _InjectedErrors:
    status: int
    body: str
    remaining: int
    retry_after: int | None


@dataclass(frozen=True)
class _SearchRequest:
    query: traceql.Query | None
    tags: dict[str, str]
    start: int
    end: int
    min_duration_ms: int
    max_duration_ms: int
    limit: int
    spans_per_span_set: int


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


class TempoTestServer:
    """A Tempo query API over a fixed list of spans, served on 127.0.0.1.

    ``tenant``: when set, query requests need ``X-Scope-OrgID`` (401 ``no org
    id`` without it) and see data only when the header names this tenant
    (``a|b`` federates). ``bearer_token`` or ``username``/``password``: require
    those credentials, as an authenticating gateway in front of Tempo would.
    ``drop_root_of``: trace ids whose root span the server pretends it never
    received. The limits default to Tempo's defaults.
    """

    def __init__(
        self,
        spans: Iterable[Span],
        *,
        tenant: str | None = None,
        bearer_token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        max_search_duration_s: int = 168 * 3600,
        default_limit: int = 20,
        max_limit: int = 262144,
        drop_root_of: Iterable[str] = (),
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        self._store = _TraceStore(spans, drop_root_of)
        self.tenant = tenant
        self.bearer_token = bearer_token
        self.username = username
        self.password = password
        self.max_search_duration_s = max_search_duration_s
        self.default_limit = default_limit
        self.max_limit = max_limit
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._injected: list[_InjectedErrors] = []
        self._http_server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> str:
        """Start serving on a free port of 127.0.0.1 and return the base URL."""
        if self._http_server is not None:
            raise RuntimeError("the Tempo test server is already running")
        http_server = _HTTPServer(("127.0.0.1", 0), _RequestHandler)
        http_server.app = self
        self._http_server = http_server
        # A short poll interval keeps stop() fast; shutdown() waits for a poll.
        self._thread = threading.Thread(
            target=http_server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tempo-test-server",
            daemon=True,
        )
        self._thread.start()
        logger.info("Tempo test server started at %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._http_server is None:
            return
        self._http_server.shutdown()
        self._http_server.server_close()
        if self._thread is not None:
            self._thread.join()
        logger.info("Tempo test server at %s stopped", self.url)
        self._http_server = None
        self._thread = None

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:41234``."""
        if self._http_server is None:
            raise RuntimeError("the Tempo test server is not running; call start()")
        host, port = self._http_server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> TempoTestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def inject_errors(
        self,
        status: int,
        body: str = "",
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Fail the next ``count`` requests under ``/api/`` with this error.

        The body is sent as plain text; ``retry_after`` (seconds) adds a
        ``Retry-After`` header. Injections queue up in the order given.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            self._injected.append(_InjectedErrors(status, body, count, retry_after))

    # -- request handling --------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> _Response:
        """Handle one HTTP request; ``target`` is the path with its query string."""
        raw_path, _, raw_query = target.partition("?")
        path = unquote(raw_path)
        params = parse_qs(raw_query, keep_blank_values=True)
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(method, path, params, lowered))
        rejected = self._check_credentials(lowered)
        if rejected is not None:
            return rejected
        if path.startswith("/api/"):
            injected = self._take_injected_error()
            if injected is not None:
                return injected
        try:
            response = self._route(method, path, params, lowered)
        except _BadRequest as exc:
            response = _text(400, str(exc))
        if response.status >= 400:
            logger.info(
                "Tempo test server rejected %s %s with %d: %s",
                method,
                target,
                response.status,
                response.body[:200].decode("utf-8", "replace"),
            )
        return response

    def _check_credentials(self, headers: Mapping[str, str]) -> _Response | None:
        # Tempo has no authentication of its own, so this plays the gateway in
        # front of it (nginx, Grafana Cloud). Real gateways word their 401
        # bodies differently, so clients should rely on the status alone.
        if self.bearer_token is None and self.username is None:
            return None
        authorization = headers.get("authorization", "")
        if self.bearer_token is not None and hmac.compare_digest(
            authorization, f"Bearer {self.bearer_token}"
        ):
            return None
        if self.username is not None:
            pair = f"{self.username}:{self.password}".encode()
            expected = "Basic " + base64.b64encode(pair).decode("ascii")
            if hmac.compare_digest(authorization, expected):
                return None
        response = _http_error(401, "unauthorized")
        if self.username is not None:
            response.headers["WWW-Authenticate"] = 'Basic realm="tempo"'
        return response

    def _take_injected_error(self) -> _Response | None:
        with self._lock:
            if not self._injected:
                return None
            injected = self._injected[0]
            injected.remaining -= 1
            if injected.remaining == 0:
                self._injected.pop(0)
        response = _text(injected.status, injected.body)
        if injected.retry_after is not None:
            response.headers["Retry-After"] = str(injected.retry_after)
        return response

    def _tenant_sees_data(self, headers: Mapping[str, str]) -> bool:
        """Return whether the request's tenant owns the stored traces.

        Raises ``_Unauthorized`` when a tenant is configured and the request
        names none, as Tempo's auth middleware does in multitenant mode.
        """
        if self.tenant is None:
            return True
        org_id = headers.get("x-scope-orgid", "")
        if org_id == "":
            raise _Unauthorized
        return self.tenant in org_id.split("|")

    def _route(
        self,
        method: str,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
    ) -> _Response:
        # Tempo's /ready and /api/echo sit outside the tenant middleware.
        if path == "/ready":
            return _only_get(method) or _http_error(200, "ready")
        if path == "/api/echo":
            return _only_get(method) or _http_error(200, "echo")
        handler = self._query_handler(path)
        if handler is None:
            return _http_error(404, "404 page not found")
        wrong_method = _only_get(method)
        if wrong_method is not None:
            return wrong_method
        try:
            sees_data = self._tenant_sees_data(headers)
        except _Unauthorized:
            return _http_error(401, "no org id")
        return handler(path, params, headers, sees_data)

    def _query_handler(self, path: str) -> _QueryHandler | None:
        segments = path.split("/")
        if path.startswith("/api/traces/") and len(segments) == 4 and segments[3]:
            return self._trace_by_id_v1
        if path.startswith("/api/v2/traces/") and len(segments) == 5 and segments[4]:
            return self._trace_by_id_v2
        if path == "/api/search":
            return self._search
        if path == "/api/search/tags":
            return self._search_tags_v1
        if path == "/api/v2/search/tags":
            return self._search_tags_v2
        if _is_tag_values_path(segments, "/api/search/tag/", 6):
            return self._tag_values_v1
        if _is_tag_values_path(segments, "/api/v2/search/tag/", 7):
            return self._tag_values_v2
        return None

    # -- trace by id -------------------------------------------------------

    def _find_trace(
        self,
        raw_id: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _StoredTrace | None:
        trace_id = _parse_trace_id(raw_id)
        if headers.get("accept", "") == "application/protobuf":
            # Tempo sends protobuf here. The test server has no protobuf
            # encoder, so it rejects the request rather than send JSON.
            raise _BadRequest(
                "the Tempo test server only writes JSON; drop the "
                "Accept: application/protobuf header"
            )
        start, end = _parse_trace_by_id_range(params)
        if not sees_data:
            return None
        stored = self._store.traces.get(trace_id)
        if stored is None:
            return None
        # Tempo picks the blocks whose time range overlaps [start, end] and
        # returns every span of the trace found in them, so the test server
        # returns the whole trace when its span range overlaps the window. A
        # bound of 0 is no bound. A trace that Tempo stored across several
        # blocks could come back partial, which the test server never does.
        view = stored.view
        if start and view.end_ns < start * _NANOSECONDS_PER_SECOND:
            return None
        if end and view.start_ns > end * _NANOSECONDS_PER_SECOND:
            return None
        return stored

    def _trace_by_id_v1(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response:
        stored = self._find_trace(path.split("/")[3], params, headers, sees_data)
        if stored is None:
            # The frontend's trace-by-id combiner starts at 404 with no body.
            return _Response(404)
        return _Response(200, stored.v1_body, APPLICATION_JSON)

    def _trace_by_id_v2(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response:
        # v2 returns 200 and an empty trace for an unknown trace, because its
        # combiner (modules/frontend/combiner/trace_by_id_v2.go) substitutes an
        # empty Trace. The combiner marks a trace PARTIAL only when it was cut
        # for size (or, in newer versions, by a filter), never for a missing
        # root span, so a partial trace from drop_root_of has no status here.
        stored = self._find_trace(path.split("/")[4], params, headers, sees_data)
        if stored is None:
            return _json({"trace": {}, "metrics": {}})
        return _json(
            {
                "trace": {"resourceSpans": resource_spans(stored.view)},
                "metrics": {"inspectedBytes": str(stored.size_bytes)},
            }
        )

    # -- search ------------------------------------------------------------

    def _search(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response:
        request = self._parse_search_request(params)
        traces = list(self._store.traces.values()) if sees_data else []
        in_window = [
            stored
            for stored in traces
            if _overlaps(stored.view, request.start, request.end)
        ]

        results: list[tuple[TraceView, list[Span] | None]] = []
        for stored in in_window:
            view = stored.view
            if request.query is not None:
                matched = request.query.matching_spans(view)
                if matched:
                    results.append((view, matched))
            elif _duration_in_range(view, request) and _tags_match(view, request.tags):
                results.append((view, None))

        # The frontend combiner sorts by trace start, newest first. NOTE: once a
        # search reaches its limit, Tempo keeps whichever traces its jobs found
        # first, which need not be the newest. The test server keeps the newest.
        results.sort(key=lambda result: (result[0].start_ns, result[0].trace_id))
        results.reverse()
        metadata = [
            self._trace_metadata(view, matched, request)
            for view, matched in results[: request.limit]
        ]

        # jsonpb leaves out an empty list, so a search without hits has no
        # "traces" key at all.
        payload: dict[str, JSONValue] = {}
        if metadata:
            payload["traces"] = metadata
        payload["metrics"] = _search_metrics(in_window)
        return _json(payload)

    def _parse_search_request(self, params: dict[str, list[str]]) -> _SearchRequest:
        # Checks run in Tempo's order, read from its code. The frontend's query
        # validator parses q first. ParseSearchRequestWithDefault
        # (pkg/api/http.go) checks the parameters next, and the search sharder
        # checks the configured maximums last.
        query_text = _first(params, "q")
        query = None
        if query_text:
            try:
                query = traceql.parse(query_text)
            except traceql.TraceQLError as exc:
                raise _BadRequest(f"invalid TraceQL query: {exc}") from exc

        request = _parse_search_parameters(params, query)
        limit = request.limit or self.default_limit
        if self.max_limit and limit > self.max_limit:
            raise _BadRequest(f"limit {limit} exceeds max limit {self.max_limit}")
        seconds = request.end - request.start
        if self.max_search_duration_s and seconds > self.max_search_duration_s:
            maximum = format_go_duration(
                self.max_search_duration_s * _NANOSECONDS_PER_SECOND
            )
            raise _BadRequest(
                f"range specified by start and end exceeds {maximum}. "
                f"received start={request.start} end={request.end}"
            )
        spss = request.spans_per_span_set
        if spss > MAX_SPANS_PER_SPAN_SET:
            raise _BadRequest(
                f"spans per span set exceeds {MAX_SPANS_PER_SPAN_SET}. received {spss}"
            )
        return replace(
            request, limit=limit, spans_per_span_set=spss or DEFAULT_SPANS_PER_SPAN_SET
        )

    def _trace_metadata(
        self,
        view: TraceView,
        matched: list[Span] | None,
        request: _SearchRequest,
    ) -> dict[str, JSONValue]:
        # TraceSearchMetadata in jsonpb form: TraceIDToHexString strips leading
        # zeros, zero values are left out, and the frontend fills in
        # rootServiceName when the root span is missing.
        metadata: dict[str, JSONValue] = {"traceID": view.trace_id.lstrip("0")}
        root = view.root
        metadata["rootServiceName"] = (
            root.service_name
            if root and root.service_name
            else ROOT_SPAN_NOT_YET_RECEIVED
        )
        if root is not None and root.name:
            metadata["rootTraceName"] = root.name
        metadata["startTimeUnixNano"] = str(view.start_ns)
        duration_ms = view.duration_ns // 1_000_000
        if duration_ms:
            metadata["durationMs"] = duration_ms
        if matched is not None and request.query is not None:
            span_set = self._span_set(view, matched, request.query, request)
            metadata["spanSet"] = span_set
            metadata["spanSets"] = [span_set]
        metadata["serviceStats"] = _service_stats(view)
        return metadata

    def _span_set(
        self,
        view: TraceView,
        matched: list[Span],
        query: traceql.Query,
        request: _SearchRequest,
    ) -> dict[str, JSONValue]:
        fields = query.fields()
        spans: list[JSONValue] = []
        for span in matched[: request.spans_per_span_set]:
            spans.append(_search_span(span, view, fields))
        return {"spans": spans, "matched": len(matched)}

    # -- tags --------------------------------------------------------------

    def _search_tags_v1(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response:
        scope = _parse_scope(params)
        names_by_scope = self._tag_names(sees_data)
        if scope in ("", "none"):
            names = sorted(
                set(names_by_scope["span"]) | set(names_by_scope["resource"])
            )
        else:
            names = names_by_scope.get(scope, [])
        return _json(
            self._with_metrics({"tagNames": names} if names else {}, sees_data)
        )

    def _search_tags_v2(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response:
        scope = _parse_scope(params)
        names_by_scope = self._tag_names(sees_data)
        listed = (
            ("span", "resource", "intrinsic") if scope in ("", "none") else (scope,)
        )
        scopes: list[JSONValue] = [
            {"name": name, "tags": names_by_scope[name]}
            for name in listed
            if names_by_scope.get(name)
        ]
        return _json(
            self._with_metrics({"scopes": scopes} if scopes else {}, sees_data)
        )

    def _tag_values_v1(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response:
        # Only string values from span and resource attributes are listed. This
        # is the server's reading of Tempo's v1 API, not checked on a live Tempo.
        name = path.split("/")[4]
        values: set[str] = set()
        for view in self._visible_views(sees_data):
            for span in view.spans:
                for source in (span.attributes, traceql.resource_attributes(span)):
                    value = source.get(name)
                    if isinstance(value, str):
                        values.add(value)
        payload: dict[str, JSONValue] = {}
        if values:
            payload["tagValues"] = sorted(values)
        return _json(self._with_metrics(payload, sees_data))

    def _tag_values_v2(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response:
        # NOTE: Tempo narrows the values with the q parameter, but the test
        # server ignores q and lists every value, as Tempo does when q is invalid.
        scoped_name = path.split("/")[5]
        tag = _parse_scoped_tag(scoped_name)
        values: dict[tuple[str, str], None] = {}
        for view in self._visible_views(sees_data):
            for span in view.spans:
                resolved = traceql.resolve_field(tag, span, view)
                if resolved is not None and resolved.value.type != "duration":
                    values[_typed_tag_value(resolved.value)] = None
        typed: list[JSONValue] = [
            {"type": value_type, "value": value} for value_type, value in sorted(values)
        ]
        return _json(
            self._with_metrics({"tagValues": typed} if typed else {}, sees_data)
        )

    def _visible_views(self, sees_data: bool) -> list[TraceView]:
        if not sees_data:
            return []
        return [stored.view for stored in self._store.traces.values()]

    def _tag_names(self, sees_data: bool) -> dict[str, list[str]]:
        span_names: set[str] = set()
        resource_names: set[str] = set()
        for view in self._visible_views(sees_data):
            for span in view.spans:
                span_names.update(span.attributes)
                resource_names.update(traceql.resource_attributes(span))
        intrinsics = sorted(traceql.SUPPORTED_INTRINSICS) if sees_data else []
        return {
            "span": sorted(span_names),
            "resource": sorted(resource_names),
            "intrinsic": intrinsics,
        }

    def _with_metrics(
        self, payload: dict[str, JSONValue], sees_data: bool
    ) -> dict[str, JSONValue]:
        size = (
            sum(s.size_bytes for s in self._store.traces.values()) if sees_data else 0
        )
        payload["metrics"] = {"inspectedBytes": str(size)} if size else {}
        return payload


class _Unauthorized(Exception):
    """A query request without the tenant header that a multitenant Tempo needs."""


class _QueryHandler(Protocol):
    def __call__(
        self,
        path: str,
        params: dict[str, list[str]],
        headers: Mapping[str, str],
        sees_data: bool,
    ) -> _Response: ...


# ---------------------------------------------------------------------------
# Request parsing helpers
# ---------------------------------------------------------------------------


def _first(params: Mapping[str, list[str]], name: str) -> str:
    """Return the first value of a parameter, "" when absent, as Go's Query().Get."""
    values = params.get(name)
    return values[0] if values else ""


def _only_get(method: str) -> _Response | None:
    if method == "GET":
        return None
    return _Response(405, headers={"Allow": "GET"})


def _is_tag_values_path(segments: list[str], prefix: str, length: int) -> bool:
    joined = "/".join(segments)
    return (
        joined.startswith(prefix)
        and len(segments) == length
        and segments[-1] == "values"
        and segments[-2] != ""
    )


def _parse_search_parameters(
    params: Mapping[str, list[str]], query: traceql.Query | None
) -> _SearchRequest:
    """Check the search parameters as ParseSearchRequestWithDefault does.

    A limit or spss of 0 in the result means the parameter was absent.
    """
    start = _parse_uint_parameter(params, "start", 32)
    end = _parse_uint_parameter(params, "end", 32)

    tags_text = _first(params, "tags")
    tags: dict[str, str] = {}
    if tags_text:
        if query is not None:
            raise _BadRequest(
                "invalid request: can't specify tags and q in the same query"
            )
        tags = _parse_logfmt_tags(tags_text)
    if query is None and not tags_text and start == 0 and end == 0:
        # Legacy search: every other non-empty parameter is a tag.
        for name, values in params.items():
            if name not in _SEARCH_RESERVED_PARAMETERS and values and values[0]:
                tags[name] = values[0]

    min_duration_ms = _parse_duration_ms(params, "minDuration")
    max_duration_ms = _parse_duration_ms(params, "maxDuration")
    if _first(params, "maxDuration") and 0 < min_duration_ms > max_duration_ms:
        raise _BadRequest("invalid maxDuration: must be greater than minDuration")

    limit = _parse_uint_parameter(params, "limit", 32, positive=True)
    spss = _parse_uint_parameter(params, "spss", 32, positive=True)
    if (start or end) and end <= start:
        raise _BadRequest(
            f"http parameter start must be before end. received start={start} end={end}"
        )
    return _SearchRequest(
        query=query,
        tags=tags,
        start=start,
        end=end,
        min_duration_ms=min_duration_ms,
        max_duration_ms=max_duration_ms,
        limit=limit,
        spans_per_span_set=spss,
    )


def _parse_trace_id(raw_id: str) -> str:
    # pkg/util/traceid.go: hex only, reported by 1-based byte position; odd
    # lengths get a leading zero; at most 128 bits, left-padded to 16 bytes.
    position = 1
    for char in raw_id:
        if char not in "0123456789abcdefABCDEF":
            raise _BadRequest(
                "trace IDs can only contain hex characters: "
                f"invalid character '{char}' at position {position}"
            )
        position += len(char.encode("utf-8"))
    padded = raw_id if len(raw_id) % 2 == 0 else "0" + raw_id
    if len(padded) > 32:
        raise _BadRequest("trace IDs can't be larger than 128 bits")
    return padded.lower().rjust(32, "0")


def _parse_trace_by_id_range(params: Mapping[str, list[str]]) -> tuple[int, int]:
    # ValidateAndSanitizeRequest in pkg/api/http.go: mode, then start and end
    # as signed 64-bit seconds, and end after start when both are set.
    mode = _first(params, "mode")
    if mode not in ("", "all", "ingesters", "blocks"):
        raise _BadRequest(f"invalid value for mode {mode}")
    bounds = []
    for name in ("start", "end"):
        text = _first(params, name)
        try:
            bounds.append(parse_go_int64(text) if text else 0)
        except GoParseError as exc:
            raise _BadRequest(f"invalid {name}: {exc}") from exc
    start, end = bounds
    if start and end and end <= start:
        raise _BadRequest(
            f"http parameter start must be before end. received start={start} end={end}"
        )
    return start, end


def _parse_uint_parameter(
    params: Mapping[str, list[str]], name: str, bits: int, *, positive: bool = False
) -> int:
    text = _first(params, name)
    if not text:
        return 0
    try:
        value = parse_go_uint(text, bits)
    except GoParseError as exc:
        raise _BadRequest(f"invalid {name}: {exc}") from exc
    if positive and value == 0:
        raise _BadRequest(f"invalid {name}: must be a positive number")
    return value


def _parse_duration_ms(params: Mapping[str, list[str]], name: str) -> int:
    text = _first(params, name)
    if not text:
        return 0
    try:
        nanoseconds = parse_go_duration(text)
    except ValueError as exc:
        raise _BadRequest(f"invalid {name}: {exc}") from exc
    # Tempo stores uint32(dur.Milliseconds()): truncated, and wrapped when negative.
    milliseconds = int(nanoseconds / 1_000_000)
    return milliseconds & 0xFFFFFFFF


def _parse_logfmt_tags(text: str) -> dict[str, str]:
    """Parse the ``tags`` parameter (logfmt) with go-logfmt's error texts.

    Positions in errors are 1-based, as go-logfmt reports them.
    """
    tags: dict[str, str] = {}
    index = 0
    while index < len(text):
        if text[index] == " ":
            index += 1
            continue
        key_start = index
        while index < len(text) and text[index] not in ' ="':
            index += 1
        if index == key_start:
            raise _BadRequest(
                f"invalid tags: unexpected '{text[index]}' at pos {index + 1}"
            )
        key = text[key_start:index]
        value = ""
        if index < len(text) and text[index] == "=":
            index += 1
            value, index = _logfmt_value(text, index)
        if index < len(text) and text[index] != " ":
            raise _BadRequest(
                f"invalid tags: unexpected '{text[index]}' at pos {index + 1}"
            )
        if key in tags:
            raise _BadRequest(f"invalid tags: tag {key} has been set twice")
        tags[key] = value
    return tags


def _logfmt_value(text: str, index: int) -> tuple[str, int]:
    if index < len(text) and text[index] == '"':
        end = index + 1
        while end < len(text) and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            raise _BadRequest(
                f"invalid tags: unterminated quoted value at pos {len(text) + 1}"
            )
        try:
            return json.loads(text[index : end + 1]), end + 1
        except json.JSONDecodeError as exc:
            raise _BadRequest(
                f"invalid tags: invalid quoted value at pos {index + 1}"
            ) from exc
    start = index
    while index < len(text) and text[index] not in ' ="':
        index += 1
    return text[start:index], index


def _parse_scope(params: Mapping[str, list[str]]) -> str:
    scope = _first(params, "scope")
    if scope not in _TAG_SCOPES:
        raise _BadRequest(f"invalid scope: {scope}")
    return scope


def _parse_scoped_tag(name: str) -> Attribute | Intrinsic:
    # The error text is this server's own because Tempo's wording was not checked.
    if name in traceql.SUPPORTED_INTRINSICS:
        return Intrinsic(name)
    if name.startswith(".") and len(name) > 1:
        return Attribute("unscoped", name[1:])
    if name.startswith("span.") and len(name) > len("span."):
        return Attribute("span", name[len("span.") :])
    if name.startswith("resource.") and len(name) > len("resource."):
        return Attribute("resource", name[len("resource.") :])
    raise _BadRequest(
        f"invalid tag name {name}: use an intrinsic or a scoped attribute "
        "such as resource.service.name or .http.method"
    )


def _typed_tag_value(static: Static) -> tuple[str, str]:
    if static.type in ("status", "kind"):
        return "keyword", str(static.value)
    if static.type == "bool":
        return "bool", "true" if static.value else "false"
    if static.type == "float":
        assert isinstance(static.value, float)
        return "float", _go_float(static.value)
    return static.type, str(static.value)


# ---------------------------------------------------------------------------
# Search evaluation helpers
# ---------------------------------------------------------------------------


def _overlaps(view: TraceView, start: int, end: int) -> bool:
    # Tempo keeps a trace when its [start, end] overlaps the request's range,
    # both ends inclusive. With start=end=0 Tempo searches only recent data in
    # the ingesters; the test server searches everything.
    if end == 0:
        return True
    return (
        view.start_ns <= end * _NANOSECONDS_PER_SECOND
        and view.end_ns >= start * _NANOSECONDS_PER_SECOND
    )


def _duration_in_range(view: TraceView, request: _SearchRequest) -> bool:
    # minDuration and maxDuration filter tag searches by trace duration. NOTE:
    # TraceQL searches ignore them, as in the Tempo engine code read (a TODO in
    # createFetchSpansRequest), so a client should use traceDuration instead.
    duration_ms = view.duration_ns // 1_000_000
    if duration_ms < request.min_duration_ms:
        return False
    return request.max_duration_ms == 0 or duration_ms <= request.max_duration_ms


def _tags_match(view: TraceView, tags: Mapping[str, str]) -> bool:
    # Legacy tag search matches case-insensitive substrings of span and
    # resource attribute values, and "name" also matches the span name. The
    # substring rule comes from documentation and was not checked in code.
    for key, expected in tags.items():
        needle = expected.lower()
        found = False
        for span in view.spans:
            candidates: list[AttributeValue] = []
            for source in (span.attributes, traceql.resource_attributes(span)):
                if key in source:
                    candidates.append(source[key])
            if key == "name":
                candidates.append(span.name)
            if any(needle in str(value).lower() for value in candidates):
                found = True
                break
        if not found:
            return False
    return True


def _search_span(
    span: Span, view: TraceView, fields: Sequence[Attribute | Intrinsic]
) -> dict[str, JSONValue]:
    # tempopb.Span in search results: the span name only when the query used
    # the name intrinsic, and the other referenced fields as attributes keyed
    # by their unscoped name (asTraceSearchMetadata in pkg/traceql/engine.go).
    rendered: dict[str, JSONValue] = {"spanID": span.span_id}
    if Intrinsic("name") in fields and span.name:
        rendered["name"] = span.name
    if span.start_ns:
        rendered["startTimeUnixNano"] = str(span.start_ns)
    duration = span.end_ns - span.start_ns
    if duration:
        rendered["durationNanos"] = str(duration)
    skipped = {"name", "duration", "traceDuration", "rootName", "rootServiceName"}
    attributes: list[JSONValue] = []
    seen: set[tuple[str, str]] = set()
    for field_ref in fields:
        if isinstance(field_ref, Intrinsic) and field_ref.name in skipped:
            continue
        resolved = traceql.resolve_field(field_ref, span, view)
        if resolved is None or (resolved.scope, resolved.key) in seen:
            continue
        seen.add((resolved.scope, resolved.key))
        attributes.append(
            {"key": resolved.key, "value": static_any_value(resolved.value)}
        )
    if attributes:
        rendered["attributes"] = attributes
    return rendered


def _search_metrics(inspected: Sequence[_StoredTrace]) -> dict[str, JSONValue]:
    # SearchMetrics in field order. The test server runs a search as one job.
    metrics: dict[str, JSONValue] = {}
    if inspected:
        metrics["inspectedTraces"] = len(inspected)
        metrics["inspectedBytes"] = str(sum(trace.size_bytes for trace in inspected))
    metrics["completedJobs"] = 1
    metrics["totalJobs"] = 1
    return metrics


def _service_stats(view: TraceView) -> dict[str, JSONValue]:
    counts: dict[str, list[int]] = {}
    for span in view.spans:
        entry = counts.setdefault(span.service_name, [0, 0])
        entry[0] += 1
        if span.status_code == "STATUS_CODE_ERROR":
            entry[1] += 1
    stats: dict[str, JSONValue] = {}
    # jsonpb writes map entries sorted by key.
    for service in sorted(counts):
        span_count, error_count = counts[service]
        service_stats: dict[str, JSONValue] = {"spanCount": span_count}
        if error_count:
            service_stats["errorCount"] = error_count
        stats[service] = service_stats
    return stats


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: TempoTestServer


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {name: value for name, value in self.headers.items()}
        try:
            response = self.server.app.handle(self.command, self.path, headers)
        except Exception:
            logger.exception(
                "Tempo test server failed on %s %s", self.command, self.path
            )
            response = _http_error(500, "internal error in the Tempo test server")
        self.send_response(response.status)
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = _dispatch
    do_HEAD = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("Tempo test server: " + format, *args)
