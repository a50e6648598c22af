"""Tests for slocli.config: layered loading, sources, masking and file errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from slocli.config import ENVIRONMENT, LoadedConfig, iter_effective, load_config
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
    ("LOKI_CA_CERT_PATH", "/etc/ca.pem", "loki", "ca_cert"),
    ("PROMETHEUS_URL", "http://prom:9090", "prometheus", "url"),
    ("PROMETHEUS_USERNAME", "bob", "prometheus", "username"),
    ("PROMETHEUS_BEARER_TOKEN", "tok", "prometheus", "bearer_token"),
    ("PROMETHEUS_ORG_ID", "tenant-b", "prometheus", "tenant"),
    ("PROMETHEUS_CA_CERT_PATH", "/etc/ca.pem", "prometheus", "ca_cert"),
    ("TEMPO_ADDR", "http://tempo:3200", "tempo", "url"),
    ("TEMPO_USERNAME", "carol", "tempo", "username"),
    ("TEMPO_BEARER_TOKEN", "tok", "tempo", "bearer_token"),
    ("TEMPO_ORG_ID", "tenant-c", "tempo", "tenant"),
    ("TEMPO_CA_CERT_PATH", "/etc/ca.pem", "tempo", "ca_cert"),
]


@pytest.mark.parametrize(("name", "value", "backend", "key"), ENV_CASES)
def test_env_variable_sets_key(
    workdir: Path, name: str, value: str, backend: str, key: str
) -> None:
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
        ("250us", timedelta(microseconds=250)),
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
    [("1500us", "1.5ms"), ("100us", "100µs"), ("90s", "1m30s"), ("1d", "1d")],
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


def test_effective_masks_url_password() -> None:
    loaded = load_config(
        environ={"PROMETHEUS_URL": "http://alice:s3cret@127.0.0.1:9090"}
    )

    table = effective(loaded)

    assert table["backends.prometheus.url"] == (
        "http://alice:********@127.0.0.1:9090",
        "env PROMETHEUS_URL",
    )
