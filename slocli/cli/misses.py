"""`slo misses`: which requests and queue entries missed their objective."""

from __future__ import annotations

from typing import Annotated

import typer

from slocli.cli.options import (
    ConfigOption,
    DebugOption,
    FromOption,
    Kind,
    LokiOption,
    OrgIdOption,
    PrometheusOption,
    RecordOption,
    ReplayOption,
    SinceOption,
    TableFormat,
    ToOption,
    TzOption,
)


def misses(
    ctx: typer.Context,
    since: SinceOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    tz: TzOption = "UTC",
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="Only this API method (GetRecord or /pkg.Svc/GetRecord) or queue "
            "entry type.",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        Kind | None,
        typer.Option(
            "--kind",
            help="Only API requests or only queue entries.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help="Stop fetching after this many log lines per kind; 0 fetches all. "
            "A stopped result is marked incomplete.",
            min=0,
        ),
    ] = 0,
    output: Annotated[
        TableFormat, typer.Option("--output", "-o", help="Output format.")
    ] = TableFormat.table,
    config: ConfigOption = None,
    prometheus_url: PrometheusOption = None,
    loki_addr: LokiOption = None,
    org_id: OrgIdOption = None,
    record: RecordOption = None,
    replay: ReplayOption = None,
    debug: DebugOption = False,
) -> None:
    """List the requests and queue entries that missed their objective.

    A miss is an API request slower than the latency objective or one that returned
    a failing code, or a queue entry slower than its entry type's objective.
    Misses come from Loki; beside each count stands Prometheus' count of bad
    events for the same window. Default window: --since 24h.
    """
    from slocli.cli.app import run

    def body() -> int:
        from slocli.cli.common import check_text_argument, open_runtime
        from slocli.collect import collect_misses
        from slocli.core.timewindow import resolve_window
        from slocli.errors import ExitCode
        from slocli.render import misses as render
        from slocli.render.common import make_console
        from slocli.runtime import CommonOptions

        if method is not None:
            check_text_argument(method, "--method")
        options = CommonOptions(
            config=config,
            prometheus_url=prometheus_url,
            loki_addr=loki_addr,
            org_id=org_id,
            record=record,
            replay=replay,
            debug=debug,
        )
        runtime = open_runtime(ctx, options)
        try:
            window = resolve_window(
                since=since,
                start=from_,
                end=to,
                tz=tz,
                now=runtime.now,
                default_since="24h",
            )
            report, prometheus_error = collect_misses(
                runtime,
                window,
                kind=kind.value if kind else None,
                method=method,
                max_entries=limit or None,
            )
        finally:
            runtime.finish()

        report.input_zone = tz
        if output is TableFormat.json:
            print(render.render_json(report))
        elif output is TableFormat.csv:
            print(render.render_csv(report), end="")
        else:
            render.render_table(report, make_console())
        if prometheus_error is not None:
            from slocli.cli.app import report_error

            return report_error(prometheus_error, debug)
        return ExitCode.OK

    run(debug, body)


def register(app: typer.Typer) -> None:
    app.command("misses")(misses)
