"""Stitching log lines and trace spans of one context key into a timeline.

Rows are ordered by start time. A span sits under its parent span. A log line
sits under the root span of the trace it names, or of the trace whose root span
it describes, and otherwise at the top level. Spans whose parent never reached
Tempo (a partial trace) sit under a placeholder row, and so do spans whose
parent ids form a cycle. Either makes the trace partial, and TraceInfo.note
names the cause. Every span Tempo returned gets exactly one row, including
spans that share a span id.

The step that took longest is the span with the largest self time: its
duration less the time covered by its child spans. That points at where the
time went, where the longest span overall would always be the root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slocli.backends.tempo import SpanModel, TraceModel

# grpc-go codes.Code values, for spans that record rpc.grpc.status_code as int.
GRPC_CODE_NAMES = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
]


@dataclass(frozen=True)
class LogEvent:
    ts_ns: int  # when the request or entry finished, as logged
    kind: str  # api, queue, or what the kind field held
    name: str  # method or entry type
    code: str | None
    duration_s: float | None
    trace_id: str | None
    fields: Mapping[str, str]
    line: str

    @property
    def start_ns(self) -> int:
        if self.duration_s is None:
            return self.ts_ns
        return self.ts_ns - round(self.duration_s * 1e9)


@dataclass
class TimelineRow:
    kind: str  # "span", "log" or "placeholder"
    depth: int
    start_ns: int
    end_ns: int
    name: str
    service: str | None = None
    code: str | None = None
    status: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    self_time_s: float | None = None
    longest: bool = False
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class TraceInfo:
    trace_id: str
    span_count: int
    partial: bool
    found: bool
    note: str | None = None


@dataclass
class Timeline:
    context_key: str
    rows: list[TimelineRow]
    traces: list[TraceInfo]
    log_count: int

    @property
    def start_ns(self) -> int:
        return min((r.start_ns for r in self.rows), default=0)

    @property
    def end_ns(self) -> int:
        return max((r.end_ns for r in self.rows), default=0)


@dataclass
class _Node:
    row: TimelineRow
    children: list[_Node] = field(default_factory=list)


def span_code(span: SpanModel) -> str | None:
    """Return the gRPC code name a span recorded, or None when it recorded none."""
    for key in ("rpc.grpc.status_code", "rpc.status_code", "grpc.code"):
        value = span.attributes.get(key)
        if isinstance(value, int) and 0 <= value < len(GRPC_CODE_NAMES):
            return GRPC_CODE_NAMES[value]
        if isinstance(value, str) and value:
            return value
    return None


def _union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    total = 0
    current_start = current_end = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total


# Names of the placeholder rows that stand in for a parent the tree cannot use.
MISSING_PARENT_NAME = "(parent span missing from Tempo)"
PARENT_CYCLE_NAME = "(spans in a parent cycle)"

# Parts of TraceInfo.note, in the order they are listed.
MISSING_PARENT_NOTE = "some spans' parents are missing"
PARENT_CYCLE_NOTE = "some spans are in a parent cycle"
DUPLICATE_ID_NOTE = "some spans have duplicate span ids"


@dataclass
class _SpanTree:
    """The span tree of one trace and what was wrong with its parent links."""

    tops: list[_Node]
    missing_parents: bool
    parent_cycle: bool
    duplicate_ids: bool

    @property
    def broken(self) -> bool:
        # Duplicate ids alone lose no span and no parent, so they do not make
        # the trace partial.
        return self.missing_parents or self.parent_cycle


@dataclass
class _ParentLinks:
    """Parent links of one trace's spans, by index in TraceModel.spans."""

    parent_of: list[int | None]
    roots: list[int]
    orphans: list[int]  # the parent id names no span in the trace
    cyclic: list[int]  # in a parent cycle, including spans that are their own parent
    duplicate_ids: bool


def _span_node(trace_id: str, span: SpanModel) -> _Node:
    return _Node(
        TimelineRow(
            kind="span",
            depth=0,
            start_ns=span.start_ns,
            end_ns=max(span.end_ns, span.start_ns),
            name=span.name,
            service=span.service_name,
            code=span_code(span),
            status=span.status,
            trace_id=trace_id,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            fields={"status_message": span.status_message}
            if span.status_message
            else {},
        )
    )


def _link_parents(spans: list[SpanModel]) -> _ParentLinks:
    """Resolve each span's parent id to the index of its parent span."""
    # Zipkin-style instrumentation gives the client and the server span of one
    # call the same span id. Both spans stay, and a parent id resolves to the
    # first span with that id, so the children of either copy sit under the
    # first one.
    # NOTE: a later copy therefore has no children, so its self time is its
    # whole duration. For the server half of a shared span that overstates it.
    first_index: dict[str, int] = {}
    for index, span in enumerate(spans):
        first_index.setdefault(span.span_id, index)

    links = _ParentLinks(
        parent_of=[None] * len(spans),
        roots=[],
        orphans=[],
        cyclic=[],
        duplicate_ids=len(first_index) < len(spans),
    )
    for index, span in enumerate(spans):
        parent_id = span.parent_span_id
        if parent_id is None:
            links.roots.append(index)
        elif parent_id == span.span_id:
            # A span that names its own id as parent is a cycle of one, even
            # when another span shares that id.
            links.cyclic.append(index)
        elif parent_id in first_index:
            links.parent_of[index] = first_index[parent_id]
        else:
            links.orphans.append(index)

    _break_cycles(links)
    return links


def _break_cycles(links: _ParentLinks) -> None:
    """Detach the spans of each parent cycle and add them to links.cyclic.

    Every span has at most one parent, so following parent links from any span
    either ends at a span without a parent or enters exactly one cycle. Each
    span is followed once, so this runs in linear time.
    """
    unvisited, on_path, done = 0, 1, 2
    state = [unvisited] * len(links.parent_of)
    for start in range(len(links.parent_of)):
        path: list[int] = []
        current: int | None = start
        while current is not None and state[current] == unvisited:
            state[current] = on_path
            path.append(current)
            current = links.parent_of[current]
        if current is not None and state[current] == on_path:
            for member in path[path.index(current) :]:
                links.parent_of[member] = None
                links.cyclic.append(member)
        for index in path:
            state[index] = done


def _set_self_time(node: _Node) -> None:
    row = node.row
    # Only the part of a child inside its parent counts: a consumer span
    # may run after the request that enqueued it has returned.
    child_ns = _union_ns(
        (max(c.row.start_ns, row.start_ns), min(c.row.end_ns, row.end_ns))
        for c in node.children
        if c.row.start_ns < row.end_ns and c.row.end_ns > row.start_ns
    )
    row.self_time_s = (row.end_ns - row.start_ns - child_ns) / 1e9


def _placeholder(trace_id: str, name: str, children: list[_Node]) -> _Node:
    bounds = [_subtree_bounds(child) for child in children]
    return _Node(
        TimelineRow(
            kind="placeholder",
            depth=0,
            start_ns=min(start for start, _ in bounds),
            end_ns=max(end for _, end in bounds),
            name=name,
            trace_id=trace_id,
        ),
        children=children,
    )


def _trace_nodes(trace: TraceModel) -> _SpanTree:
    """Build the span tree of one trace.

    Every span of the trace appears exactly once in the tree: under its parent,
    as a root, or under a placeholder when its parent is missing or it is in a
    parent cycle. The result is a forest, so walks over it end.
    """
    nodes = [_span_node(trace.trace_id, span) for span in trace.spans]
    links = _link_parents(trace.spans)
    for index, parent in enumerate(links.parent_of):
        if parent is not None:
            nodes[parent].children.append(nodes[index])
    for node in nodes:
        _set_self_time(node)

    tops = [nodes[index] for index in links.roots]
    if links.orphans:
        orphans = [nodes[index] for index in links.orphans]
        tops.append(_placeholder(trace.trace_id, MISSING_PARENT_NAME, orphans))
    if links.cyclic:
        cyclic = [nodes[index] for index in links.cyclic]
        tops.append(_placeholder(trace.trace_id, PARENT_CYCLE_NAME, cyclic))
    return _SpanTree(
        tops=tops,
        missing_parents=bool(links.orphans),
        parent_cycle=bool(links.cyclic),
        duplicate_ids=links.duplicate_ids,
    )


def _trace_note(trace: TraceModel, tree: _SpanTree) -> str | None:
    """Describe what Tempo reported as partial and what was wrong with the tree."""
    parts: list[str] = []
    if trace.partial_reason is not None:
        parts.append(trace.partial_reason)
    if tree.missing_parents:
        parts.append(MISSING_PARENT_NOTE)
    if tree.parent_cycle:
        parts.append(PARENT_CYCLE_NOTE)
    if tree.duplicate_ids:
        parts.append(DUPLICATE_ID_NOTE)
    return "; ".join(parts) if parts else None


def _subtree_bounds(node: _Node) -> tuple[int, int]:
    """Return the earliest start and latest end of a span and its descendants."""
    start, end = node.row.start_ns, node.row.end_ns
    pending = list(node.children)
    while pending:
        child = pending.pop()
        start = min(start, child.row.start_ns)
        end = max(end, child.row.end_ns)
        pending.extend(child.children)
    return start, end


def _log_row(event: LogEvent) -> TimelineRow:
    return TimelineRow(
        kind="log",
        depth=0,
        start_ns=event.start_ns,
        end_ns=event.ts_ns,
        name=f"{event.kind} {event.name}".strip(),
        code=event.code,
        trace_id=event.trace_id,
        fields=dict(event.fields),
    )


def build_timeline(
    context_key: str,
    events: Iterable[LogEvent],
    traces: Iterable[TraceModel],
    missing_trace_ids: Iterable[str] = (),
) -> Timeline:
    events = sorted(events, key=lambda e: (e.ts_ns, e.name))
    top: list[_Node] = []
    trace_infos: list[TraceInfo] = []
    attach_to: dict[str, _Node] = {}
    for trace in traces:
        tree = _trace_nodes(trace)
        top.extend(tree.tops)
        if tree.tops:
            # Log lines attach to the earliest real root when there is one.
            spans = [r for r in tree.tops if r.row.kind == "span"]
            attach_to[trace.trace_id] = min(spans or tree.tops, key=_order)
        trace_infos.append(
            TraceInfo(
                trace.trace_id,
                len(trace.spans),
                partial=tree.broken or trace.partial_reason is not None,
                found=True,
                note=_trace_note(trace, tree),
            )
        )
    for trace_id in missing_trace_ids:
        trace_infos.append(
            TraceInfo(
                trace_id, 0, partial=False, found=False, note="not found in Tempo"
            )
        )

    claimed: set[int] = set()
    unmatched: list[LogEvent] = []
    for event in events:
        parent = attach_to.get(event.trace_id or "")
        if parent is None:
            unmatched.append(event)
            continue
        parent.children.append(_Node(_log_row(event)))
        claimed.add(id(parent))
    for event in unmatched:
        parent = _matching_root(event, top, claimed)
        if parent is not None:
            claimed.add(id(parent))
            parent.children.append(_Node(_log_row(event)))
        else:
            top.append(_Node(_log_row(event)))

    rows = _flatten(top)
    _mark_longest(rows)
    return Timeline(
        context_key=context_key, rows=rows, traces=trace_infos, log_count=len(events)
    )


def _flatten(top: list[_Node]) -> list[TimelineRow]:
    """List the rows depth first, each node before its children, siblings by _order.

    The walk keeps its own stack, so a deep parent chain cannot exceed
    Python's recursion limit.
    """
    rows: list[TimelineRow] = []
    pending = [(node, 0) for node in reversed(sorted(top, key=_order))]
    while pending:
        node, depth = pending.pop()
        node.row.depth = depth
        rows.append(node.row)
        children = sorted(node.children, key=_order)
        pending.extend((child, depth + 1) for child in reversed(children))
    return rows


# How far a log line's timestamp may lie from the end of the root span it
# describes: the line is written just after the span ends.
MATCH_TOLERANCE_NS = 1_000_000_000


def _matching_root(
    event: LogEvent, roots: list[_Node], claimed: set[int]
) -> _Node | None:
    """Find the root span a log line without a trace id describes.

    A match is a root span without a log line yet, whose name ends with the
    line's method or entry type, and that ends within a second of the line's
    timestamp. The closest match wins.
    """
    if not event.name:
        return None
    best: _Node | None = None
    best_gap = MATCH_TOLERANCE_NS + 1
    for node in roots:
        row = node.row
        if (
            row.kind != "span"
            or id(node) in claimed
            or not row.name.endswith(event.name)
        ):
            continue
        gap = abs(row.end_ns - event.ts_ns)
        if gap < best_gap:
            best, best_gap = node, gap
    return best


def _order(node: _Node) -> tuple[int, int, str]:
    # Spans before log lines at the same instant, then by name for stability.
    return (node.row.start_ns, 0 if node.row.kind != "log" else 1, node.row.name)


def _mark_longest(rows: list[TimelineRow]) -> None:
    spans = [r for r in rows if r.kind == "span" and r.self_time_s is not None]
    if spans:
        max(spans, key=lambda r: r.self_time_s or 0.0).longest = True
        return
    logs = [r for r in rows if r.kind == "log"]
    if logs:
        max(logs, key=lambda r: r.duration_s).longest = True
