"""A real server, a TCP relay to PostgreSQL, and the relay cut or hung under steady load (F1, F2).

While the database is away every answer is 200 or 503 (never a 500 or a dropped connection), each
503 carries `Retry-After`, the log holds no traceback, `/readyz` says 503 and then 200 again, the
server recovers by itself within 5 s of the database coming back, and a refresh that failed did
not burn its token. A database that hangs instead gives 503 within the configured bounds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from authserver.cli import cli
from tests import backends
from tests.faults.relay import Relay
from tests.servers import running_server

PASSWORD = "correct horse battery staple"
BOUNDS = {
    "AUTHSERVER_DB_CONNECT_TIMEOUT": "1",
    "AUTHSERVER_DB_POOL_TIMEOUT": "1",
    "AUTHSERVER_DB_STATEMENT_TIMEOUT": "2",
    "AUTHSERVER_CACHE_SYNC_INTERVAL": "0.5",
    "AUTHSERVER_KEY_REFRESH_INTERVAL": "0.5",
    # A commit whose answer the cut lost is the one case no server can tell from a failure; the
    # grace window is what lets such a client retry (README, "Grace window").
    "AUTHSERVER_REFRESH_GRACE_SECONDS": "10",
}


@dataclass
class Seen:
    at: float
    phase: str
    what: str
    status: int | None
    retry_after: str | None
    error: str | None = None


@contextmanager
def served_through_relay(tmp_path: Path) -> Iterator[tuple[str, Relay, dict[str, str], str]]:
    name, url = backends.create_pg_schema()
    relay = Relay("127.0.0.1", 5432)
    try:
        env = {"AUTHSERVER_DATABASE_URL": url, "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys")}
        runner = CliRunner()
        assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
        made = runner.invoke(
            cli,
            [
                "clients",
                "create",
                "--name",
                "app",
                "--introspect",
                "--grant-type",
                "client_credentials",
                "--grant-type",
                "password",
                "--grant-type",
                "refresh_token",
                "--scope",
                "read",
                "--json",
            ],
            env=env,
        )
        app = json.loads(made.stdout)
        user = ["users", "create", "--email", "f@example.com", "--username", "fault", "--password-stdin"]
        assert runner.invoke(cli, user, env=env, input=PASSWORD + "\n").exit_code == 0
        basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{relay.port}")
        with running_server(through, tmp_path, env=BOUNDS | {"AUTHSERVER_LOG_LEVEL": "INFO"}) as base:
            yield base, relay, {"Authorization": "Basic " + basic}, str(tmp_path)
    finally:
        relay.close()
        backends.drop_pg_schema(name)


async def _steady_load(base: str, auth: dict[str, str], relay: Relay) -> tuple[list[Seen], float, float]:
    seen: list[Seen] = []
    phase = "before"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post(
            "/token", data={"grant_type": "password", "username": "fault", "password": PASSWORD}, headers=auth
        )
        refresh_token = login.json()["refresh_token"]
        access = (await http.post("/token", data={"grant_type": "client_credentials"}, headers=auth)).json()

        async def one(what: str, call: object) -> httpx.Response | None:
            try:
                response: httpx.Response = await call  # type: ignore[misc]
            except httpx.HTTPError as error:
                seen.append(Seen(time.monotonic(), phase, what, None, None, type(error).__name__))
                return None
            seen.append(
                Seen(time.monotonic(), phase, what, response.status_code, response.headers.get("retry-after"))
            )
            return response

        async def tick(n: int) -> None:
            nonlocal refresh_token
            form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
            signup = {"email": f"s{n}@example.com", "username": f"signup{n}", "password": PASSWORD}
            results = await asyncio.gather(
                one("token", http.post("/token", data={"grant_type": "client_credentials"}, headers=auth)),
                one("refresh", http.post("/token", data=form, headers=auth)),
                one(
                    "introspect",
                    http.post("/introspect", data={"token": access["access_token"]}, headers=auth),
                ),
                one("signup", http.post("/signup", json=signup)),
                one("page", http.get("/login")),
                one("jwks", http.get("/.well-known/jwks.json")),
                one("readyz", http.get("/readyz")),
            )
            rotated = results[1]
            if rotated is not None and rotated.status_code == 200:
                refresh_token = rotated.json()["refresh_token"]  # else: the same token again

        n = 0
        for phase, seconds in (("before", 2.0), ("outage", 5.0)):
            if phase == "outage":
                relay.refuse()
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                await tick(n)
                n += 1
                await asyncio.sleep(0.1)
        relay.forward()
        restored = time.monotonic()
        phase = "after"
        recovered = float("inf")
        while time.monotonic() < restored + 10:
            await tick(n)
            n += 1
            last = [s for s in seen if s.phase == "after" and s.what in ("refresh", "signup", "readyz")][-3:]
            if recovered == float("inf") and len(last) == 3 and all(s.status in (200, 201) for s in last):
                recovered = time.monotonic()
            if time.monotonic() > recovered + 2:
                break
            await asyncio.sleep(0.1)
    return seen, restored, recovered


@pytest.mark.usefixtures("_postgres")
def test_F1_cut_database_under_load(tmp_path: Path) -> None:
    with served_through_relay(tmp_path) as (base, relay, auth, workdir):
        seen, restored, recovered = asyncio.run(_steady_load(base, auth, relay))
        log = "".join(p.read_text() for p in Path(workdir).glob("server-*.log"))

    expected = {
        "token": 200,
        "refresh": 200,
        "introspect": 200,
        "signup": 201,
        "page": 200,
        "jwks": 200,
        "readyz": 200,
    }
    for s in seen:
        assert s.error is None, f"{s.what} lost its connection: {s.error}"
        assert s.status in (expected[s.what], 503), (s.what, s.phase, s.status)
        if s.status == 503:
            assert s.retry_after, f"{s.what} 503 without Retry-After"
    outage = [s for s in seen if s.phase == "outage"]
    assert any(s.what == "readyz" and s.status == 503 for s in outage)
    assert any(s.status == 503 for s in outage if s.what in ("refresh", "signup"))
    # What needs no database keeps being served: JWKS, and tokens for a cached client.
    assert all(s.status == 200 for s in outage if s.what == "jwks")
    assert [s.status for s in outage if s.what == "token"].count(200) >= len(
        [s for s in outage if s.what == "token"]
    ) // 2
    assert recovered - restored < 5, f"recovered {recovered - restored:.1f} s after the database came back"
    # No refresh was ever refused: a failed one did not burn its token.
    assert not [s for s in seen if s.what == "refresh" and s.status == 400]
    assert "Traceback" not in log and '"exception"' not in log, log[-3000:]


@pytest.mark.usefixtures("_postgres")
def test_F2_hung_database_answers_503_within_the_bounds(tmp_path: Path) -> None:
    with served_through_relay(tmp_path) as (base, relay, auth, workdir):
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/readyz").status_code == 200
            relay.hang()
            for path, call in (
                (
                    "signup",
                    lambda: http.post(
                        "/signup", json={"email": "h@example.com", "username": "hung", "password": PASSWORD}
                    ),
                ),
                ("readyz", lambda: http.get("/readyz")),
                (
                    "refresh",
                    lambda: http.post(
                        "/token",
                        data={"grant_type": "refresh_token", "refresh_token": "x" * 43},
                        headers=auth,
                    ),
                ),
            ):
                started = time.monotonic()
                response = call()
                took = time.monotonic() - started
                assert response.status_code == 503, (path, response.status_code, response.text)
                # connect (1 s) + pool checkout (1 s) + statement (2 s), with room for a busy machine
                assert took < 8, f"{path} took {took:.1f} s"
            relay.forward()
            deadline = time.monotonic() + 10
            while http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the hang"
                time.sleep(0.2)
        log = "".join(p.read_text() for p in Path(workdir).glob("server-*.log"))
    assert "Traceback" not in log and '"exception"' not in log, log[-3000:]


@pytest.fixture
def _postgres() -> None:
    backends.require_postgres()
