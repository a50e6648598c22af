"""Rendering the misses report as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console
from rich.text import Text

from slocli.core.misses import MethodSummary, Miss, MissReport, PromCount
from slocli.render.common import (
    Column,
    count_text,
    fit_table,
    hidden_columns_note,
    number,
    plain,
    rfc3339,
    seconds_text,
    to_json,
    window_json,
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


def _gap(report: MissReport, summary: MethodSummary) -> int | None:
    """NOT IN LOKI, or None when an incomplete fetch makes it meaningless."""
    return summary.not_in_loki if report.complete else None


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
    rows = report.summaries
    summary, hidden = fit_table(
        [
            Column("KIND", [plain(r.kind) for r in rows], priority=3),
            Column("METHOD / ENTRY TYPE", [plain(r.name) for r in rows], fold=True),
            Column(
                "OBJECTIVE",
                [Text(seconds_text(r.threshold_s)) for r in rows],
                "right",
                priority=4,
            ),
            Column("MISSES", [Text(str(r.misses)) for r in rows], "right"),
            Column("SLOW", [Text(str(r.slow)) for r in rows], "right", priority=2),
            Column(
                "FAILED",
                # Queue entries miss only by being slow; a failing code is no miss.
                [Text(str(r.failed) if r.kind == "api" else "-") for r in rows],
                "right",
                priority=2,
            ),
            Column(
                "WORST",
                [Text(seconds_text(r.worst_latency_s)) for r in rows],
                "right",
                priority=3,
            ),
            Column(
                "CODES", [plain(_codes_text(r)) for r in rows], priority=5, fold=True
            ),
            Column(
                "PROM FAILED",
                [Text(_prom_text(r.prom_failed)) for r in rows],
                "right",
                priority=3,
            ),
            Column(
                "PROM SLOW",
                [Text(_prom_text(r.prom_slow)) for r in rows],
                "right",
                priority=3,
            ),
            Column(
                "NOT IN LOKI",
                [Text(str(_gap(report, r)) if _gap(report, r) else "") for r in rows],
                "right",
                priority=1,
            ),
        ],
        console.width,
        ["bold" if _gap(report, r) else None for r in rows],
    )
    console.print()
    if report.summaries:
        console.print(summary)
    else:
        console.print("No misses in this window.")

    misses = report.misses
    entries, hidden_entries = fit_table(
        [
            Column("TIME", [Text(rfc3339(m.ts_ns)) for m in misses]),
            Column("KIND", [plain(m.kind) for m in misses], priority=3),
            Column("METHOD / ENTRY TYPE", [plain(m.name) for m in misses], fold=True),
            Column("CODE", [plain(m.code or "-") for m in misses], priority=2),
            Column(
                "LATENCY",
                [Text(seconds_text(m.latency_s)) for m in misses],
                "right",
                priority=2,
            ),
            Column("CONTEXT KEY", [plain(m.context_key or "-") for m in misses]),
            Column("TRACE ID", [plain(m.trace_id or "-") for m in misses], priority=1),
        ],
        console.width,
        ["bold" if m.failed else None for m in misses],
    )
    if misses:
        console.print()
        console.print(entries)
    hidden_all = list(dict.fromkeys(hidden + hidden_entries))
    if hidden_all:
        console.print()
        console.print(hidden_columns_note(hidden_all))

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
    missing = sum(_gap(report, s) or 0 for s in report.summaries)
    if not report.complete:
        lines.append(
            "NOT IN LOKI is not shown: the Loki result is incomplete, so missing "
            "lines cannot be told from lines not fetched"
        )
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
        "window": window_json(window, report.input_zone),
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
                "not_in_loki": _gap(report, s),
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
