"""Prometheus HTTP API client: instant and range queries.

Response format: ``docs/querying/api.md`` in prometheus/prometheus. Values are
strings that may read ``NaN``, ``+Inf`` or ``-Inf``; timestamps are float
seconds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from slocli.backends.http import BackendHTTP
from slocli.errors import BackendResponseError


class Sample(BaseModel):
    """One series' value at one time. ``value`` is NaN or infinite as the server sent it."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    time: float
    value: float


class Series(BaseModel):
    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    points: list[tuple[float, float]]


class QueryResult(BaseModel):
    samples: list[Sample]
    warnings: list[str] = []


def _format_time(when: datetime) -> str:
    # Float seconds with millisecond precision, which is what the server keeps.
    return f"{when.astimezone(UTC).timestamp():.3f}"


def _parse_value(raw: object) -> float:
    if not isinstance(raw, str):
        raise ValueError(f"sample value {raw!r} is not a string")
    return float(raw)  # float() reads "NaN", "+Inf" and "-Inf"


class PrometheusClient:
    def __init__(self, http: BackendHTTP) -> None:
        self.http = http

    def _data(
        self, path: str, params: dict[str, str]
    ) -> tuple[dict[str, object], list[str]]:
        body = self.http.get_json(path, params)
        if not isinstance(body, dict) or body.get("status") != "success":
            raise self._invalid(path, "the status is not success")
        data = body.get("data")
        if not isinstance(data, dict):
            raise self._invalid(path, "data is missing")
        warnings = [str(w) for w in body.get("warnings") or []]
        warnings += [str(i) for i in body.get("infos") or []]
        return data, warnings

    def _invalid(self, path: str, problem: str) -> BackendResponseError:
        url = f"{self.http.base_url}{path}"
        return BackendResponseError(
            f"Prometheus returned an invalid response ({problem}), for GET {url}; "
            "check that the URL points at the Prometheus HTTP API",
            backend="Prometheus",
            url=url,
        )

    def query(self, expr: str, at: datetime) -> QueryResult:
        """Evaluate an instant query at a pinned time; returns the vector's samples."""
        path = "/api/v1/query"
        data, warnings = self._data(path, {"query": expr, "time": _format_time(at)})
        result_type = data.get("resultType")
        result = data.get("result")
        try:
            if result_type == "vector" and isinstance(result, list):
                samples = [
                    Sample(
                        labels=dict(item.get("metric", {})),
                        time=float(item["value"][0]),
                        value=_parse_value(item["value"][1]),
                    )
                    for item in result
                    if "value" in item  # native histogram samples are skipped
                ]
            elif result_type == "scalar" and isinstance(result, list):
                samples = [
                    Sample(
                        labels={}, time=float(result[0]), value=_parse_value(result[1])
                    )
                ]
            else:
                raise ValueError(f"unexpected resultType {result_type!r}")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise self._invalid(path, str(exc)) from None
        return QueryResult(samples=samples, warnings=warnings)

    def query_range(
        self, expr: str, start: datetime, end: datetime, step_seconds: float
    ) -> tuple[list[Series], list[str]]:
        path = "/api/v1/query_range"
        params = {
            "query": expr,
            "start": _format_time(start),
            "end": _format_time(end),
            # Plain "g" keeps 6 significant digits and would send 1234567 as
            # 1.23457e+06.
            "step": f"{step_seconds:.15g}",
        }
        data, warnings = self._data(path, params)
        result = data.get("result")
        if data.get("resultType") != "matrix" or not isinstance(result, list):
            raise self._invalid(
                path, f"unexpected resultType {data.get('resultType')!r}"
            )
        series: list[Series] = []
        try:
            for item in result:
                points = [
                    (float(t), _parse_value(v)) for t, v in item.get("values", [])
                ]
                series.append(
                    Series(labels=dict(item.get("metric", {})), points=points)
                )
        except (TypeError, ValueError) as exc:
            raise self._invalid(path, str(exc)) from None
        return series, warnings


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
