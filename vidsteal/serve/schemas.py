"""Wire formats: the vidsteal JSON API (``/v1``) and the Open Inference Protocol v2 (``/v2``), and their errors.

``POST /v1/query`` takes float clips ``(B, C, T, H, W)`` in ``[0, 1]`` in exactly one of two encodings::

    {"clips": [[[[[0.1, ...]]]]]}                                  # nested lists, 5 levels deep
    {"encoded": {"shape": [B, C, T, H, W], "dtype": "float32",     # or "uint8" (value / 255 -> [0, 1])
                 "data": "<base64 of the C-order little-endian array>"}}

Nested lists are for curl and debugging; base64 is ~4x smaller and much faster to parse, so the Python client
(:class:`vidsteal.victims.http.HttpOracle`) sends float32 base64. Both use the model layout ``B, C, T, H, W``.

Pixels are JSON numbers, nothing else: a string (``"0.5"``), a boolean, ``null``, an object or a list where a
number belongs is refused (422, or 400 on ``/v2``) with the path of the first offender, before any budget is
touched. The check is pydantic-core's strict float/int validation (in Rust, failing at the first bad value), not a
Python loop: ~0 ms extra on an 8x3x8x32x32 clip batch, whose JSON parse takes ~25-40 ms either way.

Every error, on every route, is ``{"error": "<what was wrong and what was expected>"}`` (the OIP v2 error
shape), sometimes with extra fields such as ``budget_left`` or ``retry_after_s``.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, FailFast, Field, Strict, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails

from vidsteal.victims.outputs import OutputMode


class ApiError(Exception):
    """An error answer: HTTP ``status``, a message for humans, optional headers and extra JSON fields."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


class _FailFast(FailFast):
    """pydantic's FailFast (stop a list at its first bad item), hashable so it may sit inside ``X | None``."""

    def __hash__(self) -> int:
        return hash(type(self))


def nested(leaf: Any, depth: int) -> Any:
    """``list[list[...[leaf]]]``, ``depth`` deep, each level failing fast: a body of 10^5 strings costs one error."""
    for _ in range(depth):
        leaf = Annotated[list[leaf], _FailFast()]
    return leaf


Number = Annotated[float, Strict()]  # a JSON number (int or float); never a string, boolean or null
Integer = Annotated[int, Strict()]
_PIXEL_ERRORS = {"float_type", "int_type", "list_type"}
_CLIPS_LAYOUT = "5 dims (B, C, T, H, W) of nested lists of numbers"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null (NaN, Infinity or null are not pixel values)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:20]!r}{'...' if len(value) > 20 else ''})"
    return "a list" if isinstance(value, list) else "an object"


def pixel_problem(e: ErrorDetails, field: str, layout: str, prefix: tuple[str | int, ...] = ()) -> str | None:
    """The message for a pixel that is not a number (or a list where a number belongs); None for other errors."""
    if e["type"] not in _PIXEL_ERRORS:
        return None
    path, got = ".".join(str(p) for p in (*prefix, *e["loc"])), _json_kind(e["input"])
    if e["type"] == "list_type":
        return f"{field} must be {layout}, but {path} is {got}"
    what = "integers" if e["type"] == "int_type" else "numbers"
    return f"{path}: pixels must be JSON {what}, got {got}"


_ADAPTERS = {(integers, depth): TypeAdapter(nested(Integer if integers else Number, depth))
             for integers in (False, True) for depth in (1, 5)}


def strict_pixels(data: list[Any], depth: int, integers: bool, field: str, status: int) -> list[Any]:
    """``data`` when every value ``depth`` lists deep is a JSON number (an integer if ``integers``), else a 4xx
    naming the first value that is not. For bodies parsed without a pixel type (OIP ``data`` may hold any type)."""
    try:
        return _ADAPTERS[integers, depth].validate_python(data)
    except ValidationError as err:
        e = err.errors()[0]
        layout = "a flat list of numbers, or nested lists as deep as the shape's rank"
        raise ApiError(status, pixel_problem(e, field, layout, prefix=(field,)) or f"{field}: {e['msg']}") from None


def describe_validation(err: ValidationError, limit: int = 5) -> str:
    """One line per problem, ``field.path: message``, so a client sees exactly which field to fix."""
    parts = []
    for e in err.errors()[:limit]:
        loc = ".".join(str(p) for p in e["loc"]) or "body"
        pixels = pixel_problem(e, "clips", _CLIPS_LAYOUT) if e["loc"][:1] == ("clips",) else None
        if e["type"] == "json_invalid":
            parts.append(f"request body is not valid JSON: {e['msg']}")
        else:
            parts.append(pixels or f"{loc}: {e['msg']}")
    more = len(err.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Request(_Wire):
    """Request bodies are strict: ``"3"`` is not 3, ``true`` is not 1, ``1.0`` is not an integer size."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --------------------------------------------------------------------------------------------------- /v1


class EncodedClips(_Request):
    shape: list[int] = Field(min_length=5, max_length=5, description="[B, C, T, H, W]")
    dtype: Literal["float32", "uint8"] = Field(description="float32 in [0, 1], or uint8 mapped to [0, 1] by /255")
    data: str = Field(description="standard base64 (padded) of the C-order, little-endian array bytes")

    def to_tensor(self) -> torch.Tensor:
        if any(s < 1 for s in self.shape):
            raise ApiError(422, f"encoded.shape must be 5 positive sizes [B, C, T, H, W], got {self.shape}")
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as err:
            raise ApiError(422, f"encoded.data is not valid base64: {err}") from None
        item = 4 if self.dtype == "float32" else 1
        expected = math.prod(self.shape) * item
        if len(raw) != expected:
            raise ApiError(422, f"encoded.data holds {len(raw)} bytes but shape {self.shape} of {self.dtype} "
                                f"needs {expected}")
        array = np.frombuffer(raw, dtype="<f4" if self.dtype == "float32" else np.uint8).reshape(self.shape)
        tensor = torch.from_numpy(array.copy())
        return tensor.float().div_(255.0) if self.dtype == "uint8" else tensor


class QueryRequest(_Request):
    """Clips to classify: exactly one of ``clips`` (nested lists) or ``encoded`` (base64)."""

    clips: nested(Number, 5) | None = Field(  # type: ignore[valid-type]
        None, description="float clips (B, C, T, H, W) in [0, 1] as nested lists of JSON numbers")
    encoded: EncodedClips | None = Field(None, description="the same clips as a base64 array")

    @model_validator(mode="after")
    def _exactly_one(self) -> "QueryRequest":
        if (self.clips is None) == (self.encoded is None):
            raise ValueError("send exactly one of 'clips' (nested lists) or 'encoded' (base64)")
        return self

    def to_tensor(self) -> torch.Tensor:
        if self.encoded is not None:
            return self.encoded.to_tensor()
        return nested_to_tensor(self.clips, "clips")


def nested_to_tensor(data: Any, where: str) -> torch.Tensor:
    """Nested lists of numbers (already checked to be numbers) -> float32 tensor, with a 4xx for ragged data."""
    try:  # numpy converts long float lists ~3x faster than torch.tensor; overflow -> inf, refused later
        with np.errstate(over="ignore", invalid="ignore"):
            return torch.from_numpy(np.asarray(data, dtype=np.float32))
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        raise ApiError(422, f"{where} must be nested lists of numbers with a regular (non-ragged) shape: {err}") \
            from None


class Usage(_Wire):
    budget: int | None = Field(description="clips this key may have answered in total; null = unlimited")
    spent: int = Field(description="clips answered so far")
    left: int | None = Field(description="clips still available; null = unlimited")


class QueryResponse(_Wire):
    model: str
    request_id: str
    output_mode: dict[str, Any]
    requested: int = Field(description="clips in the request")
    answered: int = Field(description="clips answered: the first `answered` clips (less only when the budget ran out)")
    labels: list[list[int]] = Field(description="per clip, class indices, most likely first")
    probs: list[list[float]] | None = Field(description="per clip, revealed probabilities (hidden entries 0)")
    usage: Usage


class ServiceInfo(_Wire):
    model: str
    num_classes: int
    categories: list[str] | None
    frames: int | None = Field(description="required clip length T, or null when any length in bounds is taken")
    size: int | None = Field(description="required frame side H = W, or null when any size in bounds is taken")
    max_batch: int
    output_mode: OutputMode
    defended: bool = Field(description="whether answers pass through defences (which ones is not disclosed)")


# --------------------------------------------------------------------------------------------------- /v2 (OIP)


class RequestInput(_Request):
    model_config = ConfigDict(extra="allow", strict=True)  # OIP allows extension fields; unknown ones are ignored
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class RequestOutput(_Request):
    model_config = ConfigDict(extra="allow", strict=True)
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(_Request):
    model_config = ConfigDict(extra="allow", strict=True)
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(_Wire):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class InferenceResponse(_Wire):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class MetadataTensor(_Wire):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = None


class MetadataModelResponse(_Wire):
    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any] | None = None


class MetadataServerResponse(_Wire):
    name: str
    version: str
    extensions: list[str]


class ErrorResponse(_Wire):
    model_config = ConfigDict(extra="allow")
    error: str
