"""The test stack shared by the end-to-end tests.

One simulated workload feeds a real Prometheus (backfilled with promtool) and
the project's Loki- and Tempo-compatible servers on 127.0.0.1. Each is started
once per test session, and only when a test requests it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stack.workload import Workload

TENANT = "records-prod"


@dataclass(frozen=True)
class Stack:
    workload: Workload
    prometheus_url: str
    loki_url: str
    tempo_url: str
    config_path: Path

    def environ(self) -> dict[str, str]:
        """Environment variables that point slo at this stack."""
        return {
            "PROMETHEUS_URL": self.prometheus_url,
            "LOKI_ADDR": self.loki_url,
            "LOKI_ORG_ID": TENANT,
            "TEMPO_ADDR": self.tempo_url,
            "TEMPO_ORG_ID": TENANT,
            "SLO_CONFIG": str(self.config_path),
        }


def write_stack_config(path: Path) -> Path:
    """Write the slo.yaml of the simulated service: its queue objectives."""
    from tests.stack.workload import QUEUE_LATENCY_TARGET, QUEUE_OBJECTIVES_S

    lines = ["objectives:", "  queue_latency:", "    types:"]
    for entry_type, seconds in sorted(QUEUE_OBJECTIVES_S.items()):
        lines.append(
            f"      {entry_type}: {{target: {QUEUE_LATENCY_TARGET}, threshold: {seconds}s}}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def workload() -> Workload:
    from tests.stack.workload import generate_workload

    return generate_workload()


@pytest.fixture(scope="session")
def stack(
    workload: Workload, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    from tests.stack.loki_server import LokiTestServer
    from tests.stack.prom import PrometheusServer, build_tsdb
    from tests.stack.tempo_server import TempoTestServer

    tsdb = build_tsdb(workload)
    config_path = write_stack_config(tmp_path_factory.mktemp("stack") / "slo.yaml")
    with (
        PrometheusServer(tsdb) as prometheus,
        LokiTestServer(workload.streams, tenant=TENANT) as loki,
        TempoTestServer(workload.spans, tenant=TENANT) as tempo,
    ):
        yield Stack(
            workload=workload,
            prometheus_url=prometheus.url,
            loki_url=loki.url,
            tempo_url=tempo.url,
            config_path=config_path,
        )
