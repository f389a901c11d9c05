"""Open Inference Protocol (KServe v2) REST routes, so any OIP client can query the victim.

The model takes one input, ``clips``: ``FP32`` (or ``FP64``; ``UINT8`` is divided by 255) with shape
``[N, 3, T, H, W]`` and values in ``[0, 1]``, as a flat row-major or nested ``data`` list. It returns
``probabilities`` (``FP32 [N, num_classes]``, hidden entries 0) when the output mode reveals scores, and
``labels`` (``INT64 [N, k]``, most likely first). Model metadata carries the output mode in ``parameters``.
Health and server metadata need no key; model metadata and inference do, exactly like ``/v1``.

Budgets are all-or-nothing here (402 when a request does not fit): a generic OIP client would silently misalign
a shorter answer. Retries are made idempotent by an ``X-Request-Id`` header, not by the body's ``id``, which
generic clients often reuse. Only JSON tensors are supported, not the binary-data extension (415).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import anyio
import torch
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from vidsteal.serve.auth import KeyRecord
from vidsteal.serve.deps import ERRORS, QUERY_ERRORS, authenticated, body_schema, get_service, read_body, request_id
from vidsteal.serve.schemas import (
    ApiError,
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataServerResponse,
    MetadataTensor,
    ResponseOutput,
    nested_to_tensor,
    strict_pixels,
)
from vidsteal.serve.service import VictimService

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"])
INPUT = "clips"
PROBS, LABELS = "probabilities", "labels"
SCALE = {"FP32": 1.0, "FP64": 1.0, "UINT8": 1 / 255}


def _model(service: VictimService, name: str, version: str | None = None) -> None:
    config = service.config
    if name != config.model_name:
        raise ApiError(404, f"model {name!r} not found; this server serves {config.model_name!r}")
    if version is not None and version != config.model_version:
        raise ApiError(404, f"version {version!r} of model {name!r} not found; available: {config.model_version!r}")


def _outputs(service: VictimService) -> list[str]:
    return ([PROBS] if service.config.output_mode.has_scores else []) + [LABELS]


def metadata(service: VictimService) -> MetadataModelResponse:
    engine, mode = service.engine, service.config.output_mode
    k = 1 if mode.kind.value == "label" else min(mode.k, engine.num_classes)
    t, s = engine.frames or -1, engine.size or -1
    tensors = {PROBS: MetadataTensor(name=PROBS, datatype="FP32", shape=[-1, engine.num_classes]),
               LABELS: MetadataTensor(name=LABELS, datatype="INT64", shape=[-1, k])}
    return MetadataModelResponse(
        name=service.config.model_name,
        versions=[service.config.model_version],
        platform="pytorch_vidsteal",
        inputs=[MetadataTensor(name=INPUT, datatype="FP32", shape=[-1, 3, t, s, s])],
        outputs=[tensors[name] for name in _outputs(service)],
        parameters={"output_mode": mode.to_dict(), "num_classes": engine.num_classes, "layout": "NCTHW",
                    "value_range": [0.0, 1.0], "max_batch": service.config.max_batch},
    )


def decode_input(request: InferenceRequest) -> torch.Tensor:
    """The one ``clips`` input as a float tensor in the model layout; 400 with a precise message otherwise."""
    if len(request.inputs) != 1:
        raise ApiError(400, f"expected exactly 1 input named {INPUT!r}, got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.name != INPUT:
        raise ApiError(400, f"unknown input {tensor.name!r}; this model's input is {INPUT!r}")
    if tensor.datatype not in SCALE:
        raise ApiError(400, f"input datatype {tensor.datatype!r} not supported; send FP32 (or FP64, UINT8)")
    if len(tensor.shape) != 5 or any(s < 0 for s in tensor.shape):
        raise ApiError(400, f"input shape must be [N, 3, T, H, W] with sizes >= 0, got {tensor.shape}")
    depth = 5 if tensor.data and isinstance(tensor.data[0], list) else 1  # OIP data: flat, or nested like shape
    data = strict_pixels(tensor.data, depth, tensor.datatype == "UINT8", "inputs.0.data", 400)
    values = nested_to_tensor(data, f"input {INPUT!r} data").flatten()
    if values.numel() != math.prod(tensor.shape):
        raise ApiError(400, f"input {INPUT!r} has {values.numel()} values but shape {tensor.shape} needs "
                            f"{math.prod(tensor.shape)}")
    if tensor.datatype == "UINT8" and values.numel() and (values.min() < 0 or values.max() > 255):
        raise ApiError(400, f"UINT8 input {INPUT!r} holds values that are not integers in [0, 255]")
    return values.reshape(tensor.shape) * SCALE[tensor.datatype]


def _infer(service: VictimService, key: KeyRecord, payload: InferenceRequest, rid: str | None) -> dict[str, Any]:
    wanted = [o.name for o in payload.outputs] if payload.outputs else _outputs(service)
    for name in wanted:
        if name not in _outputs(service):
            raise ApiError(400, f"unknown or hidden output {name!r}; this model returns {_outputs(service)}")
    result = service.query(key, decode_input(payload), rid, "v2", partial=False)
    answers, n = result.answers, len(result.answers)
    outputs = []
    for name in wanted:
        if name == PROBS:
            assert answers.probs is not None
            outputs.append(ResponseOutput(name=PROBS, shape=list(answers.probs.shape), datatype="FP32",
                                          data=answers.probs.flatten().tolist()))
        else:
            outputs.append(ResponseOutput(name=LABELS, shape=[n, answers.labels.shape[1]], datatype="INT64",
                                          data=answers.labels.flatten().tolist()))
    return InferenceResponse(
        model_name=service.config.model_name, model_version=service.config.model_version, id=payload.id,
        parameters={"usage": result.usage, "output_mode": answers.mode.to_dict()}, outputs=outputs,
    ).model_dump(exclude_none=True)


@router.get("", response_model=MetadataServerResponse, summary="server metadata")
def server_metadata() -> MetadataServerResponse:
    return MetadataServerResponse(name="vidsteal", version="1", extensions=[])


@router.get("/health/live", summary="liveness")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", summary="readiness (the victim is loaded)")
def ready(request: Request) -> dict[str, bool]:
    get_service(request)  # the service exists only once the model has loaded
    return {"ready": True}


@router.get("/models/{name}", response_model=MetadataModelResponse, responses=ERRORS, summary="model metadata")
@router.get("/models/{name}/versions/{version}", response_model=MetadataModelResponse, responses=ERRORS,
            summary="model metadata (pinned version)")
def model_metadata(request: Request, name: str, version: str | None = None,
                   key: KeyRecord = Depends(authenticated)) -> MetadataModelResponse:
    service = get_service(request)
    _model(service, name, version)
    return metadata(service)


@router.get("/models/{name}/ready", responses=ERRORS, summary="model readiness")
@router.get("/models/{name}/versions/{version}/ready", responses=ERRORS, summary="model readiness (pinned)")
def model_ready(request: Request, name: str, version: str | None = None) -> dict[str, Any]:
    _model(get_service(request), name, version)
    return {"name": name, "ready": True}


@router.post("/models/{name}/infer", response_model=InferenceResponse, responses=QUERY_ERRORS,
             summary="classify clips (one clip = one paid query)", openapi_extra=body_schema(InferenceRequest))
@router.post("/models/{name}/versions/{version}/infer", response_model=InferenceResponse, responses=QUERY_ERRORS,
             summary="classify clips (pinned version)", openapi_extra=body_schema(InferenceRequest))
async def infer(request: Request, name: str, version: str | None = None, key: KeyRecord = Depends(authenticated),
                x_request_id: str | None = Header(None, description="idempotency key: a retry with the same id "
                                                                   "replays the paid answer")) -> Any:
    service = get_service(request)
    _model(service, name, version)
    rid = request_id(x_request_id)
    service.admit(key)
    payload = await read_body(request, InferenceRequest, 400)
    return JSONResponse(await anyio.to_thread.run_sync(partial(_infer, service, key, payload, rid)))
