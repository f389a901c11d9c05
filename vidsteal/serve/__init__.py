"""The victim server: a vidsteal model behind HTTP (vidsteal JSON API + Open Inference Protocol v2).

Auditors run it to measure defences against extraction over a real network boundary: API keys (hashed),
exact per-key budgets, rate limits, defences, and an append-only query log. Start it with :func:`serve`,
build the ASGI app with :func:`create_app`, or run it in a thread with :class:`ServerThread`.
"""

from vidsteal.serve.app import create_app
from vidsteal.serve.auth import hash_key, key_entry, new_key
from vidsteal.serve.config import ServeConfig
from vidsteal.serve.run import ServerThread, run_server, serve

__all__ = ["ServeConfig", "ServerThread", "create_app", "hash_key", "key_entry", "new_key", "run_server", "serve"]
