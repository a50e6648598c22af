"""`slo misses` against the test stack, compared with the simulation's truth."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import Stack
from tests.e2e.conftest import END, SloRunner

pytestmark = pytest.mark.e2e


@pytest.fixture
def misses_json(slo: SloRunner) -> dict[str, object]:
    run = slo(["misses", "--since", "24h", "--to", END, "-o", "json"])
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert isinstance(document, dict)
    return document


def test_miss_list_matches_logged_truth(stack: Stack, misses_json: dict) -> None:
    truth = stack.workload.truth
    expected = {
        (m.ts_ns, m.kind, m.method or m.entry_type, m.context_key)
        for m in truth.misses
        if m.log_line_written
    }
    got = {
        (row["time"], row["kind"], row["name"], row["context_key"])
        for row in misses_json["misses"]
    }
    expected_text = {
        (_rfc3339_ns(ts), kind, name, key) for ts, kind, name, key in expected
    }
    assert got == expected_text


def _rfc3339_ns(ts_ns: int) -> str:
    from slocli.render.common import rfc3339

    return rfc3339(ts_ns, digits=9)


def test_miss_reasons_match_truth(stack: Stack, misses_json: dict) -> None:
    truth = {(m.ts_ns, m.context_key): m for m in stack.workload.truth.misses}
    by_time = {_rfc3339_ns(ts): m for (ts, _key), m in truth.items()}
    for row in misses_json["misses"]:
        expected = by_time[row["time"]]
        assert row["slow"] == ("latency" in expected.reasons), row
        assert row["failed"] == ("error" in expected.reasons), row
        assert row["code"] == expected.code, row


def test_per_method_counts_match_truth(stack: Stack, misses_json: dict) -> None:
    summary = {(row["kind"], row["name"]): row for row in misses_json["summary"]}
    for method in stack.workload.truth.per_method:
        row = summary.get(("api", method.method))
        if method.misses == 0:
            assert row is None, method
            continue
        assert row is not None, method
        assert row["misses"] == method.logged_misses, method
        assert row["prometheus"]["failed"]["low"] == method.errors, method
        assert row["prometheus"]["slow"]["low"] == method.slow, method
        assert row["prometheus"]["slow"]["exact"] is True, method


def test_per_entry_type_counts_match_truth(stack: Stack, misses_json: dict) -> None:
    summary = {(row["kind"], row["name"]): row for row in misses_json["summary"]}
    for entry_type in stack.workload.truth.per_entry_type:
        row = summary.get(("queue", entry_type.entry_type))
        if entry_type.misses == 0:
            assert row is None, entry_type
            continue
        assert row is not None, entry_type
        assert row["misses"] == entry_type.logged_misses, entry_type
        assert row["prometheus"]["slow"]["low"] == entry_type.slow, entry_type


def test_broken_lines_reported_as_unparsed(stack: Stack, misses_json: dict) -> None:
    truth = stack.workload.truth
    in_window = [
        line for line in truth.broken_lines if line.ts_ns >= truth.miss_window_start_ns
    ]
    assert misses_json["unparsed_lines"]["count"] == len(in_window)
    assert misses_json["unparsed_lines"]["complete"] is True


def test_window_stated_in_utc(misses_json: dict) -> None:
    assert misses_json["window"] == {
        "start": "2026-03-03T12:00:00Z",
        "end": "2026-03-04T12:00:00Z",
        "seconds": 86400.0,
        "input_zone": "UTC",
    }
    assert misses_json["complete"] is True


def test_naive_times_read_in_zone(slo: SloRunner) -> None:
    # 07:00 in New York on 4 March 2026 is 12:00 UTC (EST, UTC-5).
    run = slo(
        [
            "misses",
            "--from",
            "2026-03-04T06:00:00",
            "--to",
            "2026-03-04T07:00:00",
            "--tz",
            "America/New_York",
            "--kind",
            "api",
            "-o",
            "json",
        ]
    )
    assert run.exit_code == 0, run.stderr
    assert run.json()["window"] == {
        "start": "2026-03-04T11:00:00Z",
        "end": "2026-03-04T12:00:00Z",
        "seconds": 3600.0,
        "input_zone": "America/New_York",
    }
    table = slo(
        [
            "misses",
            "--from",
            "2026-03-04T06:00:00",
            "--to",
            "2026-03-04T07:00:00",
            "--tz",
            "America/New_York",
            "--kind",
            "api",
        ]
    )
    assert "naive times read in America/New_York" in table.stdout.splitlines()[0]


def test_kind_and_method_filters(stack: Stack, slo: SloRunner) -> None:
    run = slo(
        [
            "misses",
            "--since",
            "24h",
            "--to",
            END,
            "--kind",
            "api",
            "--method",
            "GetLogin",
            "-o",
            "json",
        ]
    )
    assert run.exit_code == 0, run.stderr
    rows = run.json()["misses"]
    expected = [
        m
        for m in stack.workload.truth.misses
        if m.log_line_written and m.method and m.method.endswith("/GetLogin")
    ]
    assert len(rows) == len(expected)
    assert {row["name"] for row in rows} == {"/gramophile.GramophileEService/GetLogin"}


def test_special_context_keys_survive(stack: Stack, misses_json: dict) -> None:
    keys = {row["context_key"] for row in misses_json["misses"]}
    special_misses = {
        m.context_key
        for m in stack.workload.truth.misses
        if m.log_line_written
        and m.context_key in stack.workload.truth.special_context_keys
    }
    assert special_misses, "the workload should make special keys miss"
    assert special_misses <= keys


def test_table_output_lists_summary_and_entries(slo: SloRunner) -> None:
    run = slo(["misses", "--since", "24h", "--to", END])
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == (
        "SLO misses in 2026-03-03T12:00:00Z/2026-03-04T12:00:00Z (UTC, 1d00h)"
    )
    assert any(line.startswith("KIND ") and "PROM SLOW" in line for line in lines)
    assert any(line.startswith("TIME ") and "CONTEXT KEY" in line for line in lines)
    assert "lines could not be parsed" in run.stdout


def test_csv_output_has_one_row_per_miss(misses_json: dict, slo: SloRunner) -> None:
    import csv
    import io

    run = slo(["misses", "--since", "24h", "--to", END, "-o", "csv"])
    assert run.exit_code == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert len(rows) == len(misses_json["misses"])
    assert Counter(r["context_key"] for r in rows) == Counter(
        m["context_key"] for m in misses_json["misses"]
    )


def test_not_in_loki_counts_missing_lines(stack: Stack, misses_json: dict) -> None:
    truth = stack.workload.truth
    expected = {("api", m.method): m.misses - m.logged_misses for m in truth.per_method}
    expected.update(
        {
            ("queue", e.entry_type): e.misses - e.logged_misses
            for e in truth.per_entry_type
        }
    )
    got = {
        (row["kind"], row["name"]): row["not_in_loki"] for row in misses_json["summary"]
    }
    for key, count in expected.items():
        assert got.get(key, 0) == count, key
    assert sum(got.values()) == sum(1 for m in truth.misses if not m.log_line_written)


def test_limit_marks_result_incomplete(slo: SloRunner) -> None:
    run = slo(
        [
            "misses",
            "--since",
            "24h",
            "--to",
            END,
            "--kind",
            "api",
            "--limit",
            "5",
            "-o",
            "json",
        ]
    )
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert document["complete"] is False
    assert "stopped after 5 api lines" in document["incomplete_reason"]
    assert len(document["misses"]) <= 5
    # Lines not fetched must not be reported as missing from Loki.
    assert {row["not_in_loki"] for row in document["summary"]} == {None}
