"""The HTTP layer shared by the Prometheus, Loki and Tempo clients.

It adds the tenant header and credentials, applies timeouts, retries transient
failures with jittered exponential backoff, and turns every failure into a
``BackendError`` whose message names the backend and the URL without
credentials. Recording and replay of evidence bundles plug in as httpx
transports (``slocli.backends.bundle``), so the clients never know about them.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from slocli.config import BackendConfig
from slocli.errors import (
    BackendHTTPError,
    BackendResponseError,
    BackendUnreachable,
    ReplayMissError,
)

logger = logging.getLogger("slocli.http")

# Statuses worth another try: overload (429) and the gateway errors a proxy or
# load balancer returns while a backend restarts. 500 is not retried: Loki,
# Tempo and Prometheus return it for errors that repeat.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

# A Retry-After longer than this is not waited for; the request fails instead.
MAX_RETRY_AFTER_SECONDS = 60.0

SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # the first try and up to three retries
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Full-jitter backoff: a random delay up to base * 2**retry, capped."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        return rng.uniform(0, ceiling)


def redact_url(url: str) -> str:
    """Remove user info (``user:password@``) from a URL."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    # Keep the host part as written, so that an IPv6 host keeps its brackets.
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


# User info runs to the last "@" before the authority ends, so a password with
# an unencoded "@" is removed whole.
_USERINFO = re.compile(r"(?i)\b(https?://)[^/?#\s]*@")


def redact_text(text: str) -> str:
    """Remove user info from every URL in a text, such as an error message."""
    return _USERINFO.sub(r"\1", text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        key: ("[redacted]" if key.lower() in SENSITIVE_HEADERS else value)
        for key, value in headers.items()
    }


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read Retry-After as seconds or as an HTTP date; None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def server_message(response: httpx.Response) -> str:
    """Extract the server's own error text: JSON `error` for Prometheus, else the body.

    The text is made safe for a one-line error: whitespace runs become one
    space, other control characters (terminal escapes included) are written
    as escapes, and it is cut at MAX_SERVER_MESSAGE characters.
    """
    text = response.text.strip()
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            body = response.json()
        except ValueError:
            return _one_line(text)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            kind = body.get("errorType")
            message = f"{kind}: {body['error']}" if kind else str(body["error"])
            return _one_line(message)
    return _one_line(text)


# Longer server messages are cut, because the rest of an HTML error page adds nothing.
MAX_SERVER_MESSAGE = 300


def _one_line(text: str) -> str:
    folded = " ".join(text.split())
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in folded)
    if len(safe) > MAX_SERVER_MESSAGE:
        return safe[:MAX_SERVER_MESSAGE] + "…"
    return safe


_HINTS: dict[int, str] = {
    400: "check the query and the options that shaped it (--debug shows the request)",
    403: "check that the credentials may read this tenant",
    404: "check the URL, including any path prefix the server is mounted under",
    422: "narrow the query: the server could not execute it as asked",
    429: "the server is overloaded; wait and run again, or narrow the time range",
}


def _hint(backend: str, status: int, message: str) -> str:
    env = {"Loki": "LOKI", "Prometheus": "PROMETHEUS", "Tempo": "TEMPO"}.get(
        backend, ""
    )
    key = backend.lower()
    if status == 401 and "org id" in message.lower():
        return (
            f"the server requires a tenant; set {env}_ORG_ID or backends.{key}.tenant"
        )
    if status == 401:
        return (
            f"check the credentials ({env}_USERNAME and {env}_PASSWORD, or "
            f"{env}_BEARER_TOKEN)"
        )
    if status >= 500:
        return f"the {backend} server failed; retry later or check its logs"
    return _HINTS.get(status, "see the server's message in parentheses")


class BackendHTTP:
    """One backend's HTTP connection: auth, tenant, timeouts and retries.

    The client is injected so that tests, recording and replay can supply their
    own transports.
    """

    def __init__(
        self,
        name: str,
        settings: BackendConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if settings.url is None:
            raise ValueError(f"{name} has no URL")
        self.name = name
        self.settings = settings
        self.base_url = redact_url(settings.url)
        self.retry = retry or RetryPolicy(attempts=settings.retries + 1)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=self._headers(),
            auth=self._auth(),
            timeout=settings.timeout.total_seconds(),
            verify=str(settings.ca_cert) if settings.ca_cert else True,
            transport=transport,
            follow_redirects=False,
        )

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "slocli", "Accept": "application/json"}
        if self.settings.tenant:
            headers["X-Scope-OrgID"] = self.settings.tenant
        if self.settings.bearer_token is not None:
            token = self.settings.bearer_token.get_secret_value()
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _auth(self) -> httpx.BasicAuth | None:
        parts = urlsplit(self.settings.url or "")
        # urlsplit leaves user info percent-encoded.
        username = self.settings.username or unquote(parts.username or "")
        password = (
            self.settings.password.get_secret_value()
            if self.settings.password is not None
            else unquote(parts.password or "")
        )
        if username:
            return httpx.BasicAuth(username, password or "")
        return None

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """Send a GET and return a 2xx response, retrying transient failures."""
        url = f"{self.base_url}{path}"
        last_problem = ""
        last_response: httpx.Response | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                delay = self._retry_delay(attempt, last_response)
                logger.warning(
                    "%s: %s; retry %d of %d in %.1fs",
                    self.name,
                    last_problem,
                    attempt,
                    self.retry.attempts - 1,
                    delay,
                )
                self._sleep(delay)
            last_response = None
            try:
                response = self._client.get(path, params=params)
            except ReplayMissError:
                raise
            except httpx.TimeoutException:
                last_problem = (
                    f"timed out after {self.settings.timeout.total_seconds():g}s"
                )
                continue
            except httpx.TransportError as exc:
                last_problem = f"connection failed ({exc.__class__.__name__}: {exc})"
                continue
            except httpx.DecodingError as exc:
                raise BackendResponseError(
                    f"{self.name} sent a body that cannot be decoded ({exc}), for GET "
                    f"{url}; check any proxy between slocli and {self.name}",
                    backend=self.name,
                    url=url,
                ) from None
            logger.debug(
                "%s %s -> %d (%d bytes)",
                response.request.method,
                redact_url(str(response.request.url)),
                response.status_code,
                len(response.content),
            )
            if response.is_success:
                return response
            last_response = response
            message = server_message(response)
            last_problem = f"HTTP {response.status_code} {message}".strip()
            if response.status_code not in RETRY_STATUSES:
                raise self._http_error(url, response, message)
            wait = parse_retry_after(response.headers.get("retry-after"), self._clock())
            if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
                raise self._http_error(
                    url,
                    response,
                    message,
                    hint=f"the server asked to wait {wait:.0f}s before retrying; run again later",
                )
        if last_response is not None:
            raise self._http_error(
                url,
                last_response,
                server_message(last_response),
                hint=(
                    f"gave up after {self.retry.attempts} attempts; "
                    + _hint(self.name, last_response.status_code, "")
                ),
            )
        raise BackendUnreachable(
            f"{self.name} request failed after {self.retry.attempts} attempts "
            f"({last_problem}), at {url}; check that {self.name} runs at this "
            "address and that the network allows it",
            backend=self.name,
            url=url,
        )

    def _retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        backoff = self.retry.delay(attempt - 1, self._rng)
        if response is None:
            return backoff
        wait = parse_retry_after(response.headers.get("retry-after"), self._clock())
        return max(backoff, wait) if wait is not None else backoff

    def _http_error(
        self,
        url: str,
        response: httpx.Response,
        message: str,
        *,
        hint: str | None = None,
    ) -> BackendHTTPError:
        status = response.status_code
        reason = response.reason_phrase or ""
        shown = message or "(empty body)"
        return BackendHTTPError(
            f"{self.name} returned HTTP {status} {reason} ({shown}), for GET {url}; "
            f"{hint or _hint(self.name, status, message)}",
            backend=self.name,
            url=url,
            status=status,
            server_message=message,
        )

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> object:
        response = self.get(path, params)
        try:
            return response.json()
        except ValueError:
            raise BackendResponseError(
                f"{self.name} returned a body that is not JSON, for GET "
                f"{self.base_url}{path}; check that the URL points at {self.name} "
                "and not at a proxy's login page",
                backend=self.name,
                url=f"{self.base_url}{path}",
            ) from None
