"""Startup time of `slo --version` and `slo --help` against two baselines.

Commands import their heavy modules (httpx, pydantic, rich tables, the
backends) only when they run, so `--version` and `--help` should cost little
more than importing typer. The baselines, measured in the same run:

- `python -c "import typer"`: the floor for any typer application;
- `python -c "import slocli.collect, ..."`: what every start would cost if the
  command modules imported everything at the top.

Usage: .venv/bin/python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

EAGER = (
    "import slocli.cli.app, slocli.collect, slocli.render.misses, "
    "slocli.render.timeline, slocli.render.budget"
)

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import typer (floor)": [sys.executable, "-c", "import typer"],
    "slo --version": [sys.executable, "-m", "slocli", "--version"],
    "slo --help": [sys.executable, "-m", "slocli", "--help"],
    "slo misses --help": [sys.executable, "-m", "slocli", "misses", "--help"],
    "eager imports (baseline)": [sys.executable, "-c", EAGER],
}


def measure(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command")
    args = parser.parse_args()

    # Warm the file cache once so the first case is not penalised.
    for command in CASES.values():
        subprocess.run(command, check=True, capture_output=True)
    results = {name: measure(command, args.runs) for name, command in CASES.items()}
    floor = results["import typer (floor)"]
    eager = results["eager imports (baseline)"]
    print(f"| command | median of {args.runs} | vs import typer | vs eager imports |")
    print("|---|---|---|---|")
    for name, seconds in results.items():
        print(
            f"| `{name}` | {seconds * 1000:.0f} ms | {seconds / floor:.2f}x "
            f"| {seconds / eager:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
