"""Errors of staff accounts, each a FhirError so the server answers them with a status.

Exception tree::

    FhirError
    └── AccountError            400 a request about an account that cannot be done
        ├── WeakPassword        400 the new password breaks the policy (says which rule)
        ├── AccountExists       409 the username is taken
        └── UnknownAccount      404 no account of that username
"""

from __future__ import annotations

from ..errors import FhirError

__all__ = ["AccountError", "AccountExists", "UnknownAccount", "WeakPassword"]


class AccountError(FhirError):
    status, code = 400, "invalid"


class WeakPassword(AccountError):
    pass


class AccountExists(AccountError):
    status, code = 409, "duplicate"


class UnknownAccount(AccountError):
    status, code = 404, "not-found"
