"""Helpers shared by the renderers: consoles, time and number formats, JSON, tables."""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from slocli.core.durations import format_duration
from slocli.core.timewindow import TimeWindow

# Width used when stdout is not a terminal, so piped tables are not squeezed
# into 80 columns; COLUMNS overrides it.
PIPE_WIDTH = 200


def make_console(file: IO[str] | None = None) -> Console:
    """Create a console for data on stdout: colour only on a terminal, NO_COLOR honoured."""
    stream = file or sys.stdout
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    width = None
    if not is_terminal:
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH
    return Console(
        file=stream,
        highlight=False,
        soft_wrap=False,
        width=width,
        no_color=bool(os.environ.get("NO_COLOR")) or not is_terminal,
        emoji=False,
    )


def stderr_console() -> Console:
    is_terminal = sys.stderr.isatty()
    return Console(
        file=sys.stderr,
        highlight=False,
        no_color=bool(os.environ.get("NO_COLOR")) or not is_terminal,
        emoji=False,
    )


def plain(value: str) -> Text:
    """Wrap data for a rich console: no markup, control characters escaped.

    Context keys, names and server messages are data, so a ``[`` in them must
    not start a style, and an escape sequence or line break must not reach the
    terminal. ``\\x1b`` and ``\\n`` are shown as those four and two characters.
    """
    return Text(
        "".join(char if char.isprintable() else repr(char)[1:-1] for char in value)
    )


def rfc3339(value: int | datetime, *, digits: int = 3) -> str:
    """Format a time (datetime or Unix ns) as RFC 3339 in UTC with a Z suffix."""
    if isinstance(value, int):
        seconds, nanos = divmod(value, 1_000_000_000)
        base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        fraction = f"{nanos:09d}"[:digits]
        return f"{base}.{fraction}Z" if digits else f"{base}Z"
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    micros = value.astimezone(UTC).microsecond
    if digits and micros:
        text += "." + f"{micros:06d}"[:digits]
    return text + "Z"


def seconds_text(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def number(value: float | None) -> float | None:
    """Return a JSON-safe number: None in place of NaN or infinity."""
    if value is None or not math.isfinite(value):
        return None
    return value


def to_json(document: Any) -> str:
    # allow_nan=False makes a NaN that slipped through fail loudly, never print.
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)


def percent(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.{digits}f}%"


def count_text(value: float) -> str:
    """Counts from increase() are not whole numbers; show one decimal only then."""
    if abs(value - round(value)) < 0.05:
        return f"{round(value):d}"
    return f"{value:.1f}"


@dataclass
class Column:
    """One table column with its cells, for `fit_table`.

    ``priority`` 0 is never hidden; higher numbers are hidden first when the
    console is too narrow. ``fold`` lets long cells wrap onto more lines, which
    suits names but not numbers, times or ids that people copy.
    """

    header: str
    cells: list[Text]
    justify: Literal["left", "right"] = "left"
    priority: int = 0
    fold: bool = False
    # A fold column may be narrowed to this many cells before others are hidden.
    shrink_to: int | None = None

    @property
    def width(self) -> int:
        return max([len(self.header), *(cell.cell_len for cell in self.cells)])


def table_width(columns: list[Column]) -> int:
    """Return the cells a row of these columns needs, fold columns at their shrink_to."""
    widths = [
        min(c.width, c.shrink_to) if c.fold and c.shrink_to else c.width
        for c in columns
    ]
    # Two cells of padding between columns, none at the edges.
    return sum(widths) + 2 * (len(columns) - 1)


def hidden_columns_note(hidden: list[str]) -> Text:
    """Name the columns `fit_table` hid, and how to see them."""
    return plain(
        f"Hidden at this width: {', '.join(hidden)}; widen the terminal or use -o json"
    )


def fit_table(
    columns: list[Column], width: int, row_styles: list[str | None]
) -> tuple[Table, list[str]]:
    """Build a table that fits `width`, hiding low-priority columns if it must.

    Returns the table and the headers of the hidden columns, so the caller can
    say what is missing. Kept columns are not truncated (numbers, times and ids
    keep their full text, and only `fold` columns wrap) unless the columns that
    are never hidden do not fit on their own.
    """
    visible = list(columns)
    hidden: list[str] = []

    while table_width(visible) > width:
        candidates = [c for c in visible if c.priority > 0]
        if not candidates:
            break
        drop = max(candidates, key=lambda c: (c.priority, visible.index(c)))
        visible.remove(drop)
        hidden.append(drop.header)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in visible:
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.fold,
            overflow="fold" if column.fold else "ellipsis",
            min_width=None if column.fold else column.width,
        )
    for index, style in enumerate(row_styles):
        table.add_row(*(column.cells[index] for column in visible), style=style)
    return table, [h for h in (c.header for c in columns) if h in hidden]


def window_json(window: TimeWindow, input_zone: str) -> dict[str, Any]:
    """Build the `window` object of every JSON document: UTC edges and the --tz zone."""
    return {
        "start": rfc3339(window.start),
        "end": rfc3339(window.end),
        "seconds": window.duration.total_seconds(),
        "input_zone": input_zone,
    }
