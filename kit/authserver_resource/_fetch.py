"""Outbound HTTP shared by the caches: bounded JSON GETs and one-fetch-at-a-time refreshes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

log = logging.getLogger("authserver_resource")

# Metadata and JWKS documents are small; a hostile or broken endpoint must not make us buffer more.
MAX_DOCUMENT_BYTES = 256 * 1024


class FetchError(Exception):
    """A remote document could not be had (network, status, size or JSON). Never a verdict on a token."""


async def get_json(
    http: httpx.AsyncClient, url: str, *, timeout_seconds: float, allow_404: bool = False
) -> tuple[Any, httpx.Headers] | None:
    """GET `url` and parse its JSON body, reading at most MAX_DOCUMENT_BYTES.

    Returns None for a 404 when `allow_404` (discovery tries two well-known paths). Redirects are
    not followed: the configured URL is the one trusted.
    """
    try:
        async with http.stream(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=timeout_seconds,
            follow_redirects=False,
        ) as response:
            if response.status_code == 404 and allow_404:
                return None
            if response.status_code != 200:
                raise FetchError(f"GET {url}: HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchError(f"GET {url}: body over {MAX_DOCUMENT_BYTES} bytes")
            headers = response.headers
    except httpx.HTTPError as exc:
        raise FetchError(f"GET {url}: {type(exc).__name__}") from exc
    try:
        return json.loads(body), headers
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"GET {url}: body is not JSON") from exc


class RateLimitedRefresh:
    """Runs a refresh so that concurrent callers share one call and a new call starts at most once
    per `interval` seconds (successful or not).

    This is what keeps a flood of tokens with bogus `kid`s, or an outage, from turning into a flood
    of requests to the issuer (RFC 8725 §3.10 in spirit). The refresh runs shielded from the
    caller's cancellation, so a client hanging up cannot leave the others waiting on nothing.
    """

    def __init__(
        self, refresh: Callable[[], Awaitable[None]], interval: float, clock: Callable[[], float]
    ) -> None:
        self._refresh = refresh
        self._interval = interval
        self._clock = clock
        self._last_start: float | None = None
        self._running: anyio.Event | None = None

    def may_start(self) -> bool:
        """True when no refresh ran in the last `interval` seconds."""
        return self._last_start is None or self._clock() - self._last_start >= self._interval

    async def run(self) -> None:
        """Join the refresh in flight, or start one if none ran within `interval`."""
        if self._running is not None:
            await self._running.wait()
            return
        if not self.may_start():
            return
        done = anyio.Event()
        self._running = done
        self._last_start = self._clock()
        try:
            with anyio.CancelScope(shield=True):
                await self._refresh()
        finally:
            self._running = None
            done.set()


def monotonic() -> float:
    """The default clock of the caches (tests pass their own)."""
    return time.monotonic()
