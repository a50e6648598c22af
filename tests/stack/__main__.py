"""Command line of the test stack.

    python -m tests.stack generate --seed N --out DIR
    python -m tests.stack tsdb --seed N [--cache DIR]
    python -m tests.stack serve [--seed N] [--env FILE]

`generate` writes what one seed produces, for people and benchmarks to read:

- `metrics.om`: the scrapes as OpenMetrics text, as fed to promtool;
- `loki_streams.json`: the log streams in the body format of Loki's push API
  (`{"streams": [{"stream": {...}, "values": [["<ns>", "<line>"], ...]}]}`);
- `spans.json`: the spans, one object per span with hex ids;
- `truth.json`: the expected values (misses, counts, budget figures).

`tsdb` builds (or finds) the cached TSDB of a seed and prints its folder.

`serve` starts the whole stack on 127.0.0.1 (Prometheus, the Loki and Tempo
test servers, and an slo.yaml with the service's queue objectives), prints the
environment variables that point `slo` at it, and runs until interrupted. The
end of the workload is 2026-03-04T12:00:00Z, so pass `--to` or `--at` with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.stack.model import LogStream, Span
from tests.stack.prom import build_tsdb, write_openmetrics
from tests.stack.workload import DEFAULT_SEED, generate_workload


def loki_push_body(streams: Sequence[LogStream]) -> dict[str, object]:
    """Return the streams as the JSON body of Loki's push API."""
    return {
        "streams": [
            {
                "stream": stream.labels,
                "values": [[str(ts_ns), line] for ts_ns, line in stream.entries],
            }
            for stream in streams
        ]
    }


def spans_document(spans: Sequence[Span]) -> list[dict[str, object]]:
    return [dataclasses.asdict(span) for span in spans]


def _generate(seed: int, out: Path) -> None:
    started = time.monotonic()
    workload = generate_workload(seed)
    out.mkdir(parents=True, exist_ok=True)
    [metrics], samples = write_openmetrics(workload, out, parts=1)
    metrics.rename(out / "metrics.om")
    with (out / "loki_streams.json").open("w", encoding="utf-8") as file:
        json.dump(loki_push_body(workload.streams), file, ensure_ascii=False)
    with (out / "spans.json").open("w", encoding="utf-8") as file:
        json.dump(spans_document(workload.spans), file, ensure_ascii=False)
    (out / "truth.json").write_text(workload.truth.to_json() + "\n", encoding="utf-8")
    totals = workload.truth.totals
    print(
        f"seed {seed}: {totals['api_requests']} API requests, "
        f"{totals['queue_entries']} queue entries, {totals['log_lines']} log lines, "
        f"{totals['spans']} spans, {samples} samples; written to {out} "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )


def _serve(seed: int, env_file: Path | None) -> None:
    import tempfile

    from tests.conftest import TENANT, write_stack_config
    from tests.stack.loki_server import LokiTestServer
    from tests.stack.prom import PrometheusServer
    from tests.stack.tempo_server import TempoTestServer

    # SIGTERM (kill, or a job control `kill %1`) stops the stack the way Ctrl-C
    # does, so Prometheus and the temporary folders do not outlive it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workload = generate_workload(seed)
    with tempfile.TemporaryDirectory() as folder:
        config = write_stack_config(Path(folder) / "slo.yaml")
        with (
            PrometheusServer(build_tsdb(workload)) as prometheus,
            LokiTestServer(workload.streams, tenant=TENANT) as loki,
            TempoTestServer(workload.spans, tenant=TENANT) as tempo,
        ):
            variables = {
                "PROMETHEUS_URL": prometheus.url,
                "LOKI_ADDR": loki.url,
                "LOKI_ORG_ID": TENANT,
                "TEMPO_ADDR": tempo.url,
                "TEMPO_ORG_ID": TENANT,
                "SLO_CONFIG": str(config),
            }
            text = "".join(f"export {k}={v}\n" for k, v in variables.items())
            if env_file is not None:
                env_file.write_text(text, encoding="utf-8")
            print(text, end="", flush=True)
            print(
                f"# timeline key: {workload.truth.timeline.context_key}; "
                "workload ends 2026-03-04T12:00:00Z; Ctrl-C stops the stack",
                flush=True,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.stack",
        description="Generate the simulated workload of the slocli test stack.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate", help="write metrics, logs, spans and truth to a folder"
    )
    generate.add_argument("--seed", type=int, default=DEFAULT_SEED, help="RNG seed")
    generate.add_argument("--out", type=Path, required=True, help="output folder")
    tsdb = commands.add_parser(
        "tsdb", help="build or find the cached TSDB and print its folder"
    )
    tsdb.add_argument("--seed", type=int, default=DEFAULT_SEED, help="RNG seed")
    tsdb.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache folder (default: $SLOCLI_TESTSTACK_CACHE or "
        "~/.cache/slocli-teststack)",
    )
    serve = commands.add_parser(
        "serve", help="run Prometheus, Loki and Tempo test servers until interrupted"
    )
    serve.add_argument("--seed", type=int, default=DEFAULT_SEED, help="RNG seed")
    serve.add_argument(
        "--env", type=Path, default=None, help="also write the exports to this file"
    )
    args = parser.parse_args(argv)

    if args.command == "generate":
        _generate(args.seed, args.out)
    elif args.command == "serve":
        _serve(args.seed, args.env)
    else:
        print(build_tsdb(args.seed, args.cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
