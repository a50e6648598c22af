"""`slo trace`: one timeline of everything that happened to one request."""

from __future__ import annotations

from typing import Annotated

import typer

from slocli.cli.options import (
    ConfigOption,
    DebugOption,
    FromOption,
    LokiOption,
    OrgIdOption,
    RecordOption,
    ReplayOption,
    SinceOption,
    TempoOption,
    TimelineFormat,
    ToOption,
    TzOption,
)


def trace(
    ctx: typer.Context,
    context_key: Annotated[
        str, typer.Argument(help="The context key, exactly as logged; it is opaque.")
    ],
    since: SinceOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    tz: TzOption = "UTC",
    output: Annotated[
        TimelineFormat, typer.Option("--output", "-o", help="Output format.")
    ] = TimelineFormat.table,
    config: ConfigOption = None,
    loki_addr: LokiOption = None,
    tempo_addr: TempoOption = None,
    org_id: OrgIdOption = None,
    record: RecordOption = None,
    replay: ReplayOption = None,
    debug: DebugOption = False,
) -> None:
    """Show one timeline of a request: its log lines, queue entries and spans.

    Log lines come from Loki, matched on the context key field. Traces come from
    Tempo by the trace ids in those lines, or by a TraceQL search on the
    context-key span attribute when lines carry no trace id. Default window:
    --since 7d.
    """
    from slocli.cli.app import run

    def body() -> int:
        from slocli.cli.common import check_text_argument, open_runtime
        from slocli.collect import collect_timeline
        from slocli.core.timewindow import resolve_window
        from slocli.errors import ExitCode, UsageError
        from slocli.render import timeline as render
        from slocli.render.common import make_console
        from slocli.runtime import CommonOptions

        check_text_argument(context_key, "context key")
        if not context_key:
            raise UsageError(
                "the context key is empty; pass the key from a log line or from "
                "`slo misses`"
            )
        options = CommonOptions(
            config=config,
            loki_addr=loki_addr,
            tempo_addr=tempo_addr,
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
                default_since="7d",
            )
            result = collect_timeline(runtime, context_key, window)
        finally:
            runtime.finish()
        result.input_zone = tz
        if output is TimelineFormat.json:
            print(render.render_json(result))
        else:
            render.render_table(result, make_console())
        if result.backend_error is not None:
            from slocli.cli.app import report_error

            return report_error(result.backend_error, debug)
        return ExitCode.OK

    run(debug, body)


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
