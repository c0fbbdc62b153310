"""Password hashing (argon2id) and the password policy (NIST SP 800-63B §3.1.1.2 / §5.1.1.2).

Hashing costs tens of milliseconds of CPU and 64 MiB, so it runs in a worker thread (argon2-cffi
releases the GIL) and a process-wide semaphore bounds how many run at once: a burst of logins then
queues instead of exhausting memory.
"""

from __future__ import annotations

import gzip
import os
import threading
import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib import resources

import anyio.to_thread
from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authserver.domain.errors import PasswordPolicyError

_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


def normalize_password(password: str) -> str:
    """NFKC, so the same password typed on two keyboards hashes the same (NIST §5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy: str | None = None

    def hash_sync(self, password: str) -> str:
        with _SLOTS:
            return self._argon2.hash(normalize_password(password))

    def verify_sync(self, encoded: str, password: str) -> bool:
        with _SLOTS:
            try:
                return self._argon2.verify(encoded, normalize_password(password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, encoded: str) -> bool:
        return self._argon2.check_needs_rehash(encoded)

    def dummy_hash(self) -> str:
        """A hash of nothing anyone knows, verified for unknown users so timing does not tell (B2)."""
        if self._dummy is None:
            self._dummy = self.hash_sync(os.urandom(16).hex())
        return self._dummy

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hash_sync, password)

    async def verify(self, encoded: str, password: str) -> bool:
        return await anyio.to_thread.run_sync(self.verify_sync, encoded, password)

    async def verify_dummy(self, password: str) -> None:
        dummy = self.dummy_hash()
        await anyio.to_thread.run_sync(self.verify_sync, dummy, password)


@cache
def _common_passwords(min_length: int) -> frozenset[str]:
    # Entries shorter than the length rule can never pass it, so they need not sit in memory.
    data = resources.files("authserver.data").joinpath("common-passwords.txt.gz").read_bytes()
    words = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(w for w in words if len(w) >= min_length)


def is_common_password(password: str, min_length: int = 12) -> bool:
    return normalize_password(password).lower() in _common_passwords(min_length)


def check_password_policy(
    password: str, *, min_length: int, max_length: int, context: Iterable[str] = ()
) -> None:
    """Raise `PasswordPolicyError` with a reason a person can act on; no composition rules."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: it could never be hashed
        raise PasswordPolicyError(
            "Password holds text that is not valid Unicode.", field="password"
        ) from None
    pw = normalize_password(password)
    if len(pw) < min_length:
        raise PasswordPolicyError(f"Password must be at least {min_length} characters.", field="password")
    # A bound against hashing denial of service, far above what anyone types (U2).
    if len(pw) > max_length:
        raise PasswordPolicyError(f"Password must be at most {max_length} characters.", field="password")
    if any(unicodedata.category(ch) == "Cc" for ch in pw):
        raise PasswordPolicyError("Password must not contain control characters.", field="password")
    if len(set(pw)) < 5:
        raise PasswordPolicyError(
            "Password is too repetitive; use more different characters.", field="password"
        )
    if is_common_password(pw, min_length):
        raise PasswordPolicyError(
            "This password is too common; choose one that is harder to guess.", field="password"
        )
    lowered = pw.lower()
    for word in context:
        if len(word) >= 3 and word.lower() in lowered:
            raise PasswordPolicyError(
                "Password must not contain your username, email address or the service name.",
                field="password",
            )
