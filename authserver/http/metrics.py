"""`GET /metrics` and the middleware that times every request (see `authserver/metrics.py`)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authserver import metrics


async def metrics_endpoint(_request: Request) -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


class MetricsMiddleware:
    """Counts and times each request under its route's path (a fixed set; anything else is
    `other`, so unknown paths cannot grow the label set)."""

    def __init__(self, app: ASGIApp, *, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in self.paths else "other"
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            metrics.LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)
            metrics.REQUESTS.labels(endpoint=endpoint, status=str(status)).inc()
