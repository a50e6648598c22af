"""Rendering a context key's timeline as a waterfall table or JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from slocli.collect import TimelineResult
from slocli.core.timeline import Timeline, TimelineRow
from slocli.render.common import (
    Column,
    fit_table,
    hidden_columns_note,
    number,
    plain,
    rfc3339,
    seconds_text,
    table_width,
    to_json,
    window_json,
)

SCHEMA = "slocli.timeline/v1"
BAR_WIDTH = 40


def bar(row: TimelineRow, start_ns: int, end_ns: int, width: int = BAR_WIDTH) -> str:
    """Draw one row's bar, `width` cells wide, on an axis from start_ns to end_ns."""
    total = max(end_ns - start_ns, 1)
    first = int((row.start_ns - start_ns) / total * width)
    last = int((row.end_ns - start_ns) / total * width)
    first = min(max(first, 0), width - 1)
    last = min(max(last, first + 1), width)
    mark = "|" if row.kind == "log" and row.end_ns == row.start_ns else "█"
    return " " * first + mark * (last - first) + " " * (width - last)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _step_width(rows: list[TimelineRow]) -> int:
    return max(
        (
            2 * r.depth
            + len(r.name)
            + (5 if r.kind == "log" else 0)
            + (12 if r.longest else 0)
            for r in rows
        ),
        default=4,
    )


def _status_text(row: TimelineRow) -> str:
    parts = [
        p
        for p in (row.code, row.status if row.status not in (None, "unset") else None)
        if p
    ]
    return "/".join(dict.fromkeys(parts)) or "-"


def _step_names(rows: list[TimelineRow]) -> list[Text]:
    names: list[Text] = []
    for row in rows:
        marker = {"span": "", "log": "log: ", "placeholder": ""}[row.kind]
        name = plain(f"{'  ' * row.depth}{marker}{row.name}")
        if row.longest:
            # In the step column, which folds rather than crops, so a narrow
            # terminal still shows it.
            name.append("  <- longest")
        if row.kind == "log":
            name.stylize("italic")
        names.append(name)
    return names


def _table(timeline: Timeline, console_width: int) -> tuple[Table, list[str]]:
    """Build the waterfall table; returns it and the headers it had to hide."""
    rows = timeline.rows
    start, end = timeline.start_ns, timeline.end_ns
    columns = [
        Column(
            "OFFSET",
            [Text("+" + seconds_text((r.start_ns - start) / 1e9)) for r in rows],
            "right",
        ),
        Column("STEP", _step_names(rows), fold=True, shrink_to=40),
        Column("SERVICE", [plain(r.service or "") for r in rows], priority=3),
        Column(
            "DURATION",
            [
                Text(seconds_text(r.duration_s) if r.end_ns > r.start_ns else "-")
                for r in rows
            ],
            "right",
        ),
        Column("CODE", [plain(_status_text(r)) for r in rows], priority=2),
    ]
    # The bar takes what the other columns leave, between 10 and BAR_WIDTH cells.
    width = max(10, min(BAR_WIDTH, console_width - table_width(columns) - 2))
    columns.append(
        Column("", [Text(bar(r, start, end, width)) for r in rows], priority=1)
    )
    return fit_table(
        columns, console_width, ["bold" if r.longest else None for r in rows]
    )


def render_table(result: TimelineResult, console: Console) -> None:
    timeline = result.timeline
    start, end = timeline.start_ns, timeline.end_ns
    console.print(plain(f"Context key: {timeline.context_key}"))
    console.print(
        plain(
            f"{_count(timeline.log_count, 'log line')}, "
            f"{_count(len(timeline.traces), 'trace')}; searched "
            f"{result.window.describe()} (UTC"
            + (
                ""
                if result.input_zone == "UTC"
                else f"; naive times read in {result.input_zone}"
            )
            + ")"
        )
    )
    if timeline.rows:
        console.print(
            f"Timeline from {rfc3339(start)} to {rfc3339(end)} "
            f"({seconds_text((end - start) / 1e9)})"
        )
    table, hidden = _table(timeline, console.width)
    console.print()
    console.print(table)
    if hidden:
        console.print(hidden_columns_note([h or "time bars" for h in hidden]))
    notes = list(result.notes)
    for info in timeline.traces:
        if info.note:
            notes.append(f"trace {info.trace_id}: {info.note}")
    if notes:
        console.print()
        for note in notes:
            console.print(plain(f"note: {note}"))


def _row_json(row: TimelineRow) -> dict[str, Any]:
    return {
        "type": row.kind,
        "depth": row.depth,
        "name": row.name,
        "service": row.service,
        "start": rfc3339(row.start_ns, digits=9),
        "end": rfc3339(row.end_ns, digits=9),
        "duration_seconds": number(row.duration_s),
        "self_time_seconds": number(row.self_time_s),
        "code": row.code,
        "status": row.status,
        "trace_id": row.trace_id,
        "span_id": row.span_id,
        "parent_span_id": row.parent_span_id,
        "longest": row.longest,
        "fields": row.fields,
    }


def to_document(result: TimelineResult) -> dict[str, Any]:
    timeline = result.timeline
    return {
        "schema": SCHEMA,
        "context_key": timeline.context_key,
        "window": window_json(result.window, result.input_zone),
        "complete": result.complete,
        "start": rfc3339(timeline.start_ns, digits=9) if timeline.rows else None,
        "end": rfc3339(timeline.end_ns, digits=9) if timeline.rows else None,
        "log_lines": timeline.log_count,
        "traces": [
            {
                "trace_id": t.trace_id,
                "spans": t.span_count,
                "found": t.found,
                "partial": t.partial,
                "note": t.note,
            }
            for t in timeline.traces
        ],
        "rows": [_row_json(r) for r in timeline.rows],
        "notes": result.notes,
    }


def render_json(result: TimelineResult) -> str:
    return to_json(to_document(result))
