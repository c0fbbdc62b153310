"""Templates, the stylesheet, and the headers every page carries.

The stylesheet is served under a name holding a hash of its content, so it can be cached for a
year and a new version is never mixed with an old page. All words on the pages live in the
templates; handlers pass data, never sentences in HTML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from authserver.http.security_headers import page_headers

_PACKAGE = Path(__file__).resolve().parent.parent
STYLESHEET = "style.css"


def templates_dir() -> Path:
    """The bundled copy in a wheel install, else the repository's `templates/`."""
    for candidate in (_PACKAGE / "_bundled" / "templates", _PACKAGE.parent / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise FileNotFoundError("authserver's templates directory is missing from this install")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )
    env.globals["stylesheet_url"] = "/static/" + stylesheet()[0]
    env.filters["browser_label"] = browser_label
    return env


_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def browser_label(user_agent: str) -> str:
    """ "Chrome on Linux" from a User-Agent header, for the account page's session list."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


@cache
def stylesheet() -> tuple[str, bytes]:
    """(file name with content hash, bytes) of the one stylesheet."""
    body = (templates_dir() / "static" / STYLESHEET).read_bytes()
    return f"style.{hashlib.sha256(body).hexdigest()[:16]}.css", body


def render(
    name: str,
    *,
    status: int = 200,
    form_targets: Iterable[str] = (),
    **context: Any,
) -> HTMLResponse:
    html = _environment().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=page_headers(form_targets))


def error_page(kind: str, status: int = 400, **context: Any) -> HTMLResponse:
    """The friendly error page: one sentence per `kind` (see templates/error.html), no detail."""
    return render("error.html", status=status, kind=kind, **context)


def redirect(location: str, *, after_post: bool) -> Response:
    """303 after a form post (A8, RFC 9700 §4.12: never 307, which would re-post the password)."""
    response = RedirectResponse(location, status_code=303 if after_post else 302)
    response.headers.update(page_headers())
    return response


async def static_file(request: Request) -> Response:
    name, body = stylesheet()
    if request.path_params.get("name") != name:
        return Response("Not found", status_code=404, media_type="text/plain")
    return Response(
        body,
        media_type="text/css",
        headers={"cache-control": "public, max-age=31536000, immutable"},
    )
