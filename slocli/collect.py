"""Fetching what each command shows: the only place that calls several backends.

Each function takes a ``Runtime``, queries the backends it needs, and hands the
models to the pure functions in ``slocli.core``. Nothing here prints.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from slocli.backends.loki import LogEntry
from slocli.backends.prometheus import Sample
from slocli.backends.tempo import TraceModel
from slocli.config import Config, LogsShape
from slocli.core import misses as misses_core
from slocli.core.budget import (
    BudgetReport,
    ObjectiveCounts,
    WindowCounts,
    evaluate_objective,
    needed_windows,
    usable,
)
from slocli.core.durations import format_duration, format_prometheus_duration
from slocli.core.misses import MethodSummary, MissReport, PromCount, method_name
from slocli.core.queries import (
    api_misses_query,
    context_key_query,
    context_key_traceql,
    promql_failures,
    promql_latency_buckets,
    promql_queue_buckets,
    promql_requests,
    queue_misses_query,
    threshold_in_unit,
    unparsed_lines_query,
)
from slocli.core.slomath import google_alert_windows, latency_bad_events, parse_le
from slocli.core.timeline import LogEvent, Timeline, build_timeline
from slocli.core.timewindow import TimeWindow
from slocli.errors import (
    BackendError,
    BackendHTTPError,
    BackendResponseError,
    NoDataError,
    UsageError,
)
from slocli.runtime import Runtime

logger = logging.getLogger("slocli")

# How many unreadable lines to fetch before reporting "at least N".
UNPARSED_FETCH_LIMIT = 1000


def collect_misses(
    runtime: Runtime,
    window: TimeWindow,
    *,
    kind: str | None,
    method: str | None,
    max_entries: int | None,
) -> tuple[MissReport, BackendError | None]:
    """Fetch misses from Loki and bad-event counts from Prometheus.

    Returns the report and the Prometheus error, if Prometheus failed: the Loki
    result is still worth showing, and the caller exits with the backend code.
    """
    config = runtime.config
    logs = config.telemetry.logs
    loki = runtime.loki()
    if kind:
        kinds = [kind]
    elif logs.fields.kind:
        kinds = ["api", "queue"]
    else:
        # Without a kind field every line is an API request.
        kinds = ["api"]

    all_misses: list[misses_core.Miss] = []
    unparsed: list[misses_core.UnparsedLine] = []
    complete = True
    reasons: list[str] = []
    warnings: list[str] = []
    for entry_kind in kinds:
        if entry_kind == "api":
            query = api_misses_query(logs, config.objectives, method)
        else:
            query = queue_misses_query(logs, config.objectives, method)
        logger.info("Loki query: %s", query)
        result = loki.query_logs(
            query, window, page_size=logs.page_size, max_entries=max_entries
        )
        warnings.extend(result.warnings)
        if not result.complete:
            complete = False
            reasons.append(
                f"stopped after {result.stopped_at_cap} {entry_kind} lines; more may "
                "exist (raise --limit or narrow the window)"
            )
        classified = misses_core.classify(
            ((e.ts_ns, e.labels, e.line) for e in result.entries),
            kind=entry_kind,
            logs=logs,
            objectives=config.objectives,
        )
        all_misses.extend(classified.misses)
        unparsed.extend(classified.unparsed)

    broken = loki.query_logs(
        unparsed_lines_query(logs),
        window,
        page_size=min(logs.page_size, UNPARSED_FETCH_LIMIT),
        max_entries=UNPARSED_FETCH_LIMIT,
    )
    unparsed_lines = [
        misses_core.UnparsedLine(
            e.ts_ns, e.labels.get("__error__", "no fields"), e.line
        )
        for e in broken.entries
    ]
    all_misses.sort(key=lambda m: (m.ts_ns, m.kind, m.name))
    summaries = misses_core.summarise(all_misses)

    report = MissReport(
        window=window,
        misses=all_misses,
        summaries=summaries,
        unparsed_count=len(unparsed_lines) + len(unparsed),
        unparsed_complete=broken.complete,
        unparsed_examples=(unparsed + unparsed_lines)[:5],
        complete=complete,
        incomplete_reason="; ".join(reasons) or None,
        warnings=warnings,
    )

    if config.backends.prometheus.url is None and runtime.replay_bundle is None:
        report.prometheus_note = (
            "Prometheus is not configured, so its counts are not shown; set "
            "PROMETHEUS_URL to compare"
        )
        return report, None
    try:
        add_prometheus_counts(runtime, report, kinds=kinds, method=method)
    except BackendError as exc:
        report.prometheus_note = f"Prometheus counts are unavailable: {exc}"
        return report, exc
    return report, None


def _by_label(samples: Iterable[Sample], label: str) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[method_name(sample.labels.get(label, ""))].append(sample)
    return groups


def _histogram(samples: list[Sample]) -> tuple[list[tuple[float, float]], float] | None:
    """Read bucket samples as (le, count) pairs and the total count.

    Returns None without a +Inf bucket, because the total is then unknown.
    increase() corrects counter resets per series, so after a restart a lower
    bucket can exceed +Inf. The total is therefore the largest count, which
    no bucket can exceed.
    """
    try:
        buckets = sorted(
            (parse_le(s.labels.get("le", "")), max(s.value, 0.0))
            for s in samples
            if math.isfinite(s.value)
        )
    except ValueError as exc:
        raise BackendResponseError(
            f"Prometheus returned a histogram bucket with an invalid le label ({exc}); "
            "check that telemetry.metrics names a classic histogram",
            backend="Prometheus",
            url="",
        ) from None
    if not buckets or not math.isinf(buckets[-1][0]):
        return None
    return buckets, max(count for _le, count in buckets)


def _latency_counts(samples: list[Sample], threshold: float) -> PromCount | None:
    histogram = _histogram(samples)
    if histogram is None:
        return None
    buckets, total = histogram
    count = latency_bad_events(buckets, total, threshold)
    return PromCount(low=count.bad_min, high=count.bad_max)


def add_prometheus_counts(
    runtime: Runtime, report: MissReport, *, kinds: list[str], method: str | None
) -> None:
    """Set each summary's Prometheus bad-event counts for the report's window.

    Methods that Prometheus counts bad events for but Loki has no misses for get
    a row of their own: their log lines are missing or unreadable.
    """
    config: Config = runtime.config
    metrics = config.telemetry.metrics
    prometheus = runtime.prometheus()
    at = report.window.end
    span = report.window.duration
    rows = {(s.kind, method_name(s.name)): s for s in report.summaries}

    def row(kind: str, name: str) -> MethodSummary:
        key = (kind, method_name(name))
        if key not in rows:
            if kind == "api":
                threshold = config.objectives.api_latency.threshold
            else:
                threshold = config.objectives.queue_latency.for_type(name).threshold
            rows[key] = MethodSummary(
                kind=kind, name=name, threshold_s=threshold.total_seconds()
            )
            report.summaries.append(rows[key])
        return rows[key]

    if "api" in kinds:
        codes = config.objectives.api_availability.failure_codes
        failures = prometheus.query(
            promql_failures(
                metrics, codes, span, by=(metrics.method_label,), method=method
            ),
            at,
        )
        buckets = prometheus.query(
            promql_latency_buckets(
                metrics, span, by=(metrics.method_label,), method=method
            ),
            at,
        )
        report.warnings.extend(failures.warnings + buckets.warnings)
        threshold = threshold_in_unit(
            config.objectives.api_latency, metrics.latency_unit
        )
        failed_by_method = _by_label(failures.samples, metrics.method_label)
        buckets_by_method = _by_label(buckets.samples, metrics.method_label)
        if not buckets.samples and method:
            report.prometheus_note = (
                f"Prometheus has no {metrics.latency_histogram}_bucket series for "
                f"method {method!r} in this window; check the method's spelling "
                "(queue entry types need --kind queue)"
            )
        elif not buckets.samples:
            report.prometheus_note = (
                f"Prometheus has no {metrics.latency_histogram}_bucket series in this "
                "window; check telemetry.metrics in the configuration"
            )
        for name, samples in failed_by_method.items():
            value = sum(s.value for s in samples)
            if value > 0:
                row("api", name).prom_failed = PromCount(value, value)
        for name, samples in buckets_by_method.items():
            count = _latency_counts(samples, threshold)
            if count is not None and count.high > 0:
                row("api", name).prom_slow = count
        for summary in rows.values():
            # A method with histogram series had traffic, so no failure series
            # means no failures. A method with no series at all has no data.
            if summary.kind == "api" and method_name(summary.name) in buckets_by_method:
                summary.prom_failed = summary.prom_failed or PromCount(0, 0)
                summary.prom_slow = summary.prom_slow or PromCount(0, 0)

    if "queue" in kinds:
        queue = prometheus.query(promql_queue_buckets(metrics, span), at)
        report.warnings.extend(queue.warnings)
        queue_by_type = _by_label(queue.samples, metrics.queue_type_label)
        for name, samples in queue_by_type.items():
            if method and name != method:
                continue
            objective = config.objectives.queue_latency.for_type(name)
            count = _latency_counts(
                samples, threshold_in_unit(objective, metrics.queue_unit)
            )
            if count is not None and count.high > 0:
                row("queue", name).prom_slow = count
        for summary in rows.values():
            if summary.kind == "queue" and summary.name in queue_by_type:
                summary.prom_slow = summary.prom_slow or PromCount(0, 0)

    report.summaries.sort(key=lambda s: (-s.misses, s.kind, s.name))


# The window around the log lines in which to look for their traces: a queue
# entry may start long before its log line is written.
TRACE_MARGIN = timedelta(hours=1)


@dataclass
class TimelineResult:
    timeline: Timeline
    window: TimeWindow
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    # The zone naive --from/--to times were read in; the window itself is UTC.
    input_zone: str = "UTC"
    # Set when Tempo failed and the timeline contains log lines only.
    backend_error: BackendError | None = None


def _log_event(entry: LogEntry, logs: LogsShape) -> LogEvent:
    fields = logs.fields
    labels = entry.labels
    kind = labels.get(fields.kind, "") if fields.kind else logs.api_kind
    if kind == logs.queue_kind:
        name = labels.get(fields.entry_type, "")
        raw_duration = labels.get(fields.run_time)
    else:
        name = labels.get(fields.method, "")
        raw_duration = labels.get(fields.latency)
    duration = misses_core.read_optional_duration(raw_duration, logs.duration_unit)
    trace_id = misses_core.read_trace_id(labels.get(fields.trace_id))
    return LogEvent(
        ts_ns=entry.ts_ns,
        kind=kind or "log",
        name=name,
        code=labels.get(fields.code) or None,
        duration_s=duration,
        trace_id=trace_id,
        fields=dict(labels),
        line=entry.line,
    )


def collect_timeline(runtime: Runtime, key: str, window: TimeWindow) -> TimelineResult:
    """Gather every log line and trace of one context key."""
    config = runtime.config
    logs = config.telemetry.logs
    loki = runtime.loki()
    query = context_key_query(logs, key)
    logger.info("Loki query: %s", query)
    result = loki.query_logs(query, window, page_size=logs.page_size)
    events = [_log_event(entry, logs) for entry in result.entries]
    notes = [f"Loki warning: {w}" for w in result.warnings]

    complete = True
    traces: list[TraceModel] = []
    missing: list[str] = []
    tempo_error: BackendError | None = None
    if config.backends.tempo.url is None and runtime.replay_bundle is None:
        if not events:
            runtime.tempo()  # raises the error that names the URL setting
        notes.append(
            "Tempo is not configured, so only log lines are shown; set TEMPO_ADDR "
            "to add the traces"
        )
    else:
        try:
            traces, missing, complete = _fetch_traces(
                runtime, key, events, window, notes
            )
        except BackendError as exc:
            if not events:
                raise
            tempo_error = exc
            complete = False
            notes.append(f"Tempo failed, so only log lines are shown: {exc}")
    if not events and not traces:
        raise NoDataError(
            f"no log lines or traces carry context key {key!r} in "
            f"{window.describe()}; check the key, or widen the window with --since"
        )
    if missing:
        notes.append(
            f"{len(missing)} trace(s) named in log lines are not in Tempo "
            "(sampled out or past retention)"
        )
    timeline = build_timeline(key, events, traces, missing)
    # Each partial trace explains itself in TraceInfo.note, shown per trace.
    return TimelineResult(
        timeline=timeline,
        window=window,
        notes=notes,
        complete=complete,
        backend_error=tempo_error,
    )


def _fetch_traces(
    runtime: Runtime,
    key: str,
    events: list[LogEvent],
    window: TimeWindow,
    notes: list[str],
) -> tuple[list[TraceModel], list[str], bool]:
    """Fetch the traces the log lines name, or find them by the key attribute.

    Returns the traces found, the ids Tempo does not have, and whether the
    search was complete.
    """
    config = runtime.config
    tempo = runtime.tempo()
    trace_ids: list[str] = []
    for event in events:
        if event.trace_id and event.trace_id not in trace_ids:
            trace_ids.append(event.trace_id)
    if events:
        first = min(e.start_ns for e in events)
        last = max(e.ts_ns for e in events)
        search_window = TimeWindow(
            start=max(window.start, _utc(first) - TRACE_MARGIN),
            end=min(window.end, _utc(last) + TRACE_MARGIN),
        )
    else:
        search_window = window
    complete = True
    if not events or any(event.trace_id is None for event in events):
        # Lines without a trace id: find their traces by the span attribute.
        traceql = context_key_traceql(
            config.telemetry.traces.context_key_attribute, key
        )
        logger.info("Tempo search: %s", traceql)
        limit = config.telemetry.traces.search_limit
        hits, maybe_more = tempo.search(
            traceql, start=search_window.start, end=search_window.end, limit=limit
        )
        if maybe_more:
            complete = False
            notes.append(
                f"Tempo search returned its limit of {limit} traces, so more may "
                "exist; raise telemetry.traces.search_limit"
            )
        for hit in sorted(hits, key=lambda h: h.start_ns or 0):
            if hit.trace_id not in trace_ids:
                trace_ids.append(hit.trace_id)

    traces: list[TraceModel] = []
    missing: list[str] = []
    for trace_id in trace_ids:
        try:
            trace = tempo.trace(
                trace_id, start=search_window.start, end=search_window.end
            )
        except BackendHTTPError as exc:
            if exc.status != 422:
                raise
            # Tempo returns 422 for a trace over max_bytes_per_trace, and the
            # other traces are still worth showing.
            complete = False
            notes.append(
                f"trace {trace_id} is larger than Tempo returns "
                f"({exc.server_message or 'HTTP 422'}); it is left out"
            )
            continue
        if trace is None:
            missing.append(trace_id)
        else:
            traces.append(trace)
    return traces, missing, complete


def _utc(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC)


def _bucket_counts(samples: list[Sample], threshold: float) -> WindowCounts | None:
    histogram = _histogram(samples)
    if histogram is None:
        return None
    buckets, total = histogram
    count = latency_bad_events(buckets, total, threshold)
    bad = count.bad if count.bad is not None else count.bad_max
    return WindowCounts(
        bad=min(bad, total),
        valid=total,
        bad_min=count.bad_min,
        bad_max=count.bad_max,
        interpolated=not count.exact,
    )


def collect_budget(runtime: Runtime, at: datetime, *, only: str | None) -> BudgetReport:
    """Query the counts of every objective over the period and the burn windows."""
    config = runtime.config
    metrics = config.telemetry.metrics
    objectives = config.objectives
    period = objectives.period
    alert_windows = google_alert_windows(period)
    windows = needed_windows(period, alert_windows)
    prometheus = runtime.prometheus()
    notes: list[str] = []

    def is_selected(name: str) -> bool:
        return only is None or only == name

    availability: dict[timedelta, WindowCounts | None] = {}
    latency: dict[timedelta, WindowCounts | None] = {}
    queue: dict[str, dict[timedelta, WindowCounts | None]] = defaultdict(dict)
    latency_threshold = threshold_in_unit(objectives.api_latency, metrics.latency_unit)
    skipped = [w for w in windows if not usable(w, metrics.scrape_interval)]
    if skipped:
        notes.append(
            "windows shorter than four scrape intervals "
            f"({format_prometheus_duration(metrics.scrape_interval)} each) have too few "
            "samples for increase() and are shown as unknown: "
            + ", ".join(format_prometheus_duration(w) for w in skipped)
        )
    need_queue = only is None or only.startswith("queue-latency:")
    for window in windows:
        if window in skipped:
            availability[window] = latency[window] = None
            continue
        if is_selected("api-availability"):
            valid = prometheus.query(promql_requests(metrics, window), at)
            bad = prometheus.query(
                promql_failures(
                    metrics, objectives.api_availability.failure_codes, window
                ),
                at,
            )
            notes.extend(valid.warnings + bad.warnings)
            if valid.samples:
                total = max(sum(s.value for s in valid.samples), 0.0)
                failed = sum(s.value for s in bad.samples)
                availability[window] = WindowCounts.exact(
                    min(max(failed, 0.0), total), total
                )
            else:
                availability[window] = None
        if is_selected("api-latency"):
            buckets = prometheus.query(promql_latency_buckets(metrics, window), at)
            notes.extend(buckets.warnings)
            latency[window] = _bucket_counts(buckets.samples, latency_threshold)
        if need_queue:
            result = prometheus.query(promql_queue_buckets(metrics, window), at)
            notes.extend(result.warnings)
            for name, samples in _by_label(
                result.samples, metrics.queue_type_label
            ).items():
                objective = objectives.queue_latency.for_type(name)
                queue[name][window] = _bucket_counts(
                    samples, threshold_in_unit(objective, metrics.queue_unit)
                )

    counts: list[ObjectiveCounts] = []
    if is_selected("api-availability"):
        counts.append(
            ObjectiveCounts(
                name="api-availability",
                description="API calls that succeed",
                target=objectives.api_availability.target,
                threshold_s=None,
                windows=availability,
            )
        )
    if is_selected("api-latency"):
        counts.append(
            ObjectiveCounts(
                name="api-latency",
                description="API calls within "
                + format_duration(objectives.api_latency.threshold.total_seconds()),
                target=objectives.api_latency.target,
                threshold_s=objectives.api_latency.threshold.total_seconds(),
                windows=latency,
            )
        )
    queue_types = sorted(set(queue) | set(objectives.queue_latency.types))
    for name in queue_types:
        if not is_selected(f"queue-latency:{name}"):
            continue
        objective = objectives.queue_latency.for_type(name)
        type_windows = {w: queue.get(name, {}).get(w) for w in windows}
        counts.append(
            ObjectiveCounts(
                name=f"queue-latency:{name}",
                description=f"{name} queue entries within "
                + format_duration(objective.threshold.total_seconds()),
                target=objective.target,
                threshold_s=objective.threshold.total_seconds(),
                windows=type_windows,
            )
        )
    if only is not None and not counts:
        known = [
            "api-availability",
            "api-latency",
            *(f"queue-latency:{t}" for t in queue_types),
        ]
        raise UsageError(
            f"unknown objective {only!r} for --slo; use one of: {', '.join(known)}"
        )
    reports = [evaluate_objective(c, period, alert_windows) for c in counts]
    return BudgetReport(
        at=at,
        period=period,
        objectives=reports,
        alert_preset="Google SRE Workbook multi-window, multi-burn-rate",
        notes=list(dict.fromkeys(notes)),
    )
