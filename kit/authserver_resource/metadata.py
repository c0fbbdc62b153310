"""The issuer's metadata (RFC 8414, or OpenID Connect Discovery), fetched once and kept.

The kit reads two things from it: `jwks_uri` (where the signing keys are) and
`introspection_endpoint`. Both are trusted only from a document whose `issuer` is exactly the
configured issuer (RFC 8414 §3.3: "MUST be identical"), so a metadata mix-up cannot point us at
someone else's keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from authserver_resource._fetch import FetchError, RateLimitedRefresh, get_json, monotonic
from authserver_resource.errors import IssuerUnavailable
from authserver_resource.issuers import Issuer, check_url

log = logging.getLogger("authserver_resource")


class MetadataCache:
    """One issuer's metadata document, refreshed every `jwks.max_ttl` seconds; a failed refresh keeps
    the document it had and is retried no sooner than `jwks.refetch_interval`."""

    def __init__(
        self, issuer: Issuer, http: httpx.AsyncClient, *, clock: Callable[[], float] = monotonic
    ) -> None:
        self._issuer = issuer
        self._http = http
        self._clock = clock
        self._document: Mapping[str, Any] | None = None
        self._expires_at = 0.0
        self._refresh = RateLimitedRefresh(self._fetch, issuer.jwks.refetch_interval, clock)

    async def get(self) -> Mapping[str, Any]:
        """The metadata document; IssuerUnavailable when none was ever fetched and fetching fails."""
        if self._document is None or self._clock() >= self._expires_at:
            await self._refresh.run()
        if self._document is None:
            raise IssuerUnavailable(
                "The token issuer cannot be reached.", detail=f"no metadata for {self._issuer.issuer}"
            )
        return self._document

    async def endpoint(self, name: str) -> str:
        """An endpoint URL from the metadata (`jwks_uri`, `introspection_endpoint`), https-checked."""
        value = (await self.get()).get(name)
        if not isinstance(value, str):
            raise IssuerUnavailable(
                "The token issuer cannot be reached.",
                detail=f"metadata of {self._issuer.issuer} has no {name}",
            )
        try:
            return check_url(value, name)
        except ValueError as exc:
            raise IssuerUnavailable("The token issuer cannot be reached.", detail=str(exc)) from exc

    async def _fetch(self) -> None:
        timeout = self._issuer.jwks.timeout
        for url in self._issuer.metadata_urls():
            try:
                found = await get_json(self._http, url, timeout_seconds=timeout, allow_404=True)
            except FetchError as exc:
                log.warning("issuer metadata fetch failed: %s", exc)
                return
            if found is None:
                continue
            document = found[0]
            if not isinstance(document, dict) or document.get("issuer") != self._issuer.issuer:
                # RFC 8414 §3.3: a document for another issuer MUST NOT be used.
                log.error("metadata at %s is not for issuer %s; ignored", url, self._issuer.issuer)
                return
            self._document = document
            self._expires_at = self._clock() + self._issuer.jwks.max_ttl
            return
        log.warning("no metadata found for issuer %s", self._issuer.issuer)
