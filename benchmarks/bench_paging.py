"""Throughput of Loki paging: `LokiClient.query_logs` against raw requests.

Serves a synthetic log stream from the project's Loki test server on
127.0.0.1 and fetches all of it three ways, each repeated and timed:

- baseline: plain httpx GETs with the same page boundaries, bodies decoded
  with `json.loads` and nothing else, so the difference is the client's own
  cost (models, de-duplication, sorting);
- `query_logs` with page sizes 1000 and 5000.

Some entries share a timestamp across page boundaries, so the paging and its
de-duplication are exercised. The server's own time is in every figure and
dominates it; the ratios show what the client adds on top.

Usage: .venv/bin/python benchmarks/bench_paging.py [--entries N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slocli.backends.http import BackendHTTP
from slocli.backends.loki import LokiClient
from slocli.config import BackendConfig
from slocli.core.timewindow import TimeWindow
from tests.stack.loki_server import LokiTestServer
from tests.stack.model import LogStream

START = datetime(2026, 3, 4, tzinfo=UTC)
QUERY = '{app="bench"}'


def build_streams(entries: int) -> list[LogStream]:
    streams = [LogStream({"app": "bench", "pod": f"p{i}"}) for i in range(2)]
    base = int(START.timestamp()) * 1_000_000_000
    for i in range(entries):
        # Every seventh entry repeats the previous timestamp in the other stream.
        ts = base + (i - (i % 7 == 0)) * 1_000_000
        line = json.dumps({"kind": "api", "n": i, "latency": "1.5s"})
        streams[i % 2].entries.append((ts, line))
    return streams


def raw_fetch(url: str, window: TimeWindow, page: int) -> int:
    """Page with plain GETs: the same requests, no models or de-duplication."""
    total = 0
    start = window.start_ns
    with httpx.Client(base_url=url) as client:
        while True:
            body = client.get(
                "/loki/api/v1/query_range",
                params={
                    "query": QUERY,
                    "start": str(start),
                    "end": str(window.end_ns),
                    "limit": str(page),
                    "direction": "forward",
                },
            ).json()
            values = [v for s in body["data"]["result"] for v in s["values"]]
            total += len(values)
            if len(values) < page:
                return total
            start = max(int(v[0]) for v in values)


def client_fetch(url: str, window: TimeWindow, page: int) -> int:
    http = BackendHTTP("Loki", BackendConfig(url=url))
    try:
        return len(LokiClient(http).query_logs(QUERY, window, page_size=page).entries)
    finally:
        http.close()


def timed(function, runs: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    times, count = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        count = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    window = TimeWindow(start=START, end=START + timedelta(days=1))
    with LokiTestServer(build_streams(args.entries)) as server:
        cases = {
            "raw GETs, page 1000 (baseline)": lambda: raw_fetch(
                server.url, window, 1000
            ),
            "query_logs, page 1000": lambda: client_fetch(server.url, window, 1000),
            "raw GETs, page 5000 (baseline)": lambda: raw_fetch(
                server.url, window, 5000
            ),
            "query_logs, page 5000": lambda: client_fetch(server.url, window, 5000),
        }
        results = {name: timed(case, args.runs) for name, case in cases.items()}
    print(f"{args.entries} entries, median of {args.runs} runs")
    print("| case | entries returned | median | entries/s | vs baseline |")
    print("|---|---|---|---|---|")
    baselines = {
        "1000": results["raw GETs, page 1000 (baseline)"][0],
        "5000": results["raw GETs, page 5000 (baseline)"][0],
    }
    for name, (seconds, count) in results.items():
        page = "1000" if "1000" in name else "5000"
        print(
            f"| {name} | {count} | {seconds:.2f} s | {count / seconds:,.0f} "
            f"| {seconds / baselines[page]:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
