"""The `slo` command line: help, version, and the mapping of errors to exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slocli.cli import app as app_module
from slocli.cli.app import INTERNAL_ERROR, app, report_error
from slocli.errors import (
    BackendHTTPError,
    BackendUnreachable,
    ConfigError,
    ExitCode,
    NoDataError,
    UsageError,
)

COMMANDS = [
    ["misses"],
    ["trace"],
    ["budget", "report"],
    ["config", "show"],
    ["demo"],
]

README = Path(__file__).resolve().parents[2] / "README.md"


def invoke(args: list[str], env: dict[str, str | None] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args, env=env or {}, catch_exceptions=False)


def test_version() -> None:
    result = invoke(["--version"])

    assert result.exit_code == 0
    assert re.fullmatch(r"slo \d+\.\d+\.\d+\n", result.stdout)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_exits_zero(command: list[str]) -> None:
    result = invoke([*command, "--help"])

    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: slo ")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_readme_mentions_command(command: list[str]) -> None:
    assert f"slo {' '.join(command)}" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad option"), ExitCode.USAGE),
        (ConfigError("bad file"), ExitCode.USAGE),
        (BackendUnreachable("down", backend="Loki", url="http://x"), ExitCode.BACKEND),
        (
            BackendHTTPError(
                "500", backend="Loki", url="http://x", status=500, server_message=""
            ),
            ExitCode.BACKEND,
        ),
        (NoDataError("nothing"), ExitCode.NO_DATA),
    ],
)
def test_errors_map_to_exit_codes(
    error: Exception, code: ExitCode, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report_error(error, debug=False) == code
    assert capsys.readouterr().err == f"slo: error: {error}\n"


def test_unexpected_error_is_internal(capsys: pytest.CaptureFixture[str]) -> None:
    assert report_error(KeyError("x"), debug=False) == INTERNAL_ERROR
    err = capsys.readouterr().err
    assert err.startswith("slo: error: internal error (KeyError")
    assert "--debug" in err
    assert "Traceback" not in err


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise UsageError("bad option")
    except UsageError as exc:
        report_error(exc, debug=True)
    assert "Traceback" in capsys.readouterr().err


def test_error_message_drops_url_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report_error(UsageError("failed at http://user:pw-123@loki:3100/x"), debug=False)

    err = capsys.readouterr().err
    assert "pw-123" not in err
    assert "http://loki:3100/x" in err


def test_missing_url_exits_two() -> None:
    result = invoke(
        ["misses", "--since", "1h"], env={"LOKI_ADDR": None, "SLO_CONFIG": None}
    )

    assert result.exit_code == 2
    assert "the Loki URL is not set" in result.stderr
    assert "LOKI_ADDR" in result.stderr


def test_bad_time_option_exits_two() -> None:
    result = invoke(
        ["misses", "--since", "soon"], env={"LOKI_ADDR": "http://127.0.0.1:9"}
    )

    assert result.exit_code == 2
    assert result.stderr.startswith('slo: error: invalid duration "soon" for --since')


def test_record_and_replay_together_exit_two(tmp_path: Path) -> None:
    result = invoke(
        ["misses", "--record", str(tmp_path / "a"), "--replay", str(tmp_path / "b")]
    )

    assert result.exit_code == 2
    assert "--record and --replay were both given" in result.stderr


def test_demo_replays_offline() -> None:
    result = invoke(
        ["demo", "--show", "budget"],
        env={
            "PROMETHEUS_URL": None,
            "LOKI_ADDR": None,
            "TEMPO_ADDR": None,
            "SLO_CONFIG": None,
        },
    )

    assert result.exit_code == 0
    assert "api-latency" in result.stdout
    assert "EXHAUSTED" in result.stdout


def test_demo_rejects_unknown_view() -> None:
    result = invoke(["demo", "--show", "everything"])

    assert result.exit_code == 2
    assert "invalid view 'everything' for --show" in result.stderr


def test_app_module_registers_commands() -> None:
    names = {command.name for command in app_module.app.registered_commands}
    assert {"misses", "trace", "demo"} <= names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "misses",
                "--from",
                "0001-01-01T00:00:00Z",
                "--to",
                "2026-03-04T00:00:00Z",
            ],
            "invalid time 0001-01-01T00:00:00Z for --from",
        ),
        (["misses", "--since", "0.5s"], "shorter than one second"),
        (["trace", "a" * 5000], "invalid context key, it is 5000 characters long"),
        (["trace", "k\udcff"], "invalid context key, it is not valid UTF-8 text"),
        (["misses", "--method", "Get\udcffRecord"], "invalid --method"),
        (
            ["budget", "report", "--window", "1m"],
            "invalid SLO period '1m' for --window",
        ),
        (
            ["budget", "report", "--at", "0001-01-01T00:00:00Z"],
            "for --at, it is outside",
        ),
        (["misses", "--record", ""], "--record was given an empty path"),
        (["misses", "--record", "/"], "it exists and is not a regular file"),
    ],
    ids=[
        "year-1",
        "half-second",
        "huge-key",
        "bad-utf8-key",
        "bad-utf8-method",
        "short-period",
        "at-year-1",
        "empty-record",
        "record-folder",
    ],
)
def test_bad_input_exits_two(args: list[str], message: str) -> None:
    env = {
        "LOKI_ADDR": "http://127.0.0.1:9",
        "PROMETHEUS_URL": "http://127.0.0.1:9",
        "TEMPO_ADDR": "http://127.0.0.1:9",
        "SLO_CONFIG": None,
    }

    result = invoke(args, env=env)

    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["misses", "--bogus"],
            "slo: error: No such option: --bogus; see 'slo misses --help'\n",
        ),
        (
            ["trace"],
            "slo: error: Missing argument 'context_key'; see 'slo trace --help'\n",
        ),
    ],
    ids=["unknown-option", "missing-argument"],
)
def test_parse_errors_one_line(args: list[str], expected: str) -> None:
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-m", "slocli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert completed.stderr == expected
    assert completed.stdout == ""
