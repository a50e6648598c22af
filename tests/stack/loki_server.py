"""A Loki-compatible HTTP server for slocli's tests, on 127.0.0.1.

Loki cannot be installed on the test machines, so tests run this server over
in-memory streams instead. It serves the query API as Loki 3.x does
(``grafana/loki`` ``pkg/loghttp``, ``pkg/querier``, ``pkg/util/marshal``),
because a server more forgiving than Loki would hide client bugs:

* ``GET``/``POST`` (form-encoded) ``/loki/api/v1/query_range`` and
  ``/loki/api/v1/query``, ``GET /loki/api/v1/labels``,
  ``GET /loki/api/v1/label/<name>/values`` and ``GET /ready``.
* Parameters are parsed and checked as Loki does, with Loki's error texts.
  Timestamps: a number with ``.`` is float seconds (fraction rounded to
  milliseconds), an integer of at most 10 characters is seconds and a longer
  one nanoseconds, anything else RFC 3339. ``start`` is inclusive, ``end``
  exclusive.
* Log queries return at most ``limit`` entries over all streams together, the
  first ones in the query direction, with no flag that anything was cut.
* Errors are plain text with ``X-Content-Type-Options: nosniff`` and no
  trailing newline, except those Loki writes with Go's ``http.Error``
  (``no org id``, ``404 page not found``), which end in a newline.
* With a tenant configured, ``X-Scope-OrgID`` is required (401 ``no org id``)
  and other tenants see no data.

Metric queries are rejected with a 400 whose message states that the server
does not evaluate them. ``logql.py`` lists the LogQL subset that it evaluates.
"""

from __future__ import annotations

import base64
import bisect
import datetime
import heapq
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.stack.logql import (
    SECOND,
    EntryLabels,
    GoFloatError,
    LineInput,
    LogQuery,
    ParseError,
    PrometheusDurationError,
    extract_json_labels,
    format_go_duration,
    format_prometheus_duration,
    go_quote,
    parse_go_float,
    parse_prometheus_duration,
    parse_query,
)
from tests.stack.model import LogStream

__all__ = ["LokiTestServer", "RecordedRequest"]

logger = logging.getLogger(__name__)

DEFAULT_LIMIT: Final = 100
DEFAULT_SINCE_NS: Final = 3600 * SECOND
MAX_POINTS_PER_SERIES: Final = 11_000
CATEGORIZE_LABELS_FLAG: Final = "categorize-labels"

ERROR_END_BEFORE_START: Final = (
    "end timestamp must not be before or equal to start time"
)
ERROR_LIMIT_NOT_POSITIVE: Final = "limit must be a positive value"
ERROR_STEP_NOT_POSITIVE: Final = (
    "zero or negative query resolution step widths are not accepted. "
    "Try a positive integer"
)
ERROR_STEP_TOO_SMALL: Final = (
    "exceeded maximum resolution of 11,000 points per time series. "
    "Try increasing the value of the step parameter"
)
ERROR_NEGATIVE_INTERVAL: Final = "interval must be >= 0"
ERROR_LOG_QUERY_AS_INSTANT: Final = (
    "log queries are not supported as an instant query type, "
    "please change your query to a range query type"
)
ERROR_NO_ORG_ID: Final = "no org id\n"
ERROR_NOT_FOUND: Final = "404 page not found\n"

_JSON_CONTENT_TYPE: Final = "application/json; charset=UTF-8"
_TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"
_FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
_LABEL_VALUES_PATH_RE: Final = re.compile(r"/loki/api/v1/label/([^/]+)/values")
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")


class _RequestError(Exception):
    """An error that Loki returns as a status code and a plain-text body."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _bad_request(message: str) -> _RequestError:
    return _RequestError(400, message)


# ---------------------------------------------------------------------------
# Parameters, parsed as Loki's pkg/loghttp does
# ---------------------------------------------------------------------------

_GO_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_RFC3339_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1


def _go_parse_int(value: str, function: str = "ParseInt") -> int:
    """Parse a base-10 int64 as Go's ``strconv.ParseInt`` (or ``Atoi``)."""
    if not _GO_INT_RE.fullmatch(value):
        raise ValueError(
            f"strconv.{function}: parsing {go_quote(value)}: invalid syntax"
        )
    number = int(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(
            f"strconv.{function}: parsing {go_quote(value)}: value out of range"
        )
    return number


def _go_round(value: float) -> float:
    """Round half away from zero, as Go's ``math.Round``."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def _parse_rfc3339(value: str) -> int | None:
    match = _RFC3339_RE.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if hour > 23 or minute > 59 or second > 59:
        return None
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return None
    fraction = (match.group(7) or ".")[1:10].ljust(9, "0")
    zone = match.group(8)
    offset_seconds = 0
    if zone != "Z":
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 23 or zone_minutes > 59:
            return None
        offset_seconds = (zone_hours * 3600 + zone_minutes * 60) * (
            -1 if zone[0] == "-" else 1
        )
    days = (date - datetime.date(1970, 1, 1)).days
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds
    return seconds * SECOND + int(fraction)


def parse_loki_timestamp(value: str) -> int:
    """Parse a ``start``, ``end`` or ``time`` parameter to Unix nanoseconds.

    The rules are those of Loki's ``parseTimestamp``. A value with ``.`` that
    parses as a float is seconds, its fraction rounded to milliseconds. An
    integer of at most 10 characters is seconds and a longer one nanoseconds,
    so a 13-digit millisecond value is read as nanoseconds, in 1970. Any other
    value must be RFC 3339 with an optional fraction. Raises ``ValueError``
    with Go's error text.
    """
    if "." in value:
        try:
            number = parse_go_float(value)
        except GoFloatError:
            pass
        else:
            whole = math.trunc(number)
            fraction = _go_round((number - whole) * 1000) / 1000
            return int(whole) * SECOND + int(fraction * SECOND)
    try:
        integer = _go_parse_int(value)
    except ValueError:
        parsed = _parse_rfc3339(value)
        if parsed is not None:
            return parsed
        raise
    if len(value) <= 10:
        return integer * SECOND
    return integer


def _parse_seconds_or_duration(value: str) -> int:
    """Parse ``step`` or ``interval``: float seconds or a Prometheus duration."""
    try:
        seconds = parse_go_float(value)
    except GoFloatError:
        pass
    else:
        nanoseconds = seconds * SECOND
        if nanoseconds > _INT64_MAX or nanoseconds < _INT64_MIN:
            raise _bad_request(
                f"cannot parse {go_quote(value)} to a valid duration. It overflows int64"
            )
        return int(nanoseconds)
    try:
        return parse_prometheus_duration(value)
    except PrometheusDurationError:
        raise _bad_request(
            f"cannot parse {go_quote(value)} to a valid duration"
        ) from None


def _parse_limit(params: dict[str, str]) -> int:
    text = params.get("limit", "")
    if text == "":
        return DEFAULT_LIMIT
    try:
        limit = _go_parse_int(text, "Atoi")
    except ValueError as error:
        raise _bad_request(str(error)) from None
    if limit <= 0:
        raise _bad_request(ERROR_LIMIT_NOT_POSITIVE)
    return limit


def _parse_direction(params: dict[str, str]) -> bool:
    """Return True for forward (oldest first); Loki's default is backward."""
    text = params.get("direction", "")
    if text == "":
        return False
    upper = text.upper()
    if upper not in ("FORWARD", "BACKWARD"):
        raise _bad_request(f"invalid direction '{text}'")
    return upper == "FORWARD"


def _parse_bounds(params: dict[str, str], now_ns: int) -> tuple[int, int]:
    since = DEFAULT_SINCE_NS
    if params.get("since", ""):
        try:
            since = parse_prometheus_duration(params["since"])
        except PrometheusDurationError as error:
            raise _bad_request(f"could not parse 'since' parameter: {error}") from None
    end = now_ns
    if params.get("end", ""):
        try:
            end = parse_loki_timestamp(params["end"])
        except ValueError as error:
            raise _bad_request(f"could not parse 'end' parameter: {error}") from None
    start = min(end, now_ns) - since
    if params.get("start", ""):
        try:
            start = parse_loki_timestamp(params["start"])
        except ValueError as error:
            raise _bad_request(f"could not parse 'start' parameter: {error}") from None
    return start, end


def _milliseconds(nanoseconds: int) -> int:
    """Convert as Go's integer division does, truncating toward zero."""
    return int(nanoseconds / 1_000_000) if nanoseconds < 0 else nanoseconds // 1_000_000


# ---------------------------------------------------------------------------
# Response bodies
# ---------------------------------------------------------------------------

_STORE_STATS_KEYS: Final = (
    "chunksDownloadTime",
    "congestionControlLatency",
    "totalChunksRef",
    "totalChunksDownloaded",
    "chunkRefsFetchTime",
    "queryReferencedStructuredMetadata",
    "queryUsedV2Engine",
    "pipelineWrapperFilteredLines",
)
_CHUNK_STATS_KEYS: Final = (
    "compressedBytes",
    "decompressedBytes",
    "decompressedLines",
    "decompressedStructuredMetadataBytes",
    "headChunkBytes",
    "headChunkLines",
    "headChunkStructuredMetadataBytes",
    "postFilterLines",
    "totalDuplicates",
)
_DATAOBJ_STATS_KEYS: Final = (
    "pageBatches",
    "pagesDownloaded",
    "pagesDownloadedBytes",
    "pagesScanned",
    "postFilterRows",
    "postPredicateRows",
    "postPredicateDecompressedBytes",
    "postPredicateStructuredMetadataBytes",
    "prePredicateDecompressedRows",
    "prePredicateDecompressedBytes",
    "prePredicateDecompressedStructuredMetadataBytes",
    "totalPageDownloadTime",
    "totalRowsAvailable",
    "wireBytesTransferred",
)
_CACHE_NAMES: Final = (
    "chunk",
    "index",
    "statsResult",
    "seriesResult",
    "labelResult",
    "volumeResult",
    "instantMetricResult",
    "result",
    "logResult",
    "taskResult",
)
_CACHE_STATS_KEYS: Final = (
    "entriesFound",
    "entriesRequested",
    "entriesStored",
    "bytesReceived",
    "bytesSent",
    "requests",
    "downloadTime",
    "queryLengthServed",
)
_SUMMARY_KEYS: Final = (
    "bytesProcessedPerSecond",
    "execTime",
    "linesProcessedPerSecond",
    "queueTime",
    "shards",
    "splits",
    "subqueries",
    "totalBytesProcessed",
    "totalEntriesReturned",
    "totalLinesProcessed",
    "totalStructuredMetadataBytesProcessed",
    "totalPostFilterLines",
)
_BOOLEAN_STATS: Final = frozenset(
    {"queryReferencedStructuredMetadata", "queryUsedV2Engine", "usedBloomFilters"}
)


def _zeros(keys: Sequence[str]) -> dict[str, Any]:
    return {key: (False if key in _BOOLEAN_STATS else 0) for key in keys}


def _store_stats() -> dict[str, Any]:
    store = _zeros(_STORE_STATS_KEYS)
    store["chunk"] = _zeros(_CHUNK_STATS_KEYS)
    store["dataobj"] = _zeros(_DATAOBJ_STATS_KEYS)
    return store


def query_stats(entries_returned: int) -> dict[str, Any]:
    """Return Loki's ``stats`` object, zero-valued apart from the entry count.

    The keys and their order are those of Loki 3.x's encoder; only
    ``summary.totalEntriesReturned`` carries a real value.
    """
    summary = _zeros(_SUMMARY_KEYS)
    summary["totalEntriesReturned"] = entries_returned
    index_keys = (
        "bloomFilterTime",
        "chunkRefsLookupTime",
        "postFilterChunks",
        "totalChunks",
        "totalStreams",
        "usedBloomFilters",
        "shardsDuration",
    )
    ingester_keys = (
        "totalBatches",
        "totalChunksMatched",
        "totalLinesSent",
        "totalReached",
    )
    return {
        "index": _zeros(index_keys),
        "ingester": {"store": _store_stats(), **_zeros(ingester_keys)},
        "querier": {"querierExecTime": 0, "store": _store_stats()},
        "cache": {name: _zeros(_CACHE_STATS_KEYS) for name in _CACHE_NAMES},
        "summary": summary,
    }


def encode_json(document: Any) -> bytes:
    """Encode a response body as Loki's encoder writes it.

    Compact, UTF-8, ``<``, ``>`` and ``&`` written as ``\\u003c`` and so on,
    and a trailing newline.
    """
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate stands for invalid UTF-8, which Go writes as U+FFFD.
        return (_SURROGATE_RE.sub("\ufffd", text) + "\n").encode("utf-8")


def label_string(labels: dict[str, str]) -> str:
    """Format labels as Prometheus does: ``{a="x", b="y"}``, names sorted."""
    inner = ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels))
    return "{" + inner + "}"


# ---------------------------------------------------------------------------
# Stored data and query evaluation
# ---------------------------------------------------------------------------


@dataclass
class _StoredStream:
    """One stream as Loki stores it: labels, and entries sorted by time."""

    labels: dict[str, str]
    label_string: str
    timestamps: list[int]
    lines: list[str]
    cache: dict[str, dict[int, Any]] = field(default_factory=dict)


def _store_streams(streams: Sequence[LogStream]) -> list[_StoredStream]:
    """Merge streams with equal labels and sort their entries by time.

    Empty label values are dropped and an entry equal to another of the same
    stream (same timestamp and line) is kept once, as Loki does on ingestion.
    """
    merged: dict[str, tuple[dict[str, str], list[tuple[int, str]]]] = {}
    for stream in streams:
        labels = {name: value for name, value in stream.labels.items() if value != ""}
        key = label_string(labels)
        if key not in merged:
            merged[key] = (labels, [])
        merged[key][1].extend(stream.entries)
    stored: list[_StoredStream] = []
    for key, (labels, entries) in merged.items():
        entries.sort(key=lambda entry: entry[0])
        timestamps: list[int] = []
        lines: list[str] = []
        seen_at_timestamp: set[str] = set()
        for timestamp, line in entries:
            if timestamps and timestamps[-1] == timestamp:
                if line in seen_at_timestamp:
                    continue
            else:
                seen_at_timestamp = set()
            seen_at_timestamp.add(line)
            timestamps.append(timestamp)
            lines.append(line)
        stored.append(_StoredStream(labels, key, timestamps, lines))
    stored.sort(key=lambda stream: stream.label_string)
    return stored


def _preparse_json(stream: _StoredStream) -> None:
    """Fill the stream's ``| json`` cache for every line that looks like a
    JSON object, so that the first query over it is as fast as later ones."""
    results: dict[Any, Any] = stream.cache.setdefault("json", {})
    names: dict[Any, Any] = stream.cache.setdefault("json-names", {})
    for index, line in enumerate(stream.lines):
        if line.lstrip(" \t\r\n").startswith("{"):
            results[index] = extract_json_labels(line, stream.labels, names)


# One entry that passed the pipeline: (sort key, result label string, position
# in its stream's walk, timestamp, line, stream, labels). The sort key is the
# timestamp, negated for backward queries. The position keeps entries of one
# result stream with equal timestamps in stream order, and it makes every
# tuple unique before the stream, which is not comparable. Labels are None
# when the query has no parsers.
_Selected = tuple[int, str, int, int, str, _StoredStream, EntryLabels | None]


def _select_entries(
    stream: _StoredStream,
    query: LogQuery,
    start: int,
    end: int,
    forward: bool,
    label_keys: dict[tuple[tuple[str, str], ...], str],
) -> Iterator[_Selected]:
    """Yield the stream's entries in [start, end) that pass the pipeline, in
    the query direction."""
    timestamps = stream.timestamps
    lines = stream.lines
    low = bisect.bisect_left(timestamps, start)
    high = bisect.bisect_left(timestamps, end)
    indices = range(low, high) if forward else range(high - 1, low - 1, -1)
    sign = 1 if forward else -1
    stream_key = stream.label_string

    line_filters = query.line_filters
    if line_filters is not None:
        # Without parsers the labels never change, which saves the per-line
        # label bookkeeping.
        checks = [line_filter.matches for line_filter in line_filters]
        # Plain loops here and below: all() over a generator made full scans
        # about twice as slow.
        for position, index in enumerate(indices):
            line = lines[index]
            for check in checks:
                if not check(line):
                    break
            else:
                timestamp = timestamps[index]
                yield (
                    sign * timestamp,
                    stream_key,
                    position,
                    timestamp,
                    line,
                    stream,
                    None,
                )
        return

    base = stream.labels
    cache = stream.cache
    stages = query.stages
    for position, index in enumerate(indices):
        line = lines[index]
        labels = EntryLabels(base)
        entry = LineInput(line, index, cache)
        dropped = False
        for stage in stages:
            if not stage.process(labels, entry):
                dropped = True
                break
        if dropped:
            continue

        label_key = stream_key
        added = labels.parsed_labels()
        if added:
            items = tuple(sorted(added.items()))
            cached = label_keys.get(items)
            if cached is None:
                cached = label_keys[items] = label_string({**base, **added})
            label_key = cached
        timestamp = timestamps[index]
        yield (sign * timestamp, label_key, position, timestamp, line, stream, labels)


def evaluate_log_query(
    streams: Sequence[_StoredStream],
    query: LogQuery,
    *,
    start: int,
    end: int,
    limit: int,
    forward: bool,
    interval: int,
    categorize_labels: bool,
) -> list[dict[str, Any]]:
    """Return the ``result`` list of a log query, as Loki builds it.

    Entries of all matching streams are merged in the query direction, ties
    broken by label string, and the first ``limit`` are kept. With
    ``interval``, an entry is kept only if it is at least that long after the
    previous kept one (before it, for backward queries). The entries are then
    grouped by result stream, and the streams sorted by label string.
    """
    label_keys: dict[tuple[tuple[str, str], ...], str] = {}
    iterators = [
        _select_entries(stream, query, start, end, forward, label_keys)
        for stream in streams
        if query.selects(stream.labels)
    ]
    merged = heapq.merge(*iterators)
    groups: dict[str, dict[str, Any]] = {}
    kept = 0
    last_timestamp: int | None = None
    for _sort_key, label_key, _position, timestamp, line, stream, labels in merged:
        if kept >= limit:
            break
        if interval and last_timestamp is not None:
            if forward and timestamp < last_timestamp + interval:
                continue
            if not forward and timestamp > last_timestamp - interval:
                continue
        last_timestamp = timestamp
        kept += 1
        parsed = labels.parsed_labels() if labels is not None else {}
        if categorize_labels:
            group_key = stream.label_string
            stream_labels = stream.labels
            metadata: dict[str, Any] = {}
            if parsed:
                metadata["parsed"] = {name: parsed[name] for name in sorted(parsed)}
            value: list[Any] = [str(timestamp), line, metadata]
        else:
            group_key = label_key
            stream_labels = {**stream.labels, **parsed}
            value = [str(timestamp), line]
        group = groups.get(group_key)
        if group is None:
            ordered = {name: stream_labels[name] for name in sorted(stream_labels)}
            group = groups[group_key] = {"stream": ordered, "values": []}
        group["values"].append(value)
    return [groups[key] for key in sorted(groups)]


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, as recorded for tests."""

    method: str
    path: str
    # Form values as Loki reads them: the first value of each name, with a
    # POST body's values taking precedence over the URL's.
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class _InjectedError:
    status: int
    body: str
    remaining: int
    retry_after: str | None


class LokiTestServer:
    """A Loki-compatible query API over in-memory streams, on 127.0.0.1.

    Use it as a context manager, or call ``start()`` (which returns the base
    URL, ``http://127.0.0.1:PORT``) and ``stop()``. ``requests`` lists what the
    server received; ``inject_errors`` makes the next query requests fail.

    ``max_entries_limit`` and ``max_query_length_s`` are Loki's defaults for
    ``max_entries_limit_per_query`` (5000) and ``max_query_length`` (30d1h).
    A ``max_query_length_s`` of 0 turns the length check off, as in Loki.
    ``preparse_json`` parses every line that looks like a JSON object when the
    server is built. Construction is then slower, but the first ``| json``
    query is as fast as later ones. Without it, lines are parsed on first use.
    """

    def __init__(
        self,
        streams: Sequence[LogStream],
        *,
        tenant: str | None = None,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        max_entries_limit: int = 5000,
        max_query_length_s: float = 721 * 3600,
        preparse_json: bool = True,
    ) -> None:
        self.tenant = tenant
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.max_entries_limit = max_entries_limit
        self.max_query_length_ns = int(max_query_length_s * SECOND)
        self._streams = _store_streams(streams)
        if preparse_json:
            for stream in self._streams:
                _preparse_json(stream)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._injected: list[_InjectedError] = []
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    # -- lifecycle --------------------------------------------------------

    def start(self) -> str:
        """Start serving on a free port of 127.0.0.1; return the base URL."""
        if self._http is not None:
            return self._url
        http = _HTTPServer(("127.0.0.1", 0), _Handler, self)
        self._http = http
        port = http.server_address[1]
        self._url = f"http://127.0.0.1:{port}"
        # A short poll interval keeps stop() fast; serve_forever checks for
        # shutdown only between polls.
        self._thread = threading.Thread(
            target=http.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"loki-test-server-{port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("Loki test server started at %s", self._url)
        return self._url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._http is None:
            return
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join()
        logger.info("Loki test server at %s stopped", self._url)
        self._http = None
        self._thread = None

    def __enter__(self) -> LokiTestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, once started."""
        return self._url

    # -- test controls ----------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._requests.clear()

    def inject_errors(
        self, status: int, body: str, count: int, retry_after: str | None = None
    ) -> None:
        """Make the next ``count`` requests to the ``/loki/api/v1/`` endpoints
        fail with ``status`` and a plain-text ``body``.

        ``retry_after`` is sent as the ``Retry-After`` header. The typical use
        is Loki's overloaded query frontend:
        ``inject_errors(429, "too many outstanding requests", 2)``. Requests
        that fail authentication do not use up an injected error.
        """
        with self._lock:
            self._injected.append(_InjectedError(status, body, count, retry_after))

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _take_injected(self) -> _InjectedError | None:
        with self._lock:
            while self._injected:
                injected = self._injected[0]
                if injected.remaining <= 0:
                    self._injected.pop(0)
                    continue
                injected.remaining -= 1
                return injected
            return None

    # -- request handling -------------------------------------------------

    def _check_authorization(self, headers: dict[str, str]) -> _RequestError | None:
        # Real Loki does no authentication of its own: a gateway in front of it
        # (nginx, Grafana Enterprise Logs, a cloud proxy) checks credentials.
        # The test server plays that gateway when credentials are configured.
        basic = self.username is not None or self.password is not None
        if not basic and self.bearer_token is None:
            return None
        given = _header(headers, "Authorization")
        if basic:
            expected = base64.b64encode(
                f"{self.username or ''}:{self.password or ''}".encode()
            ).decode()
            if hmac.compare_digest(given.encode(), f"Basic {expected}".encode()):
                return None
        if self.bearer_token is not None and hmac.compare_digest(
            given.encode(), f"Bearer {self.bearer_token}".encode()
        ):
            return None
        return _RequestError(401, "401 Unauthorized\n")

    def _tenant_visible(self, headers: dict[str, str]) -> bool:
        """Return whether the request's tenant owns the stored streams."""
        if self.tenant is None:
            # auth_enabled: false. Every request is tenant "fake".
            return True
        org_id = _header(headers, "X-Scope-OrgID")
        if not org_id:
            raise _RequestError(401, ERROR_NO_ORG_ID)
        if "|" in org_id:
            # NOTE: Loki federates "a|b" only with multi_tenant_queries_enabled;
            # the status it returns when that is off was not confirmed.
            raise _bad_request("multiple org IDs present")
        return org_id == self.tenant

    def handle(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """Handle one request and return (status, headers, body)."""
        try:
            if path == "/ready":
                if method != "GET":
                    return 405, {}, b""
                ready_headers = {
                    "Content-Type": _TEXT_CONTENT_TYPE,
                    "X-Content-Type-Options": "nosniff",
                }
                return 200, ready_headers, b"ready\n"
            label_values = _LABEL_VALUES_PATH_RE.fullmatch(path)
            known = path in (
                "/loki/api/v1/query_range",
                "/loki/api/v1/query",
                "/loki/api/v1/labels",
            )
            if not known and label_values is None:
                raise _RequestError(404, ERROR_NOT_FOUND)
            if method not in ("GET", "POST"):
                return 405, {}, b""
            auth_error = self._check_authorization(headers)
            if auth_error is not None:
                return _error_response(
                    auth_error, basic_realm=self.username is not None
                )
            visible = self._tenant_visible(headers)
            injected = self._take_injected()
            if injected is not None:
                logger.info(
                    "Loki test server: %s %s failed with injected error %d",
                    method,
                    path,
                    injected.status,
                )
                response_headers = {
                    "Content-Type": _TEXT_CONTENT_TYPE,
                    "X-Content-Type-Options": "nosniff",
                }
                if injected.retry_after is not None:
                    response_headers["Retry-After"] = injected.retry_after
                return injected.status, response_headers, injected.body.encode()
            streams = self._streams if visible else []
            categorize = CATEGORIZE_LABELS_FLAG in _encoding_flags(headers)
            if path == "/loki/api/v1/query_range":
                document = self._query_range(params, streams, categorize)
            elif path == "/loki/api/v1/query":
                document = self._query_instant(params)
            elif path == "/loki/api/v1/labels":
                document = self._labels(params, streams, None)
            else:
                assert label_values is not None
                name = unquote(label_values.group(1))
                document = self._labels(params, streams, name)
            return 200, {"Content-Type": _JSON_CONTENT_TYPE}, encode_json(document)
        except _RequestError as error:
            logger.info(
                "Loki test server: %s %s failed with %d: %s",
                method,
                path,
                error.status,
                error.body.rstrip("\n"),
            )
            return _error_response(error)

    def _query_range(
        self, params: dict[str, str], streams: list[_StoredStream], categorize: bool
    ) -> dict[str, Any]:
        now = time.time_ns()
        start, end = _parse_bounds(params, now)
        if end < start:
            raise _bad_request(ERROR_END_BEFORE_START)
        limit = _parse_limit(params)
        forward = _parse_direction(params)

        # Loki checks step even for log queries, where it has no effect. Its
        # default gives about 250 points over the range.
        if params.get("step", ""):
            step = _parse_seconds_or_duration(params["step"])
        else:
            step = max(math.floor((end - start) / SECOND / 250), 1) * SECOND
        if step <= 0:
            raise _bad_request(ERROR_STEP_NOT_POSITIVE)
        if (end - start) // step > MAX_POINTS_PER_SERIES:
            raise _bad_request(ERROR_STEP_TOO_SMALL)

        interval = 0
        if params.get("interval", ""):
            interval = _parse_seconds_or_duration(params["interval"])
        if interval < 0:
            raise _bad_request(ERROR_NEGATIVE_INTERVAL)

        query = _parse(params.get("query", ""))
        if limit > self.max_entries_limit:
            raise _bad_request(
                "max entries limit per query exceeded, limit > "
                f"max_entries_limit_per_query ({limit} > {self.max_entries_limit})"
            )
        # The query frontend measures the range in whole milliseconds.
        length_ms = _milliseconds(end) - _milliseconds(start)
        if (
            self.max_query_length_ns > 0
            and length_ms * 1_000_000 > self.max_query_length_ns
        ):
            raise _bad_request(
                "the query time range exceeds the limit (query length: "
                f"{format_go_duration(length_ms * 1_000_000)}, limit: "
                f"{format_prometheus_duration(self.max_query_length_ns)})"
            )

        result = evaluate_log_query(
            streams,
            query,
            start=start,
            end=end,
            limit=limit,
            forward=forward,
            interval=interval,
            categorize_labels=categorize,
        )
        returned = sum(len(stream["values"]) for stream in result)
        data: dict[str, Any] = {"resultType": "streams"}
        if categorize:
            data["encodingFlags"] = [CATEGORIZE_LABELS_FLAG]
        data["result"] = result
        data["stats"] = query_stats(returned)
        return {"status": "success", "data": data}

    def _query_instant(self, params: dict[str, str]) -> dict[str, Any]:
        _parse_limit(params)
        if params.get("time", ""):
            try:
                parse_loki_timestamp(params["time"])
            except ValueError as error:
                raise _bad_request(str(error)) from None
        _parse_direction(params)
        _parse(params.get("query", ""))
        raise _bad_request(ERROR_LOG_QUERY_AS_INSTANT)

    def _labels(
        self, params: dict[str, str], streams: list[_StoredStream], name: str | None
    ) -> dict[str, Any]:
        start, end = _parse_bounds(params, time.time_ns())
        selector: LogQuery | None = None
        if params.get("query", ""):
            selector = _parse(params["query"])
            if selector.stages:
                raise _bad_request("only label matchers are supported")
        found: set[str] = set()
        for stream in streams:
            if selector is not None and not selector.selects(stream.labels):
                continue
            # NOTE: Loki reads labels from its index, at chunk granularity. Here
            # a stream counts if it has an entry in [start, end].
            low = bisect.bisect_left(stream.timestamps, start)
            if low >= len(stream.timestamps) or stream.timestamps[low] > end:
                continue
            if name is None:
                found.update(stream.labels)
            elif name in stream.labels:
                found.add(stream.labels[name])
        document: dict[str, Any] = {"status": "success"}
        if found:
            # Loki leaves "data" out when there is nothing to list.
            document["data"] = sorted(found)
        return document


def _parse(text: str) -> LogQuery:
    try:
        return parse_query(text)
    except ParseError as error:
        raise _bad_request(error.text) from None


def _header(headers: dict[str, str], name: str) -> str:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return ""


def _encoding_flags(headers: dict[str, str]) -> set[str]:
    text = _header(headers, "X-Loki-Response-Encoding-Flags")
    return {flag.strip() for flag in text.split(",") if flag.strip()}


def _error_response(
    error: _RequestError, *, basic_realm: bool = False
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": _TEXT_CONTENT_TYPE, "X-Content-Type-Options": "nosniff"}
    if error.status == 401 and basic_realm:
        headers["WWW-Authenticate"] = 'Basic realm="loki"'
    return error.status, headers, error.body.encode("utf-8", "replace")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        owner: LokiTestServer,
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    def _respond(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        params: dict[str, str] = {}
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if method == "POST" and content_type == _FORM_CONTENT_TYPE:
            for name, value in parse_qsl(
                body.decode("utf-8", "replace"), keep_blank_values=True
            ):
                params.setdefault(name, value)
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            params.setdefault(name, value)
        headers = dict(self.headers.items())
        owner = self.server.owner
        owner._record(RecordedRequest(method, split.path, params, headers))
        status, response_headers, response_body = owner.handle(
            method, split.path, params, headers
        )
        self.send_response(status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response_body)))
        self.end_headers()
        self.wfile.write(response_body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("Loki test server: " + format, *args)
