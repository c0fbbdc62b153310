"""Redis for the tests that need it: 127.0.0.1:6379 (override with AUTHSERVER_TEST_REDIS_URL).

Like PostgreSQL (`tests/backends.py`): without it such a test is skipped on a laptop and fails
under CI=true, where `.ci/run` starts Redis.
"""

from __future__ import annotations

import os
import secrets
import socket

import pytest

from tests.backends import IN_CI

REDIS_URL = os.environ.get("AUTHSERVER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable() -> bool:
    host_port = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis() -> str:
    """The Redis URL, or fail (CI) / skip (laptop) when Redis is not answering."""
    if not _reachable():
        message = f"Redis unreachable at {REDIS_URL}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return REDIS_URL


def unique_prefix() -> str:
    """Keys of one test never meet another's: every counter key starts with a fresh subject."""
    return "t" + secrets.token_hex(6)
