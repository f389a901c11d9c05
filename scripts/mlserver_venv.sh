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
# The CUDA build of torch (torch, triton, nvidia-*, cuda-*: ~5.3 GB) is the same wheel .venv holds: when .venv has
# it, hard-link its files here first (no second copy on disk; pip then finds torch installed at the pinned version).
# Links share files, and pip replaces files rather than editing them, so neither venv can change the other's.
MAIN="${MAIN_VENV:-$ROOT/.venv}"
if [ -x "$MAIN/bin/python" ] && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$MAIN/bin/python" - "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" <<'PY' || true
import os, re, sys, sysconfig
from importlib.metadata import distributions
src, dst = sysconfig.get_paths()["purelib"], sys.argv[1]
shared = re.compile(r"^(torch|torchvision|triton|nvidia-.*|cuda-.*)$")
done = []
try:
    for dist in distributions(path=[src]):
        if not shared.match(dist.metadata["Name"].lower().replace("_", "-")):
            continue
        for f in dist.files or []:
            rel = os.path.normpath(str(f))
            if rel.startswith(".."):
                continue  # console scripts in bin/: pip writes its own for this venv
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            if not os.path.exists(os.path.join(dst, rel)):
                os.link(os.path.join(src, rel), os.path.join(dst, rel))
                done.append(rel)
except OSError as e:  # another filesystem, no hard links: pip installs its own copy below
    for rel in done:
        os.unlink(os.path.join(dst, rel))
    print(f"not sharing torch with {src}: {e}", file=sys.stderr)
PY
fi
"${PIP[@]}" install "torch==2.14.1" "torchvision==0.29.1" "mlserver==1.7.1" "${DEPS[@]}"
"${PIP[@]}" install --no-deps -e "$ROOT"

# Fail here, not in the middle of a test run, if the runtime cannot be imported.
"$VENV/bin/python" -c "import mlserver, vidsteal.serve.mlserver_runtime as r; print('mlserver', mlserver.__version__, 'runtime', r.__name__)"
"$VENV/bin/mlserver" --help > /dev/null
echo "ok: $VENV"
