"""`slo budget report`: error budget left and burn rates, with CI exit codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from slocli.cli.options import (
    ConfigOption,
    DebugOption,
    OrgIdOption,
    PrometheusOption,
    RecordOption,
    ReplayOption,
    ReportFormat,
)

# Shorter periods leave the burn-rate windows without meaning, and longer ones
# reach past any retention; both are almost always a typo.
MIN_PERIOD = timedelta(hours=1)
MAX_PERIOD = timedelta(days=3650)

budget_app = typer.Typer(
    help="Error budgets and burn rates.", no_args_is_help=True, rich_markup_mode=None
)


@budget_app.command("report")
def report(
    ctx: typer.Context,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="SLO period over which the budget is counted, such as 28d. "
            "Default: objectives.period in the configuration, 30d.",
            show_default=False,
        ),
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            "--slo",
            help="Only this objective: api-availability, api-latency or "
            "queue-latency:<entry type>.",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            "--to",
            help="Evaluate as of this time (RFC 3339, or a duration ago) instead of now.",
            show_default=False,
        ),
    ] = None,
    tz: Annotated[
        str,
        typer.Option(
            "--tz", help="IANA time zone for a naive --at time, such as Europe/Berlin."
        ),
    ] = "UTC",
    output: Annotated[
        ReportFormat, typer.Option("--output", "-o", help="Output format.")
    ] = ReportFormat.table,
    config: ConfigOption = None,
    prometheus_url: PrometheusOption = None,
    org_id: OrgIdOption = None,
    record: RecordOption = None,
    replay: ReplayOption = None,
    debug: DebugOption = False,
) -> None:
    """Report error budget left and burn rates per objective, from Prometheus.

    Exit codes: 0 every objective is within budget; 1 a budget is exhausted or
    a page-level burn-rate pair (1h/5m or 6h/30m) fires; 4 an objective had no
    traffic, so nothing can be decided; 2 and 3 as for every command.
    """
    from slocli.cli.app import run

    def body() -> int:
        from slocli.cli.common import open_runtime
        from slocli.collect import collect_budget
        from slocli.core.budget import exit_code
        from slocli.core.durations import parse_window
        from slocli.core.timewindow import check_query_time, parse_time
        from slocli.errors import UsageError
        from slocli.render import budget as render
        from slocli.render.common import make_console
        from slocli.runtime import CommonOptions

        options = CommonOptions(
            config=config,
            prometheus_url=prometheus_url,
            org_id=org_id,
            record=record,
            replay=replay,
            debug=debug,
        )
        runtime = open_runtime(ctx, options)
        try:
            if window is not None:
                period = parse_window(window, option="--window")
                if not MIN_PERIOD <= period <= MAX_PERIOD:
                    raise UsageError(
                        f"invalid SLO period {window!r} for --window, it must be "
                        "between 1h and 3650d; SLO periods are usually 28d or 30d"
                    )
                objectives = runtime.config.objectives.model_copy(
                    update={"period": period}
                )
                runtime.loaded.config = runtime.config.model_copy(
                    update={"objectives": objectives}
                )
            when = runtime.now
            if at is not None:
                when = parse_time(at, tz=tz, now=runtime.now, option="--at")
            check_query_time(when, "--at")
            check_query_time(when - runtime.config.objectives.period, "--at")
            result = collect_budget(runtime, when, only=slo)
        finally:
            runtime.finish()
        code = exit_code(result)
        if output is ReportFormat.json:
            print(render.render_json(result, code))
        elif output is ReportFormat.markdown:
            print(render.render_markdown(result), end="")
        else:
            render.render_table(result, make_console())
        return code

    run(debug, body)


def register(app: typer.Typer) -> None:
    app.add_typer(budget_app, name="budget")
