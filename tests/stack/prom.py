"""The workload's metrics in a real Prometheus server.

`write_openmetrics` renders the scrapes a Prometheus server would have taken of the
simulated service as OpenMetrics text with timestamps. `build_tsdb` backfills them
into a TSDB with `promtool tsdb create-blocks-from openmetrics` and caches the
result by `GENERATOR_VERSION` and seed. `PrometheusServer` runs `prometheus` over a
copy of such a TSDB on a free loopback port.

Series (every one carries `job="gramophile"` and `instance="gramophile:9090"`):

- `grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}`:
  finished requests, one series per method and every code the method ever returns;
- `grpc_server_handling_seconds_{bucket,sum,count}{grpc_type, grpc_service,
  grpc_method}`: latency, with `le` in Prometheus 3 float form (`"1.0"`);
- `gramophile_queue_time_{bucket,sum,count}{type}`: queue entry run time in
  milliseconds, with `le` written as OTLP-ingested series have it (`"1000"`);
- `up`: 1 at every scrape.

Each counter series starts at 0 on the first scrape and counts the events that
finished at or before each scrape.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from tests.stack.workload import (
    API_BUCKETS_S,
    COARSE_SCRAPE_INTERVAL_S,
    DEFAULT_SEED,
    END,
    END_NS,
    FINE_SCRAPE_FROM_NS,
    FINE_SCRAPE_INTERVAL_S,
    GENERATOR_VERSION,
    METHODS,
    NS_PER_MS,
    NS_PER_S,
    QUEUE_BUCKETS_MS,
    QUEUE_OBJECTIVES_S,
    SERVICE,
    SERVICE_NAME,
    START_NS,
    Workload,
    generate_workload,
)

__all__ = [
    "DEFAULT_SEED",
    "END",
    "GENERATOR_VERSION",
    "PrometheusServer",
    "PrometheusStartError",
    "PromtoolError",
    "build_tsdb",
    "cache_root",
    "read_build_report",
    "scrape_times_s",
    "tsdb_cache_dir",
    "write_openmetrics",
]

CACHE_ENV_VAR = "SLOCLI_TESTSTACK_CACHE"
_TARGET_LABELS = f'job="{SERVICE_NAME}",instance="{SERVICE_NAME}:9090"'
# promtool reads the whole input once per output block. Its default block length
# is 2 h, so three days of data would be read 37 times. With 162 h blocks (its
# largest size below 200 h) the period fits in one block. The flag is accepted
# by promtool 2.42 although its help text does not list it.
_MAX_BLOCK_DURATION = "200h"


class PromtoolError(RuntimeError):
    """promtool failed to build a TSDB."""


class PrometheusStartError(RuntimeError):
    """The Prometheus server exited or did not become ready."""


# ---------------------------------------------------------------------------
# OpenMetrics
# ---------------------------------------------------------------------------


def scrape_times_s() -> list[int]:
    """Return the scrape times in Unix seconds, from START to END inclusive."""
    start_s = START_NS // NS_PER_S
    fine_from_s = FINE_SCRAPE_FROM_NS // NS_PER_S
    end_s = END_NS // NS_PER_S
    coarse = list(range(start_s, fine_from_s, COARSE_SCRAPE_INTERVAL_S))
    fine = list(range(fine_from_s, end_s + 1, FINE_SCRAPE_INTERVAL_S))
    return coarse + fine


@dataclass
class _Family:
    """One metric family, or part of one, as OpenMetrics text."""

    name: str
    kind: str
    help: str
    # The sample lines of each series. A histogram's buckets, count and sum
    # count as one series here, because they must stay in one file.
    series: list[list[str]]

    @property
    def samples(self) -> int:
        return sum(len(lines) for lines in self.series)


class _Scrapes:
    """Cumulative per-scrape counts of events, by the index of their scrape."""

    def __init__(self) -> None:
        self.times_s = scrape_times_s()
        self.times_ns = [t * NS_PER_S for t in self.times_s]
        self.time_texts = [str(t) for t in self.times_s]

    def index(self, end_ns: int) -> int:
        # An event is counted by the first scrape at or after it finished.
        return bisect.bisect_left(self.times_ns, end_ns)

    def cumulative(self, increments: Sequence[int]) -> list[int]:
        return list(accumulate(increments))

    def zeros(self) -> list[int]:
        return [0] * len(self.times_s)


def _label_text(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def _counter_lines(
    scrapes: _Scrapes, name: str, labels: dict[str, str], values: Sequence[int]
) -> list[str]:
    prefix = f"{name}{{{_label_text(labels)},{_TARGET_LABELS}}} "
    return [
        f"{prefix}{value} {ts}\n"
        for value, ts in zip(values, scrapes.time_texts, strict=True)
    ]


def _handled_family(workload: Workload, scrapes: _Scrapes) -> _Family:
    increments: dict[tuple[str, str], list[int]] = {}
    for method in METHODS:
        increments[(method.name, "OK")] = scrapes.zeros()
    for request in workload.requests:
        key = (request.method, request.code)
        per_scrape = increments.setdefault(key, scrapes.zeros())
        per_scrape[scrapes.index(request.end_ns)] += 1
    series: list[list[str]] = []
    order = {m.name: i for i, m in enumerate(METHODS)}
    for method_name, code in sorted(increments, key=lambda k: (order[k[0]], k[1])):
        labels = {
            "grpc_type": "unary",
            "grpc_service": SERVICE,
            "grpc_method": method_name,
            "grpc_code": code,
        }
        values = scrapes.cumulative(increments[(method_name, code)])
        series.append(
            _counter_lines(scrapes, "grpc_server_handled_total", labels, values)
        )
    return _Family(
        "grpc_server_handled",
        "counter",
        "Finished unary RPCs by method and gRPC status code.",
        series,
    )


def _histogram_lines(
    scrapes: _Scrapes,
    name: str,
    labels: dict[str, str],
    bounds: Sequence[str],
    observations: Sequence[tuple[int, int, int]],
    format_sum: Callable[[int], str],
) -> list[str]:
    """Render one histogram series, one MetricPoint (all buckets) per scrape.

    `observations` contains (scrape index, bucket index, value) triples. Bucket
    index len(bounds) is the +Inf bucket alone. `format_sum` turns a summed value into text.
    """
    bucket_count = len(bounds) + 1
    increments = [scrapes.zeros() for _ in range(bucket_count)]
    sum_increments = scrapes.zeros()
    for scrape_index, bucket_index, value in observations:
        increments[bucket_index][scrape_index] += 1
        sum_increments[scrape_index] += value
    per_bucket = [scrapes.cumulative(series) for series in increments]
    # Buckets are cumulative over `le` as well: le=x counts everything <= x.
    cumulative_buckets = list(
        accumulate(per_bucket, lambda a, b: list(map(sum, zip(a, b, strict=True))))
    )
    sums = scrapes.cumulative(sum_increments)
    base = f"{_label_text(labels)},{_TARGET_LABELS}"
    prefixes = [f'{name}_bucket{{{base},le="{le}"}} ' for le in [*bounds, "+Inf"]]
    count_prefix = f"{name}_count{{{base}}} "
    sum_prefix = f"{name}_sum{{{base}}} "
    lines: list[str] = []
    for i, ts in enumerate(scrapes.time_texts):
        for prefix, bucket in zip(prefixes, cumulative_buckets, strict=True):
            lines.append(f"{prefix}{bucket[i]} {ts}\n")
        lines.append(f"{count_prefix}{cumulative_buckets[-1][i]} {ts}\n")
        lines.append(f"{sum_prefix}{format_sum(sums[i])} {ts}\n")
    return lines


def _format_seconds_sum(total_ns: int) -> str:
    return repr(total_ns / NS_PER_S)


def _format_ms_sum(total_ms: int) -> str:
    return str(total_ms)


def _handling_family(workload: Workload, scrapes: _Scrapes) -> _Family:
    bounds_ns = [round(b * NS_PER_S) for b in API_BUCKETS_S]
    observations: dict[str, list[tuple[int, int, int]]] = {m.name: [] for m in METHODS}
    for request in workload.requests:
        bucket_index = bisect.bisect_left(bounds_ns, request.latency_ns)
        observations[request.method].append(
            (scrapes.index(request.end_ns), bucket_index, request.latency_ns)
        )
    # Prometheus 3 writes scraped `le` values in float form: 1 -> "1.0".
    bounds = [repr(b) for b in API_BUCKETS_S]
    series: list[list[str]] = []
    for method in METHODS:
        labels = {
            "grpc_type": "unary",
            "grpc_service": SERVICE,
            "grpc_method": method.name,
        }
        series.append(
            _histogram_lines(
                scrapes,
                "grpc_server_handling_seconds",
                labels,
                bounds,
                observations[method.name],
                _format_seconds_sum,
            )
        )
    return _Family(
        "grpc_server_handling_seconds",
        "histogram",
        "Latency of unary RPCs until the response is sent, in seconds.",
        series,
    )


def _queue_family(workload: Workload, scrapes: _Scrapes) -> _Family:
    observations: dict[str, list[tuple[int, int, int]]] = {
        t: [] for t in QUEUE_OBJECTIVES_S
    }
    for entry in workload.entries:
        run_ms = entry.run_ns // NS_PER_MS  # run times are whole milliseconds
        bucket_index = bisect.bisect_left(QUEUE_BUCKETS_MS, run_ms)
        observations[entry.entry_type].append(
            (scrapes.index(entry.end_ns), bucket_index, run_ms)
        )
    # Series ingested through OTLP keep integer `le` text: "1000", not "1000.0".
    bounds = [str(b) for b in QUEUE_BUCKETS_MS]
    series: list[list[str]] = []
    for entry_type, entry_observations in observations.items():
        series.append(
            _histogram_lines(
                scrapes,
                "gramophile_queue_time",
                {"type": entry_type},
                bounds,
                entry_observations,
                _format_ms_sum,
            )
        )
    return _Family(
        "gramophile_queue_time",
        "histogram",
        "Run time of finished queue entries by entry type, in milliseconds.",
        series,
    )


def _up_family(scrapes: _Scrapes) -> _Family:
    lines = [f"up{{{_TARGET_LABELS}}} 1 {ts}\n" for ts in scrapes.time_texts]
    return _Family("up", "gauge", "Whether the last scrape succeeded.", [lines])


def _families(workload: Workload) -> list[_Family]:
    scrapes = _Scrapes()
    return [
        _handled_family(workload, scrapes),
        _handling_family(workload, scrapes),
        _queue_family(workload, scrapes),
        _up_family(scrapes),
    ]


def _write_families(out: TextIO, families: Sequence[_Family]) -> int:
    samples = 0
    for family in families:
        out.write(f"# HELP {family.name} {family.help}\n")
        out.write(f"# TYPE {family.name} {family.kind}\n")
        for lines in family.series:
            out.writelines(lines)
        samples += family.samples
    out.write("# EOF\n")
    return samples


def _split(families: Sequence[_Family], parts: int) -> list[list[_Family]]:
    """Split families into at most `parts` groups of about equal sample counts.

    Whole series go to one group, so no series is spread over two files (and
    over two overlapping blocks). A family cut between groups repeats its
    metadata in each.
    """
    total = sum(f.samples for f in families)
    share = total / parts
    groups: list[list[_Family]] = [[] for _ in range(parts)]
    written = 0
    for family in families:
        for lines in family.series:
            group = groups[min(parts - 1, int(written / share))]
            if not group or group[-1].name != family.name:
                group.append(_Family(family.name, family.kind, family.help, []))
            group[-1].series.append(lines)
            written += len(lines)
    return [g for g in groups if g]


def write_openmetrics(
    workload: Workload, directory: Path, *, parts: int = 1
) -> tuple[list[Path], int]:
    """Write the workload's scrapes as OpenMetrics files into `directory`.

    With `parts` > 1 the samples are split over that many files of about equal
    size, so that several promtool processes can read them in parallel. Returns
    the files and the number of samples written.
    """
    families = _families(workload)
    groups = [families] if parts == 1 else _split(families, parts)
    paths: list[Path] = []
    samples = 0
    for number, group in enumerate(groups):
        path = directory / f"metrics-{number}.om"
        with path.open("w", encoding="utf-8") as out:
            samples += _write_families(out, group)
        paths.append(path)
    return paths, samples


# ---------------------------------------------------------------------------
# TSDB build and cache
# ---------------------------------------------------------------------------


def cache_root() -> Path:
    """Return the cache folder: $SLOCLI_TESTSTACK_CACHE or ~/.cache/slocli-teststack."""
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "slocli-teststack"


def tsdb_cache_dir(seed: int, cache_dir: Path | None = None) -> Path:
    """Return the folder of the cached TSDB of `seed` (built or not)."""
    root = cache_dir if cache_dir is not None else cache_root()
    return root / f"tsdb-v{GENERATOR_VERSION}-seed{seed}"


def _run_promtool(promtool: str, inputs: Sequence[Path], output: Path) -> float:
    """Run one promtool process per input file in parallel and return the seconds."""
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                f"--max-block-duration={_MAX_BLOCK_DURATION}",
                "openmetrics",
                "--quiet",
                str(path),
                str(output),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in inputs
    ]
    failures = []
    for path, process in zip(inputs, processes, strict=True):
        text, _ = process.communicate()
        if process.returncode != 0:
            failures.append(f"{path.name}: exit code {process.returncode}: {text}")
    if failures:
        raise PromtoolError(
            "promtool tsdb create-blocks-from openmetrics failed: "
            + "; ".join(failures)
        )
    return time.monotonic() - started


def build_tsdb(
    workload_or_seed: Workload | int = DEFAULT_SEED,
    cache_dir: Path | None = None,
    *,
    promtool: str = "promtool",
    parts: int = 2,
) -> Path:
    """Return the TSDB folder of a workload, building and caching it if needed.

    The TSDB is cached under `tsdb_cache_dir(seed, cache_dir)`. A cached one is
    returned without generating the workload again. A build happens in a
    temporary folder next to the cache entry and is renamed into place, so a
    crashed or concurrent build never leaves a half-written entry. `parts` is the
    number of promtool processes run in parallel.
    """
    seed = (
        workload_or_seed if isinstance(workload_or_seed, int) else workload_or_seed.seed
    )
    entry = tsdb_cache_dir(seed, cache_dir)
    tsdb = entry / "tsdb"
    if (entry / "build.json").is_file():
        return tsdb

    entry.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    workload = (
        generate_workload(seed)
        if isinstance(workload_or_seed, int)
        else workload_or_seed
    )
    generated_s = time.monotonic() - started
    with (
        tempfile.TemporaryDirectory(prefix="openmetrics-") as scratch,
        tempfile.TemporaryDirectory(dir=entry.parent, prefix=".build-") as building,
    ):
        inputs, samples = write_openmetrics(workload, Path(scratch), parts=parts)
        written_s = time.monotonic() - started - generated_s
        input_bytes = sum(p.stat().st_size for p in inputs)
        staged = Path(building) / "entry"
        (staged / "tsdb").mkdir(parents=True)
        promtool_s = _run_promtool(promtool, inputs, staged / "tsdb")
        report = {
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "samples": samples,
            "openmetrics_files": len(inputs),
            "openmetrics_bytes": input_bytes,
            "generate_seconds": round(generated_s, 2),
            "write_seconds": round(written_s, 2),
            "promtool_seconds": round(promtool_s, 2),
            "tsdb_bytes": sum(
                p.stat().st_size for p in (staged / "tsdb").rglob("*") if p.is_file()
            ),
        }
        (staged / "build.json").write_text(json.dumps(report, indent=2) + "\n")
        try:
            staged.rename(entry)
        except OSError:
            # Another process finished the same build first, so keep its result.
            if not (entry / "build.json").is_file():
                raise
    return tsdb


def read_build_report(seed: int, cache_dir: Path | None = None) -> dict[str, Any]:
    """Return the figures `build_tsdb` recorded for a cached TSDB."""
    path = tsdb_cache_dir(seed, cache_dir) / "build.json"
    report: dict[str, Any] = json.loads(path.read_text())
    return report


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------

_CONFIG = """\
# No scrape targets: the server only serves the backfilled blocks.
global:
  scrape_interval: 30s
  evaluation_interval: 30s
scrape_configs: []
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """A `prometheus` process serving a copy of a TSDB on 127.0.0.1.

    The server writes into its data folder (lock file, WAL, compactions), so it
    runs on a copy and the cached TSDB stays untouched. Use it as a context
    manager. `url` is set once the server reports ready.
    """

    def __init__(
        self,
        tsdb_dir: Path,
        *,
        prometheus: str = "prometheus",
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.tsdb_dir = tsdb_dir
        self.prometheus = prometheus
        self.ready_timeout_s = ready_timeout_s
        self.url = ""
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("the Prometheus server has not been started")
        return self._workdir / "prometheus.log"

    def log_text(self) -> str:
        """Return what the server wrote to its log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, RuntimeError):
            return ""

    def start(self) -> None:
        """Copy the TSDB, start the server and wait until /-/ready returns 200."""
        self._workdir = Path(tempfile.mkdtemp(prefix="slocli-prometheus-"))
        data = self._workdir / "data"
        shutil.copytree(self.tsdb_dir, data)
        config = self._workdir / "prometheus.yml"
        config.write_text(_CONFIG)
        port = _free_port()
        command = [
            self.prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            # Retention counts back from the newest block, so 10 years keeps all.
            "--storage.tsdb.retention.time=10y",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self._workdir
            )
        self.url = f"http://127.0.0.1:{port}"
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PrometheusStartError(
                    f"prometheus exited with code {self._process.returncode} "
                    f"before it was ready; its log:\n{self.log_text()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusStartError(
            f"prometheus at {self.url} was not ready after {self.ready_timeout_s} s; "
            f"its log:\n{self.log_text()}"
        )

    def stop(self) -> None:
        """Stop the server and delete its data copy (the log is kept until then)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def query(self, expr: str, at_s: float | None = None) -> list[dict[str, Any]]:
        """Run an instant query and return `data.result`.

        Raises RuntimeError when the server replies with an HTTP error.
        """
        params = {"query": expr}
        if at_s is not None:
            params["time"] = repr(at_s)
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"query {expr!r} failed with HTTP {error.code}: {error.read()!r}"
            ) from error
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            # Shown by pytest next to the failure.
            print(f"prometheus log ({self.url}):\n{self.log_text()}", file=sys.stderr)
        self.stop()
