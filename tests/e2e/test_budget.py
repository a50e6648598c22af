"""`slo budget report` against the real Prometheus, compared with the truth."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.e2e.conftest import END, SloRunner

pytestmark = pytest.mark.e2e

WINDOW_NAMES = {
    "30d": "30d",
    "3d": "3d",
    "1d": "1d",
    "6h": "6h",
    "2h": "2h",
    "1h": "1h",
    "30m": "30m",
    "5m": "5m",
}


@pytest.fixture
def report(slo: SloRunner) -> dict:
    run = slo(["budget", "report", "--at", END, "-o", "json"])
    assert run.exit_code == 1, run.stderr
    return run.json()


def _objective(report: dict, name: str) -> dict:
    return next(o for o in report["objectives"] if o["name"] == name)


def _truth_windows(stack: Stack) -> dict:
    return {b.window: b for b in stack.workload.truth.budgets}


def test_period_counts_match_truth(stack: Stack, report: dict) -> None:
    month = _truth_windows(stack)["30d"]
    availability = _objective(report, "api-availability")
    latency = _objective(report, "api-latency")
    assert availability["valid_events"] == month.api_availability.valid
    assert availability["bad_events"] == month.api_availability.bad
    assert latency["valid_events"] == month.api_latency.valid
    assert latency["bad_events"] == month.api_latency.bad


def test_budget_remaining_matches_truth(stack: Stack, report: dict) -> None:
    remaining = stack.workload.truth.budget_remaining_30d
    assert _objective(report, "api-availability")["budget_remaining"] == pytest.approx(
        remaining["api_availability"], abs=1e-9
    )
    assert _objective(report, "api-latency")["budget_remaining"] == pytest.approx(
        remaining["api_latency"], abs=1e-9
    )


def test_burn_rates_match_truth(stack: Stack, report: dict) -> None:
    windows = _truth_windows(stack)
    for name in ("api-availability", "api-latency"):
        objective = _objective(report, name)
        for window, budget in windows.items():
            counts = (
                budget.api_availability
                if name == "api-availability"
                else budget.api_latency
            )
            got = objective["burn_rates"][WINDOW_NAMES[window]]
            if counts.burn_rate is None:
                assert got is None, (name, window)
            else:
                assert got == pytest.approx(counts.burn_rate, rel=1e-9), (name, window)


def test_queue_objectives_match_truth(stack: Stack, report: dict) -> None:
    month = _truth_windows(stack)["30d"]
    for entry_type, counts in month.queue_latency.items():
        objective = _objective(report, f"queue-latency:{entry_type}")
        assert objective["valid_events"] == counts.valid, entry_type
        assert objective["bad_events"] == counts.bad, entry_type
        assert (
            objective["threshold_seconds"]
            == stack.workload.truth.queue_objectives_s[entry_type]
        )


def test_latency_budget_exhausted_exits_one(report: dict) -> None:
    assert _objective(report, "api-latency")["status"] == "exhausted"
    assert report["exit_code"] == 1


def test_availability_alone_passes(slo: SloRunner) -> None:
    run = slo(
        ["budget", "report", "--at", END, "--slo", "api-availability", "-o", "json"]
    )
    assert run.exit_code == 0, run.stderr
    assert [o["status"] for o in run.json()["objectives"]] == ["ok"]


def test_page_alert_during_incident_exits_one(slo: SloRunner) -> None:
    # Just after the incident the 1h and 5m latency burn rates are far above 14.4.
    run = slo(
        [
            "budget",
            "report",
            "--at",
            "2026-03-04T07:58:00Z",
            "--slo",
            "api-latency",
            "--window",
            "1d",
            "-o",
            "json",
        ]
    )
    assert run.exit_code == 1, run.stderr
    alerts = run.json()["objectives"][0]["alerts"]
    assert any(a["severity"] == "page" and a["state"] == "firing" for a in alerts)


def test_no_traffic_exits_four(slo: SloRunner) -> None:
    run = slo(["budget", "report", "--at", "2026-02-01T00:00:00Z", "-o", "json"])
    assert run.exit_code == 4, run.stderr
    document = run.json()
    assert {o["status"] for o in document["objectives"]} == {"no data"}
    assert "NaN" not in run.stdout


def test_unknown_objective_is_usage_error(slo: SloRunner) -> None:
    run = slo(["budget", "report", "--at", END, "--slo", "api-speed"])
    assert run.exit_code == 2
    assert "unknown objective 'api-speed' for --slo" in run.stderr
    assert "api-latency" in run.stderr


def test_markdown_table(slo: SloRunner) -> None:
    run = slo(["budget", "report", "--at", END, "-o", "markdown"])
    assert run.exit_code == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("### Error budget over 30d")
    assert lines[2].startswith("| OBJECTIVE | TARGET | SLI |")
    assert any(line.startswith("| api-latency | 99.9% |") for line in lines)
