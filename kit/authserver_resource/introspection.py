"""RFC 7662 token introspection, for services that need a revocation to count at once.

A locally valid JWT stays valid until it expires; a revoked one is only refused if someone asks the
issuer. The validator asks here after the signature and claims checks passed (so forgeries never
cost a round trip). Only a positive answer is cached, briefly and never past the token's `exp`; an
inactive answer is a 401, and anything that is not a clear answer (network error, non-200, bad
JSON) is IssuerUnavailable (503), never a pass.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from authserver_resource._cache import PositiveCache
from authserver_resource._fetch import monotonic
from authserver_resource.errors import InvalidToken, IssuerUnavailable
from authserver_resource.issuers import Introspection, Issuer
from authserver_resource.metadata import MetadataCache

log = logging.getLogger("authserver_resource")

_UNAVAILABLE = "The token issuer cannot be reached."


class Introspector:
    """Asks one issuer's introspection endpoint whether a token is active (RFC 7662 §2)."""

    def __init__(
        self,
        issuer: Issuer,
        config: Introspection,
        http: httpx.AsyncClient,
        metadata: MetadataCache,
        *,
        clock: Callable[[], float] = monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._issuer = issuer
        self._config = config
        self._http = http
        self._metadata = metadata
        self._wall = wall
        self._cache = PositiveCache(clock)
        # RFC 6749 §2.3.1 (which RFC 7662 §2.1 relies on): form-encode id and secret before Basic.
        self._auth = httpx.BasicAuth(quote(config.client_id, safe=""), quote(config.client_secret, safe=""))

    async def check(self, token: str, *, expires_at: int | None) -> Mapping[str, Any]:
        """The introspection response for an active token; InvalidToken if it is not active."""
        key = PositiveCache.key(token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        answer = await self._ask(token)
        if answer.get("active") is not True:  # RFC 7662 §2.2: anything but true is inactive
            raise InvalidToken("The access token is not active.", detail="introspection: inactive")
        if "iss" in answer and answer["iss"] != self._issuer.issuer:
            raise InvalidToken("The access token is not active.", detail="introspection: other iss")
        ttl = self._config.cache_ttl
        for exp in (expires_at, answer.get("exp")):
            if isinstance(exp, int | float) and not isinstance(exp, bool):
                ttl = min(ttl, exp - self._wall())
        self._cache.put(key, answer, ttl)
        return answer

    async def _ask(self, token: str) -> Mapping[str, Any]:
        endpoint = self._config.endpoint or await self._metadata.endpoint("introspection_endpoint")
        try:
            response = await self._http.post(
                endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"Accept": "application/json"},
                timeout=self._config.timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            log.warning("introspection at %s failed: %s", endpoint, type(exc).__name__)
            raise IssuerUnavailable(_UNAVAILABLE, detail="introspection unreachable") from exc
        if response.status_code != 200:
            # 401 here means *our* client credentials are wrong: an operator problem, not the token's.
            log.warning("introspection at %s answered HTTP %d", endpoint, response.status_code)
            raise IssuerUnavailable(_UNAVAILABLE, detail=f"introspection HTTP {response.status_code}")
        try:
            answer = json.loads(response.content)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise IssuerUnavailable(_UNAVAILABLE, detail="introspection answer not JSON") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise IssuerUnavailable(_UNAVAILABLE, detail="introspection answer has no boolean active")
        return answer
