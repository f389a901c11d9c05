"""FastAPI app factory: the vidsteal JSON API (``/v1``), Open Inference Protocol v2 (``/v2``), OpenAPI at ``/docs``.

Routes read and validate their own bodies (rather than letting FastAPI do it) so that the order of checks is
fixed and cheap-first: request line and headers (414/431) -> body size (413) -> API key (401/403) -> rate limit
(429) -> content type (415) -> JSON and schema, pixels numbers only (422, or 400 on ``/v2``) -> clip contract
(422/413) -> budget (402) -> defences (403) -> answer.
An unauthenticated caller therefore never makes the server parse a body.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Callable

import anyio
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidsteal.serve.auth import KeyRecord
from vidsteal.serve.config import ServeConfig
from vidsteal.serve.deps import ERRORS, QUERY_ERRORS, authenticated, body_schema, read_body, request_id
from vidsteal.serve.limits import BodySizeLimit, HeaderLimits
from vidsteal.serve.oip import router as oip_router
from vidsteal.serve.schemas import (
    ApiError,
    InferenceRequest,
    QueryRequest,
    QueryResponse,
    ServiceInfo,
    Usage,
)
from vidsteal.serve.service import VictimService

log = logging.getLogger("vidsteal.serve")


def _v1_answer(service: VictimService, key: KeyRecord, payload: QueryRequest, rid: str | None) -> dict[str, Any]:
    result = service.query(key, payload.to_tensor(), rid, "v1", partial=True)
    answers = result.answers
    return QueryResponse(
        model=service.config.model_name,
        request_id=result.request_id,
        output_mode=answers.mode.to_dict(),
        requested=result.requested,
        answered=len(answers),
        labels=answers.labels.tolist(),
        probs=None if answers.probs is None else answers.probs.tolist(),
        usage=Usage(**result.usage),
    ).model_dump()


def create_app(config: ServeConfig) -> FastAPI:
    """Build the app for one victim; loads the model and keys now, so a bad file fails here, not per request."""
    service = VictimService(config)
    app = FastAPI(
        title="vidsteal victim server",
        version="1",
        description="A video classifier behind an API, with per-key budgets, rate limits, defences and a "
                    "query log, for auditing model-extraction attacks. Clips are float (B, C, T, H, W) in [0, 1].",
    )
    app.state.service = service
    app.add_middleware(BodySizeLimit, limit=config.max_body_bytes)
    app.add_middleware(HeaderLimits, max_request_line=config.max_request_line,  # added last: runs first
                       max_header_bytes=config.max_header_bytes, max_headers=config.max_headers)
    _install_error_handlers(app)

    @app.get("/v1/health", tags=["v1"], summary="liveness (no key needed)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/info", tags=["v1"], response_model=ServiceInfo, responses=ERRORS,
             summary="what the victim takes and reveals")
    def info(key: KeyRecord = Depends(authenticated)) -> ServiceInfo:
        engine = service.engine
        return ServiceInfo(model=config.model_name, num_classes=engine.num_classes, categories=engine.card.categories,
                           frames=engine.frames, size=engine.size, max_batch=config.max_batch,
                           output_mode=config.output_mode, defended=len(engine.defences) > 0)

    @app.get("/v1/usage", tags=["v1"], response_model=Usage, responses=ERRORS, summary="this key's budget")
    def usage(key: KeyRecord = Depends(authenticated)) -> Usage:
        return Usage(**service.budgets.usage(key.name))

    @app.post("/v1/query", tags=["v1"], response_model=QueryResponse, responses=QUERY_ERRORS,
              summary="classify clips (one clip = one paid query)",
              openapi_extra=body_schema(QueryRequest))
    async def query(request: Request, key: KeyRecord = Depends(authenticated),
                    x_request_id: str | None = Header(None, description="idempotency key: a retry with the "
                                                                       "same id replays the paid answer")) -> Any:
        rid = request_id(x_request_id)
        service.admit(key)
        payload = await read_body(request, QueryRequest, 422)
        answer = await anyio.to_thread.run_sync(partial(_v1_answer, service, key, payload, rid))
        return JSONResponse(answer)

    app.include_router(oip_router)
    app.openapi = partial(_openapi, app, [QueryRequest, InferenceRequest])  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, bodies: list[type[BaseModel]]) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in bodies:
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        app.openapi_schema = schema
    return app.openapi_schema


def _install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as ``{"error": message}``; only a bug in the server itself can give a 5xx."""

    def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=headers)

    handlers: dict[Any, Callable[..., Any]] = {}

    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        if err.status == 422 and request.url.path.startswith("/v2/"):
            err.status = 400  # OIP v2 reports every client error as 400
        return respond(err.status, err.body(), err.headers)

    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        message = {404: f"no route {request.method} {request.url.path}; see /docs",
                   405: f"method {request.method} not allowed on {request.url.path}"}.get(err.status_code, err.detail)
        return respond(err.status_code, {"error": message}, getattr(err, "headers", None))

    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5]]
        return respond(400 if request.url.path.startswith("/v2/") else 422, {"error": "; ".join(parts)})

    async def crash(request: Request, err: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return respond(500, {"error": f"internal server error ({type(err).__name__}); see the server log"})

    handlers.update({ApiError: api_error, StarletteHTTPException: http_error,
                     RequestValidationError: validation_error, Exception: crash})
    for exc, handler in handlers.items():
        app.add_exception_handler(exc, handler)
