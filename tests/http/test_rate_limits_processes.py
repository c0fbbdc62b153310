"""Rate limits hold across processes: two `authserver serve` processes share one counter, in
PostgreSQL and in Redis. And E1's timing: forgot-password answers as fast for a known address as
for an unknown one, since the work happens after the response."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.redis_server import require_redis, unique_prefix
from tests.servers import pg_with_client, running_server

LIMIT = {
    "AUTHSERVER_RATE_LIMIT_SIGNUP_PER_IP": "10/minute",
    "AUTHSERVER_LOG_LEVEL": "WARNING",
    "AUTHSERVER_KEY_ENCRYPTION_SECRET": "one secret for both processes, long enough",
}


@pytest.mark.parametrize("store", ["postgresql", "redis"])
def test_40_attempts_over_two_processes_accept_exactly_10(tmp_path: Path, store: str) -> None:
    env = dict(LIMIT)
    if store == "redis":
        env["AUTHSERVER_REDIS_URL"] = require_redis()
    prefix = unique_prefix()  # Redis keys are per IP; a fresh server name keeps runs apart
    env["AUTHSERVER_TRUSTED_PROXIES"] = '["127.0.0.1"]'
    with pg_with_client(tmp_path, "--grant-type", "client_credentials") as (url, _env, _app):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with (
            running_server(url, tmp_path / "a", env=env) as one,
            running_server(url, tmp_path / "b", env=env) as two,
        ):
            forwarded = f"10.{int(prefix[1:3], 16)}.{int(prefix[3:5], 16)}.{int(prefix[5:7], 16)}"

            def one_signup(i: int) -> int:
                body = {
                    "email": f"{prefix}{i}@example.com",
                    "username": f"{prefix}{i}",
                    "password": "a long enough passphrase",
                }
                base = (one, two)[i % 2]
                return httpx.post(
                    base + "/signup", json=body, headers={"x-forwarded-for": forwarded}, timeout=60
                ).status_code

            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(one_signup, range(40)))
    assert statuses.count(201) == 10 and statuses.count(429) == 30, statuses


def test_E1_forgot_password_takes_the_same_time_for_known_and_unknown(tmp_path: Path) -> None:
    with pg_with_client(tmp_path, "--grant-type", "client_credentials") as (url, _env, _app):
        env = {
            "AUTHSERVER_LOG_LEVEL": "WARNING",
            "AUTHSERVER_RATE_LIMIT_PASSWORD_FORGOT_PER_IP": "off",
            "AUTHSERVER_RATE_LIMIT_PASSWORD_FORGOT_PER_ACCOUNT": "off",
        }
        with running_server(url, tmp_path, env=env) as base, httpx.Client(base_url=base, timeout=30) as http:
            body = {"email": "known@example.com", "username": "known", "password": "a long enough passphrase"}
            assert http.post("/signup", json=body).status_code == 201
            times: dict[str, list[float]] = {"known@example.com": [], "unknown@example.com": []}
            for _ in range(15):
                for address, series in times.items():
                    started = time.perf_counter()
                    answer = http.post("/password/forgot", json={"email": address})
                    series.append(time.perf_counter() - started)
                    assert answer.status_code == 202 and answer.json() == {"status": "accepted"}
    known, unknown = (statistics.median(s) for s in times.values())
    assert abs(known - unknown) < 0.015, (known, unknown)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) >= 2  # the known address did get mail
