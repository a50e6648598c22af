"""Options shared by several commands, defined once."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class TableFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class TimelineFormat(StrEnum):
    table = "table"
    json = "json"


class Kind(StrEnum):
    api = "api"
    queue = "queue"


_BACKENDS = "Backends"
_TIME = "Time range"

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Configuration file. Default: $SLO_CONFIG, else ./slo.yaml if it exists.",
        show_default=False,
    ),
]
PrometheusOption = Annotated[
    str | None,
    typer.Option(
        "--prometheus-url",
        help="Prometheus base URL. Default: $PROMETHEUS_URL or the configuration.",
        rich_help_panel=_BACKENDS,
        show_default=False,
    ),
]
LokiOption = Annotated[
    str | None,
    typer.Option(
        "--loki-addr",
        help="Loki base URL. Default: $LOKI_ADDR or the configuration.",
        rich_help_panel=_BACKENDS,
        show_default=False,
    ),
]
TempoOption = Annotated[
    str | None,
    typer.Option(
        "--tempo-addr",
        help="Tempo base URL. Default: $TEMPO_ADDR or the configuration.",
        rich_help_panel=_BACKENDS,
        show_default=False,
    ),
]
OrgIdOption = Annotated[
    str | None,
    typer.Option(
        "--org-id",
        help="Tenant sent as X-Scope-OrgID to every backend; overrides *_ORG_ID.",
        rich_help_panel=_BACKENDS,
        show_default=False,
    ),
]
RecordOption = Annotated[
    str | None,
    typer.Option(
        "--record",
        help="Write every backend exchange of this run to an evidence bundle (JSON).",
        metavar="FILE",
        show_default=False,
    ),
]
ReplayOption = Annotated[
    str | None,
    typer.Option(
        "--replay",
        help="Take responses from an evidence bundle instead of the network; the clock is "
        "pinned to the time of recording.",
        metavar="FILE",
        show_default=False,
    ),
]
DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Log each HTTP exchange and show tracebacks on stderr; secrets redacted.",
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Window length counted back from --to or now, such as 30m, 24h, 7d.",
        rich_help_panel=_TIME,
        show_default=False,
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Window start: RFC 3339 (2026-03-01T10:00:00Z), a naive time read in "
        "--tz, or a duration ago (2h).",
        rich_help_panel=_TIME,
        show_default=False,
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="Window end, in the same forms as --from. Default: now.",
        rich_help_panel=_TIME,
        show_default=False,
    ),
]
TzOption = Annotated[
    str,
    typer.Option(
        "--tz",
        help="IANA time zone for naive --from/--to times, such as Europe/Berlin.",
        rich_help_panel=_TIME,
    ),
]
