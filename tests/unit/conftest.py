"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os

import pytest

_PREFIXES = ("LOKI_", "PROMETHEUS_", "TEMPO_")
_NAMES = ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "SLO_CONFIG")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the variables that change colour, width or configuration.

    A developer's own LOKI_ADDR or NO_COLOR must not change a test's result.
    """
    for name in list(os.environ):
        if name in _NAMES or name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
