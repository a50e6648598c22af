"""Tests for slocli.config: loading, sources, masking, value rules and file errors."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from slocli.config import (
    ENVIRONMENT,
    LoadedConfig,
    LogsShape,
    hide_userinfo,
    iter_effective,
    load_config,
    mask_url_password,
)
from slocli.errors import ConfigError, ExitCode


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(folder: Path, text: str, name: str = "slo.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(**kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def effective(loaded: LoadedConfig) -> dict[str, tuple[str, str]]:
    return {key: (value, source) for key, value, source in iter_effective(loaded)}


# Finding the file ------------------------------------------------------------


def test_no_file_gives_defaults(workdir: Path) -> None:
    loaded = load_config(environ={})

    assert loaded.file is None
    assert loaded.sources == {}
    assert loaded.config.backends.loki.url is None
    assert loaded.config.objectives.period == timedelta(days=30)
    assert loaded.config.objectives.api_latency.threshold == timedelta(seconds=1)
    assert loaded.config.telemetry.logs.selector == '{app="gramophile"}'


def test_finds_slo_yaml_in_workdir(workdir: Path) -> None:
    write_config(workdir, "backends:\n  loki:\n    url: http://loki:3100\n")

    loaded = load_config(environ={})

    assert loaded.file == Path("slo.yaml")
    assert loaded.config.backends.loki.url == "http://loki:3100"


def test_slo_config_env_names_file(workdir: Path) -> None:
    write_config(workdir, "backends:\n  loki:\n    url: http://local\n")
    other = write_config(
        workdir, "backends:\n  loki:\n    url: http://named\n", "other.yaml"
    )

    loaded = load_config(environ={"SLO_CONFIG": str(other)})

    assert loaded.file == other
    assert loaded.config.backends.loki.url == "http://named"


def test_config_option_beats_slo_config(workdir: Path) -> None:
    named = write_config(workdir, "backends:\n  loki:\n    url: http://env\n", "a.yaml")
    given = write_config(workdir, "backends:\n  loki:\n    url: http://opt\n", "b.yaml")

    loaded = load_config(config_path=str(given), environ={"SLO_CONFIG": str(named)})

    assert loaded.file == given
    assert loaded.config.backends.loki.url == "http://opt"


def test_missing_config_option_file(workdir: Path) -> None:
    message = load_error(config_path="nope.yaml", environ={})

    assert message == (
        "configuration file not found, nope.yaml; check the path given to --config"
    )


def test_missing_slo_config_file(workdir: Path) -> None:
    message = load_error(environ={"SLO_CONFIG": "gone.yaml"})

    assert message == (
        "configuration file not found, gone.yaml (from SLO_CONFIG); fix or unset "
        "SLO_CONFIG"
    )


def test_empty_file_gives_defaults(workdir: Path) -> None:
    write_config(workdir, "")

    loaded = load_config(environ={})

    assert loaded.file == Path("slo.yaml")
    assert loaded.config.backends.loki.url is None


# Layers and sources ----------------------------------------------------------

FILE_URL = "backends:\n  loki:\n    url: http://file:3100\n"


@pytest.mark.parametrize(
    ("file_text", "environ", "option", "expected_url", "expected_source"),
    [
        ("", {}, None, None, "default"),
        (FILE_URL, {}, None, "http://file:3100", "file slo.yaml"),
        (
            FILE_URL,
            {"LOKI_ADDR": "http://env:3100"},
            None,
            "http://env:3100",
            "env LOKI_ADDR",
        ),
        (
            FILE_URL,
            {"LOKI_ADDR": "http://env:3100"},
            "http://opt:3100",
            "http://opt:3100",
            "option --loki-addr",
        ),
        ("", {}, "http://opt:3100", "http://opt:3100", "option --loki-addr"),
        (FILE_URL, {"LOKI_ADDR": ""}, None, "http://file:3100", "file slo.yaml"),
    ],
    ids=["default", "file", "env-over-file", "option-over-env", "option", "empty-env"],
)
def test_layer_priority(
    workdir: Path,
    file_text: str,
    environ: dict[str, str],
    option: str | None,
    expected_url: str | None,
    expected_source: str,
) -> None:
    write_config(workdir, file_text)
    overrides: dict[tuple[str, ...], tuple[Any, str]] = {
        ("backends", "loki", "url"): (option, "option --loki-addr")
    }

    loaded = load_config(environ=environ, overrides=overrides)

    assert loaded.config.backends.loki.url == expected_url
    assert loaded.source_of(("backends", "loki", "url")) == expected_source


def test_unset_option_is_skipped(workdir: Path) -> None:
    overrides: dict[tuple[str, ...], tuple[Any, str]] = {
        ("backends", "tempo", "url"): (None, "option --tempo-addr")
    }

    loaded = load_config(environ={}, overrides=overrides)

    assert loaded.config.backends.tempo.url is None
    assert ("backends", "tempo", "url") not in loaded.sources


ENV_CASES = [
    ("LOKI_ADDR", "http://loki:3100", "loki", "url"),
    ("LOKI_USERNAME", "alice", "loki", "username"),
    ("LOKI_BEARER_TOKEN", "tok", "loki", "bearer_token"),
    ("LOKI_ORG_ID", "tenant-a", "loki", "tenant"),
    ("LOKI_CA_CERT_PATH", "ca.pem", "loki", "ca_cert"),
    ("PROMETHEUS_URL", "http://prom:9090", "prometheus", "url"),
    ("PROMETHEUS_USERNAME", "bob", "prometheus", "username"),
    ("PROMETHEUS_BEARER_TOKEN", "tok", "prometheus", "bearer_token"),
    ("PROMETHEUS_ORG_ID", "tenant-b", "prometheus", "tenant"),
    ("PROMETHEUS_CA_CERT_PATH", "ca.pem", "prometheus", "ca_cert"),
    ("TEMPO_ADDR", "http://tempo:3200", "tempo", "url"),
    ("TEMPO_USERNAME", "carol", "tempo", "username"),
    ("TEMPO_BEARER_TOKEN", "tok", "tempo", "bearer_token"),
    ("TEMPO_ORG_ID", "tenant-c", "tempo", "tenant"),
    ("TEMPO_CA_CERT_PATH", "ca.pem", "tempo", "ca_cert"),
]


@pytest.mark.parametrize(("name", "value", "backend", "key"), ENV_CASES)
def test_env_variable_sets_key(
    workdir: Path, name: str, value: str, backend: str, key: str
) -> None:
    if key == "ca_cert":
        # Loading checks that the CA file can be read.
        (workdir / value).write_text("PEM\n", encoding="utf-8")

    loaded = load_config(environ={name: value})

    setting = getattr(getattr(loaded.config.backends, backend), key)
    shown = (
        setting.get_secret_value()
        if hasattr(setting, "get_secret_value")
        else str(setting)
    )
    assert shown == value
    assert loaded.source_of(("backends", backend, key)) == f"env {name}"


@pytest.mark.parametrize("prefix", ["LOKI", "PROMETHEUS", "TEMPO"])
def test_env_basic_auth(workdir: Path, prefix: str) -> None:
    environ = {f"{prefix}_USERNAME": "alice", f"{prefix}_PASSWORD": "s3cret"}

    loaded = load_config(environ=environ)

    backend = getattr(loaded.config.backends, prefix.lower())
    assert backend.username == "alice"
    assert backend.password.get_secret_value() == "s3cret"


def test_env_table_covers_every_variant() -> None:
    expected = {
        f"{prefix}_{suffix}"
        for prefix in ("LOKI", "PROMETHEUS", "TEMPO")
        for suffix in ("USERNAME", "PASSWORD", "BEARER_TOKEN", "ORG_ID", "CA_CERT_PATH")
    } | {"LOKI_ADDR", "PROMETHEUS_URL", "TEMPO_ADDR"}

    assert set(ENVIRONMENT) == expected


def test_url_trailing_slash_removed(workdir: Path) -> None:
    loaded = load_config(environ={"LOKI_ADDR": "http://loki:3100/prefix/"})

    assert loaded.config.backends.loki.url == "http://loki:3100/prefix"


def test_file_and_env_merge(workdir: Path) -> None:
    write_config(workdir, "backends:\n  loki:\n    username: alice\n")

    loaded = load_config(environ={"LOKI_PASSWORD": "s3cret"})

    assert loaded.source_of(("backends", "loki", "username")) == "file slo.yaml"
    assert loaded.source_of(("backends", "loki", "password")) == "env LOKI_PASSWORD"


def test_queue_type_objective(workdir: Path) -> None:
    write_config(
        workdir,
        "objectives:\n"
        "  queue_latency:\n"
        "    types:\n"
        "      RefreshRelease:\n"
        "        target: 0.95\n"
        "        threshold: 2m\n",
    )

    queue = load_config(environ={}).config.objectives.queue_latency

    assert queue.for_type("RefreshRelease").threshold == timedelta(minutes=2)
    assert queue.for_type("RefreshRelease").target == 0.95
    assert queue.for_type("Other").threshold == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("30d", timedelta(days=30)),
        ("1w", timedelta(days=7)),
        ("1500us", timedelta(microseconds=1500)),
        ("2", timedelta(seconds=2)),
        ("0.25", timedelta(milliseconds=250)),
    ],
)
def test_duration_forms(workdir: Path, text: str, expected: timedelta) -> None:
    write_config(workdir, f"objectives:\n  api_latency:\n    threshold: {text}\n")

    loaded = load_config(environ={})

    assert loaded.config.objectives.api_latency.threshold == expected


# iter_effective ----------------------------------------------------------------


def test_effective_masks_secrets(workdir: Path) -> None:
    write_config(workdir, "backends:\n  loki:\n    username: alice\n")
    environ = {
        "LOKI_PASSWORD": "pw-secret-1",
        "TEMPO_BEARER_TOKEN": "tok-secret-2",
    }

    rows = iter_effective(load_config(environ=environ))

    by_key = {key: (value, source) for key, value, source in rows}
    assert by_key["backends.loki.password"] == ("********", "env LOKI_PASSWORD")
    assert by_key["backends.tempo.bearer_token"] == (
        "********",
        "env TEMPO_BEARER_TOKEN",
    )
    assert by_key["backends.loki.username"] == ("alice", "file slo.yaml")
    assert not any("secret" in value for _, value, _ in rows)


def test_effective_unset_secret(workdir: Path) -> None:
    table = effective(load_config(environ={}))

    assert table["backends.loki.password"] == ("(unset)", "default")
    assert table["backends.loki.bearer_token"] == ("(unset)", "default")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("objectives.period", "30d"),
        ("objectives.api_latency.threshold", "1s"),
        ("objectives.queue_latency.default.threshold", "30s"),
        ("backends.loki.timeout", "30s"),
        ("backends.loki.retries", "3"),
        ("backends.tempo.api", "auto"),
        ("objectives.queue_latency.types", "{}"),
        ("telemetry.logs.duration_unit", "(unset)"),
        (
            "objectives.api_availability.failure_codes",
            "Unknown, DeadlineExceeded, Unimplemented, Internal, Unavailable, DataLoss",
        ),
    ],
)
def test_effective_default_values(workdir: Path, key: str, value: str) -> None:
    table = effective(load_config(environ={}))

    assert table[key] == (value, "default")


@pytest.mark.parametrize(
    ("threshold", "shown"),
    [("1500us", "1.5ms"), ("1001us", "1.001ms"), ("90s", "1m30s"), ("1d", "1d")],
)
def test_effective_duration_text(workdir: Path, threshold: str, shown: str) -> None:
    write_config(workdir, f"objectives:\n  api_latency:\n    threshold: {threshold}\n")

    table = effective(load_config(environ={}))

    assert table["objectives.api_latency.threshold"] == (shown, "file slo.yaml")


def test_effective_nested_file_source(workdir: Path) -> None:
    write_config(
        workdir,
        "objectives:\n  queue_latency:\n    types:\n      Sync:\n        target: 0.9\n",
    )

    table = effective(load_config(environ={}))

    assert table["objectives.queue_latency.types.Sync.target"] == (
        "0.9",
        "file slo.yaml",
    )
    assert table["objectives.queue_latency.types.Sync.threshold"] == (
        "30s",
        "objectives.queue_latency.default",
    )


# Invalid files: one error naming the file, the key and the problem -------------

INVALID_FILES = [
    (
        "yaml-tab",
        "backends:\n\tloki: {}\n",
        "invalid YAML in configuration file, slo.yaml at line 2, column 1: found "
        "character '\\t' that cannot start any token; fix the syntax",
    ),
    (
        "yaml-mapping",
        "telemetry:\n  logs:\n    selector: a: b\n",
        "invalid YAML in configuration file, slo.yaml at line 3, column 16: mapping "
        "values are not allowed here; fix the syntax",
    ),
    (
        "top-level-list",
        "- backends\n",
        "invalid configuration file, slo.yaml: the top level must be a mapping of "
        "keys such as backends, objectives and telemetry",
    ),
    (
        "unknown-key",
        "backends:\n  loki:\n    urll: http://loki\n",
        "invalid configuration in slo.yaml, key backends.loki.urll: unknown key; "
        "check its spelling against docs/configuration.md",
    ),
    (
        "unknown-top-key",
        "objective:\n  period: 30d\n",
        "invalid configuration in slo.yaml, key objective: unknown key; check its "
        "spelling against docs/configuration.md",
    ),
    (
        "target-one",
        "objectives:\n  api_availability:\n    target: 1.0\n",
        "invalid configuration in slo.yaml, key objectives.api_availability.target: "
        "an objective of 1.0 (100 %) has no error budget; use a target below 1, "
        "such as 0.999",
    ),
    (
        "target-integer-one",
        "objectives:\n  api_latency:\n    target: 1\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.target: an "
        "objective of 1.0 (100 %) has no error budget; use a target below 1, such "
        "as 0.999",
    ),
    (
        "target-percent",
        "objectives:\n  api_latency:\n    target: 99.9\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.target: "
        "target 99.9 must be a fraction between 0 and 1, such as 0.999",
    ),
    (
        "target-null",
        "objectives:\n  api_latency:\n    target: null\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.target: "
        "invalid target None; use a fraction between 0 and 1, such as 0.999",
    ),
    (
        "target-list",
        "objectives:\n  api_latency:\n    target: [0.9]\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.target: "
        "invalid target [0.9]; use a fraction between 0 and 1, such as 0.999",
    ),
    (
        "target-bool",
        "objectives:\n  api_latency:\n    target: true\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.target: a "
        "target must be a fraction such as 0.999, not a boolean",
    ),
    (
        "duration-unit",
        "objectives:\n  api_latency:\n    threshold: 1x\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.threshold: "
        "invalid duration '1x'; use a number with a unit such as 500ms, 30s, 5m, "
        "1h or 30d",
    ),
    (
        "duration-negative",
        "objectives:\n  period: -1d\n",
        "invalid configuration in slo.yaml, key objectives.period: invalid duration "
        "'-1d'; use a number with a unit such as 500ms, 30s, 5m, 1h or 30d",
    ),
    (
        "duration-zero",
        "objectives:\n  api_latency:\n    threshold: 0\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.threshold: a "
        "duration must be positive, got 0",
    ),
    (
        "duration-infinite",
        "objectives:\n  api_latency:\n    threshold: .inf\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.threshold: a "
        "duration must be a finite number, got inf",
    ),
    (
        "duration-nan",
        "objectives:\n  api_latency:\n    threshold: .nan\n",
        "invalid configuration in slo.yaml, key objectives.api_latency.threshold: a "
        "duration must be a finite number, got nan",
    ),
    (
        "duration-huge",
        "objectives:\n  period: 1.0e+30\n",
        "invalid configuration in slo.yaml, key objectives.period: duration 1e+30 "
        "seconds is too long",
    ),
    (
        "duration-bool",
        "objectives:\n  period: true\n",
        "invalid configuration in slo.yaml, key objectives.period: a duration must "
        "be a string such as 30s or a number of seconds",
    ),
    (
        "url-scheme",
        "backends:\n  prometheus:\n    url: localhost:9090\n",
        "invalid configuration in slo.yaml, key backends.prometheus.url: invalid URL "
        "'localhost:9090'; it must start with http:// or https://",
    ),
    (
        "url-no-host",
        "backends:\n  tempo:\n    url: 'http://'\n",
        "invalid configuration in slo.yaml, key backends.tempo.url: invalid URL "
        "'http://'; it needs a host, such as http://localhost:3100",
    ),
    (
        "url-bad-port",
        "backends:\n  tempo:\n    url: 'http://tempo:99999'\n",
        "invalid configuration in slo.yaml, key backends.tempo.url: invalid URL "
        "'http://tempo:99999'; the port must be a number from 0 to 65535",
    ),
    (
        "bearer-and-basic",
        "backends:\n"
        "  loki:\n"
        "    username: alice\n"
        "    password: pw\n"
        "    bearer_token: tok\n",
        "invalid configuration in slo.yaml, key backends.loki: set either a bearer "
        "token or a username and password, not both",
    ),
    (
        "password-alone",
        "backends:\n  loki:\n    password: pw\n",
        "invalid configuration in slo.yaml, key backends.loki: a password is set but "
        "no username",
    ),
    (
        "selector-braces",
        "telemetry:\n  logs:\n    selector: app=x\n",
        "invalid configuration in slo.yaml, key telemetry.logs.selector: invalid "
        "stream selector 'app=x'; write it in braces, such as {app=\"gramophile\"}",
    ),
    (
        "parser-name",
        "telemetry:\n  logs:\n    parser: xml\n",
        "invalid configuration in slo.yaml, key telemetry.logs.parser: invalid parser "
        "'xml'; use json, logfmt, or a pattern or regexp stage with its expression",
    ),
    (
        "duration-unit-name",
        "telemetry:\n  logs:\n    duration_unit: sec\n",
        "invalid configuration in slo.yaml, key telemetry.logs.duration_unit: Input "
        "should be 'ns', 'us', 'ms' or 's'",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in INVALID_FILES],
    ids=[case[0] for case in INVALID_FILES],
)
def test_invalid_file_message(workdir: Path, text: str, expected: str) -> None:
    write_config(workdir, text)

    assert load_error(environ={}) == expected


def test_config_error_exit_code(workdir: Path) -> None:
    write_config(workdir, "nonsense: 1\n")

    with pytest.raises(ConfigError) as caught:
        load_config(environ={})

    assert caught.value.exit_code == ExitCode.USAGE


def test_more_problems_counted(workdir: Path) -> None:
    write_config(
        workdir, "objectives:\n  period: 2y\n  api_latency:\n    threshold: 1x\n"
    )

    message = load_error(environ={})

    assert message == (
        "invalid configuration in slo.yaml, key objectives.period: invalid duration "
        "'2y'; use a number with a unit such as 500ms, 30s, 5m, 1h or 30d "
        "(1 more problem after this one)"
    )


def test_env_error_names_variable(workdir: Path) -> None:
    message = load_error(environ={"LOKI_ADDR": "localhost:3100"})

    assert message == (
        "invalid configuration from env LOKI_ADDR, key backends.loki.url: invalid "
        "URL 'localhost:3100'; it must start with http:// or https://"
    )


def test_option_error_names_option(workdir: Path) -> None:
    overrides = {("backends", "tempo", "url"): ("tempo:3200", "option --tempo-addr")}

    message = load_error(environ={}, overrides=overrides)

    assert message.startswith(
        "invalid configuration from option --tempo-addr, key backends.tempo.url: "
    )


def test_auth_conflict_names_both_layers(workdir: Path) -> None:
    write_config(workdir, "backends:\n  loki:\n    username: a\n    password: b\n")

    message = load_error(environ={"LOKI_BEARER_TOKEN": "tok"})

    assert message == (
        "invalid configuration in slo.yaml and from env LOKI_BEARER_TOKEN, key "
        "backends.loki: set either a bearer token or a username and password, "
        "not both"
    )


def test_env_does_not_hide_file_error(workdir: Path) -> None:
    write_config(workdir, "backends: 5\n")

    message = load_error(environ={"LOKI_ADDR": "http://loki:3100"})

    assert message.startswith("invalid configuration in slo.yaml, key backends: ")


def test_secret_not_in_error(workdir: Path) -> None:
    message = load_error(environ={"LOKI_PASSWORD": "pw-secret-9"})

    assert "pw-secret-9" not in message
    assert message == (
        "invalid configuration from env LOKI_PASSWORD, key backends.loki: a password "
        "is set but no username"
    )


def test_queue_type_inherits_default_target(workdir: Path) -> None:
    write_config(
        workdir,
        "objectives:\n  queue_latency:\n    types:\n      Sync: {threshold: 10s}\n",
    )

    objective = load_config(environ={}).config.objectives.queue_latency.for_type("Sync")

    assert objective.target == 0.99
    assert objective.threshold == timedelta(seconds=10)


def test_queue_default_keeps_target_with_threshold_only(workdir: Path) -> None:
    write_config(
        workdir, "objectives:\n  queue_latency:\n    default: {threshold: 45s}\n"
    )

    default = load_config(environ={}).config.objectives.queue_latency.default

    assert default.target == 0.99
    assert default.threshold == timedelta(seconds=45)


def test_effective_masks_url_password(workdir: Path) -> None:
    loaded = load_config(
        environ={"PROMETHEUS_URL": "http://alice:s3cret@127.0.0.1:9090"}
    )

    table = effective(loaded)

    assert table["backends.prometheus.url"] == (
        "http://***@127.0.0.1:9090",
        "env PROMETHEUS_URL",
    )


def test_effective_masks_url_token(workdir: Path) -> None:
    loaded = load_config(environ={"LOKI_ADDR": "http://tok-secret-3@loki:3100/x"})

    table = effective(loaded)

    assert table["backends.loki.url"] == ("http://***@loki:3100/x", "env LOKI_ADDR")


def test_url_kept_with_userinfo(workdir: Path) -> None:
    loaded = load_config(environ={"LOKI_ADDR": "http://alice:pw@loki:3100"})

    assert loaded.config.backends.loki.url == "http://alice:pw@loki:3100"


# Names placed in queries -------------------------------------------------------

LABEL_KEYS = [
    ("logs", "fields", "kind"),
    ("logs", "fields", "method"),
    ("logs", "fields", "code"),
    ("logs", "fields", "latency"),
    ("logs", "fields", "context_key"),
    ("logs", "fields", "trace_id"),
    ("logs", "fields", "entry_type"),
    ("logs", "fields", "queue_wait"),
    ("logs", "fields", "run_time"),
    ("metrics", "method_label"),
    ("metrics", "code_label"),
    ("metrics", "queue_type_label"),
]

METRIC_KEYS = [
    ("metrics", "handled_total"),
    ("metrics", "latency_histogram"),
    ("metrics", "queue_histogram"),
]


def telemetry_yaml(path: tuple[str, ...], value: str) -> str:
    """Write ``telemetry.<path>: value`` as YAML; the caller quotes the value."""
    lines = ["telemetry:"]
    for depth, key in enumerate(path[:-1], start=1):
        lines.append(f"{'  ' * depth}{key}:")
    lines.append(f"{'  ' * len(path)}{path[-1]}: {value}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", LABEL_KEYS, ids=".".join)
@pytest.mark.parametrize("name", ["latency-ms", "1st", "a.b", "x y", "ä"])
def test_label_name_rejected(workdir: Path, path: tuple[str, ...], name: str) -> None:
    write_config(workdir, telemetry_yaml(path, f'"{name}"'))

    message = load_error(environ={})

    key = "telemetry." + ".".join(path)
    assert message.startswith(
        f"invalid configuration in slo.yaml, key {key}: invalid label name "
    )


@pytest.mark.parametrize("path", LABEL_KEYS, ids=".".join)
def test_label_name_accepted(workdir: Path, path: tuple[str, ...]) -> None:
    write_config(workdir, telemetry_yaml(path, "_Field_2"))

    node: Any = load_config(environ={}).config.telemetry
    for key in path:
        node = getattr(node, key)

    assert node == "_Field_2"


def test_label_name_message(workdir: Path) -> None:
    write_config(workdir, telemetry_yaml(("logs", "fields", "latency"), "latency-ms"))

    assert load_error(environ={}) == (
        "invalid configuration in slo.yaml, key telemetry.logs.fields.latency: "
        'invalid label name "latency-ms"; use letters, digits and underscores, not '
        "starting with a digit"
    )


def test_kind_field_may_be_empty(workdir: Path) -> None:
    write_config(workdir, telemetry_yaml(("logs", "fields", "kind"), '""'))

    assert load_config(environ={}).config.telemetry.logs.fields.kind == ""


@pytest.mark.parametrize(
    "path", [path for path in LABEL_KEYS if path[-1] != "kind"], ids=".".join
)
def test_other_field_not_empty(workdir: Path, path: tuple[str, ...]) -> None:
    write_config(workdir, telemetry_yaml(path, '""'))

    message = load_error(environ={})

    assert 'invalid label name ""' in message


@pytest.mark.parametrize("path", METRIC_KEYS, ids=".".join)
@pytest.mark.parametrize("name", ["grpc-handled", "9total", "", "a b"])
def test_metric_name_rejected(workdir: Path, path: tuple[str, ...], name: str) -> None:
    write_config(workdir, telemetry_yaml(path, f'"{name}"'))

    message = load_error(environ={})

    key = "telemetry." + ".".join(path)
    assert message == (
        f"invalid configuration in slo.yaml, key {key}: invalid metric name "
        f'"{name}"; use letters, digits, underscores and colons, not starting with '
        "a digit"
    )


@pytest.mark.parametrize("path", METRIC_KEYS, ids=".".join)
def test_metric_name_colon_accepted(workdir: Path, path: tuple[str, ...]) -> None:
    write_config(workdir, telemetry_yaml(path, "job:grpc_handled:rate5m"))

    metrics = load_config(environ={}).config.telemetry.metrics

    assert getattr(metrics, path[-1]) == "job:grpc_handled:rate5m"


def test_attribute_empty_rejected(workdir: Path) -> None:
    write_config(workdir, telemetry_yaml(("traces", "context_key_attribute"), '""'))

    assert load_error(environ={}) == (
        "invalid configuration in slo.yaml, key "
        "telemetry.traces.context_key_attribute: invalid span attribute name, it is "
        "empty; give the attribute that holds the context key, such as context_key"
    )


@pytest.mark.parametrize("escape", ["\\n", "\\t", "\\x7f", "\\x85"])
def test_attribute_control_rejected(workdir: Path, escape: str) -> None:
    path = ("traces", "context_key_attribute")
    write_config(workdir, telemetry_yaml(path, f'"ctx{escape}key"'))

    message = load_error(environ={})

    assert message.endswith(", it contains a control character; remove it")


def test_attribute_dotted_accepted(workdir: Path) -> None:
    path = ("traces", "context_key_attribute")
    write_config(workdir, telemetry_yaml(path, "app.context-key"))

    traces = load_config(environ={}).config.telemetry.traces

    assert traces.context_key_attribute == "app.context-key"


def test_direct_model_skips_load_rules() -> None:
    # Only load_config applies these rules, so the query builders' own checks
    # stay testable with shapes built in code.
    logs = LogsShape.model_validate({"fields": {"latency": "latency-ms"}})

    assert logs.fields.latency == "latency-ms"


# Duration ranges -------------------------------------------------------------

# Keys with a minimum of 1ms, and a file that sets each one to the value {}.
KEYS_AT_LEAST_1MS = [
    (
        "objectives.api_latency.threshold",
        "objectives:\n  api_latency:\n    threshold: {}\n",
    ),
    (
        "objectives.queue_latency.default.threshold",
        "objectives:\n  queue_latency:\n    default:\n      threshold: {}\n",
    ),
    (
        "objectives.queue_latency.types.Sync.threshold",
        "objectives:\n"
        "  queue_latency:\n"
        "    types:\n"
        "      Sync:\n"
        "        threshold: {}\n",
    ),
    ("backends.loki.timeout", "backends:\n  loki:\n    timeout: {}\n"),
]


@pytest.mark.parametrize(("key", "template"), KEYS_AT_LEAST_1MS)
@pytest.mark.parametrize("value", ["999us", "0.0005"])
def test_below_1ms_rejected(workdir: Path, key: str, template: str, value: str) -> None:
    write_config(workdir, template.format(value))

    message = load_error(environ={})

    assert message.startswith(f"invalid configuration in slo.yaml, key {key}: ")
    assert message.endswith("it is below the minimum of 1ms; use 1ms or more")


@pytest.mark.parametrize(("key", "template"), KEYS_AT_LEAST_1MS)
def test_1ms_accepted(workdir: Path, key: str, template: str) -> None:
    write_config(workdir, template.format("1ms"))

    table = effective(load_config(environ={}))

    assert table[key] == ("1ms", "file slo.yaml")


def test_threshold_minimum_message(workdir: Path) -> None:
    write_config(workdir, KEYS_AT_LEAST_1MS[0][1].format("250us"))

    assert load_error(environ={}) == (
        "invalid configuration in slo.yaml, key objectives.api_latency.threshold: "
        'invalid duration "250us", it is below the minimum of 1ms; use 1ms or more'
    )


def test_timeout_seconds_message(workdir: Path) -> None:
    write_config(workdir, KEYS_AT_LEAST_1MS[3][1].format("0.0005"))

    assert load_error(environ={}) == (
        "invalid configuration in slo.yaml, key backends.loki.timeout: invalid "
        "duration 0.0005 seconds, it is below the minimum of 1ms; use 1ms or more"
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("period", "59m", "below the minimum of 1h"),
        ("period", "3651d", "above the maximum of 3650d"),
        ("period", "600", "below the minimum of 1h"),
    ],
)
def test_period_out_of_range(workdir: Path, key: str, value: str, problem: str) -> None:
    write_config(workdir, f"objectives:\n  {key}: {value}\n")

    message = load_error(environ={})

    assert message.startswith(
        "invalid configuration in slo.yaml, key objectives.period"
    )
    assert message.endswith(f"{problem}; use a duration from 1h to 3650d")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1h", timedelta(hours=1)), ("3650d", timedelta(days=3650))],
)
def test_period_bounds_accepted(workdir: Path, value: str, expected: timedelta) -> None:
    write_config(workdir, f"objectives:\n  period: {value}\n")

    assert load_config(environ={}).config.objectives.period == expected


def test_period_message(workdir: Path) -> None:
    write_config(workdir, "objectives:\n  period: 30m\n")

    assert load_error(environ={}) == (
        "invalid configuration in slo.yaml, key objectives.period: invalid duration "
        '"30m", it is below the minimum of 1h; use a duration from 1h to 3650d'
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [("999ms", "below the minimum of 1s"), ("61m", "above the maximum of 1h")],
)
def test_scrape_interval_out_of_range(workdir: Path, value: str, problem: str) -> None:
    write_config(workdir, f"telemetry:\n  metrics:\n    scrape_interval: {value}\n")

    message = load_error(environ={})

    assert message == (
        "invalid configuration in slo.yaml, key telemetry.metrics.scrape_interval: "
        f'invalid duration "{value}", it is {problem}; use a duration from 1s to 1h'
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1s", timedelta(seconds=1)), ("1h", timedelta(hours=1))],
)
def test_scrape_interval_bounds_accepted(
    workdir: Path, value: str, expected: timedelta
) -> None:
    write_config(workdir, f"telemetry:\n  metrics:\n    scrape_interval: {value}\n")

    metrics = load_config(environ={}).config.telemetry.metrics

    assert metrics.scrape_interval == expected


# Tenants ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "quoted", "problem"),
    [
        ("team\r\nX-Evil: 1", '"team\\r\\nX-Evil: 1"', "the control character U+000D"),
        ("team\ta", '"team\\ta"', "the control character U+0009"),
        ("team\x7f", '"team\\x7f"', "the control character U+007F"),
        ("team a", '"team a"', "a space"),
        ("tëam", '"tëam"', "the non-ASCII character U+00EB"),
    ],
    ids=["crlf", "tab", "del", "space", "non-ascii"],
)
def test_tenant_character_rejected(
    workdir: Path, tenant: str, quoted: str, problem: str
) -> None:
    message = load_error(environ={"LOKI_ORG_ID": tenant})

    assert message == (
        "invalid configuration from env LOKI_ORG_ID, key backends.loki.tenant: "
        f"invalid tenant {quoted}, it contains {problem}; use printable ASCII without "
        "spaces, such as team-a"
    )


@pytest.mark.parametrize("tenant", ["a|", "|a", "a||b"])
def test_tenant_empty_part_rejected(workdir: Path, tenant: str) -> None:
    message = load_error(environ={"TEMPO_ORG_ID": tenant})

    assert message.endswith(
        "it has an empty tenant ID next to a | separator; remove the extra |"
    )


def test_tenant_too_long_rejected(workdir: Path) -> None:
    tenant = "a|" + "t" * 151

    message = load_error(environ={"PROMETHEUS_ORG_ID": tenant})

    assert message == (
        "invalid configuration from env PROMETHEUS_ORG_ID, key "
        f'backends.prometheus.tenant: invalid tenant "{"t" * 151}", it is 151 bytes '
        "long; use a tenant ID of at most 150 bytes"
    )


@pytest.mark.parametrize(
    "tenant",
    ["t" * 150, "team-a|team-b", "t" * 150 + "|" + "u" * 150, "a!b*c'(d)~_."],
    ids=["150-bytes", "two", "two-of-150", "punctuation"],
)
def test_tenant_accepted(workdir: Path, tenant: str) -> None:
    loaded = load_config(environ={"LOKI_ORG_ID": tenant})

    assert loaded.config.backends.loki.tenant == tenant


def test_tenant_option_named(workdir: Path) -> None:
    overrides = {("backends", "loki", "tenant"): ("a b", "option --org-id")}

    message = load_error(environ={}, overrides=overrides)

    assert message.startswith(
        "invalid configuration from option --org-id, key backends.loki.tenant: "
    )


# CA certificate --------------------------------------------------------------


def test_ca_cert_missing(workdir: Path) -> None:
    message = load_error(environ={"LOKI_CA_CERT_PATH": "missing.pem"})

    assert message == (
        "invalid configuration from env LOKI_CA_CERT_PATH, key backends.loki.ca_cert: "
        'invalid CA certificate file "missing.pem", not found; give the path of a '
        "PEM file"
    )


def test_ca_cert_directory(workdir: Path) -> None:
    write_config(workdir, "backends:\n  tempo:\n    ca_cert: .\n")

    assert load_error(environ={}) == (
        "invalid configuration in slo.yaml, key backends.tempo.ca_cert: invalid CA "
        'certificate file ".", not a regular file; give the path of a PEM file'
    )


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root can read any file"
)
def test_ca_cert_unreadable(workdir: Path) -> None:
    pem = workdir / "ca.pem"
    pem.write_text("PEM\n", encoding="utf-8")
    pem.chmod(0)

    message = load_error(environ={"PROMETHEUS_CA_CERT_PATH": "ca.pem"})

    assert message == (
        "invalid configuration from env PROMETHEUS_CA_CERT_PATH, key "
        'backends.prometheus.ca_cert: cannot read the CA certificate file "ca.pem" '
        "(Permission denied); check the file's permissions"
    )


def test_ca_cert_readable(workdir: Path) -> None:
    (workdir / "ca.pem").write_text("PEM\n", encoding="utf-8")
    write_config(workdir, "backends:\n  loki:\n    ca_cert: ca.pem\n")

    assert load_config(environ={}).config.backends.loki.ca_cert == Path("ca.pem")


# File encoding and duplicate keys ------------------------------------------------


def test_non_utf8_file(workdir: Path) -> None:
    (workdir / "slo.yaml").write_bytes(b"backends:\n  loki:\n    tenant: t\xe9am\n")

    assert load_error(environ={}) == (
        "invalid UTF-8 in configuration file, slo.yaml at line 3: byte 0xe9 cannot "
        "be decoded; save the file as UTF-8"
    )


def test_duplicate_top_key(workdir: Path) -> None:
    write_config(workdir, "objectives:\n  period: 7d\nobjectives:\n  period: 30d\n")

    assert load_error(environ={}) == (
        "invalid YAML in configuration file, slo.yaml at line 3, column 1: duplicate "
        "key 'objectives', first set at line 1; remove one of the two"
    )


def test_duplicate_nested_key(workdir: Path) -> None:
    write_config(
        workdir,
        "backends:\n"
        "  loki:\n"
        "    url: http://one:3100\n"
        "    tenant: a\n"
        "    url: http://two:3100\n",
    )

    assert load_error(environ={}) == (
        "invalid YAML in configuration file, slo.yaml at line 5, column 5: duplicate "
        "key 'url', first set at line 3; remove one of the two"
    )


def test_duplicate_in_flow_mapping(workdir: Path) -> None:
    write_config(
        workdir,
        "objectives:\n  queue_latency:\n    default: {target: 0.9, target: 0.8}\n",
    )

    message = load_error(environ={})

    assert "duplicate key 'target', first set at line 3" in message


def test_same_key_in_sibling_mappings(workdir: Path) -> None:
    write_config(
        workdir,
        "backends:\n  loki:\n    url: http://loki\n  tempo:\n    url: http://tempo\n",
    )

    backends = load_config(environ={}).config.backends

    assert backends.tempo.url == "http://tempo"


def test_merge_key_override_allowed(workdir: Path) -> None:
    write_config(
        workdir,
        "objectives:\n"
        "  queue_latency:\n"
        "    default: &base {target: 0.9, threshold: 10s}\n"
        "    types:\n"
        "      Sync:\n"
        "        <<: *base\n"
        "        threshold: 20s\n",
    )

    queue = load_config(environ={}).config.objectives.queue_latency

    assert queue.for_type("Sync").threshold == timedelta(seconds=20)


# Secrets in URLs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked", "problem"),
    [
        (
            "alice:S3CRETpw@loki:3100",
            "***@loki:3100",
            "it must start with http:// or https://",
        ),
        (
            "ftp://alice:S3CRETpw@loki",
            "ftp://***@loki",
            "it must start with http:// or https://",
        ),
        (
            "http://alice:S3CRETpw@loki:99999",
            "http://***@loki:99999",
            "the port must be a number from 0 to 65535",
        ),
        (
            "http://alice:S3C/RETpw@loki:3100",
            "http://***@loki:3100",
            "the port must be a number from 0 to 65535",
        ),
        (
            "http://alice:S3CRETpw@",
            "http://***@",
            "it needs a host, such as http://localhost:3100",
        ),
    ],
    ids=["no-scheme", "ftp", "bad-port", "slash-in-password", "no-host"],
)
def test_url_error_hides_userinfo(
    workdir: Path, url: str, masked: str, problem: str
) -> None:
    message = load_error(environ={"LOKI_ADDR": url})

    assert "S3C" not in message
    assert message == (
        "invalid configuration from env LOKI_ADDR, key backends.loki.url: invalid "
        f"URL '{masked}'; {problem}"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("loki:3100", "loki:3100"),
        ("http://loki:3100/x", "http://loki:3100/x"),
        ("alice:pw@loki", "***@loki"),
        ("tok@loki", "***@loki"),
        ("http://alice:p@ss@loki/x", "http://***@loki/x"),
        ("git+ssh://git@host/repo", "git+ssh://***@host/repo"),
        # An "@" after the authority hides more than the user info, so that a
        # password with an unencoded "/" cannot show.
        ("http://loki/x?owner=a@b", "http://***@b"),
    ],
)
def test_hide_userinfo(url: str, expected: str) -> None:
    assert hide_userinfo(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://loki:3100", "http://loki:3100"),
        ("http://TOKEN@loki:3100", "http://***@loki:3100"),
        ("https://alice:pw@loki/x?q=1", "https://***@loki/x?q=1"),
        ("http://alice:p@ss@[::1]:3100/x", "http://***@[::1]:3100/x"),
        ("http://loki/x?owner=a@b", "http://loki/x?owner=a@b"),
    ],
)
def test_mask_url_password(url: str, expected: str) -> None:
    assert mask_url_password(url) == expected
