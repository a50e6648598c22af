"""Evidence bundles: record against the stack, replay with no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slocli.cli.app import app
from tests.conftest import Stack
from tests.e2e.conftest import END, SloRunner

pytestmark = pytest.mark.e2e

# No backend address at all: a replay that tried the network would fail.
OFFLINE = {
    "PROMETHEUS_URL": None,
    "LOKI_ADDR": None,
    "TEMPO_ADDR": None,
    "LOKI_ORG_ID": None,
    "TEMPO_ORG_ID": None,
    "SLO_CONFIG": None,
}


def _offline(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env=OFFLINE, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["misses", "--since", "24h", "--to", END, "-o", "json"],
        ["budget", "report", "--at", END, "-o", "json"],
    ],
    ids=["misses", "budget"],
)
def test_replay_gives_recorded_output(
    slo: SloRunner, tmp_path: Path, args: list[str]
) -> None:
    bundle = tmp_path / "run.json"
    live = slo([*args, "--record", str(bundle)])
    replayed = _offline([*args, "--replay", str(bundle)])
    assert replayed[0] == live.exit_code, replayed[2]
    assert replayed[1] == live.stdout


def test_replay_of_trace(stack: Stack, slo: SloRunner, tmp_path: Path) -> None:
    bundle = tmp_path / "trace.json"
    key = stack.workload.truth.timeline.context_key
    live = slo(["trace", key, "--to", END, "-o", "json", "--record", str(bundle)])
    assert live.exit_code == 0, live.stderr
    replayed = _offline(
        ["trace", key, "--to", END, "-o", "json", "--replay", str(bundle)]
    )
    assert replayed[1] == live.stdout


def test_replay_uses_recorded_config(slo: SloRunner, tmp_path: Path) -> None:
    # The stack's slo.yaml sets queue objectives; a replay without it must
    # still ask the recorded queries.
    bundle = tmp_path / "run.json"
    slo(
        [
            "misses",
            "--since",
            "24h",
            "--to",
            END,
            "--kind",
            "queue",
            "--record",
            str(bundle),
        ]
    )
    code, _stdout, stderr = _offline(
        [
            "misses",
            "--since",
            "24h",
            "--to",
            END,
            "--kind",
            "queue",
            "--replay",
            str(bundle),
        ]
    )
    assert code == 0, stderr


def test_bundle_holds_no_credentials(
    stack: Stack, slo: SloRunner, tmp_path: Path
) -> None:
    bundle = tmp_path / "run.json"
    url = stack.loki_url.replace("http://", "http://reader:hunter2-secret@")
    slo(
        [
            "misses",
            "--since",
            "1h",
            "--to",
            END,
            "--loki-addr",
            url,
            "--record",
            str(bundle),
        ],
        env={"LOKI_BEARER_TOKEN": None},
    )
    text = bundle.read_text(encoding="utf-8")
    assert "hunter2-secret" not in text
    assert "Authorization" not in text
    assert "authorization" not in text
    document = json.loads(text)
    assert document["format"] == "slocli-bundle"
    assert "backends" not in document["config"]


def test_replay_with_other_options_explains(slo: SloRunner, tmp_path: Path) -> None:
    bundle = tmp_path / "run.json"
    slo(["misses", "--since", "24h", "--to", END, "--record", str(bundle)])
    code, _stdout, stderr = _offline(
        ["misses", "--since", "2h", "--to", END, "--replay", str(bundle)]
    )
    assert code == 2
    assert "not in the evidence bundle" in stderr
    assert "record a new bundle" in stderr
    # The message names the recorded command, which must run as shown.
    recorded = json.loads(bundle.read_text(encoding="utf-8"))["commands"][0]
    assert recorded[:2] == ["slo", "misses"]
    assert " ".join(recorded) in stderr
    rerun = _offline([*recorded[1:], "--replay", str(bundle)])
    assert rerun[0] == 0, rerun[2]


def test_recorded_trace_command_reruns(
    stack: Stack, slo: SloRunner, tmp_path: Path
) -> None:
    bundle = tmp_path / "trace.json"
    key = stack.workload.truth.timeline.context_key
    slo(["trace", key, "--to", END, "--record", str(bundle)])
    recorded = json.loads(bundle.read_text(encoding="utf-8"))["commands"][0]
    assert recorded[:3] == ["slo", "trace", key]
    rerun = _offline([*recorded[1:], "--replay", str(bundle)])
    assert rerun[0] == 0, rerun[2]


def test_demo_runs_offline() -> None:
    code, stdout, stderr = _offline(["demo"])
    assert code == 0, stderr
    assert "$ slo misses --since 24h --replay <demo bundle>" in stdout
    assert "<- longest" in stdout
    assert "EXHAUSTED" in stdout
    assert "SLO misses in 2026-03-03T12:00:00Z/2026-03-04T12:00:00Z" in stdout


def test_subprocess_misses_json(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE}
    env.update(stack.environ())
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "slocli",
            "misses",
            "--since",
            "24h",
            "--to",
            END,
            "-o",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    expected = sum(1 for m in stack.workload.truth.misses if m.log_line_written)
    assert len(document["misses"]) == expected


def test_subprocess_budget_exit_code(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE}
    env.update(stack.environ())
    completed = subprocess.run(
        [sys.executable, "-m", "slocli", "budget", "report", "--at", END],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert "EXHAUSTED" in completed.stdout
    assert completed.stderr == ""
