"""Error exits against the test stack: each code, with a message that helps."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import Stack
from tests.e2e.conftest import END, SloRunner

pytestmark = pytest.mark.e2e


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_loki_exits_three(slo: SloRunner) -> None:
    url = _closed_port_url()
    run = slo(["misses", "--since", "1h", "--to", END], env={"LOKI_ADDR": url})
    assert run.exit_code == 3
    lines = run.stderr.splitlines()
    assert lines[-1].startswith("slo: error: Loki request failed after 4 attempts")
    assert url in lines[-1]
    assert sum("retry" in line for line in lines[:-1]) == 3
    assert run.stdout == ""


def test_missing_tenant_names_the_variable(slo: SloRunner) -> None:
    run = slo(["misses", "--since", "1h", "--to", END], env={"LOKI_ORG_ID": None})
    assert run.exit_code == 3
    assert "HTTP 401" in run.stderr
    assert "no org id" in run.stderr
    assert "LOKI_ORG_ID" in run.stderr


def test_credentials_never_printed(slo: SloRunner, stack: Stack) -> None:
    url = stack.loki_url.replace("http://", "http://reader:s3cret-pw@")
    run = slo(
        ["misses", "--since", "1h", "--to", END],
        env={"LOKI_ADDR": url, "LOKI_ORG_ID": None},
    )
    assert run.exit_code == 3
    assert "s3cret-pw" not in run.stderr
    assert "s3cret-pw" not in run.stdout


def test_unset_url_is_configuration_error(slo: SloRunner) -> None:
    run = slo(["trace", "k-1", "--to", END], env={"TEMPO_ADDR": None})
    # Loki returns no lines, and the missing Tempo URL is reported before any search.
    assert run.exit_code in (2, 4)


def test_missing_loki_url_exits_two(slo: SloRunner) -> None:
    run = slo(["misses", "--since", "1h", "--to", END], env={"LOKI_ADDR": None})
    assert run.exit_code == 2
    assert "LOKI_ADDR" in run.stderr


def test_invalid_config_file_exits_two(slo: SloRunner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "slo.yaml"
    path.write_text("objectives:\n  api_latency:\n    target: 1.0\n", encoding="utf-8")
    run = slo(["misses", "--since", "1h", "--to", END], env={"SLO_CONFIG": str(path)})
    assert run.exit_code == 2
    assert str(path) in run.stderr
    assert "objectives.api_latency.target" in run.stderr
    assert "no error budget" in run.stderr


def test_bad_since_exits_two(slo: SloRunner) -> None:
    run = slo(["misses", "--since", "24x"])
    assert run.exit_code == 2
    assert '"24x"' in run.stderr
    assert "--since" in run.stderr


def test_prometheus_down_still_shows_loki_misses(slo: SloRunner) -> None:
    run = slo(
        ["misses", "--since", "24h", "--to", END, "-o", "json"],
        env={"PROMETHEUS_URL": _closed_port_url()},
    )
    assert run.exit_code == 3
    document = run.json()
    assert document["misses"], "Loki's misses are still shown"
    assert document["prometheus_note"].startswith("Prometheus counts are unavailable")
    assert all(row["prometheus"]["failed"] is None for row in document["summary"])


def test_trace_without_tempo_shows_log_lines(stack: Stack, slo: SloRunner) -> None:
    key = stack.workload.truth.timeline.context_key
    run = slo(["trace", key, "--to", END, "-o", "json"], env={"TEMPO_ADDR": None})
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert {row["type"] for row in document["rows"]} == {"log"}
    assert any("Tempo is not configured" in note for note in document["notes"])


def test_trace_with_tempo_down_exits_three(stack: Stack, slo: SloRunner) -> None:
    key = stack.workload.truth.timeline.context_key
    run = slo(
        ["trace", key, "--to", END, "-o", "json"],
        env={"TEMPO_ADDR": _closed_port_url()},
    )
    assert run.exit_code == 3
    document = run.json()
    assert document["complete"] is False
    assert document["log_lines"] == len(stack.workload.truth.timeline.log_lines)
    assert any(note.startswith("Tempo failed") for note in document["notes"])
    assert run.stderr.splitlines()[-1].startswith("slo: error: Tempo request failed")
