"""Building LogQL, TraceQL and PromQL from the configuration.

Every value placed in a query goes through ``slocli.core.escape``: a context
key is opaque and may hold quotes, backslashes or backticks.
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from slocli.config import LatencyObjective, LogsShape, MetricsShape, ObjectivesConfig
from slocli.core.durations import format_prometheus_duration
from slocli.core.escape import (
    check_label_name,
    logql_string,
    re2_escape,
    traceql_attribute,
    traceql_string,
)

# Microseconds, the resolution of timedelta, per unit.
_UNIT_MICROSECONDS = {
    "ns": Fraction(1, 1000),
    "us": Fraction(1),
    "ms": Fraction(1000),
    "s": Fraction(1_000_000),
}

# Characters that a JSON encoder may escape. Go's encoder also escapes <, >
# and &, PHP's escapes /, and Python's escapes every non-ASCII character by
# default. A key containing one of them may be written differently in the raw
# line, so a raw line filter on it could miss the line.
_JSON_ESCAPED = set('"\\<>&/') | {chr(c) for c in range(0x20)} | {"\x7f"}


def _in_unit(duration: timedelta, unit: str) -> Fraction:
    """Return ``duration`` counted in ``unit``, exactly."""
    return Fraction(duration // timedelta(microseconds=1)) / _UNIT_MICROSECONDS[unit]


def _format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.9f}".rstrip("0").rstrip(".")
    return text or "0"


def duration_filter(field: str, threshold: timedelta, unit: str | None) -> str:
    """Build a LogQL label filter that keeps lines whose duration exceeds a threshold.

    Go duration strings compare against a duration literal; plain numbers
    compare against the threshold in the configured unit.
    """
    name = check_label_name(field)
    if unit is None:
        return f"{name} > {format_logql_duration(threshold.total_seconds())}"
    return f"{name} > {_format_number(_in_unit(threshold, unit))}"


def format_logql_duration(seconds: float) -> str:
    """Write seconds as a LogQL duration literal with a whole number and one unit."""
    nanoseconds = round(seconds * 1e9)
    for unit, size in (
        ("h", 3600 * 10**9),
        ("m", 60 * 10**9),
        ("s", 10**9),
        ("ms", 10**6),
        ("us", 10**3),
    ):
        if nanoseconds % size == 0:
            return f"{nanoseconds // size}{unit}"
    return f"{nanoseconds}ns"


def _method_filter(field: str, method: str) -> str:
    # Match a bare method name (GetRecord) against bare or full-path values
    # (/pkg.Service/GetRecord), and a full path exactly.
    name = check_label_name(field)
    if "/" in method:
        return f"{name}={logql_string(method)}"
    return f"{name}=~{logql_string('(.*/)?' + re2_escape(method))}"


def _base(logs: LogsShape) -> str:
    return f"{logs.selector} | {logs.parser}"


def api_misses_query(
    logs: LogsShape, objectives: ObjectivesConfig, method: str | None = None
) -> str:
    """LogQL for API requests that were slow or failed.

    The server-side filter narrows the lines; the client classifies each line
    again, so a line the filter lets through by mistake is not a miss.
    """
    fields = logs.fields
    stages = [_base(logs)]
    if fields.kind:
        stages.append(f"{check_label_name(fields.kind)}={logql_string(logs.api_kind)}")
    if method:
        stages.append(_method_filter(fields.method, method))
    conditions = [
        duration_filter(
            fields.latency, objectives.api_latency.threshold, logs.duration_unit
        )
    ]
    codes = objectives.api_availability.failure_codes
    if codes:
        alternatives = "|".join(re2_escape(code) for code in codes)
        conditions.append(
            f"{check_label_name(fields.code)}=~{logql_string(alternatives)}"
        )
    stages.append(" or ".join(conditions))
    return " | ".join(stages)


def queue_misses_query(
    logs: LogsShape, objectives: ObjectivesConfig, entry_type: str | None = None
) -> str:
    """LogQL for queue entries slower than their entry type's objective.

    Each configured entry type gets its own threshold, and every other type the
    default one, so Loki returns only misses. The client still applies each
    type's threshold to every line it gets back.
    """
    fields = logs.fields
    queue = objectives.queue_latency
    type_field = check_label_name(fields.entry_type)
    stages = [_base(logs)]
    if fields.kind:
        stages.append(
            f"{check_label_name(fields.kind)}={logql_string(logs.queue_kind)}"
        )
    if entry_type:
        stages.append(f"{type_field}={logql_string(entry_type)}")
        threshold = queue.for_type(entry_type).threshold
        stages.append(duration_filter(fields.run_time, threshold, logs.duration_unit))
        return " | ".join(stages)
    if not queue.types:
        stages.append(
            duration_filter(
                fields.run_time, queue.default.threshold, logs.duration_unit
            )
        )
        return " | ".join(stages)
    # "and" binds tighter than "or" in LogQL label filter expressions.
    clauses = [
        f"{type_field}={logql_string(name)} and "
        + duration_filter(fields.run_time, objective.threshold, logs.duration_unit)
        for name, objective in ((n, queue.for_type(n)) for n in sorted(queue.types))
    ]
    configured = "|".join(re2_escape(name) for name in sorted(queue.types))
    clauses.append(
        f"{type_field}!~{logql_string(configured)} and "
        + duration_filter(fields.run_time, queue.default.threshold, logs.duration_unit)
    )
    stages.append(" or ".join(clauses))
    return " | ".join(stages)


def unparsed_lines_query(logs: LogsShape) -> str:
    """LogQL for lines the parser stage could not read.

    The json and logfmt stages mark such lines with ``__error__``. The pattern
    and regexp stages mark nothing, so a line without the latency field counts.
    """
    parser = logs.parser.split(None, 1)[0]
    if parser in ("json", "logfmt"):
        return f'{_base(logs)} | __error__!=""'
    return f'{_base(logs)} | {check_label_name(logs.fields.latency)}=""'


def context_key_query(logs: LogsShape, key: str) -> str:
    """LogQL for every line that carries one context key."""
    field = check_label_name(logs.fields.context_key)
    prefix = logs.selector
    if key.isascii() and key.isprintable() and not (set(key) & _JSON_ESCAPED):
        # A raw line filter first lets Loki skip most lines before parsing.
        prefix = f"{logs.selector} |= {logql_string(key)}"
    return f"{prefix} | {logs.parser} | {field}={logql_string(key)}"


def context_key_traceql(attribute: str, key: str) -> str:
    return f"{{ {traceql_attribute(attribute)} = {traceql_string(key)} }}"


# PromQL ---------------------------------------------------------------------


def _selector(metric: str, metrics: MetricsShape, *extra: str) -> str:
    matchers = [m for m in (metrics.matchers.strip(), *extra) if m]
    return f"{metric}{{{', '.join(matchers)}}}"


def _code_matcher(metrics: MetricsShape, codes: tuple[str, ...]) -> str:
    alternatives = "|".join(re2_escape(code) for code in codes)
    # PromQL string literals follow the same Go rules as LogQL's.
    return f"{check_label_name(metrics.code_label)}=~{logql_string(alternatives)}"


def _method_matcher(metrics: MetricsShape, method: str | None) -> str:
    if not method:
        return ""
    bare = method.rsplit("/", 1)[-1]
    pattern = "(.*/)?" + re2_escape(bare)
    return f"{check_label_name(metrics.method_label)}=~{logql_string(pattern)}"


def promql_requests(
    metrics: MetricsShape,
    window: timedelta,
    *,
    by: tuple[str, ...] = (),
    method: str | None = None,
) -> str:
    selector = _selector(
        metrics.handled_total, metrics, _method_matcher(metrics, method)
    )
    return _sum_increase(selector, window, by)


def promql_failures(
    metrics: MetricsShape,
    codes: tuple[str, ...],
    window: timedelta,
    *,
    by: tuple[str, ...] = (),
    method: str | None = None,
) -> str:
    selector = _selector(
        metrics.handled_total,
        metrics,
        _code_matcher(metrics, codes),
        _method_matcher(metrics, method),
    )
    return _sum_increase(selector, window, by)


def promql_latency_buckets(
    metrics: MetricsShape,
    window: timedelta,
    *,
    by: tuple[str, ...] = (),
    method: str | None = None,
) -> str:
    """Bucket counts by ``le``, so the client can pick the threshold's bucket
    by numeric value (``le`` reads ``1`` or ``1.0`` depending on the ingestion path)."""
    selector = _selector(
        f"{metrics.latency_histogram}_bucket", metrics, _method_matcher(metrics, method)
    )
    return _sum_increase(selector, window, (*by, "le"))


def promql_queue_buckets(metrics: MetricsShape, window: timedelta) -> str:
    selector = _selector(f"{metrics.queue_histogram}_bucket", metrics)
    return _sum_increase(
        selector, window, (check_label_name(metrics.queue_type_label), "le")
    )


def _sum_increase(selector: str, window: timedelta, by: tuple[str, ...]) -> str:
    grouping = f" by ({', '.join(check_label_name(b) for b in by)})" if by else ""
    return f"sum{grouping} (increase({selector}[{format_prometheus_duration(window)}]))"


def threshold_in_unit(objective: LatencyObjective, unit: str) -> float:
    # Exact division, so 43ms in ms is 43.0 and matches the bucket le="43".
    return float(_in_unit(objective.threshold, unit))
