"""`slo config show`: the effective configuration and where each value came from."""

from __future__ import annotations

from typing import Annotated

import typer

from slocli.cli.options import (
    ConfigOption,
    DebugOption,
    LokiOption,
    OrgIdOption,
    PrometheusOption,
    TempoOption,
)

config_app = typer.Typer(
    help="Inspect the configuration.", no_args_is_help=True, rich_markup_mode=None
)


@config_app.command("show")
def show(
    config: ConfigOption = None,
    prometheus_url: PrometheusOption = None,
    loki_addr: LokiOption = None,
    tempo_addr: TempoOption = None,
    org_id: OrgIdOption = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output format: table or json.")
    ] = "table",
    debug: DebugOption = False,
) -> None:
    """Print the effective configuration with secrets masked, and each value's source.

    Sources are: default, file PATH, env NAME, or option --NAME.
    """
    from slocli.cli.app import run

    def body() -> int:
        from rich.table import Table

        from slocli.config import iter_effective
        from slocli.errors import UsageError
        from slocli.render.common import make_console, plain, to_json
        from slocli.runtime import CommonOptions, build_runtime

        if output not in ("table", "json"):
            raise UsageError(
                f"invalid output format {output!r} for -o; use table or json"
            )
        options = CommonOptions(
            config=config,
            prometheus_url=prometheus_url,
            loki_addr=loki_addr,
            tempo_addr=tempo_addr,
            org_id=org_id,
        )
        runtime = build_runtime(options, argv=[])
        rows = iter_effective(runtime.loaded)
        if output == "json":
            print(
                to_json(
                    {
                        "file": str(runtime.loaded.file)
                        if runtime.loaded.file
                        else None,
                        "settings": [
                            {"key": key, "value": value, "source": source}
                            for key, value, source in rows
                        ],
                    }
                )
            )
            return 0
        console = make_console()
        file = runtime.loaded.file
        console.print(plain(f"Configuration file: {file if file else '(none found)'}"))
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("KEY")
        table.add_column("VALUE", overflow="fold")
        table.add_column("SOURCE")
        for key, value, source in rows:
            table.add_row(plain(key), plain(value), plain(source))
        console.print(table)
        return 0

    run(debug, body)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
