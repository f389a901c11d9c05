#!/usr/bin/env bash
# Creates .venv (and the separate MLServer venv the OIP tests talk to) if missing, installs, runs the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k ledger`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
bash scripts/mlserver_venv.sh
exec .venv/bin/python -m pytest -q "$@"
