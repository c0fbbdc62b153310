"""The ceiling: what the CPU allows at best, measured in the same run as the servers.

A client_credentials token costs at least one RS256 signature, and a password grant at least one
argon2id verification. Measuring both here, on the same noisy cores and minutes as the load test,
tells how far each server is from the hardware rather than from a number taken on another day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from authserver.settings import Settings


@dataclass(frozen=True)
class Ceiling:
    rs256_signs_per_s_per_core: float
    argon2_verifies_per_s: float
    argon2_threads: int
    argon2_params: str


def _count(work: Callable[[], object], seconds: float) -> int:
    """How many times `work` ran in a tight loop of about `seconds` (at least once)."""
    count = 0
    deadline = time.perf_counter() + seconds
    while True:
        work()
        count += 1
        if time.perf_counter() >= deadline:
            return count


def _rate(work: Callable[[], object], seconds: float, threads: int = 1) -> float:
    """Calls of `work` per second, `threads` loops at once."""
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: _count(work, seconds), range(threads)))
    return total / (time.perf_counter() - start)


def rs256_signs_per_second(seconds: float = 2.0) -> float:
    """RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signatures per second on one core, 2048-bit key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # About the size of a JWT signing input for an access token.
    message = b"e" * 400
    return _rate(lambda: key.sign(message, padding.PKCS1v15(), hashes.SHA256()), seconds)


def argon2_parameters() -> tuple[int, int, int]:
    """(time cost, memory KiB, parallelism) the server uses when nothing overrides its defaults."""
    fields = Settings.model_fields
    return (
        int(fields["argon2_time_cost"].default),
        int(fields["argon2_memory_kib"].default),
        int(fields["argon2_parallelism"].default),
    )


def argon2_verifies_per_second(seconds: float = 3.0, threads: int = 2) -> float:
    """argon2id verifications per second, `threads` at a time (argon2-cffi releases the GIL)."""
    time_cost, memory_kib, parallelism = argon2_parameters()
    hasher = PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )
    encoded = hasher.hash("benchmark passphrase 2026")
    return _rate(lambda: hasher.verify(encoded, "benchmark passphrase 2026"), seconds, threads)


def measure(seconds: float = 2.0) -> Ceiling:
    time_cost, memory_kib, parallelism = argon2_parameters()
    return Ceiling(
        rs256_signs_per_s_per_core=rs256_signs_per_second(seconds),
        argon2_verifies_per_s=argon2_verifies_per_second(max(seconds, 3.0)),
        argon2_threads=2,
        argon2_params=f"t={time_cost}, m={memory_kib // 1024} MiB, p={parallelism}",
    )
