"""`slo demo`: replay the bundled incident and show every view offline."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import typer

DEMO_BUNDLE = "incident.json"


def demo(
    output: Annotated[
        str,
        typer.Option("--show", help="Which view: all, misses, trace or budget."),
    ] = "all",
) -> None:
    """Replay a recorded incident: misses, one request's timeline, and the budget.

    The evidence bundle was recorded with --record from the project's test
    stack and ships with slocli; no server is needed. Each view prints the
    command that reproduces it with --replay.
    """
    from slocli.cli.app import run

    def body() -> int:
        from slocli.backends.bundle import load_bundle
        from slocli.errors import UsageError

        if output not in ("all", "misses", "trace", "budget"):
            raise UsageError(
                f"invalid view {output!r} for --show; use all, misses, trace or budget"
            )
        path = resources.files("slocli.demo").joinpath(DEMO_BUNDLE)
        with resources.as_file(path) as bundle_path:
            bundle = load_bundle(bundle_path)
            meta = bundle.meta
            views = {
                "misses": ["misses", *meta.get("misses_args", ["--since", "24h"])],
                "trace": [
                    "trace",
                    meta.get("trace_key", ""),
                    *meta.get("trace_args", []),
                ],
                "budget": ["budget", "report", *meta.get("budget_args", [])],
            }
            chosen = list(views) if output == "all" else [output]
            print(f"# demo bundle: {bundle_path}")
            print(f"# {meta.get('description', '')}".rstrip())
            print()
            worst = 0
            for name in chosen:
                argv = [*views[name], "--replay", str(bundle_path)]
                print(
                    f"$ slo {' '.join(_quote(a) for a in views[name])} --replay <demo bundle>"
                )
                code = _invoke(argv)
                print()
                if name != "budget":
                    worst = max(worst, code)
            return worst

    run(False, body)


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _invoke(argv: list[str]) -> int:
    from slocli.cli.app import app

    try:
        app(args=argv, prog_name="slo", standalone_mode=False)
    except SystemExit as exc:  # typer.Exit surfaces as SystemExit here
        return int(exc.code or 0)
    except Exception as exc:
        code = getattr(exc, "exit_code", None)
        if code is not None:
            return int(code)
        raise
    return 0


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
