"""Rendering the misses report as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console
from rich.table import Table

from slocli.core.misses import MethodSummary, Miss, MissReport, PromCount
from slocli.render.common import (
    count_text,
    number,
    plain,
    rfc3339,
    seconds_text,
    to_json,
)

SCHEMA = "slocli.misses/v1"


def _prom_text(count: PromCount | None) -> str:
    if count is None:
        return "-"
    if count.exact:
        return count_text(count.low)
    return f"{count_text(count.low)}-{count_text(count.high)}"


def _zone_note(zone: str) -> str:
    return "" if zone == "UTC" else f"; naive times read in {zone}"


def _codes_text(summary: MethodSummary) -> str:
    return ", ".join(f"{code} {n}" for code, n in summary.codes.most_common())


def render_table(report: MissReport, console: Console) -> None:
    window = report.window
    console.print(
        plain(
            f"SLO misses in {window.describe()} (UTC, "
            f"{seconds_text(window.duration.total_seconds())}{_zone_note(report.input_zone)})"
        )
    )
    summary = Table(title=None, box=None, header_style="bold", pad_edge=False)
    for column, justify in (
        ("KIND", "left"),
        ("METHOD / ENTRY TYPE", "left"),
        ("OBJECTIVE", "right"),
        ("MISSES", "right"),
        ("SLOW", "right"),
        ("FAILED", "right"),
        ("WORST", "right"),
        ("CODES", "left"),
        ("PROM FAILED", "right"),
        ("PROM SLOW", "right"),
        ("NOT IN LOKI", "right"),
    ):
        summary.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in report.summaries:
        summary.add_row(
            plain(row.kind),
            plain(row.name),
            seconds_text(row.threshold_s),
            str(row.misses),
            str(row.slow),
            # Queue entries miss only by being slow; a failing code is no miss.
            str(row.failed) if row.kind == "api" else "-",
            seconds_text(row.worst_latency_s),
            plain(_codes_text(row)),
            _prom_text(row.prom_failed),
            _prom_text(row.prom_slow),
            str(row.not_in_loki) if row.not_in_loki else "",
            style="bold" if row.not_in_loki else None,
        )
    console.print()
    if report.summaries:
        console.print(summary)
    else:
        console.print("No misses in this window.")

    if report.misses:
        entries = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("TIME", "KIND", "METHOD / ENTRY TYPE", "CODE"):
            entries.add_column(column, overflow="fold")
        entries.add_column("LATENCY", justify="right")
        # Keys and trace ids are copied from here, so they are never folded
        # while the method column can give way.
        key_width = max((len(m.context_key or "-") for m in report.misses), default=1)
        entries.add_column("CONTEXT KEY", no_wrap=True, min_width=min(key_width, 64))
        entries.add_column("TRACE ID", no_wrap=True, min_width=32)
        for miss in report.misses:
            entries.add_row(
                rfc3339(miss.ts_ns),
                plain(miss.kind),
                plain(miss.name),
                plain(miss.code or "-"),
                seconds_text(miss.latency_s),
                plain(miss.context_key or "-"),
                plain(miss.trace_id or "-"),
                style="bold" if miss.failed else None,
            )
        console.print()
        console.print(entries)

    console.print()
    for line in footer_lines(report):
        console.print(plain(line))


def footer_lines(report: MissReport) -> list[str]:
    lines = [
        f"{len(report.misses)} {'miss' if len(report.misses) == 1 else 'misses'}"
        + ("" if report.complete else f" (INCOMPLETE: {report.incomplete_reason})")
    ]
    if report.unparsed_count:
        more = "" if report.unparsed_complete else " or more"
        lines.append(
            f"{report.unparsed_count}{more} lines could not be parsed and are not "
            "counted as misses; -o json lists examples"
        )
    lines.append(
        "PROM FAILED and PROM SLOW are Prometheus' bad-event counts for the same "
        "window; a range means the latency threshold lies between two buckets"
    )
    missing = sum(s.not_in_loki for s in report.summaries)
    if missing:
        lines.append(
            f"NOT IN LOKI: Prometheus counts at least {missing} bad "
            f"{'event' if missing == 1 else 'events'} with no miss line in Loki; "
            "their log lines are missing or could not be parsed"
        )
    if report.prometheus_note:
        lines.append(report.prometheus_note)
    lines.extend(f"warning: {w}" for w in report.warnings)
    return lines


def _count_json(count: PromCount | None) -> dict[str, Any] | None:
    if count is None:
        return None
    return {"low": number(count.low), "high": number(count.high), "exact": count.exact}


def _miss_json(miss: Miss) -> dict[str, Any]:
    return {
        "time": rfc3339(miss.ts_ns, digits=9),
        "kind": miss.kind,
        "name": miss.name,
        "code": miss.code,
        "latency_seconds": number(miss.latency_s),
        "threshold_seconds": miss.threshold_s,
        "queue_wait_seconds": number(miss.queue_wait_s),
        "slow": miss.slow,
        "failed": miss.failed,
        "context_key": miss.context_key,
        "trace_id": miss.trace_id,
    }


def to_document(report: MissReport) -> dict[str, Any]:
    window = report.window
    return {
        "schema": SCHEMA,
        "window": {
            "start": rfc3339(window.start),
            "end": rfc3339(window.end),
            "seconds": window.duration.total_seconds(),
            "input_zone": report.input_zone,
        },
        "complete": report.complete,
        "incomplete_reason": report.incomplete_reason,
        "summary": [
            {
                "kind": s.kind,
                "name": s.name,
                "misses": s.misses,
                "slow": s.slow,
                "failed": s.failed,
                "threshold_seconds": s.threshold_s,
                "worst_latency_seconds": number(s.worst_latency_s),
                "codes": dict(s.codes),
                "prometheus": {
                    "failed": _count_json(s.prom_failed),
                    "slow": _count_json(s.prom_slow),
                },
                "not_in_loki": s.not_in_loki,
            }
            for s in report.summaries
        ],
        "misses": [_miss_json(m) for m in report.misses],
        "unparsed_lines": {
            "count": report.unparsed_count,
            "complete": report.unparsed_complete,
            "examples": [
                {"time": rfc3339(u.ts_ns, digits=9), "reason": u.reason, "line": u.line}
                for u in report.unparsed_examples
            ],
        },
        "prometheus_note": report.prometheus_note,
        "warnings": report.warnings,
    }


def render_json(report: MissReport) -> str:
    return to_json(to_document(report))


CSV_COLUMNS = (
    "time",
    "kind",
    "name",
    "code",
    "latency_seconds",
    "threshold_seconds",
    "slow",
    "failed",
    "context_key",
    "trace_id",
)


def render_csv(report: MissReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for miss in report.misses:
        row = _miss_json(miss)
        writer.writerow(
            [
                ""
                if row[c] is None
                else str(row[c]).lower()
                if isinstance(row[c], bool)
                else row[c]
                for c in CSV_COLUMNS
            ]
        )
    return buffer.getvalue()
