"""Telling "the database is unavailable" apart from everything else (checklist F1, F2).

A refused, reset, closed or timed-out connection, an exhausted pool or a statement that ran past
its timeout all mean the same to a caller: try again soon (503 with `Retry-After`). Any other
error is a bug and stays one. The driver's exception may come bare (asyncpg, OSError) or wrapped by
SQLAlchemy (`DBAPIError.orig`, `__cause__`), so the whole chain is looked at.
"""

from __future__ import annotations

import errno
import logging
import time

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa_exc

_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
}


def _one(error: BaseException) -> str | None:
    if isinstance(error, sa_exc.TimeoutError):
        return "pool_exhausted"
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return "connection_lost"
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return "busy" if "locked" in str(error.orig) else "unreachable"
    if isinstance(error, TimeoutError | asyncpg.QueryCanceledError):
        return "timeout"
    if isinstance(error, asyncpg.TooManyConnectionsError):
        return "too_many_connections"  # PostgreSQL's max_connections is reached: try again soon
    if isinstance(
        error,
        asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError  # asyncpg's protocol left mid-message by a lost backend
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.CrashShutdownError,
    ):
        return "connection_lost"
    if isinstance(error, ConnectionError) or (
        isinstance(error, OSError) and error.errno in _UNREACHABLE_ERRNOS
    ):
        return "unreachable"
    return None


def unavailability(error: BaseException) -> str | None:
    """The kind of database unavailability `error` is, or None if it is something else."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _one(current)
        if kind is not None:
            return kind
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return None


class WarnOnce:
    """One warning line per kind and interval, with how many were folded into it: an outage under
    load must not write a line (let alone a traceback) per request."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._log = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._folded: dict[str, int] = {}

    def __call__(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, float("-inf")) < self._interval:
            self._folded[kind] = self._folded.get(kind, 0) + 1
            return
        folded = self._folded.pop(kind, 0)
        self._last[kind] = now
        self._log.warning("%s (%s)", message, kind, extra={"kind": kind, "similar_since_last": folded})
