"""How a victim server runs: what it serves, to whom, and within which limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vidsteal.config import BaseConfig
from vidsteal.victims.defences import DefenceConfig
from vidsteal.victims.outputs import OutputMode


class ServeConfig(BaseConfig):
    """Everything :func:`vidsteal.serve.app.create_app` needs; fields have defaults fit for an audit on one machine.

    Per-key budgets and rate limits live in ``keys.yaml`` (see :mod:`vidsteal.serve.auth`); the ``default_*``
    fields apply to keys that leave them out and to the anonymous key when ``keys_path`` is None.

    HTTP limits (``max_request_line``, ``max_header_bytes``, ``max_headers``, ``max_connections``) follow
    common server defaults (Apache: 8190-byte lines, 100 header fields; nginx/Node: 8-16 KiB of headers). A head
    that arrives whole is measured exactly by :class:`~vidsteal.serve.limits.HeaderLimits` (414 / 431); one that
    trickles in is cut off by h11 once it outgrows ``max_request_line + max_header_bytes`` (431). Every refusal
    carries ``{"error": ...}``, including those uvicorn makes itself (unparsable HTTP: 400, 431; over
    ``max_connections``: 503), through :class:`~vidsteal.serve.protocol.JsonH11Protocol`. Not JSON: a connection
    closed with no answer (idle keep-alive timeout, a client that hangs up), one the OS refuses when the listen
    backlog is full, and uvicorn's text 500 for an exception that escapes the app before it answered, which the
    app's catch-all handler prevents.
    """

    model_path: Path = Field(description="the victim: a vidsteal .safetensors, a TorchScript / .pt2 file with its card "
                                         "beside it, or module:factory (see vidsteal.models.external)")
    model_name: str = Field("victim", pattern=r"^[A-Za-z0-9_.-]+$", description="name in URLs and OIP metadata")
    model_version: str = Field("1", description="version reported by the Open Inference Protocol routes")
    keys_path: Path | None = Field(
        None, description="keys.yaml with sha256-hashed API keys; None serves everyone as key 'anonymous'"
    )
    output_mode: OutputMode = Field(default_factory=OutputMode, description="what each answer reveals")
    defences: list[DefenceConfig] = Field(default_factory=list, description="applied in order to full probs")
    frames: int | None = Field(None, ge=1, description="required clip length; None takes the model card's")
    size: int | None = Field(None, ge=1, description="required frame height = width; None takes the card's")
    min_frames: int = Field(1, ge=1, description="shortest clip accepted when neither config nor card fixes T")
    min_size: int = Field(8, ge=1, description="smallest frame side accepted when nothing fixes H, W")
    max_frames: int = Field(256, ge=1, description="longest clip accepted when nothing fixes T")
    max_size: int = Field(512, ge=1, description="largest frame side accepted when nothing fixes H, W")
    max_batch: int = Field(64, ge=1, description="most clips in one request (413 beyond)")
    max_body_bytes: int = Field(64 * 2**20, ge=1024, description="largest request body in bytes (413 beyond)")
    max_request_line: int = Field(8192, ge=256, description="longest request line 'METHOD /url HTTP/1.1' in bytes "
                                                            "(414 beyond)")
    max_header_bytes: int = Field(16384, ge=1024, description="all header lines of a request together, in bytes "
                                                             "(431 beyond)")
    max_headers: int = Field(100, ge=8, description="most header fields in one request (431 beyond)")
    max_connections: int | None = Field(
        512, ge=2, description="open connections (or requests in progress) beyond which a new request gets 503; "
                               "None = no limit"
    )
    default_budget: int | None = Field(None, ge=0, description="queries per key when keys.yaml sets none")
    default_rate: float | None = Field(None, gt=0, description="requests/s per key when keys.yaml sets none")
    default_burst: int | None = Field(None, ge=1, description="token-bucket size; None = max(1, ceil(rate))")
    log_dir: Path | None = Field(None, description="per-key append-only JSONL query logs; also restores budgets")
    fsync: bool = Field(False, description="fsync each log line (survives power loss, slower)")
    inference_workers: int = Field(1, ge=1, description="forward passes allowed to run at once")
    torch_threads: int | None = Field(None, ge=1, description="torch.set_num_threads for the server process")
    device: str = Field("cpu", description="device the victim runs on")
    idempotency_cache: int = Field(4096, ge=0, description="answers kept per server to replay retried requests")
