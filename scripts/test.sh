#!/usr/bin/env bash
# Creates .venv (and the separate MLServer venv the OIP tests talk to) if missing, installs, runs the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k ledger`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
if [ -f scripts/mlserver_venv.sh ]; then bash scripts/mlserver_venv.sh; fi
exec .venv/bin/python -m pytest -q "$@"
