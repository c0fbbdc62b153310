"""A small in-process cache of positive answers (introspection "active", live sessions)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

_MAX_ENTRIES = 10_000


class PositiveCache:
    """Answers that said "yes", keyed by the SHA-256 of the credential (never the credential)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}

    @staticmethod
    def key(credential: str) -> str:
        return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))  # oldest insertion first
        self._entries[key] = (self._clock() + ttl, value)
