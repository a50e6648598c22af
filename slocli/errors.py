"""Exceptions and exit codes.

Every failure slocli reports to a user is one of these exceptions. The CLI maps
each to an exit code in one place (``slocli.cli.app``)::

    SloError                      exit 2 unless a subclass sets another
    ├── UsageError                exit 2: a bad option or argument value
    ├── ConfigError               exit 2: an invalid configuration file or value
    ├── BackendError              exit 3: a backend failed or could not be reached
    │   ├── BackendUnreachable    connect error or timeout, after retries
    │   ├── BackendHTTPError      a non-2xx answer, with the server's message
    │   ├── BackendResponseError  a 2xx answer whose body is not what the API defines
    │   └── ReplayMissError       exit 2: --replay has no recorded exchange for a request
    └── NoDataError               exit 4: not enough data to decide

Messages follow one shape, ``<what failed>, <on which value>; <what to do>``, so
the CLI prints ``slo: error: <message>`` without rewording.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    SLO_FAILED = 1
    USAGE = 2
    BACKEND = 3
    NO_DATA = 4


class SloError(Exception):
    exit_code: ExitCode = ExitCode.USAGE


class UsageError(SloError):
    exit_code = ExitCode.USAGE


class ConfigError(SloError):
    exit_code = ExitCode.USAGE


class BackendError(SloError):
    exit_code = ExitCode.BACKEND

    def __init__(self, message: str, *, backend: str, url: str) -> None:
        super().__init__(message)
        self.backend = backend
        self.url = url


class BackendUnreachable(BackendError):
    pass


class BackendHTTPError(BackendError):
    def __init__(
        self,
        message: str,
        *,
        backend: str,
        url: str,
        status: int,
        server_message: str,
    ) -> None:
        super().__init__(message, backend=backend, url=url)
        self.status = status
        self.server_message = server_message


class BackendResponseError(BackendError):
    pass


class ReplayMissError(BackendError):
    # The bundle was recorded with other options: the command line is at fault,
    # not a backend.
    exit_code = ExitCode.USAGE


class NoDataError(SloError):
    exit_code = ExitCode.NO_DATA
