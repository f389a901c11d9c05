"""Shared fixtures for the server and remote-oracle tests: a tiny saved victim, keys, servers on loopback.

Servers run in a thread on a loopback socket bound before start (no port race); the MLServer and load-test
servers run as subprocesses. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
import yaml
from mlserver_support import start_mlserver
from serve_support import ALICE, BOB, CLASSES, FRAMES, MLSERVER_VENV, SIZE, stop, wait_ready

from vidsteal.models import create_model, save_model
from vidsteal.serve import ServeConfig, ServerThread, key_entry


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models and servers sharing 2 cores with their clients: extra intra-op threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def victim_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1234)
    model = create_model("test_c3d", num_classes=CLASSES)
    model.card = model.card.model_copy(update={"frames": FRAMES, "size": SIZE})  # type: ignore[union-attr]
    return save_model(model, tmp_path_factory.mktemp("victim") / "victim.safetensors")


@pytest.fixture
def keys_file(tmp_path: Path) -> Callable[..., Path]:
    """``keys_file(alice={"budget": 10}, bob={})`` writes keys.yaml for the test keys ALICE / BOB."""

    def write(**policies: dict[str, Any]) -> Path:
        raw = {"alice": ALICE, "bob": BOB}
        entries = [key_entry(name, raw[name], **policy) for name, policy in policies.items()]
        path = tmp_path / "keys.yaml"
        path.write_text(yaml.safe_dump({"keys": entries}))
        return path

    return write


@pytest.fixture
def serve(victim_path: Path) -> Iterator[Callable[..., ServerThread]]:
    """``serve(**ServeConfig fields)`` starts a server in a thread; all are stopped after the test."""
    running: list[ServerThread] = []

    def start(**fields: Any) -> ServerThread:
        server = ServerThread(ServeConfig(model_path=victim_path, **fields)).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def server_process(victim_path: Path, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``server_process(*--set overrides)`` runs ``python -m vidsteal.serve`` in its own process; returns its URL."""
    procs: list[subprocess.Popen] = []

    def start(*overrides: str) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        args = [sys.executable, "-m", "vidsteal.serve", str(victim_path), "--fd", str(sock.fileno()),
                "--log-level", "warning", "--no-access-log"]
        for item in overrides:
            args += ["--set", item]
        log = (tmp_path / f"server{len(procs)}.log").open("w")
        proc = subprocess.Popen(args, pass_fds=[sock.fileno()], stdout=log, stderr=subprocess.STDOUT)
        sock.close()  # the child holds its own copy
        procs.append(proc)
        wait_ready(url, proc, timeout=60)
        return url

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture(scope="session")
def mlserver(victim_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLServer (its own venv) serving the victim through vidsteal's custom runtime; yields its URL."""
    if not (MLSERVER_VENV / "bin" / "mlserver").exists():
        pytest.skip(f"{MLSERVER_VENV} is absent: `bash scripts/mlserver_venv.sh` creates it (MLServer tests)")
    url, proc = start_mlserver([victim_path], tmp_path_factory.mktemp("mlserver"))
    try:
        yield url
    finally:
        stop(proc)
