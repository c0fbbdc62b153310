"""Headers every response carries (checklist S4, S7, S8).

API responses get `default-src 'none'`. HTML pages set their own, slightly wider policy with
`page_headers`: our stylesheet only, no script at all, forms posting to us (and, on pages whose
form ends in a redirect to the client, to that client's origin: Chrome applies `form-action` to
the redirects that follow a form submission).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}


# Only characters that cannot end a CSP source or directive (no ';', ',', spaces or quotes).
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*")


def form_target(uri: str) -> str | None:
    """The CSP source that allows a redirect to `uri` after a form post: its origin or scheme."""
    parts = urlsplit(uri)
    if parts.scheme == "http" and parts.netloc.startswith("["):
        # CSP host sources cannot name an IPv6 literal (a native app on http://[::1]:port):
        # allow the scheme, on the one page that redirects there.
        return "http:"
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}" if _HOST_RE.fullmatch(parts.netloc) else None
    return f"{parts.scheme}:" if _SCHEME_RE.fullmatch(parts.scheme) else None


def page_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """CSP and caching for an HTML page (S7, S8): nothing inline, nothing third-party, no store."""
    sources = " ".join(["'self'", *dict.fromkeys(t for t in map(form_target, form_targets) if t)])
    policy = (
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
        f"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {sources}"
    )
    return {"content-security-policy": policy, "cache-control": "no-store", "pragma": "no-cache"}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    if name not in headers:
                        headers[name] = value
                if self.https:
                    headers["strict-transport-security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)
