"""The `slo` command: option parsing, error handling and exit codes.

Commands are thin: parse options, build a ``Runtime``, fetch through
``slocli.collect``, compute in ``slocli.core``, render through
``slocli.render``. Every ``SloError`` becomes one line on stderr and the exit
code of its class; see ``slocli.errors``.
"""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer

from slocli import __version__
from slocli.errors import ExitCode, SloError

# An unexpected exception is a bug in slocli, not a verdict on the SLO, so it
# gets an exit code that no SLO check uses (EX_SOFTWARE from sysexits.h).
INTERNAL_ERROR = 70

app = typer.Typer(
    name="slo",
    help="Investigate SLO misses across Prometheus, Loki and Tempo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"slo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Investigate SLO misses across Prometheus, Loki and Tempo.

    Exit codes: 0 success, 1 the SLO check failed (budget report), 2 usage or
    configuration error, 3 a backend failed or could not be reached, 4 not
    enough data to decide.
    """


def setup_logging(debug: bool) -> None:
    logger = logging.getLogger("slocli")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("slo: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False


def report_error(exc: BaseException, debug: bool) -> int:
    """Print one error line (and the traceback with --debug); returns the exit code."""
    from slocli.backends.http import redact_text

    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, SloError):
        print(f"slo: error: {redact_text(str(exc))}", file=sys.stderr)
        return int(exc.exit_code)
    print(
        f"slo: error: internal error ({exc.__class__.__name__}: "
        f"{redact_text(str(exc))}); rerun with --debug for the traceback and "
        "report it",
        file=sys.stderr,
    )
    return INTERNAL_ERROR


def run(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body; turn its outcome into an exit code."""
    setup_logging(debug)
    try:
        code = body()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        print("slo: interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    except Exception as exc:
        raise typer.Exit(report_error(exc, debug)) from None
    raise typer.Exit(code)


def _register() -> None:
    # Command modules import the heavy libraries; they are imported here, at
    # the end, so `slo --version` stays fast only as long as they import lazily.
    from slocli.cli import budget, config_cmd, demo, misses, trace

    modules: list[Any] = [misses, trace, budget, config_cmd, demo]
    for module in modules:
        module.register(app)


_register()


def main() -> None:
    # Die quietly on a closed pipe (`slo misses | head`), as other command-line
    # tools do, rather than print a traceback and exit 1, which means "SLO check
    # failed" here. The shell then reports 141 (128 + SIGPIPE).
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        result = app(prog_name="slo", standalone_mode=False)
    except typer.Abort:
        print("slo: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        # Option-parsing errors come from typer's bundled click; they carry
        # format_message() and exit_code (2). Print them in slo's one-line form.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        message = str(exc.format_message())
        if message.startswith("Usage:"):
            # A command group run without a subcommand prints its help.
            print(message, file=sys.stderr)
            sys.exit(int(exc.exit_code))
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "slo"
        print(
            f"slo: error: {message.rstrip('.')}; see '{command} --help'",
            file=sys.stderr,
        )
        sys.exit(int(exc.exit_code))
    sys.exit(result if isinstance(result, int) else 0)


__all__ = ["ExitCode", "app", "main", "run"]
