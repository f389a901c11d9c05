"""Any Open Inference Protocol v2 (KServe v2) server as a victim: MLServer, Triton, KServe, or vidsteal's own.

The oracle reads the model's metadata once (``GET /v2/models/{name}``) to learn the input tensor's name and
datatype and which output holds probabilities and/or labels, then sends JSON tensors to
``POST /v2/models/{name}/infer``. Clips go as ``UINT8`` (value/255, what a video API decodes, and a quarter of
the bytes of FP32 JSON) when the metadata accepts it: the input's datatype is UINT8, or ``parameters.
input_datatypes`` lists it (vidsteal's MLServer runtime does); otherwise as FP32.

The batching, concurrency, retries and partial-answer rules are those of
:class:`~vidsteal.victims.http.RestOracle`.

Output modes: a server that returns full probabilities can be wrapped in any output mode; the truncation is then
applied here, with the same :func:`apply_output_mode` the vidsteal server uses. A server that already
truncates (it says so in metadata ``parameters.output_mode``, as vidsteal does) must be used in that mode.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import torch

from vidsteal.victims.base import OracleError
from vidsteal.victims.http import RemoteError, RestOracle, Transport
from vidsteal.victims.outputs import Answers, OutputKind, OutputMode, apply_output_mode

PROB_NAMES = ("probabilities", "probs", "probability", "output_probs", "softmax")
LABEL_NAMES = ("labels", "label", "classes", "predictions")
_FLOAT = {"FP16", "FP32", "FP64", "BF16"}
_INT = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


class OipOracle(RestOracle):
    """A model behind ``/v2/models/{name}/infer``.

    Args:
        url: server root, e.g. ``http://127.0.0.1:8080``.
        model_name: the model's name on that server.
        api_key: sent as ``Authorization: Bearer`` (vidsteal servers need it; other servers ignore it).
        output_mode: what answers reveal; None takes the server's (full probabilities unless it says otherwise).
        model_version: pin a version (``/versions/{v}/``); None uses the server's default.
        num_classes: only for servers whose metadata does not give the class count (probs shape ``[-1, -1]``,
            or no outputs listed at all, as MLServer with parallel workers and no declared outputs).
        input_name: only for servers whose metadata lists no inputs.
        headers: extra HTTP headers (e.g. a KServe ingress Host header).
        wire_dtype: ``uint8`` (default: UINT8 tensors where the endpoint accepts them) or ``float32`` (always FP32).
        client: an ``httpx.Client`` to use instead of a new pooled one (custom TLS, proxies, tests).
    """

    def __init__(self, url: str, model_name: str, api_key: str | None = None, output_mode: OutputMode | None = None,
                 *, model_version: str | None = None, batch_size: int = 16, max_concurrency: int = 4,
                 timeout: float = 30.0, retries: int = 4, backoff: float = 0.25, num_classes: int | None = None,
                 input_name: str | None = None, headers: dict[str, str] | None = None, wire_dtype: str = "uint8",
                 client: httpx.Client | None = None) -> None:
        if wire_dtype not in ("float32", "uint8"):
            raise ValueError(f"wire_dtype must be 'float32' or 'uint8', got {wire_dtype!r}")
        self.wire_dtype = wire_dtype
        headers = dict(headers or {})
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        transport = Transport(url, headers, timeout, max_concurrency, retries, backoff, client=client)
        self.model_name = model_name
        self.base = f"/v2/models/{model_name}" + (f"/versions/{model_version}" if model_version else "")
        try:
            meta = transport.call("GET", self.base)
            self.metadata = meta
            self._read_metadata(meta, num_classes, input_name)
        except (RemoteError, OracleError, KeyError, TypeError, ValueError) as err:
            transport.close()
            raise OracleError(f"cannot use model {model_name!r} at {url}: {err}") from err
        mode = output_mode or self.served_mode
        if self.served_mode.kind != OutputKind.probs and mode != self.served_mode:
            transport.close()
            raise OracleError(f"model {model_name!r} reveals only {self.served_mode.to_dict()}; it cannot answer in "
                              f"{mode.to_dict()}")
        super().__init__(transport, self._num_classes, mode, batch_size=batch_size, max_concurrency=max_concurrency)

    def _read_metadata(self, meta: dict[str, Any], num_classes: int | None, input_name: str | None) -> None:
        inputs = meta.get("inputs") or [{"name": input_name, "datatype": "FP32"}]
        if len(inputs) != 1 or not inputs[0].get("name"):
            raise OracleError(f"expected a model with exactly one input, metadata lists {len(meta.get('inputs') or [])}"
                              + ("" if meta.get("inputs") else "; pass input_name="))
        self.input_name = inputs[0]["name"]
        params = meta.get("parameters") or {}
        accepted = {inputs[0].get("datatype", "FP32"), *(params.get("input_datatypes") or [])}
        order = ("UINT8", "FP32", "FP64") if self.wire_dtype == "uint8" else ("FP32", "FP64", "UINT8")
        self.input_datatype = next((d for d in order if d in accepted), None)
        if self.input_datatype is None:
            raise OracleError(f"input datatypes {sorted(accepted)} not supported (FP32, FP64 or UINT8)")
        outputs = {o["name"]: o for o in meta.get("outputs") or []}
        self.probs_name = _pick(outputs, PROB_NAMES, _FLOAT)
        self.labels_name = _pick(outputs, LABEL_NAMES, _INT)
        if outputs and self.probs_name is None and self.labels_name is None:
            raise OracleError(f"no probabilities or labels output among {sorted(outputs)}")
        k = params.get("num_classes") or num_classes
        if k is None and self.probs_name is not None:
            k = outputs[self.probs_name].get("shape", [-1])[-1]
        if not isinstance(k, int) or k < 1:
            raise OracleError("metadata does not give the number of classes; pass num_classes=")
        self._num_classes = k
        if "output_mode" in params:
            self.served_mode = OutputMode.model_validate(params["output_mode"])
        elif self.probs_name is not None or not outputs:  # unlisted outputs: assume full probabilities
            self.served_mode = OutputMode()
        else:
            self.served_mode = OutputMode(kind=OutputKind.label)

    def _request(self, batch: torch.Tensor) -> tuple[str, dict[str, Any]]:
        batch = batch.detach().cpu()
        if self.input_datatype == "UINT8":
            data = batch.clamp(0, 1).mul(255).round().to(torch.uint8).flatten().numpy()
        else:
            data = batch.to(torch.float64 if self.input_datatype == "FP64" else torch.float32).flatten().numpy()
        tensor = {"name": self.input_name, "shape": list(batch.shape), "datatype": self.input_datatype, "data": data}
        return f"{self.base}/infer", {"inputs": [tensor]}

    def _decode(self, body: dict[str, Any], n: int) -> Answers:
        try:
            outputs = {o["name"]: o for o in body["outputs"]}
            if self.probs_name is None and self.labels_name is None:  # metadata listed no outputs: learn them now
                self.probs_name = _pick(outputs, PROB_NAMES, _FLOAT)
                self.labels_name = _pick(outputs, LABEL_NAMES, _INT)
            probs = _tensor(outputs[self.probs_name], torch.float32) if self.probs_name in outputs else None
            labels = _tensor(outputs[self.labels_name], torch.long) if self.labels_name in outputs else None
            usage = (body.get("parameters") or {}).get("usage")
        except (KeyError, TypeError, ValueError) as err:
            raise RemoteError(200, f"malformed OIP answer: {err}") from None
        self._note_usage(usage)
        if probs is not None and (probs.ndim != 2 or probs.shape != (n, self.num_classes)):
            raise RemoteError(200, f"output {self.probs_name!r} has shape {tuple(probs.shape)}, expected "
                                   f"({n}, {self.num_classes})")
        if probs is not None and self.served_mode.kind == OutputKind.probs:
            if not torch.allclose(probs.sum(dim=1), torch.ones(n), atol=1e-3) or (probs < 0).any():
                raise RemoteError(200, f"output {self.probs_name!r} is not a probability vector per clip (logits?)")
            return apply_output_mode(probs, self.output_mode)  # full probs: truncate here, identically
        if labels is None:
            if probs is None:
                raise RemoteError(200, "answer has neither probabilities nor labels")
            return apply_output_mode(probs, self.output_mode)
        labels = labels.reshape(n, -1)
        return Answers(labels, probs if self.output_mode.has_scores else None, self.output_mode)


def _pick(outputs: dict[str, dict[str, Any]], names: tuple[str, ...], datatypes: set[str]) -> str | None:
    """The output named like ``names``, else the only one of a matching datatype."""
    for name in names:
        if name in outputs and outputs[name].get("datatype", next(iter(datatypes))) in datatypes:
            return name
    typed = [name for name, o in outputs.items() if o.get("datatype") in datatypes]
    return typed[0] if len(typed) == 1 else None


def _tensor(output: dict[str, Any], dtype: torch.dtype) -> torch.Tensor:
    shape = [int(s) for s in output["shape"]]
    values = torch.tensor(output["data"], dtype=dtype).flatten()
    if values.numel() != math.prod(shape):
        raise ValueError(f"output {output['name']!r} has {values.numel()} values for shape {shape}")
    return values.reshape(shape)
