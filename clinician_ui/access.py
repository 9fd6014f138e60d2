"""What a signed-in staff member's pages may show: the same `Access` the FHIR API gives
that account's token, so one place (`FhirService` with `Access`) enforces the rules
for the pages and for the API alike.

Pages that show patient data take `SessionAccess`: the request is then on the
audit trail like an API request (`fhir_api.audit.http`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from fhir_api.access.loader import AccessLoader
from fhir_api.access.principal import Access
from fhir_api.accounts.sessions import CurrentAccount
from fhir_api.auth import staff_principal

from .alerts_data import open_total

__all__ = ["SessionAccess", "session_access"]


async def session_access(request: Request, account: CurrentAccount) -> Access:
    """The signed-in account's reach (its care teams' patients), cached like a token's."""
    principal = staff_principal(
        account.id,
        account.username,
        ",".join(sorted(role.value for role in account.roles)),
        account.practitioner_id,
    )
    loader: AccessLoader = request.app.state.access
    access = loader.cached(principal)
    if access is None:
        access = await run_in_threadpool(loader.load, principal)
    request.state.access = access
    # The header's "Alerts (n open)" on every page that reads patient data (alertsui).
    request.state.alerts_open = await run_in_threadpool(
        open_total, request.app.state.store.engine, access
    )
    return access


SessionAccess = Annotated[Access, Depends(session_access)]
