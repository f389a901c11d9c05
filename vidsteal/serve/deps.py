"""Pieces every route shares: who is asking (API key dependency), request ids, body parsing, error docs."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import anyio
from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, ValidationError

from vidsteal.serve.auth import KeyRecord
from vidsteal.serve.schemas import ApiError, ErrorResponse, describe_validation
from vidsteal.serve.service import VictimService

M = TypeVar("M", bound=BaseModel)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in [(401, "missing API key"), (403, "unknown API key, or key blocked by a defence"),
                       (414, "request line too long"), (431, "too many or too large headers"),
                       (429, "rate limit; see Retry-After"), (503, "server busy; see Retry-After")]
}
QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **{code: {"model": ErrorResponse, "description": text}
       for code, text in [(402, "query budget exhausted"), (409, "request id reused or still in flight"),
                          (413, "body or batch too large"), (415, "body is not application/json"),
                          (422, "invalid body or clips")]},
}


def get_service(request: Request) -> VictimService:
    return request.app.state.service


# Declared as security schemes so the OpenAPI page offers an "Authorize" button; the headers themselves are read
# raw below, so a malformed Authorization header gets our own message rather than FastAPI's.
_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key (alternative to Bearer)")


def authenticated(request: Request, _bearer: Any = Security(_BEARER), _key: Any = Security(_API_KEY)) -> KeyRecord:
    """Dependency for every paid or key-specific route: who is asking."""
    headers = request.headers
    return get_service(request).authenticate(headers.get("authorization"), headers.get("x-api-key"))


def request_id(header: str | None) -> str | None:
    if header is not None and not _REQUEST_ID.match(header):
        raise ApiError(422, "X-Request-Id must be 1-128 characters from [A-Za-z0-9_.:-]")
    return header


async def read_body(request: Request, model: type[M], status: int) -> M:
    """Check content type, then parse + validate JSON with pydantic (in a thread: bodies can be megabytes)."""
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, f"content type must be application/json, got {ctype or 'none'!r}")
    body = await request.body()
    try:
        return await anyio.to_thread.run_sync(model.model_validate_json, body)
    except ValidationError as err:
        raise ApiError(status, describe_validation(err)) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that parses its own body (so its checks run in a fixed order)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}
