"""Evidence bundles: every backend exchange of a run, for replay with no network.

A bundle is one JSON document::

    {"format": "slocli-bundle", "version": 1,
     "recorded_at": "2026-03-04T12:00:00Z",      # the run's clock, pinned on replay
     "slocli_version": "0.1.0",
     "commands": [["misses", "--since", "24h"]],  # what was run, for the reader
     "meta": {...},                               # free-form, e.g. the demo's key
     "exchanges": [{"backend": "Loki", "method": "GET",
                    "path": "/loki/api/v1/query_range",
                    "params": [["query", "..."], ...],
                    "status": 200, "headers": {"content-type": "..."},
                    "body": "..."}]}

Requests carry no credentials: the Authorization header is never stored, and
URLs are stored as a path without host or user info. Replay serves the recorded
answers for a (backend, method, path, params) key in the order they were
recorded, so recorded retries replay as retries.
"""

from __future__ import annotations

import json
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


def _params_key(params: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in params))


@dataclass
class Bundle:
    recorded_at: datetime
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

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
    try:
        recorded_at = datetime.fromisoformat(
            str(document["recorded_at"]).replace("Z", "+00:00")
        )
        exchanges = list(document["exchanges"])
    except (KeyError, TypeError, ValueError):
        raise UsageError(
            f"invalid evidence bundle, {path}: recorded_at or exchanges is missing"
        ) from None
    return Bundle(
        recorded_at=recorded_at,
        exchanges=exchanges,
        commands=list(document.get("commands", [])),
        meta=dict(document.get("meta", {})),
    )


class RecordingTransport(httpx.BaseTransport):
    """Pass requests to a real transport and append each exchange to a bundle."""

    def __init__(
        self, backend: str, bundle: Bundle, inner: httpx.BaseTransport | None = None
    ):
        self.backend = backend
        self.bundle = bundle
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        self.bundle.exchanges.append(
            {
                "backend": self.backend,
                "method": request.method,
                "path": request.url.path,
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
            headers=response.headers,
            content=body,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


class ReplayTransport(httpx.BaseTransport):
    """Serve a bundle's recorded exchanges; a request not in it is an error."""

    def __init__(self, backend: str, bundle: Bundle, source: str) -> None:
        self.backend = backend
        self.source = source
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
        key = (
            request.method,
            request.url.path,
            _params_key(request.url.params.multi_items()),
        )
        queue = self._answers.get(key)
        if queue:
            exchange = queue.popleft()
            self._last[key] = exchange
        elif key in self._last:
            # The same request again after its recorded answers ran out: a
            # replayed run may repeat an idempotent query.
            exchange = self._last[key]
        else:
            raise ReplayMissError(
                f"{self.backend} request not in the evidence bundle, "
                f"GET {request.url.path} with {dict(request.url.params)}; the bundle "
                f"{self.source} was recorded with other options: rerun with the "
                "recorded command (see its commands list) or record a new bundle",
                backend=self.backend,
                url=str(request.url.path),
            )
        return httpx.Response(
            status_code=int(exchange["status"]),
            headers=dict(exchange.get("headers", {})),
            content=str(exchange["body"]).encode("utf-8"),
            request=request,
        )
