"""HTTP clients on one in-process app, each from its own client address (127.0.0.0/8 and such)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from authserver.context import AppContext
from authserver.http.app import create_app
from tests.conftest import ISSUER

ClientFrom = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def clients_by_address(ctx: AppContext) -> AsyncIterator[ClientFrom]:
    """`from_ip("127.0.0.5")` gives a client whose requests come from that address."""
    app = create_app(ctx)
    opened: list[httpx.AsyncClient] = []

    def from_ip(ip: str) -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url=ISSUER)
        opened.append(http)
        return http

    async with app.router.lifespan_context(app):
        try:
            yield from_ip
        finally:
            for http in opened:
                await http.aclose()
