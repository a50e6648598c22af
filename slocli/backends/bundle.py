"""Evidence bundles: every backend exchange of a run, for replay with no network.

A bundle is one JSON document::

    {"format": "slocli-bundle", "version": 1,
     "recorded_at": "2026-03-04T12:00:00Z",      # the run's clock, pinned on replay
     "slocli_version": "0.1.0",
     "commands": [["misses", "--since", "24h"]],  # what was run, for the reader
     "meta": {...},                               # free-form, e.g. the demo's key
     "config": {"objectives": ..., "telemetry": ...},  # replayed as a base layer
     "exchanges": [{"backend": "Loki", "method": "GET",
                    "path": "/loki/api/v1/query_range",
                    "params": [["query", "..."], ...],
                    "status": 200, "headers": {"content-type": "..."},
                    "body": "..."}]}

Requests carry no credentials: the Authorization header is never stored, and
URLs are stored as a path without host or user info. Replay serves the recorded
responses for a (backend, method, path, params) key in the order they were
recorded, so recorded retries replay as retries.
"""

from __future__ import annotations

import json
import shlex
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from slocli import __version__
from slocli.errors import ReplayMissError, UsageError

BUNDLE_FORMAT = "slocli-bundle"
BUNDLE_VERSION = 1

# Response headers worth keeping: the ones the clients read.
_KEPT_HEADERS = ("content-type", "retry-after")

_ENCODING_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding"}
)


def _params_key(params: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in params))


@dataclass
class Bundle:
    recorded_at: datetime
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # Objectives and telemetry shapes of the recorded run, never backends.
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        document = {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "recorded_at": self.recorded_at.astimezone(UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            "slocli_version": __version__,
            "commands": self.commands,
            "meta": self.meta,
            "config": self.config,
            "exchanges": self.exchanges,
        }
        return json.dumps(document, ensure_ascii=False, indent=1)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)


def load_bundle(path: Path | str, *, option: str = "--replay") -> Bundle:
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"evidence bundle not found, {path}; give the file written by --record"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot read evidence bundle, {path} ({exc}); give a file written by --record"
        ) from None
    if not isinstance(document, dict) or document.get("format") != BUNDLE_FORMAT:
        raise UsageError(
            f"not an slocli evidence bundle, {path}; give a file written by --record"
        )
    if document.get("version") != BUNDLE_VERSION:
        raise UsageError(
            f"unsupported evidence bundle version {document.get('version')!r}, {path}; "
            f"this slocli reads version {BUNDLE_VERSION}"
        )
    problem = _document_problem(document)
    if problem is not None:
        raise UsageError(
            f"invalid evidence bundle, {path}: {problem}; give a file written by "
            "--record"
        )
    return Bundle(
        recorded_at=_parse_recorded_at(document["recorded_at"]),
        exchanges=list(document["exchanges"]),
        commands=list(document.get("commands", [])),
        meta=dict(document.get("meta", {})),
        config=dict(document.get("config", {})),
    )


def _parse_recorded_at(value: object) -> datetime:
    """Parse an RFC 3339 time with an offset. Raise ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError(f"recorded_at {value!r} is not a string")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"recorded_at {value!r} has no offset")
    return when


# Fields every recorded exchange must have, and their JSON types.
_EXCHANGE_FIELDS: dict[str, type] = {
    "backend": str,
    "method": str,
    "path": str,
    "status": int,
    "body": str,
}


def _document_problem(document: dict[str, Any]) -> str | None:
    """Describe the first problem of a bundle document, or return None.

    Checked when loading, so that a damaged file fails with its path named
    instead of with a KeyError in the middle of a replayed run.
    """
    try:
        _parse_recorded_at(document.get("recorded_at"))
    except ValueError:
        return "recorded_at is missing or not an RFC 3339 time with an offset"
    if not isinstance(document.get("commands", []), list):
        return "commands is not a list"
    if not isinstance(document.get("meta", {}), dict):
        return "meta is not an object"
    if not isinstance(document.get("config", {}), dict):
        return "config is not an object"
    exchanges = document.get("exchanges")
    if not isinstance(exchanges, list):
        return "exchanges is missing or not a list"
    for index, exchange in enumerate(exchanges):
        problem = _exchange_problem(exchange)
        if problem is not None:
            return f"exchange {index} {problem}"
    return None


def _exchange_problem(exchange: object) -> str | None:
    if not isinstance(exchange, dict):
        return "is not an object"
    for name, kind in _EXCHANGE_FIELDS.items():
        value = exchange.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"has no valid {name}"
    params = exchange.get("params")
    if not isinstance(params, list) or not all(
        isinstance(pair, list)
        and len(pair) == 2
        and all(isinstance(item, str) for item in pair)
        for pair in params
    ):
        return "has no valid params, a list of [name, value] string pairs"
    headers = exchange.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(value, str) for value in headers.values()
    ):
        return "has invalid headers, an object of strings"
    return None


def _strip_prefix(path: str, prefix: str) -> str:
    if prefix and path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return path


class RecordingTransport(httpx.BaseTransport):
    """Pass requests to a real transport and append each exchange to a bundle."""

    def __init__(
        self,
        backend: str,
        bundle: Bundle,
        inner: httpx.BaseTransport | None = None,
        *,
        prefix: str = "",
    ):
        self.backend = backend
        self.bundle = bundle
        self.inner = inner or httpx.HTTPTransport()
        # The base URL's path (a gateway's /loki, say) is not stored, so a
        # bundle replays whatever prefix the replaying run is configured with.
        self.prefix = prefix.rstrip("/")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        # read() undoes any Content-Encoding, so the headers that describe the
        # encoded body no longer apply to what is returned and stored.
        body = response.read()
        headers = [
            (key, value)
            for key, value in response.headers.multi_items()
            if key.lower() not in _ENCODING_HEADERS
        ]
        self.bundle.exchanges.append(
            {
                "backend": self.backend,
                "method": request.method,
                "path": _strip_prefix(request.url.path, self.prefix),
                "params": [list(item) for item in request.url.params.multi_items()],
                "status": response.status_code,
                "headers": {
                    key: response.headers[key]
                    for key in _KEPT_HEADERS
                    if key in response.headers
                },
                "body": body.decode("utf-8", errors="replace"),
            }
        )
        return httpx.Response(
            status_code=response.status_code,
            headers=headers,
            content=body,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


class ReplayTransport(httpx.BaseTransport):
    """Serve a bundle's recorded exchanges; a request not in it is an error."""

    def __init__(
        self, backend: str, bundle: Bundle, source: str, *, prefix: str = ""
    ) -> None:
        self.backend = backend
        self.source = source
        self.prefix = prefix.rstrip("/")
        self.commands = [shlex.join(command) for command in bundle.commands]
        self._answers: dict[tuple[Any, ...], deque[dict[str, Any]]] = defaultdict(deque)
        self._last: dict[tuple[Any, ...], dict[str, Any]] = {}
        for exchange in bundle.exchanges:
            if exchange.get("backend") != backend:
                continue
            key = (
                exchange["method"],
                exchange["path"],
                _params_key(tuple(item) for item in exchange["params"]),
            )
            self._answers[key].append(exchange)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = _strip_prefix(request.url.path, self.prefix)
        key = (request.method, path, _params_key(request.url.params.multi_items()))
        queue = self._answers.get(key)
        if queue:
            exchange = queue.popleft()
            self._last[key] = exchange
        elif key in self._last:
            # The same request again after its recorded responses ran out: a
            # replayed run may repeat an idempotent query.
            exchange = self._last[key]
        else:
            raise ReplayMissError(
                f"{self.backend} request not in the evidence bundle, "
                f"GET {path} with {dict(request.url.params)}; the bundle "
                f"{self.source} was recorded with other options"
                + (f" ({'; '.join(self.commands)})" if self.commands else "")
                + ": rerun that command with --replay, or record a new bundle",
                backend=self.backend,
                url=path,
            )
        return httpx.Response(
            status_code=int(exchange["status"]),
            headers=dict(exchange.get("headers", {})),
            content=str(exchange["body"]).encode("utf-8"),
            request=request,
        )
