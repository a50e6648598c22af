"""Tests for slocli.core.timeline: stitching log lines and spans of one context key."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from slocli.backends.tempo import SpanModel, TraceModel
from slocli.core.timeline import (
    LogEvent,
    Timeline,
    TraceInfo,
    build_timeline,
    span_code,
)

T0 = 1_772_359_700_000_000_000
MS = 1_000_000
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "9a1c0000000000000000000000000001"


def span(
    span_id: str,
    parent: str | None,
    name: str,
    start_ms: int,
    end_ms: int,
    *,
    trace_id: str = TRACE_A,
    **fields: Any,
) -> SpanModel:
    values: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id.ljust(16, "0"),
        "parent_span_id": parent.ljust(16, "0") if parent else None,
        "name": name,
        "service_name": "gramophile",
        "kind": "server",
        "start_ns": T0 + start_ms * MS,
        "end_ns": T0 + end_ms * MS,
        "status": "unset",
    }
    values.update(fields)
    return SpanModel(**values)


def trace(*spans: SpanModel, partial_reason: str | None = None) -> TraceModel:
    return TraceModel(
        trace_id=spans[0].trace_id if spans else TRACE_A,
        spans=list(spans),
        partial_reason=partial_reason,
    )


def event(
    name: str,
    end_ms: int,
    duration_s: float | None,
    trace_id: str | None = None,
    kind: str = "api",
) -> LogEvent:
    return LogEvent(
        ts_ns=T0 + end_ms * MS,
        kind=kind,
        name=name,
        code="OK",
        duration_s=duration_s,
        trace_id=trace_id,
        fields={"context_key": "k-1"},
        line="{}",
    )


def outline(timeline: Timeline) -> list[tuple[int, str, str]]:
    return [(row.depth, row.kind, row.name) for row in timeline.rows]


REQUEST = trace(
    span("a1", None, "GetRecord", 0, 1400),
    span("a2", "a1", "db.Query", 100, 300),
    span("a3", "a1", "discogs.GetRelease", 300, 1300),
    span("a4", "a3", "http.Do", 350, 1250),
)


# Nesting and order --------------------------------------------------------------


def test_spans_nest_under_parents() -> None:
    timeline = build_timeline("k-1", [], [REQUEST])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (1, "span", "db.Query"),
        (1, "span", "discogs.GetRelease"),
        (2, "span", "http.Do"),
    ]


def test_children_ordered_by_start() -> None:
    shuffled = trace(
        span("a1", None, "root", 0, 100),
        span("a4", "a1", "fourth", 70, 80),
        span("a2", "a1", "second", 10, 20),
        span("a3", "a1", "third", 40, 50),
    )

    names = [row.name for row in build_timeline("k", [], [shuffled]).rows]

    assert names == ["root", "second", "third", "fourth"]


def test_log_line_under_trace_root() -> None:
    line = event("/pkg.Svc/GetRecord", end_ms=1400, duration_s=1.4, trace_id=TRACE_A)

    timeline = build_timeline("k-1", [line], [REQUEST])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (1, "log", "api /pkg.Svc/GetRecord"),
        (1, "span", "db.Query"),
        (1, "span", "discogs.GetRelease"),
        (2, "span", "http.Do"),
    ]


def test_span_before_log_at_same_start() -> None:
    line = event("Get", end_ms=100, duration_s=0.1, trace_id=TRACE_A)
    root = trace(span("a1", None, "root", 0, 100))

    timeline = build_timeline("k", [line], [root])

    assert [row.kind for row in timeline.rows] == ["span", "log"]


def test_lines_without_trace_at_top() -> None:
    queue_line = event("RefreshRelease", end_ms=9870, duration_s=1.1, kind="queue")
    early_line = event("Validate", end_ms=50, duration_s=None, kind="queue")

    timeline = build_timeline("k-1", [queue_line, early_line], [REQUEST])

    assert [(depth, name) for depth, _, name in outline(timeline) if depth == 0] == [
        (0, "GetRecord"),
        (0, "queue Validate"),
        (0, "queue RefreshRelease"),
    ]


def test_line_of_missing_trace_at_top() -> None:
    line = event("Get", end_ms=10, duration_s=0.01, trace_id=TRACE_B)

    timeline = build_timeline("k", [line], [REQUEST], missing_trace_ids=[TRACE_B])

    log_row = next(row for row in timeline.rows if row.kind == "log")
    assert log_row.depth == 0
    assert log_row.trace_id == TRACE_B


def test_traces_ordered_by_start() -> None:
    later = trace(span("b1", None, "Sync", 500, 600, trace_id=TRACE_B))

    timeline = build_timeline("k", [], [later, REQUEST])

    top = [row.name for row in timeline.rows if row.depth == 0]
    assert top == ["GetRecord", "Sync"]


def test_log_row_times() -> None:
    line = event("Get", end_ms=1400, duration_s=1.4)

    row = build_timeline("k", [line], []).rows[0]

    assert row.start_ns == T0
    assert row.end_ns == T0 + 1400 * MS
    assert row.duration_s == 1.4
    assert row.fields == {"context_key": "k-1"}
    assert row.self_time_s is None


def test_log_without_duration_is_instant() -> None:
    row = build_timeline("k", [event("Get", 5, None)], []).rows[0]

    assert row.start_ns == row.end_ns == T0 + 5 * MS


def test_counts_and_bounds() -> None:
    lines = [event("Get", 1400, 1.4, TRACE_A), event("Q", 9870, 1.1, kind="queue")]

    timeline = build_timeline("k-1", lines, [REQUEST])

    assert timeline.context_key == "k-1"
    assert timeline.log_count == 2
    assert timeline.start_ns == T0
    assert timeline.end_ns == T0 + 9870 * MS


def test_empty_timeline() -> None:
    timeline = build_timeline("k", [], [])

    assert timeline.rows == []
    assert timeline.traces == []
    assert (timeline.start_ns, timeline.end_ns) == (0, 0)


# Self time and the longest step ------------------------------------------------------


def test_self_time_per_span() -> None:
    rows = {row.name: row for row in build_timeline("k", [], [REQUEST]).rows}

    # Exact in nanoseconds: 1400 ms less children covering 100..1300 ms.
    assert rows["GetRecord"].self_time_s == 0.2
    assert rows["db.Query"].self_time_s == 0.2
    assert rows["discogs.GetRelease"].self_time_s == 0.1
    assert rows["http.Do"].self_time_s == 0.9


def test_longest_is_largest_self_time() -> None:
    timeline = build_timeline("k", [], [REQUEST])

    assert [row.name for row in timeline.rows if row.longest] == ["http.Do"]


def test_overlapping_children_counted_once() -> None:
    parallel = trace(
        span("a1", None, "root", 0, 1000),
        span("a2", "a1", "left", 100, 600),
        span("a3", "a1", "right", 400, 800),
    )

    root = build_timeline("k", [], [parallel]).rows[0]

    assert root.self_time_s == 0.3


def test_child_outside_parent_is_clipped() -> None:
    # A consumer span that runs after the request returned.
    async_child = trace(
        span("a1", None, "Enqueue", 0, 100),
        span("a2", "a1", "Consume", 50, 5000),
    )

    rows = {row.name: row for row in build_timeline("k", [], [async_child]).rows}

    assert rows["Enqueue"].self_time_s == 0.05
    assert rows["Consume"].longest is True


def test_span_ending_before_start() -> None:
    skewed = trace(span("a1", None, "root", 100, 50))

    row = build_timeline("k", [], [skewed]).rows[0]

    assert row.duration_s == 0.0
    assert row.self_time_s == 0.0


def test_longest_log_without_spans() -> None:
    lines = [event("A", 100, 0.1), event("B", 3000, 2.5), event("C", 4000, 0.5)]

    timeline = build_timeline("k", lines, [])

    assert [row.name for row in timeline.rows if row.longest] == ["api B"]


def test_one_longest_across_traces() -> None:
    other = trace(span("b1", None, "Slow", 2000, 7000, trace_id=TRACE_B))

    timeline = build_timeline("k", [], [REQUEST, other])

    assert [row.name for row in timeline.rows if row.longest] == ["Slow"]


# Partial and missing traces -------------------------------------------------------------

PARTIAL = trace(
    span("a1", None, "GetRecord", 0, 1400),
    span("a3", "ff", "discogs.GetRelease", 300, 1300),
    span("a4", "a3", "http.Do", 350, 1500),
    span("a5", "ee", "cache.Get", 1600, 1700),
)


def test_orphans_under_placeholder() -> None:
    timeline = build_timeline("k", [], [PARTIAL])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (0, "placeholder", "(parent span missing from Tempo)"),
        (1, "span", "discogs.GetRelease"),
        (2, "span", "http.Do"),
        (1, "span", "cache.Get"),
    ]


def test_placeholder_spans_its_descendants() -> None:
    timeline = build_timeline("k", [], [PARTIAL])

    placeholder = next(row for row in timeline.rows if row.kind == "placeholder")
    assert placeholder.start_ns == T0 + 300 * MS
    assert placeholder.end_ns == T0 + 1700 * MS
    assert placeholder.trace_id == TRACE_A


def test_orphans_mark_trace_partial() -> None:
    (info,) = build_timeline("k", [], [PARTIAL]).traces

    assert info == TraceInfo(
        TRACE_A,
        4,
        partial=True,
        found=True,
        note="some spans' parents are missing",
    )


def test_tempo_partial_reason_kept() -> None:
    complete_spans = trace(
        span("a1", None, "GetRecord", 0, 10), partial_reason="PARTIAL"
    )

    (info,) = build_timeline("k", [], [complete_spans]).traces

    assert info.partial is True
    assert info.note == "PARTIAL"


def test_whole_trace_not_partial() -> None:
    (info,) = build_timeline("k", [], [REQUEST]).traces

    assert info.partial is False
    assert info.note is None


def test_log_under_rootless_placeholder() -> None:
    rootless = trace(span("a3", "ff", "discogs.GetRelease", 300, 1300))
    line = event("Get", 1400, 1.4, TRACE_A)

    timeline = build_timeline("k", [line], [rootless])

    assert outline(timeline) == [
        (0, "placeholder", "(parent span missing from Tempo)"),
        (1, "log", "api Get"),
        (1, "span", "discogs.GetRelease"),
    ]


def test_log_line_prefers_real_root() -> None:
    line = event("Get", 1400, 1.4, TRACE_A)

    timeline = build_timeline("k", [line], [PARTIAL])

    log_row = next(row for row in timeline.rows if row.kind == "log")
    assert timeline.rows[timeline.rows.index(log_row) - 1].name == "GetRecord"
    assert log_row.depth == 1


def test_log_line_under_earliest_root() -> None:
    two_roots = trace(
        span("a9", None, "Late", 500, 600),
        span("a1", None, "Early", 0, 100),
    )
    line = event("Get", 700, 0.01, TRACE_A)

    timeline = build_timeline("k", [line], [two_roots])

    assert outline(timeline) == [
        (0, "span", "Early"),
        (1, "log", "api Get"),
        (0, "span", "Late"),
    ]


def test_missing_traces_listed() -> None:
    timeline = build_timeline("k", [], [REQUEST], missing_trace_ids=[TRACE_B])

    assert timeline.traces[1] == TraceInfo(
        TRACE_B, 0, partial=False, found=False, note="not found in Tempo"
    )


# Malformed span trees ------------------------------------------------------------


def padded(span_id: str) -> str:
    return span_id.ljust(16, "0")


def span_id_counts(timeline: Timeline) -> Counter[str | None]:
    return Counter(row.span_id for row in timeline.rows if row.kind == "span")


def self_time_ns(timeline: Timeline) -> int:
    return sum(
        round((row.self_time_s or 0.0) * 1e9)
        for row in timeline.rows
        if row.kind == "span"
    )


CYCLE = trace(
    span("a1", None, "GetRecord", 0, 100),
    span("b1", "b2", "left", 200, 600),
    span("b2", "b1", "right", 300, 500),
    span("b3", "b1", "under left", 250, 350),
)


def test_cycle_under_placeholder() -> None:
    timeline = build_timeline("k", [], [CYCLE])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (0, "placeholder", "(spans in a parent cycle)"),
        (1, "span", "left"),
        (2, "span", "under left"),
        (1, "span", "right"),
    ]
    assert span_id_counts(timeline) == Counter(
        padded(span_id) for span_id in ("a1", "b1", "b2", "b3")
    )


def test_cycle_marks_trace_partial() -> None:
    (info,) = build_timeline("k", [], [CYCLE]).traces

    assert info.partial is True
    assert info.note == "some spans are in a parent cycle"
    assert info.span_count == 4


def test_cycle_placeholder_bounds() -> None:
    timeline = build_timeline("k", [], [CYCLE])

    placeholder = next(row for row in timeline.rows if row.kind == "placeholder")
    assert placeholder.start_ns == T0 + 200 * MS
    assert placeholder.end_ns == T0 + 600 * MS
    assert placeholder.trace_id == TRACE_A


def test_cycle_self_time_counted_once() -> None:
    rows = {row.name: row for row in build_timeline("k", [], [CYCLE]).rows}

    # "right" is not counted as a child of "left": the cycle edge is dropped.
    assert rows["left"].self_time_s == 0.3
    assert rows["right"].self_time_s == 0.2
    assert rows["under left"].self_time_s == 0.1
    assert [name for name, row in rows.items() if row.longest] == ["left"]


def test_log_under_cycle_only_trace() -> None:
    cycle_only = trace(
        span("b1", "b2", "left", 200, 600),
        span("b2", "b1", "right", 300, 500),
    )
    line = event("Get", 700, 0.01, TRACE_A)

    timeline = build_timeline("k", [line], [cycle_only])

    assert outline(timeline) == [
        (0, "placeholder", "(spans in a parent cycle)"),
        (1, "span", "left"),
        (1, "span", "right"),
        (1, "log", "api Get"),
    ]


def test_own_parent_is_cycle() -> None:
    own_parent = trace(
        span("a1", None, "GetRecord", 0, 100),
        span("c1", "c1", "loop", 200, 400),
        span("c2", "c1", "under loop", 250, 300),
    )

    timeline = build_timeline("k", [], [own_parent])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (0, "placeholder", "(spans in a parent cycle)"),
        (1, "span", "loop"),
        (2, "span", "under loop"),
    ]
    assert span_id_counts(timeline) == Counter(
        padded(span_id) for span_id in ("a1", "c1", "c2")
    )
    (info,) = timeline.traces
    assert info.partial is True
    assert info.note == "some spans are in a parent cycle"


DUPLICATE = trace(
    span("a1", None, "GetRecord", 0, 1000),
    span("d1", "a1", "client Fetch", 100, 900, kind="client"),
    span("d1", "a1", "server Fetch", 150, 850),
    span("d2", "d1", "db.Query", 200, 800),
)


def test_duplicate_ids_both_shown() -> None:
    timeline = build_timeline("k", [], [DUPLICATE])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (1, "span", "client Fetch"),
        (2, "span", "db.Query"),
        (1, "span", "server Fetch"),
    ]
    assert span_id_counts(timeline) == Counter(
        {padded("a1"): 1, padded("d1"): 2, padded("d2"): 1}
    )


def test_duplicate_ids_noted_not_partial() -> None:
    (info,) = build_timeline("k", [], [DUPLICATE]).traces

    assert info.partial is False
    assert info.note == "some spans have duplicate span ids"
    assert info.span_count == 4


def test_duplicate_ids_self_time() -> None:
    rows = {row.name: row for row in build_timeline("k", [], [DUPLICATE]).rows}

    assert rows["GetRecord"].self_time_s == 0.2
    assert rows["client Fetch"].self_time_s == 0.2
    assert rows["db.Query"].self_time_s == 0.6
    # The children of d1 sit under the first copy, so the second copy's self
    # time is its whole duration.
    assert rows["server Fetch"].self_time_s == 0.7
    assert [name for name, row in rows.items() if row.longest] == ["server Fetch"]


def test_duplicate_id_chain_not_cycle() -> None:
    # By id, d1 -> d2 -> d1 looks like a loop, but the parent id of d2 resolves
    # to the first d1, so the spans form a chain.
    chain = trace(
        span("a1", None, "GetRecord", 0, 1000),
        span("d1", "a1", "first", 100, 900),
        span("d2", "d1", "middle", 200, 800),
        span("d1", "d2", "second", 300, 700),
    )

    timeline = build_timeline("k", [], [chain])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (1, "span", "first"),
        (2, "span", "middle"),
        (3, "span", "second"),
    ]
    (info,) = timeline.traces
    assert info.partial is False
    assert info.note == "some spans have duplicate span ids"


def test_own_parent_duplicate_under_root() -> None:
    reachable_loop = trace(
        span("a1", None, "GetRecord", 0, 1000),
        span("c1", "a1", "first", 100, 500),
        span("c1", "c1", "loop", 600, 900),
    )

    timeline = build_timeline("k", [], [reachable_loop])

    assert outline(timeline) == [
        (0, "span", "GetRecord"),
        (1, "span", "first"),
        (0, "placeholder", "(spans in a parent cycle)"),
        (1, "span", "loop"),
    ]
    assert span_id_counts(timeline) == Counter({padded("a1"): 1, padded("c1"): 2})
    (info,) = timeline.traces
    assert info.partial is True
    assert info.note == (
        "some spans are in a parent cycle; some spans have duplicate span ids"
    )
    assert self_time_ns(timeline) == 1300 * MS


def test_own_parent_duplicate_under_orphan() -> None:
    orphan_loop = trace(
        span("e1", "ff", "orphan", 0, 1000),
        span("c1", "e1", "first", 100, 500),
        span("c1", "c1", "loop", 600, 900),
    )

    timeline = build_timeline("k", [], [orphan_loop])

    assert outline(timeline) == [
        (0, "placeholder", "(parent span missing from Tempo)"),
        (1, "span", "orphan"),
        (2, "span", "first"),
        (0, "placeholder", "(spans in a parent cycle)"),
        (1, "span", "loop"),
    ]
    assert span_id_counts(timeline) == Counter({padded("e1"): 1, padded("c1"): 2})
    (info,) = timeline.traces
    assert info.partial is True
    assert info.note == (
        "some spans' parents are missing; some spans are in a parent cycle; "
        "some spans have duplicate span ids"
    )


def test_problems_follow_tempo_reason() -> None:
    partial_cycle = trace(
        span("b1", "b2", "left", 200, 600),
        span("b2", "b1", "right", 300, 500),
        partial_reason="PARTIAL",
    )

    (info,) = build_timeline("k", [], [partial_cycle]).traces

    assert info.partial is True
    assert info.note == "PARTIAL; some spans are in a parent cycle"


def test_deep_parent_chain() -> None:
    depth = 5000
    span_ids = [f"{level:016x}" for level in range(depth)]
    chain = trace(
        *(
            span(
                span_ids[level],
                span_ids[level - 1] if level else None,
                f"level {level}",
                level,
                2 * depth - level,
            )
            for level in range(depth)
        )
    )

    timeline = build_timeline("k", [], [chain])

    assert [row.depth for row in timeline.rows] == list(range(depth))
    assert span_id_counts(timeline) == Counter(span_ids)
    (info,) = timeline.traces
    assert info.partial is False
    assert info.note is None
    # Nested spans: the self times add up to the root's duration.
    assert self_time_ns(timeline) == 2 * depth * MS


def test_long_parent_cycle() -> None:
    size = 5000
    span_ids = [f"{index:016x}" for index in range(size)]
    ring = trace(
        *(
            span(
                span_ids[index], span_ids[index - 1], f"ring {index}", index, index + 1
            )
            for index in range(size)
        )
    )

    timeline = build_timeline("k", [], [ring])

    assert span_id_counts(timeline) == Counter(span_ids)
    assert {row.depth for row in timeline.rows if row.kind == "span"} == {1}
    (info,) = timeline.traces
    assert info.partial is True
    assert info.note == "some spans are in a parent cycle"


# Span details -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({"rpc.grpc.status_code": 0}, "OK"),
        ({"rpc.grpc.status_code": 14}, "Unavailable"),
        ({"rpc.grpc.status_code": 16}, "Unauthenticated"),
        ({"rpc.grpc.status_code": 17}, None),
        ({"rpc.grpc.status_code": -1}, None),
        ({"rpc.status_code": "DataLoss"}, "DataLoss"),
        ({"grpc.code": "NotFound"}, "NotFound"),
        ({"rpc.status_code": ""}, None),
        ({}, None),
    ],
)
def test_span_code(attributes: dict[str, Any], code: str | None) -> None:
    assert span_code(span("a1", None, "x", 0, 1, attributes=attributes)) == code


def test_span_row_fields() -> None:
    failing = trace(
        span(
            "a1",
            None,
            "GetRecord",
            0,
            10,
            status="error",
            status_message="upstream timed out",
            attributes={"rpc.grpc.status_code": 4},
        )
    )

    row = build_timeline("k", [], [failing]).rows[0]

    assert row.kind == "span"
    assert row.service == "gramophile"
    assert row.code == "DeadlineExceeded"
    assert row.status == "error"
    assert row.trace_id == TRACE_A
    assert row.span_id == "a100000000000000"
    assert row.parent_span_id is None
    assert row.fields == {"status_message": "upstream timed out"}
