"""Reading request bodies: once, size-limited, as a form or a JSON object.

RFC 6749 §3.2 / §3.1: a parameter sent more than once is an error, not "last one wins", so the
form parser refuses repeats instead of silently picking one.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from authserver.http.errors import ApiError

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(413, "invalid_request", f"Request body is larger than {limit} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
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


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_request", "Body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "JSON body must be an object.")
    return data


async def read_form(request: Request, limit: int) -> dict[str, str]:
    if media_type(request) != FORM:
        raise ApiError(415, "invalid_request", f"Content-Type must be {FORM}.")
    return parse_form(await read_body(request, limit))


async def read_form_or_json(request: Request, limit: int) -> dict[str, Any]:
    kind = media_type(request)
    if kind not in (FORM, JSON):
        raise ApiError(415, "invalid_request", f"Content-Type must be {JSON} or {FORM}.")
    body = await read_body(request, limit)
    return parse_json_object(body) if kind == JSON else parse_form(body)
