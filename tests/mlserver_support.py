"""Processes on loopback for tests: free ports, readiness, clean stops, and a real MLServer serving a victim file.

MLServer runs from its own venv (``scripts/mlserver_venv.sh``) with this checkout first on its path, so the runtime it
loads is the code under test; tests that need it skip when the venv is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MLSERVER_VENV = REPO / ".venv-mlserver"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float, path: str = "/v2/health/ready") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server process exited with {proc.returncode} before becoming ready")
        try:
            if httpx.get(url + path, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_mlserver(files: list[Path], root: Path, name: str = "victim") -> tuple[str, subprocess.Popen]:
    """MLServer serving ``files[0]`` (any victim file vidsteal loads; ``files[1:]`` are copied beside it, e.g. its
    card) through vidsteal's runtime as model ``name``; returns its URL and process (stop it with :func:`stop`)."""
    exe = MLSERVER_VENV / "bin" / "mlserver"
    model_dir = root / name
    model_dir.mkdir(parents=True)
    for file in files:
        shutil.copy(file, model_dir / file.name)
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    settings = {"host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port, "metrics_port": metrics_port,
                "parallel_workers": 0, "debug": False}
    model_settings = {"name": name, "implementation": "vidsteal.serve.mlserver_runtime.VidstealRuntime",
                      "parameters": {"uri": f"./{files[0].name}", "version": "1", "extra": {"torch_threads": 1}}}
    (root / "settings.json").write_text(json.dumps(settings))
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    log = (root / "mlserver.log").open("w")
    # This checkout first on the path: MLServer then runs the vidsteal under test (a worktree or CI's clone), not
    # whichever checkout its venv was installed from; nothing else of the caller's environment leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen([str(exe), "start", str(root)], cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_ready(url, proc, timeout=120)
    except BaseException:
        stop(proc)
        raise
    return url, proc
