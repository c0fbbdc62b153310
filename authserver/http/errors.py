"""One place that turns errors into JSON responses.

Descriptions are written for the caller; internal detail goes to the log (without secrets), and
anything unexpected becomes a bare `server_error` (checklist L4).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authserver.domain.errors import DomainError

log = logging.getLogger("authserver.http")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_DOMAIN_STATUS = {
    "invalid_request": 400,
    "weak_password": 400,
    "account_exists": 409,
    "not_found": 404,
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.field = field
        self.headers = headers or {}


def error_response(
    status: int,
    error: str,
    description: str | None = None,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, str] = {"error": error}
    if description:
        body["error_description"] = description
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=NO_STORE | (headers or {}))


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    # Operators see why (L4); descriptions name parameters, never their values.
    log.debug(
        "%s refused: %s",
        request.url.path,
        exc.error,
        extra={"status": exc.status, "reason": exc.description},
    )
    return error_response(exc.status, exc.error, exc.description, field=exc.field, headers=exc.headers)


async def handle_domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(_DOMAIN_STATUS.get(exc.code, 400), exc.code, exc.message, field=exc.field)


_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed"}


async def handle_http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own 404 / 405 (and the like) as JSON, like every other error we answer."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_ERRORS.get(exc.status_code, "invalid_request")
    return error_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def handle_no_signing_key(_request: Request, _exc: Exception) -> Response:
    """Only before the first start-up finished making keys: come back in a moment."""
    return error_response(
        503,
        "temporarily_unavailable",
        "The server has no signing key yet; try again shortly.",
        headers={"Retry-After": "2"},
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return error_response(500, "server_error", "The server could not handle this request.")


def rate_limited_response(retry_after: int) -> JSONResponse:
    """RFC 6585 §4 429 with Retry-After (RFC 9110 §10.2.3). The body is an RFC 6749 §5.2-style
    error: `temporarily_unavailable` (the registered code for "cannot handle the request now",
    RFC 6749 §4.1.2.1), so OAuth client libraries surface it like any other error."""
    return error_response(
        429,
        "temporarily_unavailable",
        f"Too many requests; try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )
