"""Matching a requested redirect URI, and building the URL the browser is sent back to.

RFC 9700 §2.1 / OIDC Core §3.1.2.1: the requested URI must be identical, character for character,
to a registered one (A1). The one exception is RFC 8252 §7.3: a native app's loopback IP redirect
URI (`http://127.0.0.1/...` or `http://[::1]/...`) matches with any port, because the app picks a
free port at run time. `localhost` gets no such leeway (RFC 8252 §8.3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

# scheme, loopback IP literal, optional port, then the rest (path and query) compared exactly.
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?([/?][^#]*)?")


def _loopback_parts(uri: str) -> tuple[str, str] | None:
    match = _LOOPBACK.fullmatch(uri)
    if match is None:
        return None
    port = match.group(2)
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return match.group(1), match.group(3) or ""


def matches(requested: str, registered: Iterable[str]) -> bool:
    """True when `requested` is one of `registered`, or its loopback twin on another port."""
    uris = list(registered)
    if requested in uris:
        return True
    asked = _loopback_parts(requested)
    if asked is None:
        return False
    return any(_loopback_parts(uri) == asked for uri in uris)


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """`uri` with `params` appended to its query (RFC 6749 §3.1.2: keep the registered query)."""
    pairs = [(key, value) for key, value in params.items() if value is not None]
    if not pairs:
        return uri
    encoded = urlencode(pairs)
    if "?" not in uri:
        return f"{uri}?{encoded}"
    return uri + encoded if uri.endswith(("?", "&")) else f"{uri}&{encoded}"


def is_native(uri: str) -> bool:
    """A native app's redirect (RFC 8252 §7): a loopback IP literal or a private-use scheme. Any
    local program can listen there, so the client's identity cannot be assured (RFC 8252 §8.6)."""
    scheme = uri.split(":", 1)[0].lower()
    return _loopback_parts(uri) is not None or scheme not in ("http", "https")
