"""Routes that answer without a token: conformance, health and (with its own token) metrics.

FHIR and SMART clients read `/fhir/metadata` before they have a token, and the
OperationDefinitions it points at are conformance resources like it. `/healthz`
and `/readyz` are for systemd, load balancers and orchestrators. `/metrics` has a
token of its own (`metrics_token`) so that Prometheus needs no FHIR access.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from .capability import capability_statement, operation_definition
from .errors import NotFound
from .health import check_readiness
from .metrics import METRICS_CONTENT_TYPE, metrics_allowed, render
from .responses import fhir_response
from .routes import require_json

__all__ = ["conformance_router", "operations_router"]


def fhir_base(request: Request) -> str:
    """The FHIR base URL links are written with: `base_url`, else what the request came to."""
    configured = request.app.state.settings.base_url
    return (configured or str(request.base_url).rstrip("/") + "/fhir").rstrip("/")


conformance_router = APIRouter(prefix="/fhir", dependencies=[Depends(require_json)])
operations_router = APIRouter()


@conformance_router.get("/metadata")
async def metadata(request: Request) -> Response:
    """The CapabilityStatement (no token needed)."""
    return fhir_response(capability_statement(fhir_base(request)))


@conformance_router.get("/OperationDefinition/{definition_id}")
async def read_operation_definition(definition_id: str, request: Request) -> Response:
    """An OperationDefinition this server publishes (no token needed)."""
    definition = operation_definition(definition_id, fhir_base(request))
    if definition is None:
        raise NotFound(f"OperationDefinition/{definition_id} is not published here")
    return fhir_response(definition)


@operations_router.get("/healthz", include_in_schema=False)
async def healthz() -> Response:
    """The process is alive and its event loop answers."""
    return JSONResponse({"status": "alive"})


@operations_router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    """The database and the series backend answer (503 naming which does not)."""
    readiness = await run_in_threadpool(
        check_readiness, request.app.state.settings, request.app.state.store
    )
    return JSONResponse(readiness.as_json(), status_code=200 if readiness.ready else 503)


@operations_router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Prometheus exposition, for the `metrics_token` bearer only (404 when none is set)."""
    secret = request.app.state.settings.metrics_token
    if secret is None:
        raise NotFound("metrics are off: set metrics_token to turn them on")
    if not metrics_allowed(authorization, secret.get_secret_value()):
        return JSONResponse(
            {"error": "/metrics needs 'Authorization: Bearer <metrics_token>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body = await run_in_threadpool(render)
    return Response(body, media_type=METRICS_CONTENT_TYPE)
