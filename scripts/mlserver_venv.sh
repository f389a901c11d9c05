#!/usr/bin/env bash
# Build .venv-mlserver: a separate venv holding MLServer (a real KServe v2 / Open Inference Protocol server) plus
# the vidsteal package, so tests and benchmarks can check our OIP client against a server we did not write.
#
# Why a second venv: mlserver 1.7 pins fastapi 0.115.x, which clashes with the fastapi in vidsteal's own venv.
# Why the exact torch pin: torch==2.14.1 (and torchvision==0.29.1) lie on local disk; any other release pulls
# several GB of wheels. vidsteal itself goes in editable with --no-deps, so mlserver's pins win and the runtime
# (vidsteal/serve/mlserver_runtime.py) always runs the code in this tree; vidsteal's other dependencies are read
# from pyproject.toml (all but fastapi, which mlserver pins) and resolved together with mlserver in one step.
#
# Usage: bash scripts/mlserver_venv.sh            (idempotent; re-running only tops up what is missing)
#        VENV=/other/path PYTHON=python3.11 bash scripts/mlserver_venv.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv-mlserver}"
PYTHON="${PYTHON:-python3.11}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# vidsteal's runtime dependencies minus fastapi (one per line, so requirement specifiers survive word splitting).
mapfile -t DEPS < <("$VENV/bin/python" - "$ROOT/pyproject.toml" <<'PY'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() != "fastapi"))
PY
)
"${PIP[@]}" install "torch==2.14.1" "torchvision==0.29.1" "mlserver==1.7.1" "${DEPS[@]}"
"${PIP[@]}" install --no-deps -e "$ROOT"

# Fail here, not in the middle of a test run, if the runtime cannot be imported.
"$VENV/bin/python" -c "import mlserver, vidsteal.serve.mlserver_runtime as r; print('mlserver', mlserver.__version__, 'runtime', r.__name__)"
"$VENV/bin/mlserver" --help > /dev/null
echo "ok: $VENV"
