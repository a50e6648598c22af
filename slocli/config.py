"""Configuration models and loading.

Values come from, in rising priority: the built-in defaults, ``slo.yaml`` (found
in the working directory, or named by ``--config`` or ``SLO_CONFIG``),
environment variables, and command-line options. ``load_config`` merges the
layers and remembers where each value came from, so ``slo config show`` can
print it.

The defaults describe the default telemetry shapes in ``docs/telemetry.md``, so
a service that emits them needs no configuration file.
"""

from __future__ import annotations

import copy
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from slocli.core.durations import (
    format_duration,
    format_go_duration,
    format_prometheus_duration,
    parse_go_duration,
    parse_window,
)
from slocli.core.escape import check_label_name, quote_for_message
from slocli.errors import ConfigError

DEFAULT_CONFIG_NAME = "slo.yaml"

# load_config validates with this context. The rules on names used in queries,
# duration ranges, the tenant and the CA file run only under it, so a model built
# directly in code (as the query builders' tests do) may hold values that loading
# rejects. The query builders check label names again when they use them.
_LOAD_CONTEXT = {"load_config": True}


def _is_loading(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and info.context.get("load_config") is True


def _to_timedelta(value: Any) -> Any:
    """Read a duration given as a string with units (``30s``, ``30d``) or seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(
            "a duration must be a string such as 30s or a number of seconds"
        )
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"a duration must be a finite number, got {value}")
        if value <= 0:
            raise ValueError(f"a duration must be positive, got {value}")
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise ValueError(f"duration {value} seconds is too long") from None
    if isinstance(value, str):
        try:
            return parse_window(value, option="value")
        except Exception:
            pass
        try:
            seconds = parse_go_duration(value)
        except ValueError:
            raise ValueError(
                f"invalid duration {value!r}; use a number with a unit such as "
                "500ms, 30s, 5m, 1h or 30d"
            ) from None
        if seconds <= 0:
            raise ValueError(f"a duration must be positive, got {value!r}")
        return timedelta(seconds=seconds)
    raise ValueError(f"invalid duration {value!r}")


def _describe_duration(raw: Any, duration: timedelta) -> str:
    if isinstance(raw, str):
        return quote_for_message(raw)
    if isinstance(raw, int | float):
        return f"{raw} seconds"
    return format_duration(duration.total_seconds())


def _bounded_duration(minimum: str, maximum: str | None = None) -> BeforeValidator:
    """Build a validator that reads a duration and, when loading, checks its range.

    ``minimum`` and ``maximum`` are written as in the configuration file
    (``1ms``, ``3650d``), so messages show them as the user would write them.
    """
    low = parse_window(minimum)
    high = parse_window(maximum) if maximum is not None else None
    if maximum is None:
        fix = f"use {minimum} or more"
    else:
        fix = f"use a duration from {minimum} to {maximum}"

    def validate(raw: Any, info: ValidationInfo) -> timedelta:
        duration: timedelta = _to_timedelta(raw)
        if not _is_loading(info):
            return duration
        if duration < low:
            raise ValueError(
                f"invalid duration {_describe_duration(raw, duration)}, it is below "
                f"the minimum of {minimum}; {fix}"
            )
        if high is not None and duration > high:
            raise ValueError(
                f"invalid duration {_describe_duration(raw, duration)}, it is above "
                f"the maximum of {maximum}; {fix}"
            )
        return duration

    return BeforeValidator(validate)


# Thresholds and timeouts must be at least 1ms, the resolution of PromQL
# durations, so that no value rounds to 0 where it is written at that resolution.
Duration = Annotated[timedelta, _bounded_duration("1ms")]
# 3650d is 10 years of 365 days.
Period = Annotated[timedelta, _bounded_duration("1h", "3650d")]
ScrapeInterval = Annotated[timedelta, _bounded_duration("1s", "1h")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def hide_userinfo(url: str) -> str:
    """Replace the user info of a URL that may be invalid with ``***``, for messages.

    The user info is taken to run from the scheme, or the start when there is
    none, to the last "@" of the whole text. RFC 3986 ends the authority at the
    first "/", "?" or "#", but a password with one of those unencoded would then
    show. An "@" in a path or query therefore hides more than the user info.
    """
    scheme = _URL_SCHEME.match(url)
    start = scheme.end() if scheme else 0
    at = url.rfind("@", start)
    if at < 0:
        return url
    return f"{url[:start]}***{url[at:]}"


# The limit Loki and Tempo document for one tenant ID.
TENANT_MAX_BYTES = 150


def _validate_tenant(value: str) -> None:
    """Raise ValueError unless ``value`` can be sent as an X-Scope-OrgID header.

    Loki, Tempo and Mimir document a narrower character set (letters, digits
    and ``!-_.*'()``), which this check leaves to the server.
    """
    quoted = quote_for_message(value)
    for char in value:
        if "!" <= char <= "~":
            continue
        if char == " ":
            problem = "a space"
        elif char.isascii():
            problem = f"the control character U+{ord(char):04X}"
        else:
            problem = f"the non-ASCII character U+{ord(char):04X}"
        raise ValueError(
            f"invalid tenant {quoted}, it contains {problem}; use printable ASCII "
            "without spaces, such as team-a"
        )
    for tenant in value.split("|"):
        if not tenant:
            raise ValueError(
                f"invalid tenant {quoted}, it has an empty tenant ID next to a | "
                "separator; remove the extra |"
            )
        if len(tenant) > TENANT_MAX_BYTES:
            raise ValueError(
                f"invalid tenant {quote_for_message(tenant)}, it is {len(tenant)} "
                f"bytes long; use a tenant ID of at most {TENANT_MAX_BYTES} bytes"
            )


def _validate_ca_file(path: Path) -> None:
    quoted_path = quote_for_message(str(path))
    try:
        if not path.is_file():
            problem = "not found" if not path.exists() else "not a regular file"
            raise ValueError(
                f"invalid CA certificate file {quoted_path}, {problem}; give the path "
                "of a PEM file"
            )
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(
            f"cannot read the CA certificate file {quoted_path} "
            f"({exc.strerror or exc}); check the file's permissions"
        ) from None


class BackendConfig(_Model):
    """Connection settings of one backend."""

    url: str | None = None
    tenant: str | None = Field(
        default=None, description="Sent as X-Scope-OrgID; `a|b` queries two tenants."
    )
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    ca_cert: Path | None = None
    timeout: Duration = timedelta(seconds=30)
    retries: int = Field(default=3, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        shown_url = repr(hide_userinfo(value))
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"invalid URL {shown_url}; it must start with http:// or https://"
            )
        parts = urlsplit(value)
        try:
            _ = parts.port  # urlsplit checks the port only when it is read
        except ValueError:
            raise ValueError(
                f"invalid URL {shown_url}; the port must be a number from 0 to 65535"
            ) from None
        if not parts.hostname:
            raise ValueError(
                f"invalid URL {shown_url}; it needs a host, such as "
                "http://localhost:3100"
            )
        return value.rstrip("/")

    @field_validator("tenant")
    @classmethod
    def _check_tenant(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and _is_loading(info):
            _validate_tenant(value)
        return value

    @field_validator("ca_cert")
    @classmethod
    def _check_ca_cert(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and _is_loading(info):
            _validate_ca_file(value)
        return value

    @model_validator(mode="after")
    def _check_auth(self) -> BackendConfig:
        if self.bearer_token is not None and (self.username or self.password):
            raise ValueError(
                "set either a bearer token or a username and password, not both"
            )
        if self.password is not None and not self.username:
            raise ValueError("a password is set but no username")
        return self


class TempoConfig(BackendConfig):
    api: Literal["auto", "v1", "v2"] = Field(
        default="auto",
        description="Trace-by-id API: v2 needs Tempo 2.6 or newer; auto tries v2 first.",
    )


class BackendsConfig(_Model):
    prometheus: BackendConfig = BackendConfig()
    loki: BackendConfig = BackendConfig()
    tempo: TempoConfig = TempoConfig()


def _check_target(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("a target must be a fraction such as 0.999, not a boolean")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"invalid target {raw!r}; use a fraction between 0 and 1, such as 0.999"
        ) from None
    if not 0 < value < 1:
        if value == 1:
            raise ValueError(
                "an objective of 1.0 (100 %) has no error budget; use a target "
                "below 1, such as 0.999"
            )
        raise ValueError(
            f"target {value} must be a fraction between 0 and 1, such as 0.999"
        )
    return value


Target = Annotated[float, BeforeValidator(_check_target)]


class AvailabilityObjective(_Model):
    target: Target = 0.999
    # gRPC codes that count against the objective. Client errors such as NotFound
    # or InvalidArgument are the caller's fault and do not.
    failure_codes: tuple[str, ...] = (
        "Unknown",
        "DeadlineExceeded",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
    )


class LatencyObjective(_Model):
    target: Target = 0.999
    threshold: Duration = timedelta(seconds=1)


class QueueDefaultObjective(LatencyObjective):
    """The objective of queue entry types without one of their own.

    Looser than the API's, because the upstream rate limit bounds queue work.
    """

    target: Target = 0.99
    threshold: Duration = timedelta(seconds=30)


class QueueTypeObjective(_Model):
    """One entry type's objective; a field left out comes from the default."""

    target: Target | None = None
    threshold: Duration | None = None


class QueueObjectives(_Model):
    """Latency objectives of queue entries: one default, overridden per entry type."""

    default: QueueDefaultObjective = QueueDefaultObjective()
    types: dict[str, QueueTypeObjective] = {}

    def for_type(self, entry_type: str) -> LatencyObjective:
        override = self.types.get(entry_type) or QueueTypeObjective()
        return LatencyObjective(
            target=self.default.target if override.target is None else override.target,
            threshold=(
                self.default.threshold
                if override.threshold is None
                else override.threshold
            ),
        )


class ObjectivesConfig(_Model):
    period: Period = timedelta(days=30)
    api_availability: AvailabilityObjective = AvailabilityObjective()
    api_latency: LatencyObjective = LatencyObjective()
    queue_latency: QueueObjectives = QueueObjectives()


def _check_label_name(value: str, info: ValidationInfo) -> str:
    if _is_loading(info):
        check_label_name(value)
    return value


def _check_optional_label_name(value: str, info: ValidationInfo) -> str:
    if value and _is_loading(info):
        check_label_name(value)
    return value


# Prometheus' metric name syntax. Label names are the same without the colon.
_METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _check_metric_name(value: str, info: ValidationInfo) -> str:
    if _is_loading(info) and _METRIC_NAME.fullmatch(value) is None:
        raise ValueError(
            f"invalid metric name {quote_for_message(value)}; use letters, digits, "
            "underscores and colons, not starting with a digit"
        )
    return value


# Names placed in PromQL and LogQL without quotes, so loading checks their syntax.
LabelName = Annotated[str, AfterValidator(_check_label_name)]
OptionalLabelName = Annotated[str, AfterValidator(_check_optional_label_name)]
MetricName = Annotated[str, AfterValidator(_check_metric_name)]


class MetricsShape(_Model):
    """Metric and label names in Prometheus."""

    handled_total: MetricName = "grpc_server_handled_total"
    latency_histogram: MetricName = Field(
        default="grpc_server_handling_seconds",
        description="Histogram base name; _bucket and _count are appended.",
    )
    latency_unit: Literal["s", "ms"] = "s"
    method_label: LabelName = "grpc_method"
    code_label: LabelName = "grpc_code"
    # Extra matchers added to every selector, such as `job="gramophile"`.
    matchers: str = ""
    queue_histogram: MetricName = "gramophile_queue_time"
    queue_unit: Literal["s", "ms"] = "ms"
    queue_type_label: LabelName = "type"
    scrape_interval: ScrapeInterval = timedelta(seconds=30)


class LogFields(_Model):
    """Names of the fields a parsed log line carries."""

    # Empty when every line is an API request.
    kind: OptionalLabelName = "kind"
    method: LabelName = "method"
    code: LabelName = "code"
    latency: LabelName = "latency"
    context_key: LabelName = "context_key"
    trace_id: LabelName = "trace_id"
    entry_type: LabelName = "entry_type"
    queue_wait: LabelName = "queue_wait"
    run_time: LabelName = "run_time"


class LogsShape(_Model):
    """Shape of the log lines in Loki."""

    selector: str = '{app="gramophile"}'
    # A LogQL parser stage: json, logfmt, or a full `pattern "..."` or
    # `regexp "..."` stage for plain-text lines.
    parser: str = "json"
    fields: LogFields = LogFields()
    api_kind: str = "api"
    queue_kind: str = "queue"
    # Unit of duration fields that are plain numbers; None means Go duration
    # strings such as 1.4s.
    duration_unit: Literal["ns", "us", "ms", "s"] | None = None
    page_size: int = Field(default=1000, ge=1, le=5000)

    @field_validator("selector")
    @classmethod
    def _check_selector(cls, value: str) -> str:
        stripped = value.strip()
        if not (stripped.startswith("{") and stripped.endswith("}")):
            raise ValueError(
                f"invalid stream selector {value!r}; write it in braces, such as "
                '{app="gramophile"}'
            )
        return stripped

    @field_validator("parser")
    @classmethod
    def _check_parser(cls, value: str) -> str:
        stripped = value.strip().removeprefix("|").strip()
        name = stripped.split(None, 1)[0] if stripped else ""
        if name not in {"json", "logfmt", "pattern", "regexp"}:
            raise ValueError(
                f"invalid parser {value!r}; use json, logfmt, or a pattern or "
                "regexp stage with its expression"
            )
        return stripped


class TracesShape(_Model):
    context_key_attribute: str = "context_key"
    search_limit: int = Field(default=100, ge=1, le=10000)

    @field_validator("context_key_attribute")
    @classmethod
    def _check_attribute(cls, value: str, info: ValidationInfo) -> str:
        if not _is_loading(info):
            return value
        if not value:
            raise ValueError(
                "invalid span attribute name, it is empty; give the attribute that "
                "holds the context key, such as context_key"
            )
        # A TraceQL query quotes an unusual attribute name, where Tempo accepts
        # only the escapes \" and \\, so a control character would be sent raw.
        if any(unicodedata.category(char) == "Cc" for char in value):
            raise ValueError(
                f"invalid span attribute name {quote_for_message(value)}, it contains "
                "a control character; remove it"
            )
        return value


class TelemetryConfig(_Model):
    metrics: MetricsShape = MetricsShape()
    logs: LogsShape = LogsShape()
    traces: TracesShape = TracesShape()


class Config(_Model):
    backends: BackendsConfig = BackendsConfig()
    objectives: ObjectivesConfig = ObjectivesConfig()
    telemetry: TelemetryConfig = TelemetryConfig()


# Environment variables and the configuration key each sets. The LOKI_ names
# are logcli's; the others follow the same pattern.
ENVIRONMENT: dict[str, tuple[str, ...]] = {}
for _backend, _prefix, _url_var in (
    ("loki", "LOKI", "LOKI_ADDR"),
    ("prometheus", "PROMETHEUS", "PROMETHEUS_URL"),
    ("tempo", "TEMPO", "TEMPO_ADDR"),
):
    ENVIRONMENT[_url_var] = ("backends", _backend, "url")
    ENVIRONMENT[f"{_prefix}_USERNAME"] = ("backends", _backend, "username")
    ENVIRONMENT[f"{_prefix}_PASSWORD"] = ("backends", _backend, "password")
    ENVIRONMENT[f"{_prefix}_BEARER_TOKEN"] = ("backends", _backend, "bearer_token")
    ENVIRONMENT[f"{_prefix}_ORG_ID"] = ("backends", _backend, "tenant")
    ENVIRONMENT[f"{_prefix}_CA_CERT_PATH"] = ("backends", _backend, "ca_cert")

SECRET_KEYS = frozenset({"password", "bearer_token"})


@dataclass
class LoadedConfig:
    """A validated configuration and the source of every value that is not a default."""

    config: Config
    file: Path | None
    sources: dict[tuple[str, ...], str] = field(default_factory=dict)

    def source_of(self, path: tuple[str, ...]) -> str:
        return self.sources.get(path, "default")


def find_config_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """Return the configuration file to read, or None when there is none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"configuration file not found, {explicit}; check the path given "
                "to --config"
            )
        return path
    named = environ.get("SLO_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(
                f"configuration file not found, {named} (from SLO_CONFIG); fix or "
                "unset SLO_CONFIG"
            )
        return path
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that raises on a key given twice in one mapping.

    PyYAML keeps the last of duplicate keys. The check runs on the composed
    node tree before construction, because construction folds merge keys
    (``<<: *anchor``) into their mapping, and a key that overrides a merged
    one is no duplicate.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        self._check_unique_keys(node, set())
        return super().construct_document(node)

    def _check_unique_keys(self, node: yaml.Node, visited: set[int]) -> None:
        # An alias makes a node appear more than once, even inside itself.
        if id(node) in visited:
            return
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._check_unique_keys(item, visited)
            return
        if not isinstance(node, yaml.MappingNode):
            return
        first_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            is_plain_key = (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.tag != "tag:yaml.org,2002:merge"
            )
            if is_plain_key:
                key = self.construct_object(key_node)
                if key in first_lines:
                    raise _DuplicateKeyError(
                        None,
                        None,
                        f"duplicate key {key!r}, first set at line {first_lines[key]}",
                        key_node.start_mark,
                    )
                first_lines[key] = key_node.start_mark.line + 1
            self._check_unique_keys(value_node, visited)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read configuration file, {path}: {exc.strerror}; check the "
            "file's permissions"
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"invalid UTF-8 in configuration file, {path} at line {line}: byte "
            f"0x{raw[exc.start]:02x} cannot be decoded; save the file as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        fix = (
            "remove one of the two"
            if isinstance(exc, _DuplicateKeyError)
            else "fix the syntax"
        )
        raise ConfigError(
            f"invalid YAML in configuration file, {path}{where}: {problem}; {fix}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid configuration file, {path}: the top level must be a mapping "
            "of keys such as backends, objectives and telemetry"
        )
    return data


def _leaf_paths(
    data: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            paths.extend(_leaf_paths(value, path))
        else:
            paths.append(path)
    return paths


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def recordable(config: Config) -> dict[str, Any]:
    """Convert the objectives and telemetry shapes to plain data for a bundle.

    Backends are left out: they hold addresses and credentials, and a replay
    needs neither. Durations become seconds.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return value

    data = config.model_dump(exclude={"backends"})
    result: dict[str, Any] = plain(data)
    return result


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> bool:
    """Set a nested key, creating missing mappings on the way.

    Returns False, and changes nothing, when a key on the way contains
    something other than a mapping. The file's value then stays, so validation
    reports it instead of the environment silently replacing it.
    """
    node = data
    for key in path[:-1]:
        if key not in node:
            node[key] = {}
        child = node[key]
        if not isinstance(child, dict):
            return False
        node = child
    node[path[-1]] = value
    return True


def load_config(
    *,
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, ...], tuple[Any, str]] | None = None,
    base: Mapping[str, Any] | None = None,
    base_source: str = "",
) -> LoadedConfig:
    """Merge defaults, a base layer, the configuration file, the environment and options.

    ``base`` is the configuration an evidence bundle recorded, so a replay sends
    the same queries; the file, the environment and options still override it.
    ``overrides`` maps a key path to ``(value, source)``, where the source names
    the option (``--loki-addr``); a None value is skipped.
    """
    env = os.environ if environ is None else environ
    file = find_config_file(config_path, env)
    merged: dict[str, Any] = {}
    sources: dict[tuple[str, ...], str] = {}

    if base:
        merged = copy.deepcopy(dict(base))
        for path in _leaf_paths(merged):
            sources[path] = base_source
    if file is not None:
        from_file = _read_yaml(file)
        for path in _leaf_paths(from_file):
            sources[path] = f"file {file}"
        merged = _deep_merge(merged, from_file)

    for name, path in ENVIRONMENT.items():
        value = env.get(name)
        if value and _set_path(merged, path, value):
            sources[path] = f"env {name}"

    for path, (value, source) in (overrides or {}).items():
        if value is not None and _set_path(merged, path, value):
            sources[path] = source

    try:
        config = Config.model_validate(merged, context=_LOAD_CONTEXT)
    except ValidationError as exc:
        raise _config_error(exc, file, sources) from None
    return LoadedConfig(config=config, file=file, sources=sources)


def _config_error(
    exc: ValidationError, file: Path | None, sources: Mapping[tuple[str, ...], str]
) -> ConfigError:
    first = exc.errors()[0]
    location = tuple(str(part) for part in first["loc"])
    key = ".".join(location) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key; check its spelling against docs/configuration.md"

    source = sources.get(location)
    if source is not None:
        found = [source]
    else:
        # A model-level error, such as a bearer token next to a password, may
        # come from keys set in different layers, so name every layer involved.
        found = list(
            dict.fromkeys(
                src
                for path, src in sources.items()
                if path[: len(location)] == location
            )
        )
    origins = [
        f"in {file}" if src.startswith("file") else f"from {src}" for src in found
    ]
    if not origins:
        origins = [f"in {file}" if file is not None else "in the defaults"]
    origin = " and ".join(origins)

    more = len(exc.errors()) - 1
    suffix = (
        f" ({more} more problem{'s' if more > 1 else ''} after this one)"
        if more
        else ""
    )
    return ConfigError(f"invalid configuration {origin}, key {key}: {message}{suffix}")


def mask_url_password(url: str) -> str:
    """Replace the whole user info of a valid URL with ``***``.

    The user name is masked too, because a token is often given as the user
    name (``http://TOKEN@host``).
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def iter_effective(loaded: LoadedConfig) -> list[tuple[str, str, str]]:
    """List (key, value, source) for every setting, with secrets masked."""
    rows: list[tuple[str, str, str]] = []
    data = loaded.config.model_dump()
    queue = loaded.config.objectives.queue_latency

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, (*path, key))
            return
        source = loaded.source_of(path)
        if node is None and path[:3] == ("objectives", "queue_latency", "types"):
            # A field an entry type leaves out comes from the queue default.
            node = getattr(queue.default, path[-1])
            source = "objectives.queue_latency.default"
        if path[-1] in SECRET_KEYS and node is not None:
            shown = "********"
        elif path[-1] == "url" and isinstance(node, str):
            shown = mask_url_password(node)
        elif isinstance(node, timedelta):
            # Prometheus' format has millisecond resolution, so it would round
            # finer values, or reject them below 1ms.
            if node % timedelta(milliseconds=1):
                shown = format_go_duration(node.total_seconds())
            else:
                shown = format_prometheus_duration(node)
        elif isinstance(node, list | tuple):
            shown = ", ".join(str(item) for item in node)
        elif node is None:
            shown = "(unset)"
        elif isinstance(node, dict):
            shown = "{}"
        else:
            shown = str(node)
        rows.append((".".join(path), shown, source))

    walk(data, ())
    return rows
