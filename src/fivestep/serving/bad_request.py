"""`BadRequest`: a request the server refuses, as the 4xx JSON body a client can act on.

Every refusal names the field (`rows[3].color`, `rows`, `body`, `Content-Type`,
`Authorization`, the path) and the fix, in the same shape:
`{"error": {"status": 422, "field": "rows[0].a", "message": "...", "fix": "..."}}`.
"""

from typing import Any

from fastapi.responses import JSONResponse

ENDPOINTS = "POST /predict, GET /metadata, GET /health"


class BadRequest(Exception):
    """A client error: HTTP `status` (4xx), the `field` at fault, what is wrong, the fix."""

    def __init__(self, status: int, field: str | None, message: str, fix: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.field, self.message, self.fix = status, field, message, fix
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"status": self.status, "field": self.field,
                          "message": self.message, "fix": self.fix}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def from_user_error(text: str, field: str | None = None) -> BadRequest:
    """A `UserError` of the preprocessing (`"what; fix"`) as a 422."""
    message, _, fix = text.rpartition("; ")
    if not message:
        message, fix = text, "correct the rows as the message says"
    return BadRequest(422, field, message, fix)
