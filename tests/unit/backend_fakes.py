"""Fakes shared by the backend client tests.

Each test builds a ``BackendHTTP`` over an ``httpx.MockTransport`` whose handler
replaces the server. The harness keeps every request that reached the
handler and every delay the retry loop asked to sleep, so tests can assert what
was sent and no test sleeps.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from slocli.backends.http import BackendHTTP
from slocli.config import BackendConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The clock every harness reads unless a test passes its own.
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


def load_fixture(name: str) -> Any:
    """Parse a JSON response example from tests/fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Harness:
    """A BackendHTTP wired to a fake server, with what the fake server saw."""

    http: BackendHTTP
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]

    def params(self, index: int = -1) -> dict[str, str]:
        return dict(self.requests[index].url.params)


def make_http(
    handler: Handler,
    *,
    name: str = "Loki",
    url: str = "http://backend.test",
    seed: int = 7,
    clock: Callable[[], datetime] = lambda: NOW,
    **settings: Any,
) -> Harness:
    """Build a BackendHTTP named ``name`` whose requests go to ``handler``.

    ``settings`` are extra BackendConfig fields, such as ``tenant`` or
    ``retries``. The retry jitter comes from ``random.Random(seed)``.
    """
    sleeps: list[float] = []
    requests: list[httpx.Request] = []

    def recording_handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    http = BackendHTTP(
        name,
        BackendConfig(url=url, **settings),
        transport=httpx.MockTransport(recording_handler),
        sleep=sleeps.append,
        rng=random.Random(seed),
        clock=clock,
    )
    return Harness(http=http, requests=requests, sleeps=sleeps)


def replies(items: Iterable[httpx.Response | Exception]) -> Handler:
    """Return a handler that returns ``items`` in order.

    An exception in ``items`` is raised instead of answering, as a transport
    error would be. A request after the last item fails the test.
    """
    queue = list(items)

    def handler(request: httpx.Request) -> httpx.Response:
        assert queue, f"unexpected extra request {request.method} {request.url}"
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """Build a response with a JSON body, as the three servers send it."""
    return httpx.Response(
        status,
        headers={"content-type": "application/json", **(headers or {})},
        content=json.dumps(body).encode("utf-8"),
    )


def text_response(
    text: str, status: int, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """Build a plain-text response, as Loki and Tempo send their errors."""
    return httpx.Response(
        status,
        headers={"content-type": "text/plain; charset=utf-8", **(headers or {})},
        content=text.encode("utf-8"),
    )
