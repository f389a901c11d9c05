"""Refusals below the routes, on a real uvicorn server over raw loopback sockets: oversized or too many headers,
an overlong request line, requests h11 cannot parse, and overload. Each is a 4xx (503 for overload) with the
server's ``{"error": ...}`` body, and none costs the key anything."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time

import httpx
import pytest
import yaml
from serve_support import ALICE, clips, encoded

from vidsteal.serve import ServeConfig, ServerThread, key_entry

BODY = json.dumps(encoded(clips(1))).encode()


def _query(*extra: bytes, target: bytes = b"/v1/query", length: bytes | None = None) -> bytes:
    """A raw, otherwise valid, paid POST /v1/query with ``extra`` header lines."""
    head = [b"POST " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"X-API-Key: " + ALICE.encode(),
            b"Content-Type: application/json", b"Content-Length: " + (length or str(len(BODY)).encode()), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + BODY


def _exchange(port: int, data: bytes, piece: int | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` (in ``piece``-byte writes 10 ms apart, stopping once the server answers) and read the whole
    answer; the server closes after each case below, so reading to EOF ends."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        step = piece or len(data)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may answer and close mid-request
            for start in range(0, len(data), step):
                if select.select([sock], [], [], 0.01 if piece else 0)[0]:
                    break  # answered early: stop writing
                sock.sendall(data[start:start + step])
        with contextlib.suppress(ConnectionResetError):  # a reset after the answer, for the bytes it did not read
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def server(victim_path, tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "keys.yaml"
    keys.write_text(yaml.safe_dump({"keys": [key_entry("alice", ALICE, budget=100)]}))
    with ServerThread(ServeConfig(model_path=victim_path, keys_path=keys)) as running:
        yield running


def _spent(server: ServerThread) -> int:
    return httpx.get(server.url + "/v1/usage", headers={"X-API-Key": ALICE}).json()["spent"]


BIG = b"X-Big: " + b"a" * 100_000
CASES = [
    # name, raw request, bytes per write (None: all at once), status, words in the error
    # A head read whole is measured by HeaderLimits ("request headers take 100... bytes, over the limit of 16384");
    # one the server reads in parts is cut off by h11 at 24576 bytes: which one depends on the socket's timing.
    ("100 KB header", _query(BIG), None, 431, "headers", "limit of"),
    # A head that never ends can only be h11's: it refuses once 24576 bytes are buffered.
    ("100 KB header, trickled", _query(BIG).partition(b"\r\n\r\n")[0], 4096, 431,
     "request line and headers exceed the limit of 24576 bytes", ""),
    ("1,000 headers", _query(*(b"X-H%d: v" % i for i in range(1000))), None, 431,
     "request has 1004 header fields", "at most 100"),
    ("9 KB URL", _query(target=b"/v1/query?pad=" + b"a" * 9000), None, 414,
     "request line of 9028 bytes", "limit of 8192"),
    ("Content-Length: abc", _query(length=b"abc"), None, 400, "invalid HTTP request", "Content-Length"),
    ("two Content-Lengths", _query(b"Content-Length: 7"), None, 400, "invalid HTTP request", "Content-Length"),
    ("not HTTP", b"HELLO\r\n\r\n", None, 400, "invalid HTTP request", "request line"),
    ("no Host", b"GET /v1/usage HTTP/1.1\r\nX-API-Key: " + ALICE.encode() + b"\r\n\r\n", None, 400,
     "invalid HTTP request", "Host"),
    ("header without colon", _query(b"NoColonHere"), None, 400, "invalid HTTP request", "header"),
]


@pytest.mark.parametrize("name,data,piece,status,words,more", CASES, ids=[c[0] for c in CASES])
def test_refusal_is_json_and_free(server, name, data, piece, status, words, more):
    before = _spent(server)
    got, headers, body = _exchange(server.port, data, piece)
    assert got == status, body
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert words in error and more in error, error
    assert _spent(server) == before


def test_requests_within_the_limits_are_answered(server):
    before = _spent(server)
    fine = _query(b"Connection: close", *(b"X-H%d: %s" % (i, b"v" * 100) for i in range(90)),
                  target=b"/v1/query?pad=" + b"a" * 7000)  # 95 fields, ~10 KB of headers, a 7 KB request line
    status, headers, body = _exchange(server.port, fine)
    assert status == 200, body
    assert json.loads(body)["usage"]["spent"] == before + 1


def test_overload_is_a_json_503(victim_path):
    with ServerThread(ServeConfig(model_path=victim_path, max_connections=2)) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(2)]
        deadline = time.monotonic() + 10
        while len(server.server.server_state.connections) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the server registers connections asynchronously
        status, headers, body = _exchange(server.port, b"GET /v1/usage HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503 and headers["retry-after"] == "1", body
        assert "server busy: more than 2 connections" in json.loads(body)["error"]
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 10
        while len(server.server.server_state.connections) > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert httpx.get(server.url + "/v1/usage").status_code == 200
