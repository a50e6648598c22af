"""Tests for slocli.render: exact tables, JSON conventions and CSV quoting.

Tables are rendered into a 160-column console with colour off. Rich pads
table cells with spaces, so ``rendered`` strips trailing spaces from each
line before the text is compared.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from rich.console import Console

from slocli.backends.tempo import SpanModel, TraceModel
from slocli.collect import TimelineResult
from slocli.core.budget import (
    BudgetReport,
    ObjectiveCounts,
    WindowCounts,
    evaluate_objective,
    exit_code,
    needed_windows,
)
from slocli.core.misses import Miss, MissReport, PromCount, UnparsedLine, summarise
from slocli.core.slomath import google_alert_windows
from slocli.core.timeline import LogEvent, TimelineRow, build_timeline
from slocli.core.timewindow import TimeWindow
from slocli.render import budget as budget_render
from slocli.render import misses as misses_render
from slocli.render import timeline as timeline_render
from slocli.render.common import (
    count_text,
    make_console,
    number,
    percent,
    plain,
    rfc3339,
    seconds_text,
    to_json,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TS = 1_772_616_902_123_456_789  # 2026-03-04T09:35:02.123456789Z
MS = 1_000_000
DAY_WINDOW = TimeWindow(
    datetime(2026, 3, 3, 12, tzinfo=UTC), datetime(2026, 3, 4, 12, tzinfo=UTC)
)
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


def rendered(draw: Callable[[Console], None]) -> str:
    buffer = io.StringIO()
    draw(Console(file=buffer, width=160, no_color=True))
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def expected_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def strict_json(text: str) -> Any:
    """Parse JSON, failing on NaN, Infinity and -Infinity."""

    def reject(constant: str) -> None:
        raise AssertionError(f"JSON holds {constant}")

    return json.loads(text, parse_constant=reject)


def items(document: Any) -> Iterator[tuple[str, Any]]:
    """Yield every (key, value) pair at any depth of a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield key, value
            yield from items(value)
    elif isinstance(document, list):
        for value in document:
            yield from items(value)


def make_miss(**fields: Any) -> Miss:
    values: dict[str, Any] = {
        "ts_ns": TS,
        "kind": "api",
        "name": "/pkg.Svc/GetRecord",
        "code": "Unavailable",
        "latency_s": 1.4,
        "threshold_s": 1.0,
        "slow": True,
        "failed": True,
        "context_key": "k-1",
        "trace_id": TRACE,
    }
    values.update(fields)
    return Miss(**values)


def miss_report(misses: list[Miss], **fields: Any) -> MissReport:
    values: dict[str, Any] = {
        "window": DAY_WINDOW,
        "misses": misses,
        "summaries": summarise(misses),
        "unparsed_count": 0,
        "unparsed_complete": True,
        "unparsed_examples": [],
        "complete": True,
    }
    values.update(fields)
    return MissReport(**values)


def two_misses() -> MissReport:
    api = make_miss()
    queue = make_miss(
        ts_ns=TS + 7_000 * MS,
        kind="queue",
        name="RefreshRelease",
        code="OK",
        latency_s=45.0,
        threshold_s=30.0,
        failed=False,
        context_key=None,
        trace_id=None,
        queue_wait_s=6.2,
    )
    report = miss_report(
        [api, queue],
        unparsed_count=2,
        unparsed_complete=False,
        unparsed_examples=[UnparsedLine(TS - 5, "JSONParserErr", "panic: boom")],
        complete=False,
        incomplete_reason="stopped after 2 api lines",
        prometheus_note="Prometheus is not configured",
        warnings=["query took long"],
    )
    report.summaries[0].prom_failed = PromCount(12, 12)
    report.summaries[0].prom_slow = PromCount(30, 31.5)
    return report


# Misses: table ------------------------------------------------------------------


def test_misses_table() -> None:
    text = rendered(lambda console: misses_render.render_table(two_misses(), console))

    assert text == expected_text(
        """
        SLO misses in 2026-03-03T12:00:00Z/2026-03-04T12:00:00Z (UTC, 1d00h)

        KIND   METHOD / ENTRY TYPE  OBJECTIVE  MISSES  SLOW  FAILED   WORST  CODES          PROM FAILED  PROM SLOW  NOT IN LOKI
        api    /pkg.Svc/GetRecord       1.00s       1     1       1   1.40s  Unavailable 1           12    30-31.5
        queue  RefreshRelease          30.00s       1     1       -  45.00s  OK 1                     -          -

        TIME                      KIND   METHOD / ENTRY TYPE  CODE         LATENCY  CONTEXT KEY  TRACE ID
        2026-03-04T09:35:02.123Z  api    /pkg.Svc/GetRecord   Unavailable    1.40s  k-1          4bf92f3577b34da6a3ce929d0e0e4736
        2026-03-04T09:35:09.123Z  queue  RefreshRelease       OK            45.00s  -            -

        2 misses (INCOMPLETE: stopped after 2 api lines)
        2 or more lines could not be parsed and are not counted as misses; -o json lists examples
        PROM FAILED and PROM SLOW are Prometheus' bad-event counts for the same window; a range means the latency threshold lies between two buckets
        NOT IN LOKI is not shown: the Loki result is incomplete, so missing lines cannot be told from lines not fetched
        Prometheus is not configured
        warning: query took long
        """
    )


def test_misses_table_empty() -> None:
    text = rendered(
        lambda console: misses_render.render_table(miss_report([]), console)
    )

    assert text == expected_text(
        """
        SLO misses in 2026-03-03T12:00:00Z/2026-03-04T12:00:00Z (UTC, 1d00h)

        No misses in this window.

        0 misses
        PROM FAILED and PROM SLOW are Prometheus' bad-event counts for the same window; a range means the latency threshold lies between two buckets
        """
    )


@pytest.mark.parametrize(
    "key", ["k[/]", "[bold]k[/bold]", "k[red]", "[link=http://x]k"]
)
def test_misses_table_shows_brackets(key: str) -> None:
    report = miss_report([make_miss(context_key=key)], warnings=[f"saw {key}"])

    text = rendered(lambda console: misses_render.render_table(report, console))

    assert f"  {key}  " in text
    assert f"warning: saw {key}\n" in text


@pytest.mark.parametrize(
    ("key", "shown"),
    [("a\x1b[31mb", "a\\x1b[31mb"), ("a\nb", "a\\nb"), ("a\tb", "a\\tb")],
)
def test_misses_table_escapes_controls(key: str, shown: str) -> None:
    report = miss_report([make_miss(context_key=key)])

    text = rendered(lambda console: misses_render.render_table(report, console))

    assert f"  {shown}  " in text
    assert "\x1b" not in text


# Misses: JSON ---------------------------------------------------------------------


def test_misses_json_document() -> None:
    document = strict_json(misses_render.render_json(two_misses()))

    assert document["schema"] == "slocli.misses/v1"
    assert document["window"] == {
        "start": "2026-03-03T12:00:00Z",
        "end": "2026-03-04T12:00:00Z",
        "seconds": 86400.0,
        "input_zone": "UTC",
    }
    assert document["complete"] is False
    assert document["incomplete_reason"] == "stopped after 2 api lines"
    assert document["summary"][0] == {
        "kind": "api",
        "name": "/pkg.Svc/GetRecord",
        "misses": 1,
        "slow": 1,
        "failed": 1,
        "threshold_seconds": 1.0,
        "worst_latency_seconds": 1.4,
        "codes": {"Unavailable": 1},
        "prometheus": {
            "failed": {"low": 12, "high": 12, "exact": True},
            "slow": {"low": 30, "high": 31.5, "exact": False},
        },
        "not_in_loki": None,
    }
    assert document["summary"][1]["prometheus"] == {"failed": None, "slow": None}
    assert document["misses"][0] == {
        "time": "2026-03-04T09:35:02.123456789Z",
        "kind": "api",
        "name": "/pkg.Svc/GetRecord",
        "code": "Unavailable",
        "latency_seconds": 1.4,
        "threshold_seconds": 1.0,
        "queue_wait_seconds": None,
        "slow": True,
        "failed": True,
        "context_key": "k-1",
        "trace_id": TRACE,
    }
    assert document["misses"][1]["queue_wait_seconds"] == 6.2
    assert document["unparsed_lines"] == {
        "count": 2,
        "complete": False,
        "examples": [
            {
                "time": "2026-03-04T09:35:02.123456784Z",
                "reason": "JSONParserErr",
                "line": "panic: boom",
            }
        ],
    }
    assert document["prometheus_note"] == "Prometheus is not configured"
    assert document["warnings"] == ["query took long"]


def test_misses_json_nan_is_null() -> None:
    report = miss_report([make_miss(latency_s=math.nan)])
    report.summaries[0].prom_slow = PromCount(math.nan, math.inf)
    report.summaries[0].worst_latency_s = math.inf

    document = strict_json(misses_render.render_json(report))

    assert document["misses"][0]["latency_seconds"] is None
    assert document["summary"][0]["worst_latency_seconds"] is None
    assert document["summary"][0]["prometheus"]["slow"]["low"] is None
    assert document["summary"][0]["prometheus"]["slow"]["high"] is None


def test_misses_json_conventions() -> None:
    document = strict_json(misses_render.render_json(two_misses()))

    for key, value in items(document):
        if key in ("time", "start", "end"):
            assert RFC3339_UTC.fullmatch(value), (key, value)
        if key.endswith("seconds") and value is not None:
            assert isinstance(value, int | float), (key, value)
        if key == "trace_id" and value is not None:
            assert re.fullmatch("[0-9a-f]{32}", value), value


def test_misses_json_keeps_unicode() -> None:
    report = miss_report([make_miss(context_key="ключ\n")])

    text = misses_render.render_json(report)

    assert '"context_key": "ключ\\n"' in text


# Misses: CSV ------------------------------------------------------------------------


def test_misses_csv() -> None:
    report = miss_report(
        [make_miss(context_key='a,"b"'), make_miss(context_key=None, trace_id=None)]
    )

    text = misses_render.render_csv(report)

    assert text == (
        "time,kind,name,code,latency_seconds,threshold_seconds,slow,failed,"
        "context_key,trace_id\n"
        "2026-03-04T09:35:02.123456789Z,api,/pkg.Svc/GetRecord,Unavailable,1.4,1.0,"
        f'true,true,"a,""b""",{TRACE}\n'
        "2026-03-04T09:35:02.123456789Z,api,/pkg.Svc/GetRecord,Unavailable,1.4,1.0,"
        "true,true,,\n"
    )


@pytest.mark.parametrize("key", ['a,"b"', "line\nbreak", "semi;colon", " padded "])
def test_misses_csv_round_trip(key: str) -> None:
    text = misses_render.render_csv(miss_report([make_miss(context_key=key)]))

    header, row = list(csv.reader(io.StringIO(text)))
    assert row[header.index("context_key")] == key


def test_misses_csv_header_only() -> None:
    assert misses_render.render_csv(miss_report([])) == (
        "time,kind,name,code,latency_seconds,threshold_seconds,slow,failed,"
        "context_key,trace_id\n"
    )


# Timeline ---------------------------------------------------------------------------

T0 = 1_772_616_900_000_000_000  # 2026-03-04T09:35:00Z
HOUR_WINDOW = TimeWindow(
    datetime(2026, 3, 4, 9, tzinfo=UTC), datetime(2026, 3, 4, 10, tzinfo=UTC)
)


def span(
    span_id: str,
    parent: str | None,
    name: str,
    start_ms: int,
    end_ms: int,
    **fields: Any,
) -> SpanModel:
    values: dict[str, Any] = {
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service_name": "gramophile",
        "kind": "server",
        "start_ns": T0 + start_ms * MS,
        "end_ns": T0 + end_ms * MS,
        "status": "unset",
    }
    values.update(fields)
    return SpanModel(**values)


def timeline_result(notes: list[str] | None = None, key: str = "k-1") -> TimelineResult:
    trace = TraceModel(
        trace_id=TRACE,
        spans=[
            span(
                "00f067aa0ba902b7",
                None,
                "GetRecord",
                0,
                1000,
                attributes={"rpc.grpc.status_code": 0},
            ),
            span(
                "00f067aa0ba902b8",
                "00f067aa0ba902b7",
                "discogs.GetRelease",
                100,
                900,
                status="error",
            ),
        ],
    )
    events = [
        LogEvent(T0 + 1000 * MS, "api", "GetRecord", "OK", 1.0, TRACE, {}, "{}"),
        LogEvent(
            T0 + 2000 * MS,
            "queue",
            "RefreshRelease",
            "OK",
            0.5,
            None,
            {"run_time": "500ms"},
            "{}",
        ),
    ]
    timeline = build_timeline(key, events, [trace], ["1" * 32])
    return TimelineResult(
        timeline=timeline, window=HOUR_WINDOW, notes=notes or [], complete=True
    )


def test_timeline_table() -> None:
    result = timeline_result(["Loki warning: slow"])

    text = rendered(lambda console: timeline_render.render_table(result, console))

    assert text == expected_text(
        """
        Context key: k-1
        2 log lines, 2 traces; searched 2026-03-04T09:00:00Z/2026-03-04T10:00:00Z (UTC)
        Timeline from 2026-03-04T09:35:00.000Z to 2026-03-04T09:35:02.000Z (2.00s)

        OFFSET  STEP                              SERVICE     DURATION  CODE
           +0s  GetRecord                         gramophile     1.00s  OK     ████████████████████
           +0s    log: api GetRecord                             1.00s  OK     ████████████████████
        +100ms    discogs.GetRelease  <- longest  gramophile     800ms  error    ████████████████
        +1.50s  log: queue RefreshRelease                        500ms  OK                                   ██████████

        note: Loki warning: slow
        note: trace 11111111111111111111111111111111: not found in Tempo
        """
    )


def test_timeline_table_shows_brackets() -> None:
    result = timeline_result(key="[/]k")

    text = rendered(lambda console: timeline_render.render_table(result, console))

    assert text.startswith("Context key: [/]k\n")


def test_timeline_json() -> None:
    document = strict_json(timeline_render.render_json(timeline_result()))

    assert document["schema"] == "slocli.timeline/v1"
    assert document["context_key"] == "k-1"
    assert document["window"] == {
        "start": "2026-03-04T09:00:00Z",
        "end": "2026-03-04T10:00:00Z",
        "seconds": 3600.0,
        "input_zone": "UTC",
    }
    assert document["start"] == "2026-03-04T09:35:00.000000000Z"
    assert document["end"] == "2026-03-04T09:35:02.000000000Z"
    assert document["log_lines"] == 2
    assert document["traces"] == [
        {"trace_id": TRACE, "spans": 2, "found": True, "partial": False, "note": None},
        {
            "trace_id": "1" * 32,
            "spans": 0,
            "found": False,
            "partial": False,
            "note": "not found in Tempo",
        },
    ]
    assert document["rows"][0] == {
        "type": "span",
        "depth": 0,
        "name": "GetRecord",
        "service": "gramophile",
        "start": "2026-03-04T09:35:00.000000000Z",
        "end": "2026-03-04T09:35:01.000000000Z",
        "duration_seconds": 1.0,
        "self_time_seconds": 0.2,
        "code": "OK",
        "status": "unset",
        "trace_id": TRACE,
        "span_id": "00f067aa0ba902b7",
        "parent_span_id": None,
        "longest": False,
        "fields": {},
    }
    assert [row["type"] for row in document["rows"]] == ["span", "log", "span", "log"]
    assert document["rows"][3]["fields"] == {"run_time": "500ms"}
    assert document["rows"][3]["self_time_seconds"] is None


def test_timeline_json_conventions() -> None:
    document = strict_json(timeline_render.render_json(timeline_result()))

    for key, value in items(document):
        if key in ("start", "end"):
            assert RFC3339_UTC.fullmatch(value), (key, value)
        if key.endswith("seconds") and value is not None:
            assert isinstance(value, int | float), (key, value)
        if key == "trace_id" and value is not None:
            assert re.fullmatch("[0-9a-f]{32}", value), value


def test_timeline_json_empty() -> None:
    timeline = build_timeline("k", [], [])
    result = TimelineResult(timeline=timeline, window=HOUR_WINDOW)

    document = strict_json(timeline_render.render_json(result))

    assert document["start"] is None
    assert document["end"] is None
    assert document["rows"] == []


@pytest.mark.parametrize(
    ("start_ms", "end_ms", "kind", "bar"),
    [
        (0, 1000, "span", "█" * 20 + " " * 20),
        (1000, 2000, "span", " " * 20 + "█" * 20),
        (0, 2000, "span", "█" * 40),
        (500, 500, "span", " " * 10 + "█" + " " * 29),
        (500, 500, "log", " " * 10 + "|" + " " * 29),
        (2000, 2000, "log", " " * 39 + "|"),
    ],
)
def test_bar(start_ms: int, end_ms: int, kind: str, bar: str) -> None:
    line = TimelineRow(kind, 0, T0 + start_ms * MS, T0 + end_ms * MS, "x")

    assert timeline_render.bar(line, T0, T0 + 2000 * MS) == bar


# Budget ---------------------------------------------------------------------------------

PERIOD = timedelta(days=30)
ALERTS = google_alert_windows(PERIOD)
WINDOWS = needed_windows(PERIOD, ALERTS)
AT = datetime(2026, 3, 4, 12, tzinfo=UTC)


def budget_report(*, name: str = "api-availability") -> BudgetReport:
    healthy = {window: WindowCounts.exact(0, 100) for window in WINDOWS}
    healthy[PERIOD] = WindowCounts.exact(1, 4000)
    healthy[timedelta(hours=1)] = WindowCounts.exact(1, 1000)
    quiet = {window: WindowCounts.exact(0, 0) for window in WINDOWS}
    objectives = [
        evaluate_objective(
            ObjectiveCounts(name, "API calls that succeed", 0.999, None, healthy),
            PERIOD,
            ALERTS,
        ),
        evaluate_objective(
            ObjectiveCounts("api-latency", "API calls within 1.00s", 0.999, 1.0, quiet),
            PERIOD,
            ALERTS,
        ),
    ]
    return BudgetReport(
        at=AT,
        period=PERIOD,
        objectives=objectives,
        alert_preset="google",
        notes=["windows shorter than four scrape intervals are unknown: 5m"],
    )


def test_budget_table() -> None:
    text = rendered(
        lambda console: budget_render.render_table(budget_report(), console)
    )

    assert text == expected_text(
        """
        Error budget over 30d: 2026-02-02T12:00:00Z/2026-03-04T12:00:00Z (UTC)

        OBJECTIVE         TARGET      SLI  BAD/VALID  BUDGET LEFT  BURN 1h  BURN 6h  BURN 1d  BURN 3d  EMPTY IN  STATUS
        api-availability   99.9%  99.975%     1/4000        75.0%     1.00     0.00     0.00     0.00    22d12h  ok
        api-latency        99.9%        -        0/0            -        -        -        -        -         -  NO DATA: no traffic

        api-latency: no traffic in the window
        note: windows shorter than four scrape intervals are unknown: 5m
        Alert pairs: google; EMPTY IN is the time until the budget runs out at the 1h burn rate. Only an exhausted budget or a firing page pair fails the check.
        Result: not enough data to decide (exit 4): no traffic for api-latency
        """
    )


def test_budget_table_shows_brackets() -> None:
    report = budget_report(name="queue-latency:[/]Sync")

    text = rendered(lambda console: budget_render.render_table(report, console))

    assert "\nqueue-latency:[/]Sync " in text


def test_budget_markdown() -> None:
    report = budget_report(name="a|b")

    assert budget_render.render_markdown(report) == expected_text(
        """
        ### Error budget over 30d: 2026-02-02T12:00:00Z/2026-03-04T12:00:00Z (UTC)

        | OBJECTIVE | TARGET | SLI | BAD/VALID | BUDGET LEFT | BURN 1h | BURN 6h | BURN 1d | BURN 3d | EMPTY IN | STATUS |
        |---|---|---|---|---|---|---|---|---|---|---|
        | a\\|b | 99.9% | 99.975% | 1/4000 | 75.0% | 1.00 | 0.00 | 0.00 | 0.00 | 22d12h | ok |
        | api-latency | 99.9% | - | 0/0 | - | - | - | - | - | - | NO DATA: no traffic |

        - api-latency: no traffic in the window
        - note: windows shorter than four scrape intervals are unknown: 5m

        **Result: not enough data to decide (exit 4): no traffic for api-latency**
        """
    )


def test_budget_json() -> None:
    report = budget_report()

    document = strict_json(budget_render.render_json(report, exit_code(report)))

    assert document["schema"] == "slocli.budget/v1"
    assert document["evaluated_at"] == "2026-03-04T12:00:00Z"
    assert document["period"] == {
        "start": "2026-02-02T12:00:00Z",
        "end": "2026-03-04T12:00:00Z",
        "seconds": 2592000.0,
    }
    assert document["exit_code"] == 4
    first, second = document["objectives"]
    assert first["status"] == "ok"
    assert first["sli"] == pytest.approx(0.99975)
    assert first["budget_remaining"] == pytest.approx(0.75)
    assert first["burn_rates"]["1h"] == pytest.approx(1.0)
    assert first["seconds_to_exhaustion"] == pytest.approx(22.5 * 86400)
    assert list(first["burn_rates"]) == [
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
        "30d",
    ]
    assert first["alerts"][0] == {
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "factor": pytest.approx(14.4),
        "long_burn_rate": pytest.approx(1.0),
        "short_burn_rate": 0.0,
        "state": "not firing",
    }
    assert second["status"] == "no data"
    assert second["threshold_seconds"] == 1.0
    assert second["sli"] is None
    assert second["budget_remaining"] is None
    assert second["seconds_to_exhaustion"] is None
    assert set(second["burn_rates"].values()) == {None}
    assert second["bad_events"] == 0
    assert second["valid_events"] == 0


def test_budget_json_no_samples() -> None:
    counts = ObjectiveCounts(
        "api-latency", "d", 0.999, 1.0, {window: None for window in WINDOWS}
    )
    report = BudgetReport(
        at=AT,
        period=PERIOD,
        objectives=[evaluate_objective(counts, PERIOD, ALERTS)],
        alert_preset="google",
    )

    document = strict_json(budget_render.render_json(report, exit_code(report)))

    assert document["exit_code"] == 4
    assert document["objectives"][0]["bad_events"] is None
    assert document["objectives"][0]["interpolated"] is False
    assert {a["state"] for a in document["objectives"][0]["alerts"]} == {"unknown"}


def test_budget_json_conventions() -> None:
    report = budget_report()
    document = strict_json(budget_render.render_json(report, exit_code(report)))

    for key, value in items(document):
        if key in ("evaluated_at", "start", "end"):
            assert RFC3339_UTC.fullmatch(value), (key, value)
        if key.endswith("seconds") and value is not None:
            assert isinstance(value, int | float), (key, value)


# Shared helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (TS, 3, "2026-03-04T09:35:02.123Z"),
        (TS, 9, "2026-03-04T09:35:02.123456789Z"),
        (TS, 0, "2026-03-04T09:35:02Z"),
        (0, 3, "1970-01-01T00:00:00.000Z"),
        (datetime(2026, 3, 4, 12, tzinfo=UTC), 3, "2026-03-04T12:00:00Z"),
        (
            datetime(2026, 3, 4, 12, 0, 0, 250000, tzinfo=UTC),
            3,
            "2026-03-04T12:00:00.250Z",
        ),
        (
            datetime(2026, 3, 4, 7, tzinfo=timezone(timedelta(hours=-5))),
            3,
            "2026-03-04T12:00:00Z",
        ),
    ],
)
def test_rfc3339(value: int | datetime, digits: int, text: str) -> None:
    assert rfc3339(value, digits=digits) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (1.5, 1.5),
        (0.0, 0.0),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
    ],
)
def test_number(value: float | None, expected: float | None) -> None:
    assert number(value) == expected


def test_to_json_rejects_nan() -> None:
    with pytest.raises(ValueError):
        to_json({"x": math.nan})


@pytest.mark.parametrize(
    ("value", "text"),
    [(12.0, "12"), (12.04, "12"), (12.5, "12.5"), (0.04, "0"), (171.6, "171.6")],
)
def test_count_text(value: float, text: str) -> None:
    assert count_text(value) == text


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (None, 3, "-"),
        (0.9995, 3, "99.950%"),
        (-19.0, 1, "-1900.0%"),
        (1.0, 1, "100.0%"),
    ],
)
def test_percent(value: float | None, digits: int, text: str) -> None:
    assert percent(value, digits) == text


@pytest.mark.parametrize(
    ("value", "text"), [(None, "-"), (1.4, "1.40s"), (0.2, "200ms")]
)
def test_seconds_text(value: float | None, text: str) -> None:
    assert seconds_text(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("k-1", "k-1"),
        ("[bold]x", "[bold]x"),
        ("a\x1bb", "a\\x1bb"),
        ("a\nb", "a\\nb"),
        ("a\u2028b", "a\\u2028b"),
        ("ключ 😀", "ключ 😀"),
    ],
)
def test_plain(value: str, text: str) -> None:
    shown = plain(value)

    assert shown.plain == text
    assert shown.spans == []


@pytest.mark.parametrize(
    ("columns", "width"), [("100", 100), ("", 200), ("abc", 200), ("0", 200)]
)
def test_console_width_when_piped(
    monkeypatch: pytest.MonkeyPatch, columns: str, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", columns)

    console = make_console(io.StringIO())

    assert console.width == width


def test_console_no_color_when_piped() -> None:
    console = make_console(io.StringIO())

    assert console.no_color is True


def _single_objective_report(counts: WindowCounts) -> BudgetReport:
    windows = {window: counts for window in WINDOWS}
    objective = evaluate_objective(
        ObjectiveCounts("api-latency", "API calls within 1.00s", 0.999, 1.0, windows),
        PERIOD,
        ALERTS,
    )
    return BudgetReport(
        at=AT, period=PERIOD, objectives=[objective], alert_preset="google"
    )


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (
            WindowCounts.exact(0, 1000),
            "Result: every objective is within budget (exit 0)",
        ),
        (
            WindowCounts.exact(50, 1000),
            "Result: SLO check failed (exit 1): api-latency (exhausted)",
        ),
        (
            WindowCounts.exact(0, 0),
            "Result: not enough data to decide (exit 4): no traffic for api-latency",
        ),
    ],
    ids=["ok", "exhausted", "no-data"],
)
def test_budget_verdict(counts: WindowCounts, expected: str) -> None:
    assert budget_render.verdict(_single_objective_report(counts)) == expected


def test_misses_table_narrow_hides_columns() -> None:
    buffer = io.StringIO()
    misses_render.render_table(
        two_misses(), Console(file=buffer, width=80, no_color=True)
    )
    text = buffer.getvalue()

    assert max(len(line) for line in text.splitlines()) <= 80
    assert "4bf92f3577b34da6a3ce929d0e0e4736" not in text  # trace id column hidden
    assert "…" not in text.split("Hidden at this width")[0]
    assert "Hidden at this width: " in text
    assert "TRACE ID" in text.split("Hidden at this width: ")[1]


def test_budget_table_narrow_keeps_status() -> None:
    buffer = io.StringIO()
    budget_render.render_table(
        budget_report(), Console(file=buffer, width=70, no_color=True)
    )
    text = buffer.getvalue()

    assert max(len(line) for line in text.splitlines()) <= 70
    assert "NO DATA" in text
    assert "EMPTY IN" in text.split("Hidden at this width: ")[1]
