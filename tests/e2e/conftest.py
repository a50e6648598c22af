"""Helpers for running `slo` against the test stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from slocli.cli.app import app
from tests.conftest import Stack

# The instant the simulated workload ends; every command is pinned to it.
END = "2026-03-04T12:00:00Z"

# Variables of the caller's environment that would change what slo reads.
_CLEARED = (
    "PROMETHEUS_URL",
    "LOKI_ADDR",
    "LOKI_ORG_ID",
    "LOKI_USERNAME",
    "LOKI_PASSWORD",
    "LOKI_BEARER_TOKEN",
    "TEMPO_ADDR",
    "TEMPO_ORG_ID",
    "SLO_CONFIG",
    "NO_COLOR",
    "COLUMNS",
)


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


SloRunner = Callable[..., Run]


@pytest.fixture
def slo(stack: Stack) -> SloRunner:
    """Run slo in-process against the stack; keyword `env` adds or overrides variables."""

    def run(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Run:
        environ: dict[str, str | None] = dict.fromkeys(_CLEARED)
        environ.update(stack.environ())
        environ.update(env or {})
        result = CliRunner().invoke(
            app, list(args), env=environ, catch_exceptions=False
        )
        return Run(result.exit_code, result.stdout, result.stderr)

    return run
