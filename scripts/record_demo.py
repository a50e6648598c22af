"""Record the demo incident's evidence bundle from the test stack.

Starts the test stack (real Prometheus, Loki and Tempo test servers), runs the
three views with --record, and merges the exchanges into one bundle at
slocli/demo/incident.json. The bundle's clock is the end of the simulated
workload, so `slo misses --since 24h --replay` sends exactly the recorded requests.

Usage: .venv/bin/python scripts/record_demo.py [OUTPUT]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slocli.backends.bundle import Bundle, load_bundle  # noqa: E402
from slocli.cli.app import app  # noqa: E402
from tests.conftest import TENANT, write_stack_config  # noqa: E402
from tests.stack.loki_server import LokiTestServer  # noqa: E402
from tests.stack.prom import PrometheusServer, build_tsdb  # noqa: E402
from tests.stack.tempo_server import TempoTestServer  # noqa: E402
from tests.stack.workload import END, generate_workload  # noqa: E402


def main() -> int:
    output = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "slocli/demo/incident.json"
    )
    workload = generate_workload()
    key = workload.truth.timeline.context_key
    end = END.strftime("%Y-%m-%dT%H:%M:%SZ")
    views = {
        "misses": ["misses", "--since", "24h"],
        "trace": ["trace", key],
        "budget": ["budget", "report"],
    }
    pinned = {"misses": ["--to", end], "trace": ["--to", end], "budget": ["--at", end]}
    with tempfile.TemporaryDirectory() as folder:
        config = write_stack_config(Path(folder) / "slo.yaml")
        with (
            PrometheusServer(build_tsdb(workload)) as prometheus,
            LokiTestServer(workload.streams, tenant=TENANT) as loki,
            TempoTestServer(workload.spans, tenant=TENANT) as tempo,
        ):
            env = {
                "PROMETHEUS_URL": prometheus.url,
                "LOKI_ADDR": loki.url,
                "LOKI_ORG_ID": TENANT,
                "TEMPO_ADDR": tempo.url,
                "TEMPO_ORG_ID": TENANT,
                "SLO_CONFIG": str(config),
            }
            merged = Bundle(recorded_at=END)
            for name, args in views.items():
                part = Path(folder) / f"{name}.json"
                argv = [*args, *pinned[name], "--record", str(part)]
                result = CliRunner().invoke(app, argv, env=env)
                if result.exit_code not in (0, 1):
                    print(result.stderr, file=sys.stderr)
                    return 1
                recorded = load_bundle(part)
                merged.exchanges.extend(recorded.exchanges)
                merged.config = recorded.config
                merged.commands.append(["slo", *args])
    merged.meta = {
        "description": (
            "A slow upstream pushes API calls over 1 s, fails some with "
            "Unavailable and stalls queue entries, 4 hours before the end of a "
            "simulated 3-day workload of the gramophile service."
        ),
        "trace_key": key,
        "misses_args": views["misses"][1:],
        "budget_args": [],
    }
    merged.save(output)
    size = output.stat().st_size
    print(f"wrote {output} ({len(merged.exchanges)} exchanges, {size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
