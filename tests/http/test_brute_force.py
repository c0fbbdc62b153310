"""B1-B5 over HTTP: password spraying and credential stuffing are slowed or stopped, the victim
still signs in from a fresh address, and an unknown account behaves exactly like a real one."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from authserver.context import AppContext
from authserver.db.models import AuditEvent
from tests.http.addresses import clients_by_address
from tests.oauth.helpers import PASSWORD, RegisteredApp, make_client, make_user

FAST = {
    "signin_free_attempts": 2,
    "signin_lock_after": 4,
    "signin_max_delay": 0.2,
    "signin_account_ceiling": 5,
    "signin_account_delay": 0.3,
}
pytestmark = pytest.mark.parametrize("settings_overrides", [FAST | {"rate_limit_signin_per_ip": "8/minute"}])


async def _password_grant(
    http: httpx.AsyncClient, app: RegisteredApp, username: str, password: str
) -> httpx.Response:
    data = {"grant_type": "password", "username": username, "password": password, "scope": "read"}
    return await http.post("/token", data=data, auth=app.basic)


async def test_B4_password_spraying_from_one_address_is_stopped(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",))
    names = [f"user{i}" for i in range(5)]
    for name in names:
        await make_user(ctx, name)
    async with clients_by_address(ctx) as from_ip:
        sprayer = from_ip("127.0.0.2")
        statuses = [
            (await _password_grant(sprayer, app, name, "Summer2024!Summer")).status_code
            for _ in range(2)
            for name in names
        ]
        assert statuses == [400] * 8 + [429] * 2  # per-IP limit: 8 sign-in attempts a minute
        refused = await _password_grant(sprayer, app, "user0", PASSWORD)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert refused.json()["error"] == "temporarily_unavailable"
        # The victims are untouched elsewhere: each account saw only two failures.
        assert (await _password_grant(from_ip("127.0.0.3"), app, "user0", PASSWORD)).status_code == 200


async def test_B3_B5_credential_stuffing_is_slowed_and_the_victim_still_gets_in(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",))
    await make_user(ctx, "victim")
    async with clients_by_address(ctx) as from_ip:
        timings: list[float] = []
        for i in range(10):  # ten addresses, one wrong password each
            started = time.perf_counter()
            answer = await _password_grant(from_ip(f"127.0.1.{i + 1}"), app, "victim", f"guess number {i}")
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 400
        # Past the account's ceiling (5) every attempt waits signin_account_delay, from any address.
        assert min(timings[5:]) >= 0.3 > max(timings[:5]) - 0.25
        started = time.perf_counter()
        fresh = await _password_grant(from_ip("127.0.2.1"), app, "victim", PASSWORD)
        assert fresh.status_code == 200, fresh.text  # slowed, never locked out
        assert time.perf_counter() - started >= 0.3


async def test_B5_lock_is_per_account_and_address(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",))
    await make_user(ctx, "victim")
    async with clients_by_address(ctx) as from_ip:
        attacker = from_ip("127.0.3.1")
        statuses = [
            (await _password_grant(attacker, app, "victim", "wrong password x")).status_code for _ in range(5)
        ]
        assert statuses == [400, 400, 400, 400, 429]
        locked = await _password_grant(attacker, app, "victim", PASSWORD)
        assert locked.status_code == 429  # even the right password: the pair is locked
        assert 1 <= int(locked.headers["retry-after"]) <= ctx.settings.signin_window
        assert (await _password_grant(from_ip("127.0.3.2"), app, "victim", PASSWORD)).status_code == 200
    async with ctx.transaction() as session:
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.event == "login.locked"))).all()
    assert len(events) == 1 and events[0].ip == "127.0.3.1" and events[0].outcome == "refused"


async def test_B5_success_clears_the_pair(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",))
    await make_user(ctx, "victim")
    async with clients_by_address(ctx) as from_ip:
        person = from_ip("127.0.4.1")
        for _ in range(3):
            assert (await _password_grant(person, app, "victim", "typo typo typo")).status_code == 400
        assert (await _password_grant(person, app, "victim", PASSWORD)).status_code == 200
        for _ in range(3):  # counted from zero again: no lock yet
            assert (await _password_grant(person, app, "victim", "typo typo typo")).status_code == 400


async def test_B1_unknown_account_is_throttled_like_a_real_one(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",))
    await make_user(ctx, "realperson")

    async def run(username: str, ip: str) -> list[tuple[int, Any]]:
        async with clients_by_address(ctx) as from_ip:
            http = from_ip(ip)
            answers = [await _password_grant(http, app, username, "not it, not it") for _ in range(6)]
        return [(a.status_code, a.json()) for a in answers]

    real, ghost = await run("realperson", "127.0.5.1"), await run("nobody-here", "127.0.5.2")
    assert [s for s, _ in real] == [s for s, _ in ghost] == [400, 400, 400, 400, 429, 429]
    assert [b for s, b in real if s == 400] == [b for s, b in ghost if s == 400]
    assert {b["error"] for s, b in real + ghost if s == 429} == {"temporarily_unavailable"}


async def test_B3_login_page_locks_with_a_friendly_page(ctx: AppContext) -> None:
    from tests.pages.helpers import hidden_fields

    await make_user(ctx, "victim")
    async with clients_by_address(ctx) as from_ip:
        browser = from_ip("127.0.6.1")
        statuses = []
        for _ in range(5):
            page = await browser.get("/login")
            answer = await browser.post(
                "/login", data=hidden_fields(page) | {"username": "victim", "password": "nope nope nope"}
            )
            statuses.append(answer.status_code)
        assert statuses == [400, 400, 400, 400, 429]
        assert "Too many attempts" in answer.text and answer.headers["content-type"].startswith("text/html")
        assert int(answer.headers["retry-after"]) >= 1
        other = from_ip("127.0.6.2")
        page = await other.get("/login")
        assert "/password/forgot" in page.text  # the login page links to the reset page
        done = await other.post(
            "/login", data=hidden_fields(page) | {"username": "victim", "password": PASSWORD}
        )
        assert done.status_code == 303


async def test_B4_ipv6_addresses_of_one_64_count_as_one(ctx: AppContext) -> None:
    """A host given a /64 holds 2^64 addresses: spraying from a new one each time gains nothing."""
    app = await make_client(ctx, grants=("password",))
    names = [f"user{i}" for i in range(5)]
    for name in names:
        await make_user(ctx, name)
    async with clients_by_address(ctx) as from_ip:
        statuses = [
            (
                await _password_grant(from_ip(f"2001:db8:1:2::{n + 1:x}"), app, names[n % 5], "Summer2024!")
            ).status_code
            for n in range(10)
        ]
        assert statuses == [400] * 8 + [429] * 2  # 8 a minute for the whole 2001:db8:1:2::/64
        # The next /64 is another subscriber.
        assert (await _password_grant(from_ip("2001:db8:1:3::1"), app, "user0", PASSWORD)).status_code == 200
