"""Tests for slocli.core.misses: classifying log lines and summarising misses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from slocli.config import LogsShape, ObjectivesConfig
from slocli.core.misses import (
    Classified,
    Miss,
    classify,
    method_name,
    read_duration,
    summarise,
)

TS = 1_772_359_702_123_456_789
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
METHOD = "/gramophile.GramophileEService/GetRecord"


def api_labels(**fields: str) -> dict[str, str]:
    labels = {
        "kind": "api",
        "method": METHOD,
        "code": "OK",
        "latency": "1.4s",
        "context_key": "k-1",
        "trace_id": TRACE,
    }
    labels.update(fields)
    return labels


def queue_labels(**fields: str) -> dict[str, str]:
    labels = {
        "kind": "queue",
        "entry_type": "RefreshRelease",
        "code": "OK",
        "queue_wait": "6.2s",
        "run_time": "45s",
        "context_key": "k-1",
    }
    labels.update(fields)
    return labels


def run(
    entries: Sequence[tuple[int, Mapping[str, str], str]],
    *,
    kind: str = "api",
    logs: LogsShape | None = None,
    objectives: ObjectivesConfig | None = None,
) -> Classified:
    return classify(
        entries,
        kind=kind,
        logs=logs or LogsShape(),
        objectives=objectives or ObjectivesConfig(),
    )


def outcome(result: Classified) -> str:
    """Name what became of a single classified line."""
    if result.unparsed:
        return "unparsed"
    if result.misses:
        return "slow" if result.misses[0].slow else "failed"
    return "fast"


def make_miss(**fields: Any) -> Miss:
    values: dict[str, Any] = {
        "ts_ns": TS,
        "kind": "api",
        "name": "GetRecord",
        "code": "OK",
        "latency_s": 1.5,
        "threshold_s": 1.0,
        "slow": True,
        "failed": False,
        "context_key": "k-1",
        "trace_id": None,
    }
    values.update(fields)
    return Miss(**values)


# Lines that do not parse ---------------------------------------------------------


def test_broken_lines_are_unparsed() -> None:
    valid = '{"kind":"api","latency":"1.4s"}'
    panic = "panic: runtime error: index out of range [3] with length 3"
    truncated = '{"kind":"api","method":"/pkg.Svc/Get","latency":"5'
    entries = [
        (TS, api_labels(), valid),
        (TS + 1, {"__error__": "JSONParserErr"}, panic),
        (
            TS + 2,
            {
                "__error__": "JSONParserErr",
                "__error_details__": "Value looks like object, but can't find closing '}' symbol",
            },
            truncated,
        ),
    ]

    result = run(entries)

    assert len(result.misses) == 1
    assert result.misses[0].ts_ns == TS
    assert [u.line for u in result.unparsed] == [panic, truncated]
    assert [u.reason for u in result.unparsed] == [
        "JSONParserErr",
        "JSONParserErr: Value looks like object, but can't find closing '}' symbol",
    ]
    assert result.not_misses == 0


def test_line_without_fields_is_unparsed() -> None:
    result = run([(TS, {}, '{"kind":"api","latency":"5')])

    assert result.misses == []
    assert result.unparsed[0].reason == ("latency=None does not parse: missing")


def test_label_filter_error_is_unparsed() -> None:
    labels = api_labels(latency="1500", __error__="LabelFilterErr")

    result = run([(TS, labels, "line")])

    assert outcome(result) == "unparsed"
    assert result.unparsed[0].reason == "LabelFilterErr"


# Durations (threshold 1s) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("latency", "unit", "expected"),
    [
        ("1.5s", None, "slow"),
        ("1500ms", None, "slow"),
        ("1m30s", None, "slow"),
        ("1.000001s", None, "slow"),
        ("0.9s", None, "fast"),
        ("1s", None, "fast"),
        ("1000ms", None, "fast"),
        ("850µs", None, "fast"),
        ("1500", None, "unparsed"),
        ("1.5", None, "unparsed"),
        ("0", None, "fast"),
        ("", None, "unparsed"),
        ("1.5 s", None, "unparsed"),
        ("1500", "ms", "slow"),
        ("1000", "ms", "fast"),
        ("900", "ms", "fast"),
        ("1.5", "s", "slow"),
        ("1500000", "us", "slow"),
        ("1500000000", "ns", "slow"),
        ("999999999", "ns", "fast"),
        ("1.5s", "ms", "unparsed"),
        ("nan", "ms", "unparsed"),
        ("inf", "ms", "unparsed"),
    ],
)
def test_latency_outcome(latency: str, unit: str | None, expected: str) -> None:
    logs = LogsShape(duration_unit=unit)

    result = run([(TS, api_labels(latency=latency), "line")], logs=logs)

    assert outcome(result) == expected


@pytest.mark.parametrize("milliseconds", [9, 13, 18, 26, 43, 1300])
def test_numeric_latency_at_threshold(milliseconds: int) -> None:
    # Equal to the threshold is within the objective, with no float error.
    config = ObjectivesConfig.model_validate(
        {"api_latency": {"threshold": f"{milliseconds}ms"}}
    )
    labels = api_labels(latency=str(milliseconds), code="Unavailable")

    result = run(
        [(TS, labels, "line")], logs=LogsShape(duration_unit="ms"), objectives=config
    )

    assert result.misses[0].slow is False
    assert result.misses[0].failed is True


def test_unparsed_reason_names_field() -> None:
    result = run([(TS, api_labels(latency="1500"), "line")])

    assert result.unparsed[0].reason.startswith("latency='1500' does not parse: ")


@pytest.mark.parametrize(
    ("raw", "unit", "seconds"),
    [
        ("1.4s", None, 1.4),
        ("1m2.5s", None, 62.5),
        ("850µs", None, 0.00085),
        ("1400", "ms", 1.4),
        ("2", "s", 2.0),
        ("250", "us", 0.00025),
    ],
)
def test_read_duration(raw: str, unit: str | None, seconds: float) -> None:
    assert read_duration(raw, unit) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("raw", "unit"), [(None, None), ("", "ms"), ("1500", None), ("abc", "ms")]
)
def test_read_duration_rejects(raw: str | None, unit: str | None) -> None:
    with pytest.raises(ValueError):
        read_duration(raw, unit)


# Codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "failed"),
    [
        ("Unknown", True),
        ("DeadlineExceeded", True),
        ("Unimplemented", True),
        ("Internal", True),
        ("Unavailable", True),
        ("DataLoss", True),
        ("OK", False),
        ("NotFound", False),
        ("InvalidArgument", False),
        ("PermissionDenied", False),
        ("AlreadyExists", False),
        ("FailedPrecondition", False),
        ("Unauthenticated", False),
        ("Canceled", False),
        ("unavailable", False),
    ],
)
def test_code_counts_as_failure(code: str, failed: bool) -> None:
    labels = api_labels(code=code, latency="10ms")

    result = run([(TS, labels, "line")])

    assert (outcome(result) == "failed") is failed
    assert result.not_misses == (0 if failed else 1)


def test_configured_failure_codes() -> None:
    config = ObjectivesConfig.model_validate(
        {"api_availability": {"failure_codes": ["NotFound"]}}
    )
    entries = [
        (TS, api_labels(code="NotFound", latency="1ms"), "a"),
        (TS + 1, api_labels(code="Unavailable", latency="1ms"), "b"),
    ]

    result = run(entries, objectives=config)

    assert [m.code for m in result.misses] == ["NotFound"]
    assert result.not_misses == 1


def test_slow_and_failed() -> None:
    result = run([(TS, api_labels(code="Internal", latency="2s"), "line")])

    miss = result.misses[0]
    assert miss.slow is True
    assert miss.failed is True


def test_missing_code_is_not_failure() -> None:
    labels = api_labels(latency="2s")
    del labels["code"]

    miss = run([(TS, labels, "line")]).misses[0]

    assert miss.code is None
    assert miss.failed is False


# Miss fields ---------------------------------------------------------------------------


def test_api_miss_fields() -> None:
    labels = api_labels(code="Unavailable", latency="1.4s", context_key='k,"1"')

    miss = run([(TS, labels, "line")]).misses[0]

    assert miss == Miss(
        ts_ns=TS,
        kind="api",
        name=METHOD,
        code="Unavailable",
        latency_s=1.4,
        threshold_s=1.0,
        slow=True,
        failed=True,
        context_key='k,"1"',
        trace_id=TRACE,
        queue_wait_s=None,
    )


def test_miss_time_is_utc() -> None:
    miss = make_miss(ts_ns=1_772_359_702_000_000_000)

    assert miss.time == datetime(2026, 3, 1, 10, 8, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TRACE.upper(), TRACE),
        ("AI7/95gDgQPSabYzgT/HAw==", "008efff798038103d269b633813fc703"),
        ("8efff798038103d269b633813fc703", "008efff798038103d269b633813fc703"),
        ("not-a-trace-id", None),
        ("", None),
    ],
)
def test_trace_id_normalised(raw: str, expected: str | None) -> None:
    labels = api_labels(latency="2s", trace_id=raw)

    assert run([(TS, labels, "line")]).misses[0].trace_id == expected


def test_empty_context_key_is_none() -> None:
    labels = api_labels(latency="2s", context_key="")

    assert run([(TS, labels, "line")]).misses[0].context_key is None


# Queue entries -------------------------------------------------------------------------

QUEUE_OBJECTIVES = ObjectivesConfig.model_validate(
    {
        "queue_latency": {
            "default": {"threshold": "30s"},
            "types": {"RefreshRelease": {"threshold": "2m"}},
        }
    }
)


@pytest.mark.parametrize(
    ("entry_type", "run_time", "expected"),
    [
        ("RefreshRelease", "90s", "fast"),
        ("RefreshRelease", "2m", "fast"),
        ("RefreshRelease", "2m0.5s", "slow"),
        ("Validate", "31s", "slow"),
        ("Validate", "29s", "fast"),
        ("Validate", "30", "unparsed"),
    ],
)
def test_queue_threshold_per_type(
    entry_type: str, run_time: str, expected: str
) -> None:
    labels = queue_labels(entry_type=entry_type, run_time=run_time)

    result = run([(TS, labels, "line")], kind="queue", objectives=QUEUE_OBJECTIVES)

    assert outcome(result) == expected


def test_queue_miss_fields() -> None:
    labels = queue_labels(entry_type="RefreshRelease", run_time="2m30s")

    miss = run([(TS, labels, "l")], kind="queue", objectives=QUEUE_OBJECTIVES).misses[0]

    assert miss.kind == "queue"
    assert miss.name == "RefreshRelease"
    assert miss.latency_s == 150.0
    assert miss.threshold_s == 120.0
    assert miss.queue_wait_s == 6.2
    assert miss.failed is False


def test_queue_failure_code_not_a_miss() -> None:
    labels = queue_labels(code="Unavailable", run_time="1s")

    result = run([(TS, labels, "l")], kind="queue")

    assert result.misses == []
    assert result.not_misses == 1


def test_queue_uses_run_time_not_latency() -> None:
    labels = queue_labels(run_time="1s", latency="10m")

    assert outcome(run([(TS, labels, "l")], kind="queue")) == "fast"


def test_queue_wait_unparsable_is_none() -> None:
    labels = queue_labels(queue_wait="soon")

    miss = run([(TS, labels, "l")], kind="queue").misses[0]

    assert miss.queue_wait_s is None
    assert miss.latency_s == 45.0


def test_custom_field_names() -> None:
    logs = LogsShape.model_validate(
        {"fields": {"latency": "took", "code": "status", "method": "rpc"}}
    )
    labels = {"rpc": "Get", "status": "Internal", "took": "3s"}

    miss = run([(TS, labels, "l")], logs=logs).misses[0]

    assert (miss.name, miss.code, miss.latency_s) == ("Get", "Internal", 3.0)


# summarise ------------------------------------------------------------------------------


def test_summarise_counts_per_method() -> None:
    misses = [
        make_miss(name="A", code="OK", latency_s=1.5, slow=True),
        make_miss(name="A", code="Unavailable", latency_s=0.2, slow=False, failed=True),
        make_miss(name="A", code="Unavailable", latency_s=4.2, slow=True, failed=True),
        make_miss(name="B", code="Internal", latency_s=0.1, slow=False, failed=True),
    ]

    first, second = summarise(misses)

    assert (first.kind, first.name) == ("api", "A")
    assert (first.misses, first.slow, first.failed) == (3, 2, 2)
    assert first.worst_latency_s == 4.2
    assert dict(first.codes) == {"OK": 1, "Unavailable": 2}
    assert (second.name, second.misses, second.worst_latency_s) == ("B", 1, 0.1)
    assert dict(second.codes) == {"Internal": 1}


def test_summarise_order() -> None:
    misses = [
        make_miss(kind="queue", name="Sync"),
        make_miss(kind="api", name="Z"),
        make_miss(kind="api", name="Y"),
        make_miss(kind="api", name="Z"),
    ]

    keys = [(s.kind, s.name) for s in summarise(misses)]

    assert keys == [("api", "Z"), ("api", "Y"), ("queue", "Sync")]


def test_summarise_kinds_apart() -> None:
    misses = [make_miss(kind="api", name="X"), make_miss(kind="queue", name="X")]

    assert [(s.kind, s.misses) for s in summarise(misses)] == [
        ("api", 1),
        ("queue", 1),
    ]


def test_summarise_without_codes_or_latency() -> None:
    (summary,) = summarise([make_miss(code=None, latency_s=None)])

    assert summary.worst_latency_s is None
    assert dict(summary.codes) == {}


def test_summarise_empty() -> None:
    assert summarise([]) == []


def test_summary_has_no_prometheus_counts() -> None:
    (summary,) = summarise([make_miss()])

    assert summary.prom_failed is None
    assert summary.prom_slow is None


# method_name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/pkg.Svc/GetRecord", "GetRecord"),
        ("GetRecord", "GetRecord"),
        ("pkg.Svc/GetRecord", "GetRecord"),
        ("/pkg.Svc/GetRecord/", "GetRecord"),
        ("", ""),
    ],
)
def test_method_name(value: str, expected: str) -> None:
    assert method_name(value) == expected


@pytest.mark.parametrize(
    "labels",
    [
        api_labels(code="Unavailable", latency="1500"),
        api_labels(
            code="Unavailable",
            latency="1500",
            __error__="LabelFilterErr",
            __error_details__='time: missing unit in duration "1500"',
        ),
    ],
    ids=["client-side", "server-marked"],
)
def test_failed_request_with_unparsed_latency(labels: dict[str, str]) -> None:
    result = run([(TS, labels, "line")])

    assert len(result.misses) == 1
    assert result.misses[0].failed is True
    assert result.misses[0].slow is False
    assert result.misses[0].latency_s is None
    assert result.unparsed == []


def test_ok_request_with_unparsed_latency_is_unparsed() -> None:
    result = run([(TS, api_labels(latency="1500"), "line")])

    assert result.misses == []
    assert len(result.unparsed) == 1
