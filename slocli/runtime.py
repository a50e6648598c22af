"""Per-run state of a command: configuration, clock, backend clients and bundles.

Commands build a ``Runtime`` from their options and ask it for clients. In
replay mode the clients read from an evidence bundle, and the clock is pinned
to the time of recording. In record mode every exchange is appended to a
bundle that ``finish`` writes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from slocli.backends.bundle import (
    Bundle,
    RecordingTransport,
    ReplayTransport,
    load_bundle,
)
from slocli.backends.http import BackendHTTP, redact_text
from slocli.backends.loki import LokiClient
from slocli.backends.prometheus import PrometheusClient
from slocli.backends.tempo import TempoClient
from slocli.config import BackendConfig, LoadedConfig, load_config, recordable
from slocli.errors import ConfigError, UsageError

logger = logging.getLogger("slocli")

_URL_HINTS = {
    "prometheus": ("Prometheus", "PROMETHEUS_URL", "--prometheus-url"),
    "loki": ("Loki", "LOKI_ADDR", "--loki-addr"),
    "tempo": ("Tempo", "TEMPO_ADDR", "--tempo-addr"),
}

# Replayed clients need a URL to build requests; no request leaves the process.
_REPLAY_URL = "http://replay.invalid"


def _record_path(value: str) -> Path:
    """Check a --record path before any query runs, so no result is lost to it."""
    if not value.strip():
        raise UsageError(
            "--record was given an empty path; name a file such as run.json"
        )
    path = Path(value)
    if path.is_symlink():
        path = path.resolve()
    if path.exists() and not path.is_file():
        raise UsageError(
            f"cannot write evidence bundle, {value}: it exists and is not a regular "
            "file; choose a file path for --record"
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"cannot write evidence bundle, {value}: the folder does not exist; "
            "create it or choose another path for --record"
        )
    return path


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_sleep(seconds: float) -> None:
    return None


def _path(url: str | None) -> str:
    return urlsplit(url or "").path


@dataclass
class CommonOptions:
    config: str | None = None
    prometheus_url: str | None = None
    loki_addr: str | None = None
    tempo_addr: str | None = None
    org_id: str | None = None
    record: str | None = None
    replay: str | None = None
    debug: bool = False


@dataclass
class Runtime:
    loaded: LoadedConfig
    now: datetime
    argv: list[str]
    record_path: Path | None = None
    record_bundle: Bundle | None = None
    replay_bundle: Bundle | None = None
    replay_source: str = ""
    transports: Mapping[str, httpx.BaseTransport] = field(default_factory=dict)
    _https: list[BackendHTTP] = field(default_factory=list)

    @property
    def config(self):  # type: ignore[no-untyped-def]
        return self.loaded.config

    def _http(self, key: str) -> BackendHTTP:
        name, env, option = _URL_HINTS[key]
        settings: BackendConfig = getattr(self.loaded.config.backends, key)
        transport: httpx.BaseTransport | None = self.transports.get(key)
        sleep: Callable[[float], None] = time.sleep
        clock: Callable[[], datetime] = _utc_now
        if self.replay_bundle is not None:
            settings = settings.model_copy(update={"url": settings.url or _REPLAY_URL})
            transport = ReplayTransport(
                name, self.replay_bundle, self.replay_source, prefix=_path(settings.url)
            )
            # A replayed retry needs no wait, because its response is already recorded.
            sleep = _no_sleep
            clock = self._pinned_now
        elif settings.url is None:
            raise ConfigError(
                f"the {name} URL is not set, needed by this command; set {env}, "
                f"backends.{key}.url in slo.yaml, or {option}"
            )
        if self.record_bundle is not None:
            transport = RecordingTransport(
                name, self.record_bundle, transport, prefix=_path(settings.url)
            )
        try:
            http = BackendHTTP(
                name, settings, transport=transport, sleep=sleep, clock=clock
            )
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise ConfigError(
                f"cannot load the CA certificate for {name}, {settings.ca_cert} "
                f"({exc.strerror or exc}); give a PEM file in backends.{key}.ca_cert "
                f"or {env.split('_')[0]}_CA_CERT_PATH"
            ) from None
        self._https.append(http)
        return http

    def _pinned_now(self) -> datetime:
        return self.now

    def prometheus(self) -> PrometheusClient:
        return PrometheusClient(self._http("prometheus"))

    def loki(self) -> LokiClient:
        return LokiClient(self._http("loki"))

    def tempo(self) -> TempoClient:
        return TempoClient(
            self._http("tempo"), api=self.loaded.config.backends.tempo.api
        )

    def finish(self) -> None:
        """Close connections and write the recorded bundle, also after a failure."""
        for http in self._https:
            http.close()
        if self.record_bundle is not None and self.record_path is not None:
            self.record_bundle.config = recordable(self.loaded.config)
            self.record_bundle.commands.append([redact_text(arg) for arg in self.argv])
            try:
                self.record_bundle.save(self.record_path)
            except OSError as exc:
                # The command's result is still printed; only the bundle is lost.
                print(
                    f"slo: error: cannot write evidence bundle, {self.record_path} "
                    f"({exc.strerror or exc}); the result below was not recorded",
                    file=sys.stderr,
                )
                return
            print(
                f"slo: recorded {len(self.record_bundle.exchanges)} exchanges to "
                f"{self.record_path}",
                file=sys.stderr,
            )


def build_runtime(
    options: CommonOptions,
    *,
    argv: list[str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    environ: Mapping[str, str] | None = None,
    transports: Mapping[str, httpx.BaseTransport] | None = None,
    meta: dict[str, Any] | None = None,
) -> Runtime:
    if options.record and options.replay:
        raise UsageError(
            "--record and --replay were both given; use --record to capture a run "
            "or --replay to rerun one, not both"
        )
    overrides: dict[tuple[str, ...], tuple[Any, str]] = {
        ("backends", "prometheus", "url"): (
            options.prometheus_url,
            "option --prometheus-url",
        ),
        ("backends", "loki", "url"): (options.loki_addr, "option --loki-addr"),
        ("backends", "tempo", "url"): (options.tempo_addr, "option --tempo-addr"),
    }
    if options.org_id is not None:
        for key in ("prometheus", "loki", "tempo"):
            overrides[("backends", key, "tenant")] = (options.org_id, "option --org-id")
    replay_bundle = None
    now = clock()
    if options.replay:
        replay_bundle = load_bundle(options.replay)
        now = replay_bundle.recorded_at
    loaded = load_config(
        config_path=options.config,
        environ=environ,
        overrides=overrides,
        base=replay_bundle.config if replay_bundle is not None else None,
        base_source=f"bundle {options.replay}",
    )
    record_bundle = None
    record_path = None
    if options.record is not None:
        record_path = _record_path(options.record)
        record_bundle = Bundle(recorded_at=now, meta=dict(meta or {}))
    return Runtime(
        loaded=loaded,
        now=now,
        argv=argv,
        record_path=record_path,
        record_bundle=record_bundle,
        replay_bundle=replay_bundle,
        replay_source=options.replay or "",
        transports=dict(transports or {}),
    )
