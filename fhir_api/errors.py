"""Server errors, each rendered as a FHIR OperationOutcome with its HTTP status.

Exception tree::

    FhirError (status, code, diagnostics, expression)
    ├── BadRequest          400 malformed JSON or a base-rule violation
    │   └── UnresolvedReference 400 `not-found`: a reference to nothing this server holds
    ├── Unauthorized        401 no or unknown bearer token
    ├── Forbidden           403 the token's role may not do this
    ├── NotFound            404
    ├── NotAcceptable       406 a format other than JSON
    ├── Conflict            409
    ├── Gone                410 deleted resource
    ├── PreconditionFailed  412 If-Match or conditional-create ambiguity
    ├── PayloadTooLarge     413
    ├── UnsupportedMediaType 415 a request body that is not JSON
    └── Unprocessable       422 profile violations
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "FhirError",
    "Forbidden",
    "Gone",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Unauthorized",
    "Unprocessable",
    "UnresolvedReference",
    "UnsupportedMediaType",
    "operation_outcome",
]


def operation_outcome(
    issues: Sequence[tuple[str, str, str, Sequence[str]]],
) -> dict[str, Any]:
    """An OperationOutcome from (severity, code, diagnostics, expressions) issues."""
    out = []
    for severity, code, diagnostics, expression in issues:
        issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
        if expression:
            issue["expression"] = list(expression)
        out.append(issue)
    return {"resourceType": "OperationOutcome", "issue": out}


class FhirError(Exception):
    """An error answered with an OperationOutcome."""

    status = 500
    code = "exception"

    def __init__(
        self,
        diagnostics: str,
        *,
        expression: Sequence[str] = (),
        issues: Sequence[tuple[str, Sequence[str]]] = (),
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = list(expression)
        # More issues (diagnostics, expression) of the same code, e.g. every profile violation.
        self.more = list(issues)

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome resource."""
        issues: list[tuple[str, str, str, Sequence[str]]] = [
            ("error", self.code, self.diagnostics, self.expression)
        ]
        issues += [("error", self.code, text, expr) for text, expr in self.more]
        return operation_outcome(issues)


class BadRequest(FhirError):
    status, code = 400, "invalid"


class UnresolvedReference(BadRequest):
    """A reference to a resource the server does not hold: 400, issue code `not-found`.

    Still a refused request (nothing is written), but told apart from a malformed one:
    a client such as the gateway may send the same resource again once the target
    exists (a Patient the clinic has not registered yet), instead of giving it up.
    """

    code = "not-found"


class Unauthorized(FhirError):
    status, code = 401, "login"


class Forbidden(FhirError):
    status, code = 403, "forbidden"


class NotFound(FhirError):
    status, code = 404, "not-found"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class Conflict(FhirError):
    status, code = 409, "conflict"


class Gone(FhirError):
    status, code = 410, "deleted"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"


class PayloadTooLarge(FhirError):
    status, code = 413, "too-costly"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class Unprocessable(FhirError):
    status, code = 422, "processing"
