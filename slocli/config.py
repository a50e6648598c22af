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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from slocli.core.durations import (
    format_go_duration,
    format_prometheus_duration,
    parse_go_duration,
    parse_window,
)
from slocli.errors import ConfigError

DEFAULT_CONFIG_NAME = "slo.yaml"


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


Duration = Annotated[timedelta, BeforeValidator(_to_timedelta)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"invalid URL {value!r}; it must start with http:// or https://"
            )
        parts = urlsplit(value)
        try:
            _ = parts.port  # urlsplit checks the port only when it is read
        except ValueError:
            raise ValueError(
                f"invalid URL {value!r}; the port must be a number from 0 to 65535"
            ) from None
        if not parts.hostname:
            raise ValueError(
                f"invalid URL {value!r}; it needs a host, such as http://localhost:3100"
            )
        return value.rstrip("/")

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
    period: Duration = timedelta(days=30)
    api_availability: AvailabilityObjective = AvailabilityObjective()
    api_latency: LatencyObjective = LatencyObjective()
    queue_latency: QueueObjectives = QueueObjectives()


class MetricsShape(_Model):
    """Metric and label names in Prometheus."""

    handled_total: str = "grpc_server_handled_total"
    latency_histogram: str = Field(
        default="grpc_server_handling_seconds",
        description="Histogram base name; _bucket and _count are appended.",
    )
    latency_unit: Literal["s", "ms"] = "s"
    method_label: str = "grpc_method"
    code_label: str = "grpc_code"
    # Extra matchers added to every selector, such as `job="gramophile"`.
    matchers: str = ""
    queue_histogram: str = "gramophile_queue_time"
    queue_unit: Literal["s", "ms"] = "ms"
    queue_type_label: str = "type"
    scrape_interval: Duration = timedelta(seconds=30)


class LogFields(_Model):
    """Names of the fields a parsed log line carries."""

    kind: str = "kind"
    method: str = "method"
    code: str = "code"
    latency: str = "latency"
    context_key: str = "context_key"
    trace_id: str = "trace_id"
    entry_type: str = "entry_type"
    queue_wait: str = "queue_wait"
    run_time: str = "run_time"


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


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read configuration file, {path}: {exc.strerror}; check the "
            "file's permissions"
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"invalid YAML in configuration file, {path}{where}: {problem}; fix "
            "the syntax"
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
        config = Config.model_validate(merged)
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
    """Replace the password in a URL's user info with asterisks."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))


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
