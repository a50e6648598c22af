"""Data shared by the workload generator and the test servers.

The generator produces these; the Loki and Tempo test servers load them. Keeping
them plain dataclasses means a test can also build a handful by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AttributeValue = str | int | float | bool


@dataclass
class LogStream:
    """One Loki stream: its labels and its entries, oldest first."""

    labels: dict[str, str]
    # (timestamp in Unix nanoseconds, log line). Timestamps may repeat.
    entries: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Span:
    """One span as Tempo stores it, with hex ids."""

    trace_id: str  # 32 lowercase hex characters; may start with zeros
    span_id: str  # 16 lowercase hex characters
    parent_span_id: str  # "" for a root span
    name: str
    service_name: str
    start_ns: int
    end_ns: int
    # OTLP enum names: SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL,
    # SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER, or SPAN_KIND_UNSPECIFIED.
    kind: str = "SPAN_KIND_INTERNAL"
    # STATUS_CODE_UNSET, STATUS_CODE_OK or STATUS_CODE_ERROR.
    status_code: str = "STATUS_CODE_UNSET"
    status_message: str = ""
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    resource_attributes: dict[str, AttributeValue] = field(default_factory=dict)
