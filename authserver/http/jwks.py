"""GET /.well-known/jwks.json: the public keys (next, current, retired; J8, J9).

The body is built once per key-set change (`KeyRing.jwks_body`), served as bytes with an `ETag`
so caches can revalidate with `If-None-Match` for a 304.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.http.static_documents import document_response


async def jwks(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    keyring = await ctx.keyring()
    # A cache may keep this no longer than a new key waits as `next` before it signs (arch. §3).
    return document_response(
        request, keyring.jwks_body, keyring.jwks_etag, f"public, max-age={ctx.settings.jwks_max_age}"
    )
