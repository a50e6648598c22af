"""Classifying log lines into SLO misses and summarising them per method."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slocli.config import LogsShape, ObjectivesConfig
from slocli.core.durations import parse_go_duration
from slocli.core.ids import parse_trace_id
from slocli.core.timewindow import TimeWindow

# Dividing by these, rather than multiplying by 1e-3, gives the same float as
# timedelta.total_seconds(), so a value equal to the threshold is not slow.
_UNITS_PER_SECOND = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}


@dataclass(frozen=True)
class Miss:
    ts_ns: int
    kind: str  # "api" or "queue"
    name: str  # the gRPC method, or the queue entry type
    code: str | None
    latency_s: float | None  # API latency, or queue run time
    threshold_s: float
    slow: bool
    failed: bool
    context_key: str | None
    trace_id: str | None
    queue_wait_s: float | None = None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts_ns / 1e9, tz=UTC)


@dataclass(frozen=True)
class UnparsedLine:
    ts_ns: int
    reason: str
    line: str


@dataclass
class Classified:
    misses: list[Miss] = field(default_factory=list)
    unparsed: list[UnparsedLine] = field(default_factory=list)
    # Lines the server filter returned that are not misses on a closer look.
    not_misses: int = 0


@dataclass
class PromCount:
    """A bad-event count from Prometheus; low < high when the latency threshold
    falls between two histogram buckets."""

    low: float
    high: float

    @property
    def exact(self) -> bool:
        return math.isclose(self.low, self.high)


@dataclass
class MethodSummary:
    kind: str
    name: str
    misses: int = 0
    slow: int = 0
    failed: int = 0
    worst_latency_s: float | None = None
    codes: Counter[str] = field(default_factory=Counter)
    # None: Prometheus was not asked or had no series for this method.
    prom_failed: PromCount | None = None
    prom_slow: PromCount | None = None
    threshold_s: float | None = None

    @property
    def not_in_loki(self) -> int:
        """At least this many bad events that Prometheus counts have no miss line in Loki.

        Compares slow with slow and failed with failed, using the low end of a
        Prometheus range, so it never overstates the gap.
        """
        gaps = [0.0]
        if self.prom_slow is not None:
            gaps.append(self.prom_slow.low - self.slow)
        if self.prom_failed is not None:
            gaps.append(self.prom_failed.low - self.failed)
        # increase() extrapolates, so round down only what is clearly whole.
        return max(0, math.floor(max(gaps) + 0.01))


def method_name(value: str) -> str:
    """The bare method of a full gRPC path: /pkg.Svc/GetRecord -> GetRecord."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def read_duration(raw: str | None, unit: str | None) -> float:
    """Read a duration field in seconds; raises ValueError when it does not parse."""
    if raw is None or raw == "":
        raise ValueError("missing")
    if unit is None:
        return parse_go_duration(raw)
    number = float(raw)
    if not math.isfinite(number):
        raise ValueError(f"{raw!r} is not a finite number")
    return number / _UNITS_PER_SECOND[unit]


def read_optional_duration(raw: str | None, unit: str | None) -> float | None:
    """Read a duration field that may be absent or broken; None when it does not parse."""
    try:
        return read_duration(raw, unit)
    except ValueError:
        return None


def read_trace_id(raw: str | None) -> str | None:
    """Read a trace id field as 32 lowercase hex; None when absent or invalid."""
    if not raw:
        return None
    try:
        return parse_trace_id(raw)
    except ValueError:
        return None


def classify(
    entries: Iterable[tuple[int, Mapping[str, str], str]],
    *,
    kind: str,
    logs: LogsShape,
    objectives: ObjectivesConfig,
) -> Classified:
    """Decide which lines are misses.

    ``entries`` are (timestamp ns, labels, line) with the parser's fields among
    the labels. A line whose fields do not parse is set apart as unparsed,
    never counted as slow or as fast, unless its code alone makes it a miss:
    it is then a failed miss with an unknown latency.
    """
    fields = logs.fields
    failure_codes = set(objectives.api_availability.failure_codes)
    result = Classified()
    for ts_ns, labels, line in entries:
        code = labels.get(fields.code) or None
        # A failing code makes an API request a miss whatever its latency, so a
        # request whose latency does not parse still counts as failed.
        failed = kind == "api" and code in failure_codes
        error = labels.get("__error__")
        if error and not (failed and error == "LabelFilterErr"):
            details = labels.get("__error_details__", "")
            reason = f"{error}: {details}" if details else error
            result.unparsed.append(UnparsedLine(ts_ns, reason, line))
            continue
        duration_field = fields.latency if kind == "api" else fields.run_time
        raw = labels.get(duration_field)
        latency: float | None
        try:
            latency = read_duration(raw, logs.duration_unit)
        except ValueError as exc:
            if not failed:
                result.unparsed.append(
                    UnparsedLine(
                        ts_ns, f"{duration_field}={raw!r} does not parse: {exc}", line
                    )
                )
                continue
            latency = None
        if kind == "api":
            name = labels.get(fields.method, "")
            threshold = objectives.api_latency.threshold.total_seconds()
        else:
            name = labels.get(fields.entry_type, "")
            threshold = objectives.queue_latency.for_type(
                name
            ).threshold.total_seconds()
        slow = latency is not None and latency > threshold
        if not (slow or failed):
            result.not_misses += 1
            continue
        queue_wait = None
        if kind == "queue":
            queue_wait = read_optional_duration(
                labels.get(fields.queue_wait), logs.duration_unit
            )
        trace_id = read_trace_id(labels.get(fields.trace_id))
        result.misses.append(
            Miss(
                ts_ns=ts_ns,
                kind=kind,
                name=name,
                code=code,
                latency_s=latency,
                threshold_s=threshold,
                slow=slow,
                failed=failed,
                context_key=labels.get(fields.context_key) or None,
                trace_id=trace_id,
                queue_wait_s=queue_wait,
            )
        )
    return result


def summarise(misses: Iterable[Miss]) -> list[MethodSummary]:
    """Group misses per (kind, method or entry type), most misses first."""
    groups: dict[tuple[str, str], MethodSummary] = {}
    for miss in misses:
        summary = groups.setdefault(
            (miss.kind, miss.name), MethodSummary(miss.kind, miss.name)
        )
        summary.misses += 1
        summary.threshold_s = miss.threshold_s
        summary.slow += miss.slow
        summary.failed += miss.failed
        if miss.code:
            summary.codes[miss.code] += 1
        if miss.latency_s is not None and (
            summary.worst_latency_s is None or miss.latency_s > summary.worst_latency_s
        ):
            summary.worst_latency_s = miss.latency_s
    return sorted(groups.values(), key=lambda s: (-s.misses, s.kind, s.name))


@dataclass
class MissReport:
    window: TimeWindow
    misses: list[Miss]
    summaries: list[MethodSummary]
    unparsed_count: int
    unparsed_complete: bool
    unparsed_examples: list[UnparsedLine]
    complete: bool
    incomplete_reason: str | None = None
    prometheus_note: str | None = None
    warnings: list[str] = field(default_factory=list)
    # The zone naive --from/--to times were read in; the window itself is UTC.
    input_zone: str = "UTC"
