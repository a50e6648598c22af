"""Loki HTTP API client: log queries with complete paging.

Loki stops after ``limit`` entries and sets no flag (``readStreams`` in
grafana/loki ``pkg/logql/engine.go``), so a page that comes back full may have
more behind it. ``LokiClient.query_logs`` pages forward until a page comes back
short. The next page starts at the last timestamp seen, because ``start`` is
inclusive and more entries may share that nanosecond. Entries repeated across
the boundary are dropped on (timestamp, stream labels, line). logcli compares
the line alone, which loses entries when two streams log the same line in the
same nanosecond.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from slocli.backends.http import BackendHTTP
from slocli.core.timewindow import TimeWindow
from slocli.errors import BackendError, BackendResponseError

# Loki's default max_query_length is 30d1h (limits_config); longer windows are
# split into pieces no longer than this.
MAX_QUERY_LENGTH = timedelta(hours=720)

# Loki's default max_entries_limit_per_query; a larger `limit` is rejected with 400.
MAX_ENTRIES_LIMIT = 5000


LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log line with all its labels: stream labels, structured metadata and
    labels extracted by parser stages, merged as Loki merges them by default.

    A slotted dataclass rather than a pydantic model: a query can return
    hundreds of thousands of entries, and ``_page`` checks every field's type
    as it builds them. ``label_key`` is the labels sorted, computed once per
    stream, for de-duplication and ordering.
    """

    ts_ns: int
    labels: dict[str, str]
    line: str
    label_key: LabelKey = field(default=(), compare=False, repr=False)

    def key(self) -> tuple[int, LabelKey, str]:
        return (self.ts_ns, self.label_key or _label_key(self.labels), self.line)


def _label_key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def _checked_labels(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ValueError(f"labels {raw!r} are not a map of strings")
    return raw


@dataclass
class LogQueryResult:
    entries: list[LogEntry] = field(default_factory=list)
    complete: bool = True
    # Set when paging stopped at the caller's cap while a full page was pending.
    stopped_at_cap: int | None = None
    requests: int = 0
    warnings: list[str] = field(default_factory=list)


def _split_window(window: TimeWindow) -> Iterator[TimeWindow]:
    start = window.start
    while start < window.end:
        end = min(window.end, start + MAX_QUERY_LENGTH)
        yield TimeWindow(start=start, end=end)
        start = end


class LokiClient:
    def __init__(self, http: BackendHTTP) -> None:
        self.http = http

    def _invalid(self, problem: str) -> BackendResponseError:
        url = f"{self.http.base_url}/loki/api/v1/query_range"
        return BackendResponseError(
            f"Loki returned an invalid response ({problem}), for GET {url}; "
            "check that the URL points at Loki's HTTP API",
            backend="Loki",
            url=url,
        )

    def _page(
        self, query: str, start_ns: int, end_ns: int, limit: int
    ) -> tuple[list[LogEntry], list[str]]:
        body = self.http.get_json(
            "/loki/api/v1/query_range",
            {
                "query": query,
                "start": str(start_ns),
                "end": str(end_ns),
                "limit": str(limit),
                "direction": "forward",
            },
        )
        if not isinstance(body, dict) or body.get("status") != "success":
            raise self._invalid("the status is not success")
        data = body.get("data")
        if not isinstance(data, dict):
            raise self._invalid("data is missing")
        if data.get("resultType") != "streams":
            raise self._invalid(
                f"resultType is {data.get('resultType')!r}, expected streams; the "
                "query must be a log query, not a metric query"
            )
        entries: list[LogEntry] = []
        try:
            for stream in data.get("result") or []:
                labels = _checked_labels(stream.get("stream") or {})
                stream_key = _label_key(labels)
                for value in stream.get("values") or []:
                    entry_labels, entry_key = labels, stream_key
                    if len(value) > 2 and isinstance(value[2], dict):
                        # categorize-labels form: metadata and parsed labels apart
                        entry_labels = {
                            **labels,
                            **_checked_labels(value[2].get("structuredMetadata") or {}),
                            **_checked_labels(value[2].get("parsed") or {}),
                        }
                        entry_key = _label_key(entry_labels)
                    line = value[1]
                    if not isinstance(line, str):
                        raise ValueError(f"log line {line!r} is not a string")
                    ts_ns = int(value[0])
                    if not start_ns <= ts_ns < end_ns:
                        # Loki keeps start inclusive and end exclusive; an entry
                        # outside would make paging run backwards or for ever.
                        raise ValueError(
                            f"entry at {ts_ns} ns is outside the requested window "
                            f"[{start_ns}, {end_ns})"
                        )
                    entries.append(LogEntry(ts_ns, entry_labels, line, entry_key))
        except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
            raise self._invalid(str(exc)) from None
        warnings = [str(w) for w in body.get("warnings") or []]
        return entries, warnings

    def query_logs(
        self,
        query: str,
        window: TimeWindow,
        *,
        page_size: int = 1000,
        max_entries: int | None = None,
    ) -> LogQueryResult:
        """Fetch every entry matching a log query in [start, end), oldest first.

        With ``max_entries`` set, paging stops once that many entries are held
        and ``complete`` is False when more may exist.
        """
        result = LogQueryResult()
        seen: set[tuple[int, LabelKey, str]] = set()
        for piece in _split_window(window):
            if not self._page_window(
                query, piece, page_size, max_entries, result, seen
            ):
                break
        result.entries.sort(key=LogEntry.key)
        return result

    def _page_window(
        self,
        query: str,
        window: TimeWindow,
        page_size: int,
        max_entries: int | None,
        result: LogQueryResult,
        seen: set[tuple[int, LabelKey, str]],
    ) -> bool:
        """Page through one window; returns False when the caller's cap stopped it."""
        start_ns, end_ns = window.start_ns, window.end_ns
        limit = page_size
        while True:
            request_limit = limit
            if max_entries is not None:
                # One entry beyond the cap shows whether more exist.
                room = max_entries - len(result.entries) + 1
                request_limit = min(limit, max(room, 1))
            entries, warnings = self._page(query, start_ns, end_ns, request_limit)
            result.requests += 1
            result.warnings.extend(warnings)
            for entry in entries:
                key = entry.key()
                if key not in seen:
                    seen.add(key)
                    result.entries.append(entry)
            if max_entries is not None and len(result.entries) > max_entries:
                # Pages run forward in time, so the oldest entries are kept.
                result.entries.sort(key=LogEntry.key)
                del result.entries[max_entries:]
                result.complete = False
                result.stopped_at_cap = max_entries
                return False
            if len(entries) < request_limit:
                return True  # a short page: nothing more in this window
            last_ts = max(entry.ts_ns for entry in entries)
            if last_ts == start_ns:
                if request_limit < limit:
                    # Held at the cap on a timestamp shared by more entries:
                    # more may exist, and fetching them would pass the cap.
                    result.complete = False
                    result.stopped_at_cap = max_entries
                    return False
                # The whole page shares one timestamp, so starting the next page
                # there returns the same page. Ask for more entries at once.
                if limit >= MAX_ENTRIES_LIMIT:
                    raise BackendError(
                        f"Loki has more than {MAX_ENTRIES_LIMIT} entries at one "
                        f"timestamp ({last_ts} ns) for query {query}; they cannot be "
                        "paged: narrow the stream selector",
                        backend="Loki",
                        url=f"{self.http.base_url}/loki/api/v1/query_range",
                    )
                limit = min(MAX_ENTRIES_LIMIT, limit * 2)
                continue
            start_ns = last_ts
            limit = page_size
