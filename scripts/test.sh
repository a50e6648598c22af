#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine, then run the
# linters, the type checker and the test suite.
#
# Installs Debian's prometheus package (it brings promtool) through apt-get when
# promtool is missing, creates .venv with the package and its dev extras, and
# runs ruff, mypy and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "test.sh: installing Debian's prometheus package" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq prometheus >/dev/null
  # The package starts a system service; the tests run their own server.
  $sudo_cmd systemctl stop prometheus >/dev/null 2>&1 || true
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'

.venv/bin/ruff format --check slocli tests benchmarks scripts
.venv/bin/ruff check slocli tests benchmarks scripts
.venv/bin/mypy
.venv/bin/pytest "$@"
