"""Simulated workload of the reference service "gramophile", for the test stack.

`generate_workload(seed)` simulates three days of a gRPC API and its background
queue, event by event, ending at the fixed instant `END`. From those events it
derives what each backend of the test stack stores, and the values tests expect:

- `Workload.streams`: the Loki log streams, one JSON line per finished API request
  and queue entry, plus a few broken lines;
- `Workload.spans`: the Tempo spans of the sampled requests and entries;
- `Workload.truth`: misses, per-method counts and error-budget figures, computed
  from the events alone (never with slocli code);
- the events themselves, which `tests.stack.prom` turns into OpenMetrics samples.

Everything is a pure function of the seed: the same seed gives the same output on
every run, so a TSDB built from it can be cached by seed and `GENERATOR_VERSION`.
Change `GENERATOR_VERSION` whenever a change here alters any output.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tests.stack.model import LogStream, Span

# Part of the TSDB cache key: bump it on any change that alters generated output.
GENERATOR_VERSION = 1
DEFAULT_SEED = 20260304

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
NS_PER_US = 1_000

# The simulated period ends at a fixed instant so that a cached TSDB stays valid.
END = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)
END_NS = int(END.timestamp()) * NS_PER_S
DURATION = timedelta(days=3)
START = END - DURATION
START_NS = int(START.timestamp()) * NS_PER_S

# Scrapes every 30 s over the last 24 h (which contain the incident), every 5 min
# before that. Both intervals divide the period, so END itself is a scrape.
FINE_SCRAPE_INTERVAL_S = 30
COARSE_SCRAPE_INTERVAL_S = 300
FINE_SCRAPE_FROM_NS = END_NS - 24 * 3600 * NS_PER_S

# A slow upstream (Discogs) during 45 minutes, four hours before END.
INCIDENT_START_NS = END_NS - 4 * 3600 * NS_PER_S - 45 * 60 * NS_PER_S
INCIDENT_END_NS = END_NS - 4 * 3600 * NS_PER_S

SERVICE = "gramophile.GramophileEService"
SERVICE_NAME = "gramophile"
API_STREAM_LABELS: dict[str, str] = {"app": "gramophile", "component": "api"}
QUEUE_STREAM_LABELS: dict[str, str] = {"app": "gramophile", "component": "queue"}

# grpc-go codes.Code values, by name.
GRPC_CODES: dict[str, int] = {
    "OK": 0,
    "Canceled": 1,
    "Unknown": 2,
    "InvalidArgument": 3,
    "DeadlineExceeded": 4,
    "NotFound": 5,
    "AlreadyExists": 6,
    "PermissionDenied": 7,
    "ResourceExhausted": 8,
    "FailedPrecondition": 9,
    "Aborted": 10,
    "OutOfRange": 11,
    "Unimplemented": 12,
    "Internal": 13,
    "Unavailable": 14,
    "DataLoss": 15,
    "Unauthenticated": 16,
}
# Server-side failures. Every other code (NotFound, InvalidArgument, ...) is the
# client's fault and counts as a good event for availability.
FAILING_CODES: tuple[str, ...] = (
    "Unknown",
    "DeadlineExceeded",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
)

# Service level objectives of the simulated service.
API_LATENCY_THRESHOLD_S = 1.0
API_AVAILABILITY_TARGET = 0.999
API_LATENCY_TARGET = 0.999
QUEUE_LATENCY_TARGET = 0.99
# Run-time objective per queue entry type, in seconds. Each one is a bucket
# boundary of `gramophile_queue_time`, so the histogram counts misses exactly.
QUEUE_OBJECTIVES_S: dict[str, float] = {
    "RefreshRelease": 10.0,
    "RefreshCollection": 60.0,
    "RefreshWants": 30.0,
    "SyncSales": 30.0,
    "Validate": 5.0,
}

# Histogram buckets: go-grpc-prometheus defaults (seconds), and the queue's (ms).
API_BUCKETS_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
QUEUE_BUCKETS_MS: tuple[int, ...] = (
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
)
_API_BOUNDARIES_US = frozenset(round(b * 1_000_000) for b in API_BUCKETS_S)
_QUEUE_BOUNDARIES_MS = frozenset(QUEUE_BUCKETS_MS)

# Windows, ending at END, for which the truth lists error-budget counts.
BUDGET_WINDOWS_S: dict[str, int] = {
    "30d": 30 * 86400,
    "3d": 3 * 86400,
    "1d": 86400,
    "6h": 6 * 3600,
    "2h": 2 * 3600,
    "1h": 3600,
    "30m": 1800,
    "5m": 300,
}
MISS_WINDOW_S = 86400

# Traffic shape: the mean API request rate over a day, in requests per second.
# The rate follows a sine with its peak at 15:00 UTC.
_MEAN_RATE_PER_S = 0.3
_DIURNAL_AMPLITUDE = 0.5
_TRACE_SAMPLE_RATE = 0.3
_LOG_WITHOUT_TRACE_ID_RATE = 0.08
_BACKGROUND_FAILURE_RATE = 0.00012
_BACKGROUND_SLOW_RATE = 0.0004
_QUEUE_SLOW_RATE = 0.002
_INCIDENT_SLOW_SHARE = 0.65
# The incident gets as many Unavailable failures as it takes to leave this share
# of the 30-day availability budget (but at least the minimum).
_AVAILABILITY_BUDGET_LEFT = 0.5
_MIN_INCIDENT_FAILURES = 10
_MISSING_API_LINES = 3
_MISSING_QUEUE_LINES = 1


@dataclass(frozen=True)
class MethodProfile:
    """Traffic and latency model of one gRPC method."""

    name: str
    weight: float  # relative share of the traffic
    median_ms: float  # median of the log-normal latency
    sigma: float = 0.5
    # Discogs call made on every request, or None if the method never calls it.
    upstream_call: str | None = None
    mutates: bool = False
    enqueues: tuple[str, ...] = ()
    enqueue_probability: float = 1.0
    # A client error code and the share of requests that get it.
    client_error: tuple[str, float] | None = None

    @property
    def full_name(self) -> str:
        return f"/{SERVICE}/{self.name}"


@dataclass(frozen=True)
class EntryProfile:
    """Run-time model of one queue entry type."""

    name: str
    median_run_ms: float  # median of the log-normal run time
    sigma: float
    upstream_call: str | None
    # Type of the sub-entries an entry may enqueue while it runs.
    sub_entry: str | None = None
    sub_probability: float = 0.0
    max_sub_entries: int = 0


METHODS: tuple[MethodProfile, ...] = (
    MethodProfile("GetRecord", 18, 25, sigma=0.6, client_error=("NotFound", 0.02)),
    MethodProfile("GetRecords", 10, 70, sigma=0.6),
    MethodProfile("GetUser", 8, 15),
    MethodProfile("GetState", 8, 8),
    MethodProfile(
        "GetLogin", 4, 180, upstream_call="GetIdentity", client_error=("NotFound", 0.01)
    ),
    MethodProfile("GetWantlist", 6, 160, upstream_call="GetWants"),
    MethodProfile("GetStats", 4, 120),
    MethodProfile("GetOrg", 3, 20, client_error=("NotFound", 0.03)),
    MethodProfile("GetContext", 3, 10),
    MethodProfile(
        "AddRecord",
        6,
        220,
        upstream_call="GetRelease",
        mutates=True,
        enqueues=("RefreshRelease",),
        client_error=("InvalidArgument", 0.01),
    ),
    MethodProfile("RefreshRecord", 5, 30, enqueues=("RefreshRelease",)),
    MethodProfile(
        "SetIntent",
        6,
        45,
        mutates=True,
        enqueues=("RefreshRelease",),
        enqueue_probability=0.5,
    ),
    MethodProfile(
        "UpdateRecord",
        3,
        150,
        upstream_call="EditField",
        mutates=True,
        enqueues=("RefreshRelease",),
    ),
    MethodProfile(
        "DeleteRecord",
        1,
        90,
        upstream_call="DeleteInstance",
        mutates=True,
        client_error=("NotFound", 0.02),
    ),
    MethodProfile(
        "AddWant",
        3,
        200,
        upstream_call="AddWant",
        mutates=True,
        enqueues=("RefreshWants",),
    ),
    MethodProfile(
        "DeleteWant",
        1.5,
        180,
        upstream_call="DeleteWant",
        mutates=True,
        enqueues=("RefreshWants",),
    ),
    MethodProfile(
        "SetConfig",
        2,
        35,
        mutates=True,
        enqueues=("RefreshCollection",),
        client_error=("InvalidArgument", 0.02),
    ),
    MethodProfile(
        "SetOrg", 1, 30, mutates=True, client_error=("PermissionDenied", 0.05)
    ),
    MethodProfile(
        "Upgrade",
        0.5,
        300,
        upstream_call="GetCollection",
        mutates=True,
        enqueues=("RefreshCollection", "RefreshWants"),
    ),
    MethodProfile(
        "ListSales",
        3,
        250,
        upstream_call="GetInventory",
        enqueues=("SyncSales",),
        enqueue_probability=0.5,
    ),
)
METHODS_BY_NAME: dict[str, MethodProfile] = {m.name: m for m in METHODS}

ENTRY_TYPES: dict[str, EntryProfile] = {
    "RefreshRelease": EntryProfile("RefreshRelease", 1100, 0.6, "GetRelease"),
    "RefreshCollection": EntryProfile(
        "RefreshCollection", 9000, 0.5, "GetCollection", "RefreshRelease", 0.6, 3
    ),
    "RefreshWants": EntryProfile("RefreshWants", 2500, 0.5, "GetWants"),
    "SyncSales": EntryProfile("SyncSales", 5000, 0.6, "GetInventory"),
    "Validate": EntryProfile("Validate", 400, 0.7, None, "RefreshRelease", 0.15, 1),
}

LogState = Literal["written", "missing", "truncated"]


@dataclass
class ApiRequest:
    """One finished API request. Times are Unix nanoseconds."""

    start_ns: int
    end_ns: int
    method: str  # bare method name, as in the grpc_method label
    code: str
    context_key: str
    incident: bool = False
    # Hand-placed requests (odd keys, panics, the timeline chain) that the
    # random passes must leave alone.
    pinned: bool = False
    traced: bool = False
    trace_id: str | None = None
    log_trace_id: bool = False  # whether the log line carries trace_id
    log: LogState = "written"
    trace_id_leading_zeros: int = 0

    @property
    def latency_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def full_method(self) -> str:
        return f"/{SERVICE}/{self.method}"

    @property
    def failed(self) -> bool:
        return self.code in FAILING_CODES

    @property
    def slow(self) -> bool:
        return self.latency_ns > API_LATENCY_THRESHOLD_S * NS_PER_S

    @property
    def is_miss(self) -> bool:
        return self.failed or self.slow


@dataclass
class QueueEntry:
    """One finished queue entry. Times are Unix nanoseconds."""

    enqueued_ns: int
    run_start_ns: int
    end_ns: int
    entry_type: str
    code: str
    context_key: str
    parent_entry: str | None = None
    pinned: bool = False
    traced: bool = False
    trace_id: str | None = None
    log_trace_id: bool = False
    log: LogState = "written"
    trace_id_leading_zeros: int = 0

    @property
    def wait_ns(self) -> int:
        return self.run_start_ns - self.enqueued_ns

    @property
    def run_ns(self) -> int:
        return self.end_ns - self.run_start_ns

    @property
    def slow(self) -> bool:
        return self.run_ns > QUEUE_OBJECTIVES_S[self.entry_type] * NS_PER_S

    @property
    def is_miss(self) -> bool:
        return self.slow


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def _format_fraction(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if fraction == 0:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{str(fraction).rjust(digits, '0').rstrip('0')}"


def format_go_duration(ns: int) -> str:
    """Format nanoseconds as Go's time.Duration.String() does (`850µs`, `1m2.5s`)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    magnitude = abs(ns)
    if magnitude < NS_PER_US:
        return f"{sign}{magnitude}ns"
    if magnitude < NS_PER_MS:
        return f"{sign}{_format_fraction(magnitude, NS_PER_US)}µs"
    if magnitude < NS_PER_S:
        return f"{sign}{_format_fraction(magnitude, NS_PER_MS)}ms"
    hours, rest = divmod(magnitude, 3600 * NS_PER_S)
    minutes, rest = divmod(rest, 60 * NS_PER_S)
    seconds = f"{_format_fraction(rest, NS_PER_S)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return f"{sign}{seconds}"


def format_timestamp(ns: int) -> str:
    """Format Unix nanoseconds as RFC 3339 in UTC, truncated to milliseconds."""
    seconds, rest = divmod(ns, NS_PER_S)
    day, second_of_day = divmod(seconds, 86400)
    hours, rest_of_hour = divmod(second_of_day, 3600)
    minutes, secs = divmod(rest_of_hour, 60)
    return (
        f"{_format_date(day)}T{hours:02d}:{minutes:02d}:{secs:02d}"
        f".{rest // NS_PER_MS:03d}Z"
    )


@functools.lru_cache(maxsize=64)
def _format_date(days_since_epoch: int) -> str:
    return f"{datetime.fromtimestamp(days_since_epoch * 86400, tz=UTC):%Y-%m-%d}"


# JSON string literal of a str, as json.dumps(..., ensure_ascii=False) writes it:
# non-ASCII stays UTF-8, like Go's encoding/json (which would also escape <, >
# and &, but no value here contains them).
_json_string = json.encoder.encode_basestring


def api_log_line(request: ApiRequest) -> str:
    """Return the JSON log line the service writes for a finished API request."""
    line = (
        f'{{"ts":"{format_timestamp(request.end_ns)}","kind":"api",'
        f'"method":"{request.full_method}","code":"{request.code}",'
        f'"latency":"{format_go_duration(request.latency_ns)}",'
        f'"context_key":{_json_string(request.context_key)}'
    )
    if request.log_trace_id and request.trace_id is not None:
        line += f',"trace_id":"{request.trace_id}"'
    return line + "}"


def queue_log_line(entry: QueueEntry) -> str:
    """Return the JSON log line the service writes for a finished queue entry."""
    line = (
        f'{{"ts":"{format_timestamp(entry.end_ns)}","kind":"queue",'
        f'"entry_type":"{entry.entry_type}","code":"{entry.code}",'
        f'"queue_wait":"{format_go_duration(entry.wait_ns)}",'
        f'"run_time":"{format_go_duration(entry.run_ns)}",'
        f'"context_key":{_json_string(entry.context_key)}'
    )
    if entry.log_trace_id and entry.trace_id is not None:
        line += f',"trace_id":"{entry.trace_id}"'
    if entry.parent_entry is not None:
        line += f',"parent_entry":"{entry.parent_entry}"'
    return line + "}"


# ---------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------


def _rate_per_s(offset_s: float) -> float:
    hour_of_day = ((START_NS / NS_PER_S + offset_s) % 86400) / 3600
    return _MEAN_RATE_PER_S * (
        1 + _DIURNAL_AMPLITUDE * math.sin(2 * math.pi * (hour_of_day - 9) / 24)
    )


def _off_scrape_grid(ns: int) -> int:
    """Return how far to shift an event that would finish exactly on a scrape.

    A counter scraped at t counts events finishing at or before t, while the
    truth's windows are half-open [start, end). Keeping every finish time off
    the 30 s grid makes both agree.
    """
    return 1 if ns % (FINE_SCRAPE_INTERVAL_S * NS_PER_S) == 0 else 0


@dataclass
class _Simulation:
    rng: random.Random
    requests: list[ApiRequest] = field(default_factory=list)
    entries: list[QueueEntry] = field(default_factory=list)
    context_keys: set[str] = field(default_factory=set)

    # -- helpers ----------------------------------------------------------

    def lognormal(self, median: float, sigma: float) -> float:
        return self.rng.lognormvariate(math.log(median), sigma)

    def new_context_key(self, at_ns: int) -> str:
        while True:
            key = f"k-{at_ns}-{self.rng.randrange(10000):04d}"
            if key not in self.context_keys:
                self.context_keys.add(key)
                return key

    def new_trace_id(self, leading_zeros: int | None = None) -> str:
        """Return a random trace id, or one with exactly `leading_zeros` zeros.

        Random ids start with a zero hex digit one time in 16 by themselves.
        """
        if leading_zeros is None:
            value = 0
            while value == 0:
                value = self.rng.getrandbits(128)
            return f"{value:032x}"
        rest_bits = 128 - 4 * leading_zeros - 4
        first_digit = self.rng.randrange(1, 16)
        value = first_digit << rest_bits | self.rng.getrandbits(rest_bits)
        return f"{value:032x}"

    def new_span_id(self) -> str:
        value = 0
        while value == 0:
            value = self.rng.getrandbits(64)
        return f"{value:016x}"

    # -- API requests -----------------------------------------------------

    def draw_requests(self) -> None:
        """Draw arrivals as a Poisson process with a daily cycle (by thinning)."""
        peak = _MEAN_RATE_PER_S * (1 + _DIURNAL_AMPLITUDE)
        weights = [m.weight for m in METHODS]
        cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
        period_s = DURATION.total_seconds()
        offset_s = 0.0
        while True:
            offset_s += self.rng.expovariate(peak)
            if offset_s >= period_s:
                break
            if self.rng.random() * peak > _rate_per_s(offset_s):
                continue
            method = self.rng.choices(METHODS, cum_weights=cumulative)[0]
            self.add_random_request(method, START_NS + int(offset_s * NS_PER_S))

    def add_random_request(self, method: MethodProfile, start_ns: int) -> None:
        rng = self.rng
        latency_s = self.lognormal(method.median_ms, method.sigma) / 1000
        code = "OK"
        if rng.random() < _BACKGROUND_FAILURE_RATE:
            code = rng.choices(
                ("Unavailable", "Internal", "DeadlineExceeded", "Unknown"),
                weights=(50, 35, 10, 5),
            )[0]
        elif method.client_error and rng.random() < method.client_error[1]:
            code = method.client_error[0]
        if rng.random() < _BACKGROUND_SLOW_RATE:
            latency_s = rng.uniform(1.05, 4.0)
        if code == "DeadlineExceeded":
            # The clients' deadline is 5 s.
            latency_s = 5.0 + rng.uniform(0.0, 0.02)

        incident = (
            method.upstream_call is not None
            and INCIDENT_START_NS <= start_ns < INCIDENT_END_NS
        )
        if incident:
            if rng.random() < _INCIDENT_SLOW_SHARE:
                latency_s = max(1.02, self.lognormal(1.9, 0.45))
            else:
                latency_s *= 2
        self.add_request(
            method.name, start_ns, latency_s, code, incident=incident, pinned=False
        )

    def add_request(
        self,
        method: str,
        start_ns: int,
        latency_s: float,
        code: str,
        *,
        incident: bool,
        pinned: bool,
        context_key: str | None = None,
    ) -> ApiRequest | None:
        latency_us = max(120, round(latency_s * 1_000_000))
        if latency_us in _API_BOUNDARIES_US:
            latency_us += 1
        end_ns = start_ns + latency_us * NS_PER_US
        shift = _off_scrape_grid(end_ns)
        start_ns += shift
        end_ns += shift
        if end_ns >= END_NS:
            return None
        request = ApiRequest(
            start_ns=start_ns,
            end_ns=end_ns,
            method=method,
            code=code,
            context_key=context_key or self.new_context_key(start_ns),
            incident=incident,
            pinned=pinned,
        )
        self.requests.append(request)
        return request

    def add_incident_failures(self) -> int:
        """Fail enough incident requests with Unavailable to reach the budget aim.

        Returns the number of requests turned into failures.
        """
        allowed_bad = (1 - API_AVAILABILITY_TARGET) * len(self.requests)
        already_bad = sum(1 for r in self.requests if r.failed)
        target_bad = round(allowed_bad * (1 - _AVAILABILITY_BUDGET_LEFT))
        count = max(_MIN_INCIDENT_FAILURES, target_bad - already_bad)
        candidates = [
            r for r in self.requests if r.incident and not r.pinned and r.code == "OK"
        ]
        chosen = self.rng.sample(candidates, min(count, len(candidates)))
        for request in chosen:
            request.code = "Unavailable"
            # Either Discogs returned 503 quickly or the call timed out after 3 s.
            if self.rng.random() < 0.5:
                latency_us = round(self.rng.uniform(0.2, 0.9) * 1_000_000)
            else:
                latency_us = round(self.rng.uniform(3.0, 3.05) * 1_000_000)
            if latency_us in _API_BOUNDARIES_US:
                latency_us += 1
            end_ns = request.start_ns + latency_us * NS_PER_US
            end_ns += _off_scrape_grid(end_ns)
            request.end_ns = min(end_ns, END_NS - 1)
        return len(chosen)

    # -- queue ------------------------------------------------------------

    def enqueue_for_requests(self) -> None:
        for request in self.requests:
            if request.pinned or request.code != "OK":
                continue
            method = METHODS_BY_NAME[request.method]
            for entry_type in method.enqueues:
                if self.rng.random() >= method.enqueue_probability:
                    continue
                at_ns = request.start_ns + int(
                    request.latency_ns * self.rng.uniform(0.5, 0.95)
                )
                self.add_random_entry(entry_type, at_ns, request.context_key, None)

    def run_validator(self) -> None:
        """Enqueue Validate entries every 10 minutes, each with a key of its own."""
        at_ns = START_NS + 7 * 60 * NS_PER_S
        while at_ns < END_NS:
            for i in range(self.rng.randint(2, 4)):
                enqueued_ns = at_ns + i * 3 * NS_PER_MS
                key = self.new_context_key(enqueued_ns)
                self.add_random_entry("Validate", enqueued_ns, key, None)
            at_ns += 600 * NS_PER_S

    def add_random_entry(
        self,
        entry_type: str,
        enqueued_ns: int,
        context_key: str,
        parent_entry: str | None,
    ) -> None:
        rng = self.rng
        profile = ENTRY_TYPES[entry_type]
        wait_ms = self.lognormal(1500, 1.0)
        run_ms = self.lognormal(profile.median_run_ms, profile.sigma)
        if rng.random() < _QUEUE_SLOW_RATE:
            run_ms = QUEUE_OBJECTIVES_S[entry_type] * 1000 * rng.uniform(1.05, 3.0)
        code = "OK"
        if rng.random() < 0.01:
            code = "ResourceExhausted"  # Discogs rate limit
        stalled = INCIDENT_START_NS - 600 * NS_PER_S <= enqueued_ns < INCIDENT_END_NS
        if stalled:
            wait_ms += rng.uniform(20_000, 180_000)
            if profile.upstream_call is not None:
                run_ms *= rng.uniform(3, 8)
                if rng.random() < 0.15:
                    code = "Unavailable"
        entry = self.add_entry(
            entry_type,
            enqueued_ns,
            wait_ms,
            run_ms,
            code,
            context_key,
            parent_entry,
            pinned=False,
        )
        if (
            parent_entry is None
            and code == "OK"
            and profile.sub_entry is not None
            and rng.random() < profile.sub_probability
        ):
            for _ in range(rng.randint(1, profile.max_sub_entries)):
                at_ns = entry.run_start_ns + int(entry.run_ns * rng.uniform(0.2, 0.9))
                self.add_random_entry(profile.sub_entry, at_ns, context_key, entry_type)

    def add_entry(
        self,
        entry_type: str,
        enqueued_ns: int,
        wait_ms: float,
        run_ms: float,
        code: str,
        context_key: str,
        parent_entry: str | None,
        *,
        pinned: bool,
    ) -> QueueEntry:
        """Add an entry and return it. Entries finishing at or after END are kept
        out of `entries`, but returned so that callers can enqueue sub-entries."""
        run_ms_int = max(1, round(run_ms))
        if run_ms_int in _QUEUE_BOUNDARIES_MS:
            run_ms_int += 1
        run_start_ns = enqueued_ns + max(1, round(wait_ms)) * NS_PER_MS
        end_ns = run_start_ns + run_ms_int * NS_PER_MS
        shift = _off_scrape_grid(end_ns)
        entry = QueueEntry(
            enqueued_ns=enqueued_ns + shift,
            run_start_ns=run_start_ns + shift,
            end_ns=end_ns + shift,
            entry_type=entry_type,
            code=code,
            context_key=context_key,
            parent_entry=parent_entry,
            pinned=pinned,
        )
        if entry.end_ns < END_NS:
            self.entries.append(entry)
        return entry


# ---------------------------------------------------------------------------
# Hand-placed requests
# ---------------------------------------------------------------------------

# Context keys holding characters that break naive LogQL and TraceQL building:
# a double quote, a backslash, a backtick, a space and non-ASCII letters.
SPECIAL_CONTEXT_KEYS: tuple[str, ...] = (
    'k-"quoted"\\path',
    "k-back`tick-2",
    "k-with space-3",
    "k-ünïcode-Ωmega-4",
    'k-"all"\\ `mixed` ü-5',
)

PANIC_LINES: tuple[str, ...] = (
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x9c4b21]",
    "goroutine 4127 [running]:",
)


@dataclass
class _Pinned:
    """The hand-placed events and the broken log lines that go with them."""

    special: list[ApiRequest]
    panics: list[ApiRequest]
    timeline_request: ApiRequest
    timeline_entries: list[QueueEntry]


def _hours_before_end(hours: float) -> int:
    return END_NS - int(hours * 3600 * NS_PER_S)


def _add_pinned(sim: _Simulation) -> _Pinned:
    def pinned_request(
        method: str, start_ns: int, latency_s: float, code: str, key: str | None
    ) -> ApiRequest:
        request = sim.add_request(
            method,
            start_ns,
            latency_s,
            code,
            incident=False,
            pinned=True,
            context_key=key,
        )
        assert request is not None, "a pinned request must finish before END"
        request.traced = True
        request.log_trace_id = True
        return request

    # The odd keys: all misses, so `slo misses` lists them and `slo trace` follows.
    shapes = (
        ("GetRecord", 20.0, 1.318204, "OK"),
        ("AddRecord", 16.0, 0.412307, "Unavailable"),
        ("GetUser", 11.0, 1.090115, "OK"),
        ("SetConfig", 9.0, 1.710042, "OK"),
        ("GetWantlist", 2.0, 0.051219, "Internal"),
    )
    special = []
    for key, (method, hours, latency_s, code) in zip(
        SPECIAL_CONTEXT_KEYS, shapes, strict=True
    ):
        special.append(
            pinned_request(method, _hours_before_end(hours), latency_s, code, key)
        )
    # One odd key whose log line has no trace id, so only TraceQL finds its trace
    # (whose id starts with two zeros).
    special[1].log_trace_id = False
    special[1].trace_id_leading_zeros = 2
    # The SetConfig request with an odd key enqueues an entry, so the key also
    # reaches the queue's log stream and traces.
    special_entry = sim.add_entry(
        "RefreshCollection",
        special[3].end_ns - 5 * NS_PER_MS,
        2_104,
        12_318,
        "OK",
        special[3].context_key,
        None,
        pinned=True,
    )
    special_entry.traced = True
    special_entry.log_trace_id = True

    # Two recovered panics: plain-text lines next to an Internal failure.
    panics = [
        pinned_request("GetStats", _hours_before_end(14.0), 0.004512, "Internal", None),
        pinned_request(
            "GetRecords", _hours_before_end(3.5), 0.083201, "Internal", None
        ),
    ]

    # The timeline chain: a slow Upgrade during the incident enqueues a
    # RefreshCollection (which enqueues two RefreshRelease sub-entries) and a
    # RefreshWants. Every step has a trace.
    start_ns = INCIDENT_START_NS + 12 * 60 * NS_PER_S + 13_402_117_893
    upgrade = pinned_request("Upgrade", start_ns, 2.412345, "OK", None)
    upgrade.incident = True
    upgrade.trace_id_leading_zeros = 3
    key = upgrade.context_key
    collection = sim.add_entry(
        "RefreshCollection",
        start_ns + 2_100 * NS_PER_MS,
        48_200,
        74_513,
        "OK",
        key,
        None,
        pinned=True,
    )
    wants = sim.add_entry(
        "RefreshWants",
        start_ns + 2_200 * NS_PER_MS,
        51_310,
        4_207,
        "OK",
        key,
        None,
        pinned=True,
    )
    slow_release = sim.add_entry(
        "RefreshRelease",
        collection.run_start_ns + 30_100 * NS_PER_MS,
        12_400,
        13_917,
        "OK",
        key,
        "RefreshCollection",
        pinned=True,
    )
    fast_release = sim.add_entry(
        "RefreshRelease",
        collection.run_start_ns + 52_700 * NS_PER_MS,
        3_200,
        2_104,
        "OK",
        key,
        "RefreshCollection",
        pinned=True,
    )
    timeline_entries = [collection, wants, slow_release, fast_release]
    for entry in timeline_entries:
        entry.traced = True
        entry.log_trace_id = True
    # The RefreshCollection line carries no trace id: its trace is found by key.
    collection.log_trace_id = False
    slow_release.trace_id_leading_zeros = 1
    return _Pinned(special, panics, upgrade, timeline_entries)


# ---------------------------------------------------------------------------
# Sampling, trace ids and log states
# ---------------------------------------------------------------------------


def _assign_traces(sim: _Simulation) -> None:
    """Sample traces: every miss, every pinned event, and a share of the rest."""
    events: list[ApiRequest | QueueEntry] = [*sim.requests, *sim.entries]
    for event in events:
        if not event.pinned:
            event.traced = event.is_miss or sim.rng.random() < _TRACE_SAMPLE_RATE
            event.log_trace_id = (
                event.traced and sim.rng.random() >= _LOG_WITHOUT_TRACE_ID_RATE
            )
        if event.traced:
            zeros = event.trace_id_leading_zeros if event.pinned else None
            event.trace_id = sim.new_trace_id(zeros)
            event.trace_id_leading_zeros = len(event.trace_id) - len(
                event.trace_id.lstrip("0")
            )


def _in_miss_window(ns: int) -> bool:
    return END_NS - MISS_WINDOW_S * NS_PER_S <= ns < END_NS


def _drop_log_lines(sim: _Simulation) -> ApiRequest:
    """Leave out the log lines of a few misses and truncate one ordinary line.

    Returns the request whose line is truncated.
    """
    api_misses = [
        r
        for r in sim.requests
        if r.is_miss and not r.pinned and _in_miss_window(r.end_ns)
    ]
    for request in sim.rng.sample(api_misses, _MISSING_API_LINES):
        request.log = "missing"
    queue_misses = [
        e
        for e in sim.entries
        if e.is_miss and not e.pinned and _in_miss_window(e.end_ns)
    ]
    for entry in sim.rng.sample(queue_misses, _MISSING_QUEUE_LINES):
        entry.log = "missing"
    ordinary = [
        r
        for r in sim.requests
        if not r.is_miss
        and not r.pinned
        and r.code == "OK"
        and _in_miss_window(r.end_ns)
    ]
    truncated = sim.rng.choice(ordinary)
    truncated.log = "truncated"
    return truncated


# ---------------------------------------------------------------------------
# Logs and spans
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenLine:
    """A log line that is not valid JSON, and why."""

    labels: dict[str, str]
    ts_ns: int
    line: str
    reason: Literal["panic", "truncated"]


def _build_streams(
    sim: _Simulation, panics: Sequence[ApiRequest]
) -> tuple[list[LogStream], list[BrokenLine]]:
    api: list[tuple[int, str]] = []
    broken: list[BrokenLine] = []
    for request in sim.requests:
        if request.log == "missing":
            continue
        line = api_log_line(request)
        if request.log == "truncated":
            line = line[: len(line) * 3 // 5]
            broken.append(
                BrokenLine(dict(API_STREAM_LABELS), request.end_ns, line, "truncated")
            )
        api.append((request.end_ns, line))
    for request in panics:
        for i, text in enumerate(PANIC_LINES):
            ts_ns = request.end_ns - (len(PANIC_LINES) - i) * NS_PER_US
            api.append((ts_ns, text))
            broken.append(BrokenLine(dict(API_STREAM_LABELS), ts_ns, text, "panic"))
    queue = [
        (entry.end_ns, queue_log_line(entry))
        for entry in sim.entries
        if entry.log != "missing"
    ]
    api.sort(key=lambda item: item[0])
    queue.sort(key=lambda item: item[0])
    broken.sort(key=lambda item: item.ts_ns)
    streams = [
        LogStream(labels=dict(API_STREAM_LABELS), entries=api),
        LogStream(labels=dict(QUEUE_STREAM_LABELS), entries=queue),
    ]
    return streams, broken


_RESOURCE: dict[str, str | int | float | bool] = {
    "service.name": SERVICE_NAME,
    "service.version": "1.42.0",
}


class _SpanBuilder:
    def __init__(self, sim: _Simulation) -> None:
        self.sim = sim
        self.spans: list[Span] = []
        # Enqueue times of the entries each context key enqueued, by parent.
        self.enqueued: dict[tuple[str, str | None], list[tuple[int, str]]] = {}
        for entry in sim.entries:
            by_parent = self.enqueued.setdefault(
                (entry.context_key, entry.parent_entry), []
            )
            by_parent.append((entry.enqueued_ns, entry.entry_type))

    def add(
        self,
        trace_id: str,
        parent_span_id: str,
        name: str,
        kind: str,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, str | int | float | bool],
        error: str | None = None,
    ) -> str:
        span_id = self.sim.new_span_id()
        self.spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent_span_id,
                name=name,
                service_name=SERVICE_NAME,
                start_ns=start_ns,
                end_ns=end_ns,
                kind=kind,
                status_code="STATUS_CODE_ERROR" if error else "STATUS_CODE_UNSET",
                status_message=error or "",
                attributes=attributes,
                resource_attributes=dict(_RESOURCE),
            )
        )
        return span_id

    def add_work(
        self,
        trace_id: str,
        root_id: str,
        start_ns: int,
        end_ns: int,
        upstream_call: str | None,
        mutates: bool,
        upstream_error: str | None,
    ) -> None:
        """Add the children of a root span: db.Load, a Discogs call, db.Save."""
        rng = self.sim.rng
        duration = end_ns - start_ns
        cursor = start_ns + int(duration * rng.uniform(0.01, 0.05))
        load_end = cursor + int(duration * rng.uniform(0.05, 0.15))
        self.add(
            trace_id, root_id, "db.Load", "SPAN_KIND_INTERNAL", cursor, load_end, {}
        )
        cursor = load_end
        if upstream_call is not None:
            call_end = cursor + int((end_ns - cursor) * rng.uniform(0.7, 0.9))
            status = 503 if upstream_error else 200
            self.add(
                trace_id,
                root_id,
                f"discogs.{upstream_call}",
                "SPAN_KIND_CLIENT",
                cursor,
                call_end,
                {
                    "server.address": "api.discogs.com",
                    "http.request.method": "GET",
                    "http.response.status_code": status,
                },
                upstream_error,
            )
            cursor = call_end
        if mutates and upstream_error is None:
            save_end = cursor + int((end_ns - cursor) * rng.uniform(0.3, 0.8))
            self.add(
                trace_id, root_id, "db.Save", "SPAN_KIND_INTERNAL", cursor, save_end, {}
            )

    def add_enqueues(
        self,
        trace_id: str,
        root_id: str,
        context_key: str,
        parent_entry: str | None,
        root_start_ns: int,
        root_end_ns: int,
    ) -> None:
        """Add a PRODUCER span for each entry the root enqueued while it ran."""
        for at_ns, entry_type in self.enqueued.get((context_key, parent_entry), []):
            if not root_start_ns <= at_ns <= root_end_ns:
                continue
            self.add(
                trace_id,
                root_id,
                f"queue.Enqueue {entry_type}",
                "SPAN_KIND_PRODUCER",
                max(root_start_ns, at_ns - 200 * NS_PER_US),
                at_ns,
                {"queue.entry_type": entry_type, "context_key": context_key},
            )

    def add_request(self, request: ApiRequest) -> None:
        assert request.trace_id is not None
        method = METHODS_BY_NAME[request.method]
        error = f"{request.code}: request failed" if request.failed else None
        upstream_error = None
        if request.code == "Unavailable":
            error = "Unavailable: discogs: 503 Service Unavailable"
            upstream_error = "503 Service Unavailable"
        root_id = self.add(
            request.trace_id,
            "",
            request.full_method,
            "SPAN_KIND_SERVER",
            request.start_ns,
            request.end_ns,
            {
                "context_key": request.context_key,
                "rpc.system": "grpc",
                "rpc.service": SERVICE,
                "rpc.method": request.method,
                "rpc.grpc.status_code": GRPC_CODES[request.code],
            },
            error,
        )
        upstream_call = method.upstream_call
        if upstream_call is None and request.code == "Unavailable":
            upstream_call = "GetRelease"
        self.add_work(
            request.trace_id,
            root_id,
            request.start_ns,
            request.end_ns,
            upstream_call,
            method.mutates,
            upstream_error,
        )
        if request.code == "OK":
            self.add_enqueues(
                request.trace_id,
                root_id,
                request.context_key,
                None,
                request.start_ns,
                request.end_ns,
            )

    def add_entry(self, entry: QueueEntry) -> None:
        assert entry.trace_id is not None
        profile = ENTRY_TYPES[entry.entry_type]
        attributes: dict[str, str | int | float | bool] = {
            "context_key": entry.context_key,
            "queue.entry_type": entry.entry_type,
            "queue.wait_ms": entry.wait_ns // NS_PER_MS,
        }
        if entry.parent_entry is not None:
            attributes["queue.parent_entry"] = entry.parent_entry
        upstream_error = None
        error = None
        if entry.code == "Unavailable":
            upstream_error = "503 Service Unavailable"
            error = "Unavailable: discogs: 503 Service Unavailable"
        root_id = self.add(
            entry.trace_id,
            "",
            f"queue.{entry.entry_type}",
            "SPAN_KIND_CONSUMER",
            entry.run_start_ns,
            entry.end_ns,
            attributes,
            error,
        )
        self.add_work(
            entry.trace_id,
            root_id,
            entry.run_start_ns,
            entry.end_ns,
            profile.upstream_call,
            True,
            upstream_error,
        )
        if entry.parent_entry is None:
            self.add_enqueues(
                entry.trace_id,
                root_id,
                entry.context_key,
                entry.entry_type,
                entry.run_start_ns,
                entry.end_ns,
            )


def _build_spans(sim: _Simulation) -> list[Span]:
    builder = _SpanBuilder(sim)
    for request in sim.requests:
        if request.traced:
            builder.add_request(request)
    for entry in sim.entries:
        if entry.traced:
            builder.add_entry(entry)
    return builder.spans


# ---------------------------------------------------------------------------
# Truth
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Miss:
    """One event that missed its objective."""

    ts_ns: int
    ts: str
    kind: Literal["api", "queue"]
    method: str | None  # full method path, for API requests
    entry_type: str | None  # for queue entries
    parent_entry: str | None
    code: str
    # Why it is a miss: "error" (a failing code), "latency" (over the objective).
    reasons: list[str]
    latency_s: float | None
    queue_wait_s: float | None
    run_time_s: float | None
    context_key: str
    trace_id: str | None  # None when the event has no trace
    log_line_written: bool
    log_line_has_trace_id: bool


@dataclass(frozen=True)
class MethodCounts:
    """Per-method counts over the miss window."""

    method: str  # full method path
    grpc_method: str  # bare name, as in the grpc_method label
    requests: int
    errors: int  # requests with a failing code, as the metrics count them
    slow: int  # requests over 1 s, i.e. outside the le="1.0" bucket
    misses: int
    logged_misses: int  # misses whose log line exists


@dataclass(frozen=True)
class EntryTypeCounts:
    """Per-entry-type counts over the miss window."""

    entry_type: str
    objective_s: float
    entries: int
    slow: int
    misses: int
    logged_misses: int


@dataclass(frozen=True)
class SliCounts:
    """Valid and bad events of one SLI over one window."""

    valid: int
    bad: int
    target: float
    # bad / valid, and that ratio divided by the error budget. None without traffic.
    error_ratio: float | None
    burn_rate: float | None


@dataclass(frozen=True)
class WindowBudget:
    """SLI counts over one window that ends at END."""

    window: str
    seconds: int
    api_availability: SliCounts
    api_latency: SliCounts
    queue_latency: dict[str, SliCounts]


@dataclass(frozen=True)
class LogLineRecord:
    labels: dict[str, str]
    ts_ns: int
    line: str


@dataclass(frozen=True)
class Timeline:
    """The context key whose chain runs API request -> queue entry -> sub-entry."""

    context_key: str
    log_lines: list[LogLineRecord]
    spans: list[Span]


@dataclass(frozen=True)
class Truth:
    """Expected values, computed from the simulated events only."""

    seed: int
    generator_version: int
    start: str
    end: str
    start_ns: int
    end_ns: int
    fine_scrape_interval_s: int
    coarse_scrape_interval_s: int
    fine_scrapes_from: str
    incident_start: str
    incident_end: str
    incident_failures: int
    api_latency_threshold_s: float
    api_availability_target: float
    api_latency_target: float
    queue_latency_target: float
    queue_objectives_s: dict[str, float]
    failing_codes: list[str]
    # The misses below cover [miss_window_start, END), by finish time.
    miss_window_start: str
    miss_window_start_ns: int
    misses: list[Miss]
    per_method: list[MethodCounts]
    per_entry_type: list[EntryTypeCounts]
    budgets: list[WindowBudget]
    # 1 - error_ratio / (1 - target) over 30 days, negative when overspent.
    budget_remaining_30d: dict[str, float | None]
    timeline: Timeline
    special_context_keys: list[str]
    broken_lines: list[BrokenLine]
    totals: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def _seconds(ns: int) -> float:
    return ns / NS_PER_S


def _miss_record(event: ApiRequest | QueueEntry) -> Miss:
    if isinstance(event, ApiRequest):
        reasons = [
            r for r, hit in (("error", event.failed), ("latency", event.slow)) if hit
        ]
        return Miss(
            ts_ns=event.end_ns,
            ts=format_timestamp(event.end_ns),
            kind="api",
            method=event.full_method,
            entry_type=None,
            parent_entry=None,
            code=event.code,
            reasons=reasons,
            latency_s=_seconds(event.latency_ns),
            queue_wait_s=None,
            run_time_s=None,
            context_key=event.context_key,
            trace_id=event.trace_id,
            log_line_written=event.log == "written",
            log_line_has_trace_id=event.log == "written" and event.log_trace_id,
        )
    return Miss(
        ts_ns=event.end_ns,
        ts=format_timestamp(event.end_ns),
        kind="queue",
        method=None,
        entry_type=event.entry_type,
        parent_entry=event.parent_entry,
        code=event.code,
        reasons=["latency"],
        latency_s=None,
        queue_wait_s=_seconds(event.wait_ns),
        run_time_s=_seconds(event.run_ns),
        context_key=event.context_key,
        trace_id=event.trace_id,
        log_line_written=event.log == "written",
        log_line_has_trace_id=event.log == "written" and event.log_trace_id,
    )


def _sli(valid: int, bad: int, target: float) -> SliCounts:
    if valid == 0:
        return SliCounts(valid, bad, target, None, None)
    ratio = bad / valid
    return SliCounts(valid, bad, target, ratio, ratio / (1 - target))


def _window_budget(
    name: str,
    seconds: int,
    requests: Sequence[ApiRequest],
    entries_by_type: dict[str, list[QueueEntry]],
) -> WindowBudget:
    since_ns = END_NS - seconds * NS_PER_S
    in_window = [r for r in requests if r.end_ns >= since_ns]
    queue: dict[str, SliCounts] = {}
    for entry_type, entries in entries_by_type.items():
        of_type = [e for e in entries if e.end_ns >= since_ns]
        queue[entry_type] = _sli(
            len(of_type), sum(1 for e in of_type if e.slow), QUEUE_LATENCY_TARGET
        )
    return WindowBudget(
        window=name,
        seconds=seconds,
        api_availability=_sli(
            len(in_window),
            sum(1 for r in in_window if r.failed),
            API_AVAILABILITY_TARGET,
        ),
        api_latency=_sli(
            len(in_window), sum(1 for r in in_window if r.slow), API_LATENCY_TARGET
        ),
        queue_latency=queue,
    )


def _remaining(counts: SliCounts) -> float | None:
    if counts.error_ratio is None:
        return None
    return 1 - counts.error_ratio / (1 - counts.target)


def _timeline(
    pinned: _Pinned, streams: Sequence[LogStream], spans: Sequence[Span]
) -> Timeline:
    key = pinned.timeline_request.context_key
    lines = [
        LogLineRecord(dict(stream.labels), ts_ns, line)
        for stream in streams
        for ts_ns, line in stream.entries
        if key in line and json.loads(line).get("context_key") == key
    ]
    trace_ids = {pinned.timeline_request.trace_id} | {
        e.trace_id for e in pinned.timeline_entries
    }
    return Timeline(
        context_key=key,
        log_lines=sorted(lines, key=lambda record: record.ts_ns),
        spans=[s for s in spans if s.trace_id in trace_ids],
    )


def _method_counts(requests: Sequence[ApiRequest]) -> list[MethodCounts]:
    counts = []
    for method in METHODS:
        of_method = [r for r in requests if r.method == method.name]
        counts.append(
            MethodCounts(
                method=method.full_name,
                grpc_method=method.name,
                requests=len(of_method),
                errors=sum(1 for r in of_method if r.failed),
                slow=sum(1 for r in of_method if r.slow),
                misses=sum(1 for r in of_method if r.is_miss),
                logged_misses=sum(
                    1 for r in of_method if r.is_miss and r.log == "written"
                ),
            )
        )
    return counts


def _entry_type_counts(entries: Sequence[QueueEntry]) -> list[EntryTypeCounts]:
    counts = []
    for entry_type, objective_s in QUEUE_OBJECTIVES_S.items():
        of_type = [e for e in entries if e.entry_type == entry_type]
        counts.append(
            EntryTypeCounts(
                entry_type=entry_type,
                objective_s=objective_s,
                entries=len(of_type),
                slow=sum(1 for e in of_type if e.slow),
                misses=sum(1 for e in of_type if e.is_miss),
                logged_misses=sum(
                    1 for e in of_type if e.is_miss and e.log == "written"
                ),
            )
        )
    return counts


def _budgets(sim: _Simulation) -> list[WindowBudget]:
    entries_by_type: dict[str, list[QueueEntry]] = {t: [] for t in ENTRY_TYPES}
    for entry in sim.entries:
        entries_by_type[entry.entry_type].append(entry)
    return [
        _window_budget(name, seconds, sim.requests, entries_by_type)
        for name, seconds in BUDGET_WINDOWS_S.items()
    ]


def _budget_remaining(month: WindowBudget) -> dict[str, float | None]:
    remaining: dict[str, float | None] = {
        "api_availability": _remaining(month.api_availability),
        "api_latency": _remaining(month.api_latency),
    }
    for entry_type, counts in month.queue_latency.items():
        remaining[f"queue_latency.{entry_type}"] = _remaining(counts)
    return remaining


def _build_truth(
    seed: int,
    sim: _Simulation,
    pinned: _Pinned,
    incident_failures: int,
    streams: Sequence[LogStream],
    spans: Sequence[Span],
    broken: Sequence[BrokenLine],
) -> Truth:
    requests = [r for r in sim.requests if _in_miss_window(r.end_ns)]
    entries = [e for e in sim.entries if _in_miss_window(e.end_ns)]
    miss_events: list[ApiRequest | QueueEntry] = [
        *(r for r in requests if r.is_miss),
        *(e for e in entries if e.is_miss),
    ]
    misses = sorted(
        (_miss_record(e) for e in miss_events), key=lambda m: (m.ts_ns, m.context_key)
    )
    budgets = _budgets(sim)
    window_start_ns = END_NS - MISS_WINDOW_S * NS_PER_S
    return Truth(
        seed=seed,
        generator_version=GENERATOR_VERSION,
        start=format_timestamp(START_NS),
        end=format_timestamp(END_NS),
        start_ns=START_NS,
        end_ns=END_NS,
        fine_scrape_interval_s=FINE_SCRAPE_INTERVAL_S,
        coarse_scrape_interval_s=COARSE_SCRAPE_INTERVAL_S,
        fine_scrapes_from=format_timestamp(FINE_SCRAPE_FROM_NS),
        incident_start=format_timestamp(INCIDENT_START_NS),
        incident_end=format_timestamp(INCIDENT_END_NS),
        incident_failures=incident_failures,
        api_latency_threshold_s=API_LATENCY_THRESHOLD_S,
        api_availability_target=API_AVAILABILITY_TARGET,
        api_latency_target=API_LATENCY_TARGET,
        queue_latency_target=QUEUE_LATENCY_TARGET,
        queue_objectives_s=dict(QUEUE_OBJECTIVES_S),
        failing_codes=list(FAILING_CODES),
        miss_window_start=format_timestamp(window_start_ns),
        miss_window_start_ns=window_start_ns,
        misses=misses,
        per_method=_method_counts(requests),
        per_entry_type=_entry_type_counts(entries),
        budgets=budgets,
        budget_remaining_30d=_budget_remaining(budgets[0]),
        timeline=_timeline(pinned, streams, spans),
        special_context_keys=list(SPECIAL_CONTEXT_KEYS),
        broken_lines=list(broken),
        totals={
            "api_requests": len(sim.requests),
            "queue_entries": len(sim.entries),
            "log_lines": sum(len(s.entries) for s in streams),
            "spans": len(spans),
            "traces": len({s.trace_id for s in spans}),
        },
    )


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


@dataclass
class Workload:
    """Everything one seed produces. Events are sorted by finish time."""

    seed: int
    requests: list[ApiRequest]
    entries: list[QueueEntry]
    streams: list[LogStream]
    spans: list[Span]
    truth: Truth


def generate_workload(seed: int = DEFAULT_SEED) -> Workload:
    """Simulate the reference service for `seed` and derive every output."""
    sim = _Simulation(rng=random.Random(seed))
    sim.draw_requests()
    pinned = _add_pinned(sim)
    incident_failures = sim.add_incident_failures()
    sim.enqueue_for_requests()
    sim.run_validator()
    sim.requests.sort(key=lambda r: (r.end_ns, r.context_key))
    sim.entries.sort(key=lambda e: (e.end_ns, e.context_key, e.entry_type))
    _assign_traces(sim)
    _drop_log_lines(sim)
    streams, broken = _build_streams(sim, pinned.panics)
    spans = _build_spans(sim)
    truth = _build_truth(seed, sim, pinned, incident_failures, streams, spans, broken)
    return Workload(
        seed=seed,
        requests=sim.requests,
        entries=sim.entries,
        streams=streams,
        spans=spans,
        truth=truth,
    )
