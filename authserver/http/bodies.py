"""Reading request bodies: once, size-limited, as a form or a JSON object.

RFC 6749 §3.2 / §3.1: a parameter sent more than once is an error, not "last one wins", so the
form parser refuses repeats instead of silently picking one.

Decoding problems end here as a 400, never deeper as a 500 (L6): bytes that are not UTF-8,
JSON nested deeper than the stack allows, lone surrogates from JSON escapes (they cannot be
encoded again), and, on OAuth endpoints, control characters (NUL included) in any parameter: no
OAuth parameter may hold one, and PostgreSQL refuses NUL where SQLite stores it.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request

from authserver.domain import identifiers
from authserver.http.errors import ApiError

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(413, "invalid_request", f"Request body is larger than {limit} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError(400, "invalid_request", "Content-Length is not a number.")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_request", "Form body is not valid UTF-8.") from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise ApiError(400, "invalid_request", f"Parameter {key!r} is repeated.", field=key)
        params[key] = value
    return params


def parse_flat_json_object(body: bytes) -> dict[str, str]:
    """A JSON object whose values are all strings (what our JSON endpoints take)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_request", "Body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "JSON body must be an object.")
    for key, value in data.items():
        if not isinstance(value, str):
            raise ApiError(400, "invalid_request", f"Field {key!r} must be a string.", field=key)
    return _encodable(data)


def _encodable(params: dict[str, str]) -> dict[str, str]:
    for key, value in params.items():
        if not identifiers.is_encodable(key) or not identifiers.is_encodable(value):
            raise ApiError(400, "invalid_request", "The body holds text that is not valid Unicode.")
    return params


def refuse_control_characters(params: dict[str, str]) -> dict[str, str]:
    for key, value in params.items():
        if identifiers.has_control_character(key) or identifiers.has_control_character(value):
            shown = key if not identifiers.has_control_character(key) else "?"
            raise ApiError(
                400, "invalid_request", f"Parameter {shown!r} contains a control character.", field=shown
            )
    return params


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """An OAuth endpoint's form: no repeats, no control characters anywhere."""
    if media_type(request) != FORM:
        raise ApiError(415, "invalid_request", f"Content-Type must be {FORM}.")
    return refuse_control_characters(parse_form(await read_body(request, limit)))


async def read_form_or_json(request: Request, limit: int) -> dict[str, str]:
    """A flat form or JSON object of strings, all valid Unicode."""
    kind = media_type(request)
    if kind not in (FORM, JSON):
        raise ApiError(415, "invalid_request", f"Content-Type must be {JSON} or {FORM}.")
    body = await read_body(request, limit)
    return parse_flat_json_object(body) if kind == JSON else parse_form(body)
