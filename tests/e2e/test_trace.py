"""`slo trace` against the test stack: one key from the API through the queue."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.e2e.conftest import END, SloRunner

pytestmark = pytest.mark.e2e


@pytest.fixture
def timeline(stack: Stack, slo: SloRunner) -> dict:
    key = stack.workload.truth.timeline.context_key
    run = slo(["trace", key, "--to", END, "-o", "json"])
    assert run.exit_code == 0, run.stderr
    return run.json()


def test_timeline_has_every_log_line(stack: Stack, timeline: dict) -> None:
    expected = stack.workload.truth.timeline.log_lines
    logs = [row for row in timeline["rows"] if row["type"] == "log"]
    assert timeline["log_lines"] == len(expected)
    assert len(logs) == len(expected)
    kinds = sorted(row["fields"]["kind"] for row in logs)
    assert kinds == sorted(
        line.labels.get("kind", "") or _kind(line.line) for line in expected
    )


def _kind(line: str) -> str:
    import json

    return str(json.loads(line)["kind"])


def test_timeline_has_every_span(stack: Stack, timeline: dict) -> None:
    expected = {span.span_id for span in stack.workload.truth.timeline.spans}
    got = {row["span_id"] for row in timeline["rows"] if row["type"] == "span"}
    assert got == expected


def test_timeline_goes_api_to_queue_to_subqueue(timeline: dict) -> None:
    logs = [row for row in timeline["rows"] if row["type"] == "log"]
    entry_types = [row["fields"].get("entry_type") for row in logs]
    assert logs[0]["fields"]["kind"] == "api"
    assert "RefreshCollection" in entry_types
    sub_entries = [row for row in logs if row["fields"].get("parent_entry")]
    assert sub_entries, "a sub-queue entry should be in the timeline"


def test_timeline_rows_ordered_by_start(timeline: dict) -> None:
    tops = [row for row in timeline["rows"] if row["depth"] == 0]
    starts = [row["start"] for row in tops]
    assert starts == sorted(starts)


def test_spans_nest_under_parents(timeline: dict) -> None:
    by_id = {row["span_id"]: row for row in timeline["rows"] if row["span_id"]}
    for row in timeline["rows"]:
        if row["type"] == "span" and row["parent_span_id"]:
            parent = by_id[row["parent_span_id"]]
            assert row["depth"] == parent["depth"] + 1


def test_one_step_marked_longest(stack: Stack, timeline: dict) -> None:
    longest = [row for row in timeline["rows"] if row["longest"]]
    assert len(longest) == 1
    spans = stack.workload.truth.timeline.spans
    children: dict[str, list] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)

    def self_time(span) -> int:  # type: ignore[no-untyped-def]
        covered = 0
        last_end = span.start_ns
        for child in sorted(children.get(span.span_id, []), key=lambda c: c.start_ns):
            start = max(child.start_ns, last_end)
            end = min(child.end_ns, span.end_ns)
            if end > start:
                covered += end - start
                last_end = end
        return span.end_ns - span.start_ns - covered

    expected = max(spans, key=self_time)
    assert longest[0]["span_id"] == expected.span_id


def test_trace_ids_are_hex(timeline: dict) -> None:
    for trace in timeline["traces"]:
        assert len(trace["trace_id"]) == 32
        assert trace["trace_id"] == trace["trace_id"].lower()
        assert trace["found"] is True


def test_lines_without_trace_id_found_by_search(stack: Stack, slo: SloRunner) -> None:
    truth = stack.workload.truth
    candidates = [
        m
        for m in truth.misses
        if m.log_line_written and not m.log_line_has_trace_id and m.trace_id
    ]
    assert candidates, "the workload should log some lines without trace_id"
    miss = candidates[0]
    run = slo(["trace", miss.context_key, "--to", END, "-o", "json"])
    assert run.exit_code == 0, run.stderr
    trace_ids = {t["trace_id"] for t in run.json()["traces"]}
    assert miss.trace_id in trace_ids


@pytest.mark.parametrize("index", [0, 1, 2])
def test_special_keys_traced_exactly(stack: Stack, slo: SloRunner, index: int) -> None:
    key = stack.workload.truth.special_context_keys[index]
    run = slo(["trace", key, "--to", END, "-o", "json"])
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert document["context_key"] == key
    for row in document["rows"]:
        if row["type"] == "log":
            assert row["fields"]["context_key"] == key


def test_unknown_key_exits_no_data(slo: SloRunner) -> None:
    run = slo(["trace", "k-no-such-key", "--since", "1d", "--to", END])
    assert run.exit_code == 4
    assert run.stderr.startswith("slo: error: no log lines or traces carry context key")


def test_table_marks_longest_step(stack: Stack, slo: SloRunner) -> None:
    key = stack.workload.truth.timeline.context_key
    run = slo(["trace", key, "--to", END])
    assert run.exit_code == 0, run.stderr
    assert run.stdout.count("<- longest") == 1
    assert f"Context key: {key}\n" in run.stdout
