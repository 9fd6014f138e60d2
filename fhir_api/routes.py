"""HTTP routes under /fhir. Handlers parse the request, run the service off the event loop,
and shape the response; they hold no FHIR logic and no SQL."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .access.loader import AccessLoader
from .access.principal import Access
from .audit.http import bind_write_audit
from .auth import TokenStore
from .errors import BadRequest, NotAcceptable, UnsupportedMediaType
from .fhir import parse_body
from .gateway_settings import gateway_settings
from .home_settings import parameters_etag
from .responses import (
    FHIR_JSON,
    fhir_response,
    history_bundle,
    searchset,
    stats_body,
    version_headers,
)
from .service import FhirService, WriteResult

__all__ = ["router"]

_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
_JSON_BODIES = {"application/fhir+json", "application/json", "application/json+fhir"}


async def _service(request: Request) -> FhirService:
    # async: FastAPI would run a plain function in a worker thread, a hop per request.
    service: FhirService = request.app.state.service
    return service


def _verify_and_load(tokens: TokenStore, loader: AccessLoader, authorization: str | None) -> Access:
    return loader.load(tokens.verify(authorization))


async def require_access(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Access:
    """Every request needs a valid bearer token; what it may reach comes with it.

    Both are cached for a moment per worker, so most requests never leave the event
    loop here; otherwise the database is asked in a thread.
    """
    tokens: TokenStore = request.app.state.tokens
    loader: AccessLoader = request.app.state.access
    known = tokens.recently_verified(authorization)
    access = loader.cached(known) if known is not None else None
    if access is None:
        access = await run_in_threadpool(_verify_and_load, tokens, loader, authorization)
    bind_write_audit(access, request.scope, request.app.state.audit)
    request.state.access = access
    return access


async def require_json(request: Request) -> None:
    """JSON only: `_format` or an Accept asking for anything else gets 406."""
    wanted = request.query_params.get("_format")
    if wanted is not None and wanted.lower() not in _JSON_FORMATS:
        raise NotAcceptable(f"_format={wanted!r}: this server speaks FHIR JSON only")
    accept = request.headers.get("accept", "")
    if accept and not any(
        part.split(";")[0].strip().lower() in (*_JSON_FORMATS, "*/*", "application/*")
        for part in accept.split(",")
    ):
        raise NotAcceptable(f"Accept {accept!r}: this server speaks application/fhir+json only")


router = APIRouter(prefix="/fhir", dependencies=[Depends(require_access), Depends(require_json)])
ServiceDep = Annotated[FhirService, Depends(_service)]
AccessDep = Annotated[Access, Depends(require_access)]


T = TypeVar("T")


async def run_write(request: Request, work: Callable[..., T], *args: Any) -> T:
    """Run a write (validation and transaction) in the writes' own lane of threads.

    See `app.WRITE_THREADS`: writes past the limit wait here in order, without a
    thread, so they neither share the interpreter with the write holding the
    database's write lock nor take the threads the reads run in.
    """
    limiter: anyio.CapacityLimiter = request.app.state.write_limiter
    return await anyio.to_thread.run_sync(lambda: work(*args), limiter=limiter)


def _base(request: Request) -> str:
    configured = request.app.state.settings.base_url
    return (configured or str(request.base_url).rstrip("/") + "/fhir").rstrip("/")


async def read_json(request: Request) -> Callable[[], Any]:
    """The request body, read; calling the result parses it as JSON (400 when it is not,
    400/413 beyond the input limits).

    Parsing is left to the write's thread: a 50-reading Bundle's JSON, parsed with
    duplicate-key and limit checks in Python, held the event loop for milliseconds.
    """
    # Media types are case-insensitive (RFC 9110 8.3.1); a body of another type is a 415.
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in _JSON_BODIES:
        raise UnsupportedMediaType(f"Content-Type {content_type!r}: send application/fhir+json")
    body = await request.body()
    if not body:
        raise BadRequest("the request has no body")
    return partial(parse_body, body, request.app.state.settings.input_limits)


def _write_response(request: Request, result: WriteResult) -> Response:
    """The stored resource, or with `Prefer: return=OperationOutcome` the OperationOutcome
    (where warnings such as an unknown profile are); version headers either way."""
    status = 201 if result.created else 200
    headers = version_headers(result.stored, _base(request))
    prefer = request.headers.get("prefer", "").replace(" ", "").lower()
    if "return=operationoutcome" in prefer:
        return fhir_response(result.outcome(), status, headers)
    return fhir_response(result.stored.content, status, headers)


def _params(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]


@router.post("")
@router.post("/", include_in_schema=False)
async def bundle(request: Request, service: ServiceDep, access: AccessDep) -> Response:
    """Transaction and batch Bundles."""
    parsed = await read_json(request)
    return fhir_response(await run_write(request, lambda: service.bundle(parsed(), access=access)))


@router.get("/Observation/$lastn")
async def observation_lastn(request: Request, service: ServiceDep, access: AccessDep) -> Response:
    """The last N Observations per code for a patient."""
    matches = await run_in_threadpool(partial(service.lastn, access=access), _params(request))
    base = _base(request)
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            **(
                {
                    "entry": [
                        {
                            "fullUrl": f"{base}/Observation/{m.id}",
                            "resource": m.content,
                            "search": {"mode": "match"},
                        }
                        for m in matches
                    ]
                }
                if matches
                else {}
            ),
        }
    )


@router.get("/Observation/$stats")
async def observation_stats(request: Request, service: ServiceDep, access: AccessDep) -> Response:
    """Per-day min, max, mean and count for charts, in the patient's time zone."""
    params = _params(request)

    def answer() -> bytes:
        # In the thread too: five years of days is 1.5 MB of JSON, which on the event
        # loop held every other request for its 20-50 ms.
        return stats_body(*service.stats(params, access=access))

    return Response(await run_in_threadpool(answer), media_type=FHIR_JSON)


@router.get("/Device/$gateway-settings")
async def device_gateway_settings(
    request: Request,
    service: ServiceDep,
    access: AccessDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A home gateway's settings from the clinic (issue 14), with an ETag for cheap polls."""
    parameters = await run_in_threadpool(partial(gateway_settings, service, access=access))
    etag = parameters_etag(parameters)
    if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return fhir_response(parameters, 200, {"ETag": etag})


@router.post("/{resource_type}")
async def create(
    resource_type: str,
    request: Request,
    service: ServiceDep,
    access: AccessDep,
    if_none_exist: Annotated[str | None, Header()] = None,
) -> Response:
    """Create, or conditional create with If-None-Exist."""
    parsed = await read_json(request)
    result = await run_write(
        request,
        lambda: service.create(resource_type, parsed(), if_none_exist, access=access),
    )
    return _write_response(request, result)


@router.get("/{resource_type}")
async def search(
    resource_type: str, request: Request, service: ServiceDep, access: AccessDep
) -> Response:
    """Search."""
    params = _params(request)
    result, query = await run_in_threadpool(
        partial(service.search, access=access), resource_type, params
    )
    return fhir_response(
        searchset(
            _base(request),
            resource_type,
            params,
            result,
            query.count,
            summary_count=query.summary_count,
        )
    )


@router.get("/{resource_type}/{resource_id}")
async def read(
    resource_type: str, resource_id: str, request: Request, service: ServiceDep, access: AccessDep
) -> Response:
    """Read the current version."""
    stored = await run_in_threadpool(
        partial(service.read, access=access), resource_type, resource_id
    )
    headers = version_headers(stored, _base(request))
    headers.pop("Location")
    return fhir_response(stored.content, 200, headers)


@router.put("/{resource_type}/{resource_id}")
async def update(
    resource_type: str,
    resource_id: str,
    request: Request,
    service: ServiceDep,
    access: AccessDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Update (or create with the client's id)."""
    parsed = await read_json(request)
    result = await run_write(
        request,
        lambda: service.update(resource_type, resource_id, parsed(), if_match, access=access),
    )
    return _write_response(request, result)


@router.delete("/{resource_type}/{resource_id}")
async def delete(
    resource_type: str,
    resource_id: str,
    request: Request,
    service: ServiceDep,
    access: AccessDep,
    cascade: Annotated[str | None, Query(alias="_cascade")] = None,
) -> Response:
    """Delete (the history keeps every version); `_cascade=delete` takes the referrers too."""
    if cascade not in (None, "delete"):
        raise BadRequest(f"_cascade={cascade!r}: the only value is delete")
    await run_write(
        request,
        partial(
            service.delete, resource_type, resource_id, cascade=cascade == "delete", access=access
        ),
    )
    return Response(status_code=204)


@router.get("/{resource_type}/{resource_id}/_history")
async def history(
    resource_type: str, resource_id: str, request: Request, service: ServiceDep, access: AccessDep
) -> Response:
    """The versions of a resource, newest first, a page at a time."""
    params = _params(request)
    versions, total, following, count = await run_in_threadpool(
        partial(service.history, access=access), resource_type, resource_id, params
    )
    return fhir_response(history_bundle(_base(request), versions, total, following, count, params))


@router.get("/{resource_type}/{resource_id}/_history/{version_id}")
async def vread(
    resource_type: str,
    resource_id: str,
    version_id: str,
    request: Request,
    service: ServiceDep,
    access: AccessDep,
) -> Response:
    """One version."""
    stored = await run_in_threadpool(
        partial(service.vread, access=access), resource_type, resource_id, version_id
    )
    headers = version_headers(stored, _base(request))
    headers.pop("Location")
    return fhir_response(stored.content, 200, headers)
