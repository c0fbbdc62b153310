"""A database that is away answers 503 with `Retry-After`, never a 500 (checklist F1, F2).

Errors that mean "the database is unavailable" (`authserver/db/faults.py`) are caught here, below
Starlette's server-error layer (which would log a traceback per request), and turned into a 503:
`temporarily_unavailable` as JSON on API endpoints (RFC 6749 §4.1.2.1 names that error), a
friendly page on pages. One warning line per kind of failure and interval goes to the log.
Anything else is a bug and is left to the 500 handler.
"""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authserver.db.faults import WarnOnce, unavailability
from authserver.http.errors import error_response
from authserver.pages.rendering import error_page

log = logging.getLogger("authserver.database")
RETRY_AFTER = "2"


class DatabaseFaultsMiddleware:
    def __init__(self, app: ASGIApp, *, page_paths: frozenset[str]) -> None:
        self.app = app
        self.page_paths = page_paths
        self.warn = WarnOnce(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def note_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, note_start)
        except Exception as error:
            kind = unavailability(error)
            if kind is None:
                raise
            self.warn(
                kind, f"database unavailable on {scope['method']} {scope['path']}: {type(error).__name__}"
            )
            if started:
                return  # nothing more can be said on this response; uvicorn closes it
            await self._unavailable(scope["path"])(scope, receive, send)

    def _unavailable(self, path: str) -> Response:
        if path in self.page_paths:
            page = error_page("unavailable", 503)
            page.headers["Retry-After"] = RETRY_AFTER
            return page
        return error_response(
            503,
            "temporarily_unavailable",
            "The service is temporarily unavailable; try again shortly.",
            headers={"Retry-After": RETRY_AFTER},
        )
