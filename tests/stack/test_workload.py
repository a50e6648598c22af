"""Tests of the workload generator and of the Prometheus TSDB built from it.

The expected values here are recomputed from the generator's outputs (log lines,
spans, OpenMetrics samples) with code of their own, so that the truth, the logs,
the traces and the metrics are checked against each other.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.stack import prom
from tests.stack.model import Span
from tests.stack.workload import (
    API_LATENCY_THRESHOLD_S,
    API_STREAM_LABELS,
    DEFAULT_SEED,
    END_NS,
    FAILING_CODES,
    INCIDENT_END_NS,
    INCIDENT_START_NS,
    METHODS,
    NS_PER_S,
    QUEUE_OBJECTIVES_S,
    QUEUE_STREAM_LABELS,
    SPECIAL_CONTEXT_KEYS,
    START_NS,
    Workload,
    format_go_duration,
    format_timestamp,
    generate_workload,
)

API_FIELDS = ["ts", "kind", "method", "code", "latency", "context_key"]
QUEUE_FIELDS = [
    "ts",
    "kind",
    "entry_type",
    "code",
    "queue_wait",
    "run_time",
    "context_key",
]
WINDOW_START_NS = END_NS - 86400 * NS_PER_S
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|µs|ns)")
_UNIT_NS = {
    "h": 3600 * NS_PER_S,
    "m": 60 * NS_PER_S,
    "s": NS_PER_S,
    "ms": 1_000_000,
    "µs": 1_000,
    "ns": 1,
}


def parse_go_duration(text: str) -> int:
    """Parse a Go duration string into nanoseconds (test-side, exact)."""
    parts = _DURATION_PART.findall(text)
    assert "".join(number + unit for number, unit in parts) == text, text
    total = sum(Fraction(number) * _UNIT_NS[unit] for number, unit in parts)
    assert total.denominator == 1, text
    return int(total)


@dataclass(frozen=True)
class ParsedLine:
    ts_ns: int
    fields: dict[str, str]


def parse_stream(workload: Workload, labels: dict[str, str]) -> list[ParsedLine]:
    [stream] = [s for s in workload.streams if s.labels == labels]
    parsed = []
    for ts_ns, line in stream.entries:
        try:
            fields = json.loads(line)
        except json.JSONDecodeError:
            continue
        parsed.append(ParsedLine(ts_ns, fields))
    return parsed


def line_is_miss(fields: dict[str, str]) -> bool:
    if fields["kind"] == "api":
        latency_ns = parse_go_duration(fields["latency"])
        slow = latency_ns > API_LATENCY_THRESHOLD_S * NS_PER_S
        return slow or fields["code"] in FAILING_CODES
    run_ns = parse_go_duration(fields["run_time"])
    return run_ns > QUEUE_OBJECTIVES_S[fields["entry_type"]] * NS_PER_S


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(DEFAULT_SEED)


@pytest.fixture(scope="module")
def workload_again() -> Workload:
    """A second run with the same seed, for the determinism checks."""
    return generate_workload(DEFAULT_SEED)


@pytest.fixture(scope="module")
def api_lines(workload: Workload) -> list[ParsedLine]:
    return parse_stream(workload, API_STREAM_LABELS)


@pytest.fixture(scope="module")
def queue_lines(workload: Workload) -> list[ParsedLine]:
    return parse_stream(workload, QUEUE_STREAM_LABELS)


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (850_000, "850µs"),
        (12_500_000, "12.5ms"),
        (1_400_000_000, "1.4s"),
        (60 * NS_PER_S, "1m0s"),
        (62_500_000_000, "1m2.5s"),
        (3600 * NS_PER_S, "1h0m0s"),
        (3723 * NS_PER_S + 1, "1h2m3.000000001s"),
        (-1_400_000_000, "-1.4s"),
    ],
)
def test_go_duration_format(ns: int, text: str) -> None:
    assert format_go_duration(ns) == text
    assert parse_go_duration(text.lstrip("-")) == abs(ns)


def test_timestamp_format_truncates_to_ms() -> None:
    assert format_timestamp(1772359702123456789) == "2026-03-01T10:08:22.123Z"
    assert format_timestamp(END_NS) == "2026-03-04T12:00:00.000Z"


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def _stream_digest(workload: Workload) -> str:
    digest = hashlib.sha256()
    for stream in workload.streams:
        digest.update(json.dumps(stream.labels, sort_keys=True).encode())
        for ts_ns, line in stream.entries:
            digest.update(f"{ts_ns} {line}\n".encode())
    return digest.hexdigest()


def _span_digest(spans: list[Span]) -> str:
    digest = hashlib.sha256()
    for span in spans:
        digest.update(repr(span).encode())
    return digest.hexdigest()


def test_same_seed_same_output(workload: Workload, workload_again: Workload) -> None:
    again = workload_again
    assert again.truth.to_json() == workload.truth.to_json()
    assert _stream_digest(again) == _stream_digest(workload)
    assert _span_digest(again.spans) == _span_digest(workload.spans)


def test_other_seed_other_output(workload: Workload) -> None:
    other = generate_workload(DEFAULT_SEED + 1)
    assert _stream_digest(other) != _stream_digest(workload)
    assert other.truth.seed == DEFAULT_SEED + 1
    # The hand-placed parts do not depend on the seed.
    assert other.truth.special_context_keys == workload.truth.special_context_keys


def test_openmetrics_same_for_same_seed(
    workload: Workload, workload_again: Workload, tmp_path: Path
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    [path_a], _ = prom.write_openmetrics(workload, first)
    [path_b], _ = prom.write_openmetrics(workload_again, second)
    digest_a = hashlib.sha256(path_a.read_bytes()).hexdigest()
    digest_b = hashlib.sha256(path_b.read_bytes()).hexdigest()
    assert digest_a == digest_b


# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------


def test_streams_and_volume(workload: Workload) -> None:
    labels = [s.labels for s in workload.streams]
    assert labels == [API_STREAM_LABELS, QUEUE_STREAM_LABELS]
    total = sum(len(s.entries) for s in workload.streams)
    assert 60_000 < total < 150_000
    for stream in workload.streams:
        times = [ts for ts, _ in stream.entries]
        assert times == sorted(times)
        assert times[0] >= START_NS
        assert times[-1] < END_NS


def test_api_line_shape(api_lines: list[ParsedLine]) -> None:
    assert len(api_lines) > 50_000
    without_trace_id = 0
    for line in api_lines:
        keys = list(line.fields)
        if "trace_id" in keys:
            assert keys == [*API_FIELDS, "trace_id"]
            assert re.fullmatch(r"[0-9a-f]{32}", line.fields["trace_id"])
        else:
            assert keys == API_FIELDS
            without_trace_id += 1
        assert line.fields["ts"] == format_timestamp(line.ts_ns)
        assert line.fields["method"].startswith("/gramophile.GramophileEService/")
    assert without_trace_id > 0


def test_queue_line_shape(queue_lines: list[ParsedLine]) -> None:
    with_parent = 0
    for line in queue_lines:
        keys = [k for k in line.fields if k not in ("trace_id", "parent_entry")]
        assert keys == QUEUE_FIELDS
        assert line.fields["ts"] == format_timestamp(line.ts_ns)
        assert line.fields["entry_type"] in QUEUE_OBJECTIVES_S
        if "parent_entry" in line.fields:
            assert list(line.fields)[-1] == "parent_entry"
            with_parent += 1
    assert with_parent > 0


def test_line_durations_are_go_strings(
    workload: Workload, api_lines: list[ParsedLine]
) -> None:
    requests = {r.context_key: r for r in workload.requests}
    for line in api_lines[:5000]:
        request = requests[line.fields["context_key"]]
        assert parse_go_duration(line.fields["latency"]) == request.latency_ns
        assert format_go_duration(request.latency_ns) == line.fields["latency"]


def test_broken_lines_match_truth(workload: Workload) -> None:
    broken = [
        (ts_ns, line)
        for stream in workload.streams
        for ts_ns, line in stream.entries
        if not _parses_as_json(line)
    ]
    expected = [(b.ts_ns, b.line) for b in workload.truth.broken_lines]
    assert sorted(broken) == sorted(expected)
    reasons = Counter(b.reason for b in workload.truth.broken_lines)
    assert reasons["truncated"] == 1
    assert reasons["panic"] >= 3
    truncated = next(b for b in workload.truth.broken_lines if b.reason == "truncated")
    assert truncated.line.startswith('{"ts":')


def _parses_as_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def test_special_keys_round_trip(api_lines: list[ParsedLine]) -> None:
    keys = Counter(line.fields["context_key"] for line in api_lines)
    for key in SPECIAL_CONTEXT_KEYS:
        assert keys[key] == 1, key
    joined = "".join(SPECIAL_CONTEXT_KEYS)
    for character in ('"', "\\", "`", " ", "ü"):
        assert character in joined


def test_special_keys_have_traces(workload: Workload) -> None:
    keyed = {s.attributes.get("context_key") for s in workload.spans}
    for key in SPECIAL_CONTEXT_KEYS:
        assert key in keyed, key


# ---------------------------------------------------------------------------
# Truth against the logs
# ---------------------------------------------------------------------------


def test_logged_misses_match_truth(
    workload: Workload, api_lines: list[ParsedLine], queue_lines: list[ParsedLine]
) -> None:
    from_lines = set()
    for line in [*api_lines, *queue_lines]:
        if line.ts_ns >= WINDOW_START_NS and line_is_miss(line.fields):
            from_lines.add((line.ts_ns, line.fields["context_key"]))
    logged = {
        (m.ts_ns, m.context_key) for m in workload.truth.misses if m.log_line_written
    }
    assert from_lines == logged


def test_missing_lines_absent_from_logs(
    workload: Workload, api_lines: list[ParsedLine], queue_lines: list[ParsedLine]
) -> None:
    missing = [m for m in workload.truth.misses if not m.log_line_written]
    assert [m.kind for m in missing].count("api") >= 2
    assert [m.kind for m in missing].count("queue") >= 1
    present = {
        (line.ts_ns, line.fields["context_key"]) for line in [*api_lines, *queue_lines]
    }
    for miss in missing:
        assert (miss.ts_ns, miss.context_key) not in present


def test_per_method_counts_match_events(workload: Workload) -> None:
    in_window = [r for r in workload.requests if r.end_ns >= WINDOW_START_NS]
    for counts in workload.truth.per_method:
        of_method = [r for r in in_window if r.full_method == counts.method]
        assert counts.requests == len(of_method)
        assert counts.errors == sum(r.code in FAILING_CODES for r in of_method)
        latency_ns = API_LATENCY_THRESHOLD_S * NS_PER_S
        assert counts.slow == sum(r.latency_ns > latency_ns for r in of_method)
    logged = Counter(
        m.method
        for m in workload.truth.misses
        if m.kind == "api" and m.log_line_written
    )
    for counts in workload.truth.per_method:
        assert counts.logged_misses == logged[counts.method]


def test_misses_are_in_window(workload: Workload) -> None:
    assert workload.truth.misses
    for miss in workload.truth.misses:
        assert WINDOW_START_NS <= miss.ts_ns < END_NS
        assert miss.reasons


def test_incident_causes_most_misses(workload: Workload) -> None:
    during = [
        m
        for m in workload.truth.misses
        if m.kind == "api"
        and INCIDENT_START_NS <= m.ts_ns < INCIDENT_END_NS + 10 * NS_PER_S
    ]
    unavailable = [m for m in during if m.code == "Unavailable"]
    assert len(during) > 50
    assert len(unavailable) >= 10


def test_budget_figures_reached(workload: Workload) -> None:
    remaining = workload.truth.budget_remaining_30d
    availability = remaining["api_availability"]
    latency = remaining["api_latency"]
    assert availability is not None
    assert latency is not None
    assert 0.3 <= availability <= 0.7
    assert latency < 0
    month, three_days = workload.truth.budgets[:2]
    assert month.api_availability == three_days.api_availability


# ---------------------------------------------------------------------------
# Traces
# ---------------------------------------------------------------------------


def _spans_by_trace(workload: Workload) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in workload.spans:
        traces[span.trace_id].append(span)
    return traces


def test_spans_form_trees(workload: Workload) -> None:
    span_ids = Counter(s.span_id for s in workload.spans)
    assert max(span_ids.values()) == 1
    for trace_id, spans in _spans_by_trace(workload).items():
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        roots = [s for s in spans if s.parent_span_id == ""]
        assert len(roots) == 1, trace_id
        root = roots[0]
        for span in spans:
            assert root.start_ns <= span.start_ns <= span.end_ns <= root.end_ns
            if span is not root:
                assert span.parent_span_id == root.span_id


def test_misses_have_traces(workload: Workload) -> None:
    traces = _spans_by_trace(workload)
    for miss in workload.truth.misses:
        if miss.kind == "api":
            assert miss.trace_id is not None
        if miss.trace_id is not None:
            root = next(s for s in traces[miss.trace_id] if s.parent_span_id == "")
            assert root.attributes["context_key"] == miss.context_key
            assert root.end_ns == miss.ts_ns


def test_failed_requests_have_error_status(workload: Workload) -> None:
    traces = _spans_by_trace(workload)
    for request in workload.requests:
        if request.trace_id is None:
            continue
        root = next(s for s in traces[request.trace_id] if s.parent_span_id == "")
        expected = "STATUS_CODE_ERROR" if request.failed else "STATUS_CODE_UNSET"
        assert root.status_code == expected
        assert root.attributes["rpc.grpc.status_code"] == _grpc_code_number(
            request.code
        )


def _grpc_code_number(code: str) -> int:
    # grpc-go codes.Code values, in order from 0.
    names = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ]
    return names.index(code)


def test_trace_ids_in_logs_exist(
    workload: Workload, api_lines: list[ParsedLine], queue_lines: list[ParsedLine]
) -> None:
    traces = _spans_by_trace(workload)
    for line in [*api_lines, *queue_lines]:
        trace_id = line.fields.get("trace_id")
        if trace_id is not None:
            assert trace_id in traces


def test_some_traces_only_found_by_key(
    workload: Workload, api_lines: list[ParsedLine], queue_lines: list[ParsedLine]
) -> None:
    logged_ids = {line.fields.get("trace_id") for line in [*api_lines, *queue_lines]}
    unlogged = [t for t in _spans_by_trace(workload) if t not in logged_ids]
    assert len(unlogged) > 100


def test_trace_ids_with_leading_zeros(workload: Workload) -> None:
    roots = [s for s in workload.spans if s.parent_span_id == ""]
    zeros = Counter(len(s.trace_id) - len(s.trace_id.lstrip("0")) for s in roots)
    assert zeros[1] > 0
    assert zeros[2] > 0
    assert zeros[3] > 0


def test_timeline_chain(workload: Workload) -> None:
    timeline = workload.truth.timeline
    fields = [json.loads(record.line) for record in timeline.log_lines]
    assert {f["context_key"] for f in fields} == {timeline.context_key}
    kinds = [(f["kind"], f.get("entry_type"), f.get("parent_entry")) for f in fields]
    assert ("api", None, None) in kinds
    assert ("queue", "RefreshCollection", None) in kinds
    assert ("queue", "RefreshRelease", "RefreshCollection") in kinds
    roots = [s for s in timeline.spans if s.parent_span_id == ""]
    assert len(roots) == len(fields)
    root_names = Counter(s.name for s in roots)
    assert root_names["/gramophile.GramophileEService/Upgrade"] == 1
    assert root_names["queue.RefreshCollection"] == 1
    assert root_names["queue.RefreshRelease"] == 2
    api = next(f for f in fields if f["kind"] == "api")
    assert parse_go_duration(api["latency"]) > NS_PER_S
    assert api["trace_id"].startswith("000")
    # One line in the chain has no trace id. Its trace is found by the key.
    assert any("trace_id" not in f for f in fields)


# ---------------------------------------------------------------------------
# OpenMetrics
# ---------------------------------------------------------------------------


@dataclass
class Samples:
    times: list[int]
    # Values by series text (name and labels as written), in scrape order.
    series: dict[str, list[float]]
    metadata: list[str]

    def final(self, series: str) -> float:
        return self.series[series][-1]

    def at(self, series: str, ts_s: int) -> float:
        return self.series[series][self.times.index(ts_s)]


def _read_samples(path: Path) -> Samples:
    series: dict[str, list[float]] = {}
    times_by_series: dict[str, list[int]] = {}
    metadata = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#"):
                metadata.append(line.rstrip("\n"))
                continue
            name, value, ts = line.rsplit(" ", 2)
            series.setdefault(name, []).append(float(value))
            times_by_series.setdefault(name, []).append(int(ts))
    times = prom.scrape_times_s()
    for name, series_times in times_by_series.items():
        assert series_times == times, name
    return Samples(times, series, metadata)


@pytest.fixture(scope="module")
def samples(
    workload: Workload, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Samples]:
    folder = tmp_path_factory.mktemp("openmetrics")
    [path], count = prom.write_openmetrics(workload, folder)
    parsed = _read_samples(path)
    assert count == sum(len(v) for v in parsed.series.values())
    yield parsed
    path.unlink()


def test_openmetrics_metadata(samples: Samples) -> None:
    assert samples.metadata[-1] == "# EOF"
    types = [m for m in samples.metadata if m.startswith("# TYPE")]
    assert types == [
        "# TYPE grpc_server_handled counter",
        "# TYPE grpc_server_handling_seconds histogram",
        "# TYPE gramophile_queue_time histogram",
        "# TYPE up gauge",
    ]
    assert len([m for m in samples.metadata if m.startswith("# HELP")]) == 4


def test_scrape_plan() -> None:
    times = prom.scrape_times_s()
    assert times[0] == START_NS // NS_PER_S
    assert times[-1] == END_NS // NS_PER_S
    steps = Counter(b - a for a, b in itertools.pairwise(times))
    assert set(steps) == {30, 300}
    assert steps[30] == 86400 // 30


def test_counters_start_zero_never_decrease(samples: Samples) -> None:
    for name, values in samples.series.items():
        if name.startswith("up{"):
            continue
        assert values[0] == 0, name
        assert all(b >= a for a, b in itertools.pairwise(values)), name


def _histograms(samples: Samples) -> dict[str, dict[str, str]]:
    """Map each histogram label set to its bucket series by `le` text."""
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for name in samples.series:
        match = re.fullmatch(r'(\w+)_bucket\{(.*),le="([^"]+)"\}', name)
        if match:
            groups[f"{match[1]}{{{match[2]}}}"][match[3]] = name
    return groups


def test_histogram_buckets_consistent(samples: Samples) -> None:
    groups = _histograms(samples)
    assert len(groups) == len(METHODS) + len(QUEUE_OBJECTIVES_S)
    for base, buckets in groups.items():
        bounds = sorted((b for b in buckets if b != "+Inf"), key=float)
        ordered = [buckets[b] for b in [*bounds, "+Inf"]]
        count = base.replace("{", "_count{", 1)
        assert samples.series[count] == samples.series[ordered[-1]]
        for lower, upper in itertools.pairwise(ordered):
            pairs = zip(samples.series[lower], samples.series[upper], strict=True)
            assert all(a <= b for a, b in pairs), (lower, upper)


def test_le_spellings(samples: Samples) -> None:
    api = next(b for n, b in _histograms(samples).items() if "grpc" in n)
    queue = next(b for n, b in _histograms(samples).items() if "queue" in n)
    assert "1.0" in api
    assert "10.0" in api
    assert "0.005" in api
    assert "1000" in queue
    assert "1000.0" not in queue


def test_metrics_match_truth_per_method(samples: Samples, workload: Workload) -> None:
    since = WINDOW_START_NS // NS_PER_S
    handled = {
        name: values
        for name, values in samples.series.items()
        if name.startswith("grpc_server_handled_total{")
    }
    for counts in workload.truth.per_method:
        method = f'grpc_method="{counts.grpc_method}"'
        errors = 0.0
        total = 0.0
        for name, values in handled.items():
            if method not in name:
                continue
            delta = values[-1] - values[samples.times.index(since)]
            total += delta
            code = re.search(r'grpc_code="(\w+)"', name)
            assert code is not None
            if code[1] in FAILING_CODES:
                errors += delta
        assert total == counts.requests, counts.method
        assert errors == counts.errors, counts.method
        labels = (
            'grpc_type="unary",grpc_service="gramophile.GramophileEService",'
            f'{method},job="gramophile",instance="gramophile:9090"'
        )
        fast = samples.series[
            f'grpc_server_handling_seconds_bucket{{{labels},le="1.0"}}'
        ]
        everything = samples.series[
            f'grpc_server_handling_seconds_bucket{{{labels},le="+Inf"}}'
        ]
        start = samples.times.index(since)
        slow = (everything[-1] - everything[start]) - (fast[-1] - fast[start])
        assert slow == counts.slow, counts.method


# ---------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="promtool and prometheus are not installed",
)


@pytest.fixture(scope="module")
def prometheus(workload: Workload) -> Iterator[prom.PrometheusServer]:
    tsdb = prom.build_tsdb(workload)
    with prom.PrometheusServer(tsdb) as server:
        yield server


def _scalar(server: prom.PrometheusServer, expr: str) -> float:
    result = server.query(expr, END_NS / NS_PER_S)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


# The windows start and end on a scrape, and Prometheus 2.x range selectors
# include the sample at the window start, so increase() needs no extrapolation
# and returns whole counts.
# NOTE: Prometheus 3 range selectors are left-open. There these windows would be
# extrapolated and the comparison would need a tolerance.


@pytest.mark.e2e
@needs_prometheus
def test_prometheus_budget_counts(
    prometheus: prom.PrometheusServer, workload: Workload
) -> None:
    failing = "|".join(FAILING_CODES)
    for budget in workload.truth.budgets:
        window = budget.window
        valid = _scalar(
            prometheus, f"sum(increase(grpc_server_handled_total[{window}]))"
        )
        errors = _scalar(
            prometheus,
            f'sum(increase(grpc_server_handled_total{{grpc_code=~"{failing}"}}'
            f"[{window}]))",
        )
        fast = _scalar(
            prometheus,
            f'sum(increase(grpc_server_handling_seconds_bucket{{le="1.0"}}[{window}]))',
        )
        assert valid == budget.api_availability.valid, window
        assert errors == budget.api_availability.bad, window
        assert valid - fast == budget.api_latency.bad, window


@pytest.mark.e2e
@needs_prometheus
def test_prometheus_queue_counts(
    prometheus: prom.PrometheusServer, workload: Workload
) -> None:
    for budget in workload.truth.budgets:
        window = budget.window
        for entry_type, counts in budget.queue_latency.items():
            objective_ms = int(QUEUE_OBJECTIVES_S[entry_type] * 1000)
            selector = f'type="{entry_type}"'
            valid = _scalar(
                prometheus,
                f"sum(increase(gramophile_queue_time_count{{{selector}}}[{window}]))",
            )
            within = _scalar(
                prometheus,
                f"sum(increase(gramophile_queue_time_bucket"
                f'{{{selector},le="{objective_ms}"}}[{window}]))',
            )
            assert valid == counts.valid, (window, entry_type)
            assert valid - within == counts.bad, (window, entry_type)


@pytest.mark.e2e
@needs_prometheus
def test_prometheus_unavailable_in_day(
    prometheus: prom.PrometheusServer, workload: Workload
) -> None:
    expected = sum(
        1
        for r in workload.requests
        if r.code == "Unavailable" and r.end_ns >= WINDOW_START_NS
    )
    got = _scalar(
        prometheus,
        'sum(increase(grpc_server_handled_total{grpc_code="Unavailable"}[24h]))',
    )
    assert got == expected


@pytest.mark.e2e
@needs_prometheus
def test_cached_tsdb_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    first = prom.build_tsdb(DEFAULT_SEED)

    def fail(seed: int) -> Any:
        raise AssertionError("the cached TSDB should be used")

    monkeypatch.setattr(prom, "generate_workload", fail)
    assert prom.build_tsdb(DEFAULT_SEED) == first
    report = prom.read_build_report(DEFAULT_SEED)
    assert report["generator_version"] == prom.GENERATOR_VERSION
    assert report["samples"] > 1_000_000
