"""Rendering the error-budget report as a table, JSON or Markdown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.console import Console

from slocli.core.budget import (
    REPORTED_BURN_WINDOWS,
    BudgetReport,
    ObjectiveReport,
    exit_code,
)
from slocli.core.durations import format_prometheus_duration
from slocli.render.common import (
    Column,
    count_text,
    fit_table,
    hidden_columns_note,
    number,
    percent,
    plain,
    rfc3339,
    to_json,
)

SCHEMA = "slocli.budget/v1"

_STATUS_TEXT = {
    "ok": "ok",
    "ticket": "TICKET: burning fast",
    "page": "PAGE: burning very fast",
    "exhausted": "EXHAUSTED",
    "no data": "NO DATA: no traffic",
}


def _burn_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _sli_text(report: ObjectiveReport) -> str:
    if report.sli is None:
        return "-"
    if (
        report.sli_min is not None
        and report.sli_max is not None
        and report.sli_max - report.sli_min > 1e-12
    ):
        return (
            f"{percent(report.sli)} (interpolated; "
            f"{percent(report.sli_min)}-{percent(report.sli_max)})"
        )
    return percent(report.sli)


def _exhaustion_text(report: ObjectiveReport) -> str:
    if report.exhaustion is None:
        return "-"
    if report.exhaustion == timedelta(0):
        return "spent"
    return format_prometheus_duration(
        timedelta(seconds=round(report.exhaustion.total_seconds() / 60) * 60)
        or timedelta(minutes=1)
    )


def _header(report: BudgetReport) -> str:
    period = format_prometheus_duration(report.period)
    start = rfc3339(report.at - report.period)
    return f"Error budget over {period}: {start}/{rfc3339(report.at)} (UTC)"


def _rows(report: BudgetReport) -> list[list[str]]:
    rows = []
    for objective in report.objectives:
        counts = objective.counts
        events = (
            f"{count_text(counts.bad)}/{count_text(counts.valid)}"
            if counts is not None
            else "-"
        )
        rows.append(
            [
                objective.name,
                f"{objective.target * 100:g}%",
                _sli_text(objective),
                events,
                percent(objective.remaining, 1),
                *(_burn_text(objective.burn.get(w)) for w in REPORTED_BURN_WINDOWS),
                _exhaustion_text(objective),
                _STATUS_TEXT[objective.status.state],
            ]
        )
    return rows


COLUMNS = [
    "OBJECTIVE",
    "TARGET",
    "SLI",
    "BAD/VALID",
    "BUDGET LEFT",
    *(f"BURN {format_prometheus_duration(w)}" for w in REPORTED_BURN_WINDOWS),
    "EMPTY IN",
    "STATUS",
]


# Hiding order on a narrow terminal: 0 is never hidden, higher numbers go first.
COLUMN_PRIORITY = {
    "TARGET": 3,
    "SLI": 2,
    "BAD/VALID": 4,
    "BURN 1h": 1,
    "BURN 6h": 1,
    "BURN 1d": 3,
    "BURN 3d": 4,
    "EMPTY IN": 5,
}


def _alert_lines(report: BudgetReport) -> list[str]:
    lines = []
    for objective in report.objectives:
        for alert in objective.alerts:
            # Without traffic every pair is unknown, and the status already shows it.
            if alert.state == "not firing" or objective.status.state == "no data":
                continue
            lines.append(
                f"{objective.name}: {alert.window.severity} alert "
                f"{format_prometheus_duration(alert.window.long)}/"
                f"{format_prometheus_duration(alert.window.short)} is {alert.state} "
                f"(burn {_burn_text(alert.long_burn)} and {_burn_text(alert.short_burn)}, "
                f"threshold {alert.factor:.4g})"
            )
        lines.extend(f"{objective.name}: {note}" for note in objective.notes)
    return lines


def verdict(report: BudgetReport) -> str:
    """Say what the exit code will be and which objectives decide it."""
    code = exit_code(report)
    failing = [
        f"{o.name} ({_STATUS_TEXT[o.status.state].split(':')[0].lower()})"
        for o in report.objectives
        if o.status.state in ("exhausted", "page")
    ]
    if code == 1:
        return f"Result: SLO check failed (exit 1): {', '.join(failing)}"
    if code == 4:
        empty = [o.name for o in report.objectives if o.status.state == "no data"]
        return "Result: not enough data to decide (exit 4): no traffic for " + (
            ", ".join(empty) or "any objective"
        )
    return "Result: every objective is within budget (exit 0)"


def render_table(report: BudgetReport, console: Console) -> None:
    console.print(plain(_header(report)))
    rows = _rows(report)
    columns = [
        Column(
            header,
            [plain(row[index]) for row in rows],
            "left" if header in ("OBJECTIVE", "STATUS") else "right",
            priority=COLUMN_PRIORITY.get(header, 0),
            fold=header == "OBJECTIVE",
        )
        for index, header in enumerate(COLUMNS)
    ]
    styles = [
        "bold" if o.status.state in ("exhausted", "page", "no data") else None
        for o in report.objectives
    ]
    table, hidden = fit_table(columns, console.width, styles)
    console.print()
    console.print(table)
    if hidden:
        console.print(hidden_columns_note(hidden))
    lines = _alert_lines(report) + [f"note: {n}" for n in report.notes]
    lines.append(
        f"Alert pairs: {report.alert_preset}; EMPTY IN is the time until the budget "
        "runs out at the 1h burn rate. Only an exhausted budget or a firing page "
        "pair fails the check."
    )
    console.print()
    for line in lines:
        console.print(plain(line))
    # Never wrapped, so `tail -1` or `grep '^Result:'` in CI gets the whole line.
    console.print(plain(verdict(report)), style="bold", soft_wrap=True)


def render_markdown(report: BudgetReport) -> str:
    out = [f"### {_header(report)}", ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for row in _rows(report):
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines = _alert_lines(report) + [f"note: {n}" for n in report.notes]
    if lines:
        out.append("")
        out.extend(f"- {line}" for line in lines)
    out.extend(["", f"**{verdict(report)}**"])
    return "\n".join(out) + "\n"


def _objective_json(objective: ObjectiveReport) -> dict[str, Any]:
    counts = objective.counts
    return {
        "name": objective.name,
        "description": objective.description,
        "target": objective.target,
        "threshold_seconds": objective.threshold_s,
        "status": objective.status.state,
        "sli": number(objective.sli),
        "sli_min": number(objective.sli_min),
        "sli_max": number(objective.sli_max),
        "interpolated": bool(counts and counts.interpolated),
        "bad_events": number(counts.bad) if counts else None,
        "valid_events": number(counts.valid) if counts else None,
        "budget_remaining": number(objective.remaining),
        "burn_rates": {
            format_prometheus_duration(w): number(v)
            for w, v in sorted(objective.burn.items())
        },
        "seconds_to_exhaustion": (
            objective.exhaustion.total_seconds()
            if objective.exhaustion is not None
            else None
        ),
        "alerts": [
            {
                "severity": a.window.severity,
                "long_window": format_prometheus_duration(a.window.long),
                "short_window": format_prometheus_duration(a.window.short),
                "factor": a.factor,
                "long_burn_rate": number(a.long_burn),
                "short_burn_rate": number(a.short_burn),
                "state": a.state,
            }
            for a in objective.alerts
        ],
        "notes": objective.notes,
    }


def to_document(report: BudgetReport, exit_code: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "evaluated_at": rfc3339(report.at),
        "period": {
            "start": rfc3339(report.at - report.period),
            "end": rfc3339(report.at),
            "seconds": report.period.total_seconds(),
        },
        "exit_code": exit_code,
        "objectives": [_objective_json(o) for o in report.objectives],
        "notes": report.notes,
    }


def render_json(report: BudgetReport, exit_code: int) -> str:
    return to_json(to_document(report, exit_code))
