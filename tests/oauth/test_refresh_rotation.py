"""Refresh-token rotation with reuse detection (RFC 9700 §4.14.2; R1-R5; architecture §4)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, update

from authserver.context import AppContext
from authserver.db.direct import DirectStatement
from authserver.db.models import AuditEvent, RefreshToken, TokenFamily
from authserver.db.types import utcnow
from authserver.domain import clients, token_families, users
from tests.oauth.helpers import (
    PASSWORD,
    RegisteredApp,
    exchange,
    get_code,
    introspect,
    make_client,
    make_resource_server,
    make_user,
    pkce_pair,
    unverified_claims,
)

GRANTS = ("password", "refresh_token")


async def login(http: httpx.AsyncClient, app: RegisteredApp, scope: str = "read write") -> dict[str, Any]:
    response = await http.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": scope},
        auth=app.basic,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def refresh(http: httpx.AsyncClient, app: RegisteredApp, token: str, **extra: str) -> httpx.Response:
    return await http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": token} | extra, auth=app.basic
    )


async def setup(ctx: AppContext) -> tuple[RegisteredApp, RegisteredApp]:
    app = await make_client(ctx, grants=GRANTS)
    rs = await make_resource_server(ctx)
    await make_user(ctx)
    return app, rs


async def live_refresh_tokens(ctx: AppContext) -> int:
    async with ctx.transaction() as session:
        query = (
            select(func.count())
            .select_from(RefreshToken)
            .join(TokenFamily, TokenFamily.id == RefreshToken.family_id)
            .where(RefreshToken.used_at.is_(None), TokenFamily.revoked_at.is_(None))
        )
        return int(await session.scalar(query) or 0)


async def test_R2_every_refresh_rotates(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, rs = await setup(ctx)
    first = await login(client, app)
    second = await refresh(client, app, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"] and body["access_token"] != first["access_token"]
    third = await refresh(client, app, body["refresh_token"])
    assert third.status_code == 200
    assert await live_refresh_tokens(ctx) == 1
    assert (await introspect(client, rs, third.json()["access_token"]))["active"] is True


async def test_R2_reuse_of_parent_kills_family_including_newest(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, rs = await setup(ctx)
    first = await login(client, app)
    second = (await refresh(client, app, first["refresh_token"])).json()

    reuse = await refresh(client, app, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    newest = await refresh(client, app, second["refresh_token"])
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert await introspect(client, rs, token) == {"active": False}
    assert await live_refresh_tokens(ctx) == 0


async def test_reuse_after_revocation(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, _ = await setup(ctx)
    tokens = await login(client, app)
    assert (
        await client.post("/revoke", data={"token": tokens["refresh_token"]}, auth=app.basic)
    ).status_code == 200
    response = await refresh(client, app, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_reuse_audit_event_names_family_without_token(
    client: httpx.AsyncClient, ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = await setup(ctx)
    caplog.set_level(logging.INFO, logger="authserver.audit")
    first = await login(client, app)
    second = (await refresh(client, app, first["refresh_token"])).json()
    await refresh(client, app, first["refresh_token"])
    async with ctx.transaction() as session:
        event = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.event == "family.revoked.refresh_reuse")
            )
        ).one()
        family = (await session.scalars(select(TokenFamily))).one()
    assert event.detail == {"family_id": family.id}
    assert event.client_id == app.client_id and event.user_id == family.user_id
    assert event.ip == "203.0.113.7"  # the address of the request that presented it again
    lines = [r for r in caplog.records if r.getMessage() == "family.revoked.refresh_reuse"]
    assert len(lines) == 1 and lines[0].audit["family_id"] == family.id  # type: ignore[attr-defined]
    secrets = [first["refresh_token"], second["refresh_token"], first["access_token"], second["access_token"]]
    rendered = repr(event.__dict__) + repr(lines[0].__dict__)
    for secret in secrets:
        assert secret not in rendered
        assert token_families.digest(secret) not in rendered


async def test_R4_absolute_lifetime_holds_even_when_active(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, _ = await setup(ctx)
    tokens = await login(client, app)
    async with ctx.transaction() as session:
        await session.execute(update(TokenFamily).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await refresh(client, app, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_idle_timeout(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, _ = await setup(ctx)
    tokens = await login(client, app)
    idle = timedelta(seconds=ctx.settings.refresh_idle_ttl + 1)
    async with ctx.transaction() as session:  # the live token was issued (last used) that long ago
        await session.execute(update(RefreshToken).values(created_at=utcnow() - idle))
    response = await refresh(client, app, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_R3_refresh_may_narrow_but_not_widen(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, _ = await setup(ctx)
    tokens = await login(client, app, scope="read")
    wider = await refresh(client, app, tokens["refresh_token"], scope="read write")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    tokens = await login(client, app, scope="read write")
    narrow = await refresh(client, app, tokens["refresh_token"], scope="read")
    assert narrow.status_code == 200 and narrow.json()["scope"] == "read"
    # RFC 6749 §6: the new refresh token keeps the original scope.
    again = await refresh(client, app, narrow.json()["refresh_token"], scope="read write")
    assert again.status_code == 200 and again.json()["scope"] == "read write"


async def test_R1_refresh_by_another_client(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, _ = await setup(ctx)
    other = await make_client(ctx, grants=GRANTS)
    tokens = await login(client, app)
    response = await refresh(client, other, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    # Refused without consuming it: on PostgreSQL the self-committing rotation itself must check
    # the caller, since nothing after its commit could undo it.
    assert (await refresh(client, app, tokens["refresh_token"])).status_code == 200


async def test_R5_disabling_user_revokes_families(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, rs = await setup(ctx)
    tokens = await login(client, app)
    async with ctx.transaction() as session:
        await users.set_disabled(session, "alice", True)
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}
    assert (await refresh(client, app, tokens["refresh_token"])).json()["error"] == "invalid_grant"


async def test_R5_deleting_client_revokes_families(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, rs = await setup(ctx)
    tokens = await login(client, app)
    async with ctx.transaction() as session:
        await clients.delete_client(session, app.client_id)
        events = list(await session.scalars(select(AuditEvent.event)))
    assert "family.revoked.client_deleted" in events
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}
    assert await introspect(client, rs, tokens["refresh_token"]) == {"active": False}


async def test_revoke_user_families_service_optionally_per_client(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, rs = await setup(ctx)
    other = await make_client(ctx, grants=GRANTS)
    mine, theirs = await login(client, app), await login(client, other)
    user = (await introspect(client, rs, mine["access_token"]))["sub"]
    async with ctx.transaction() as session:
        assert (
            await token_families.revoke_user_families(
                session, user, "consent_withdrawn", client_id=app.client_id
            )
            == 1
        )
    assert await introspect(client, rs, mine["access_token"]) == {"active": False}
    assert (await introspect(client, rs, theirs["access_token"]))["active"] is True
    async with ctx.transaction() as session:
        assert await token_families.revoke_user_families(session, user, "logout_everywhere") == 1
    assert await introspect(client, rs, theirs["access_token"]) == {"active": False}


@pytest.mark.parametrize("settings_overrides", [{"refresh_grace_seconds": 30}])
async def test_grace_window_retry_never_leaves_two_live_branches(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, _ = await setup(ctx)
    first = await login(client, app)
    lost = await refresh(client, app, first["refresh_token"])  # the client never saw this answer
    assert lost.status_code == 200 and await live_refresh_tokens(ctx) == 1
    retry = await refresh(client, app, first["refresh_token"])
    assert retry.status_code == 200, retry.text
    assert await live_refresh_tokens(ctx) == 1  # the lost child was superseded, not kept
    # The superseded child is dead; presenting it is reuse and kills the family.
    dead = await refresh(client, app, lost.json()["refresh_token"])
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    assert await live_refresh_tokens(ctx) == 0


@pytest.mark.parametrize("settings_overrides", [{"refresh_grace_seconds": 30}])
async def test_grace_window_ends_when_child_was_used(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, _ = await setup(ctx)
    first = await login(client, app)
    child = (await refresh(client, app, first["refresh_token"])).json()
    assert (await refresh(client, app, child["refresh_token"])).status_code == 200  # the child was received
    late = await refresh(client, app, first["refresh_token"])
    assert late.status_code == 400 and await live_refresh_tokens(ctx) == 0


@pytest.mark.parametrize("settings_overrides", [{"refresh_grace_seconds": 30}])
async def test_grace_window_concurrent_retries_keep_at_most_one_live(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, _ = await setup(ctx)
    first = await login(client, app)
    answers = await asyncio.gather(*(refresh(client, app, first["refresh_token"]) for _ in range(20)))
    assert all(a.status_code in (200, 400) for a in answers), [
        a.text for a in answers if a.status_code >= 500
    ]
    assert await live_refresh_tokens(ctx) <= 1


async def test_50_concurrent_refreshes_one_winner_then_family_revoked(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, _ = await setup(ctx)
    tokens = await login(client, app)
    answers = await asyncio.gather(*(refresh(client, app, tokens["refresh_token"]) for _ in range(50)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 1 and statuses.count(400) == 49, sorted(statuses)
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}
    winner = next(a.json() for a in answers if a.status_code == 200)
    # By the reuse rule the losers revoked the family: the one new token is dead too.
    assert (await refresh(client, app, winner["refresh_token"])).status_code == 400
    async with ctx.transaction() as session:
        family = (await session.scalars(select(TokenFamily))).one()
        children = await session.scalar(select(func.count()).select_from(RefreshToken))
    assert family.revoked_at is not None and family.revoked_reason == "refresh_reuse"
    assert children == 2  # the presented token and exactly one child


@pytest.mark.parametrize("settings_overrides", [{"refresh_grace_seconds": 30}])
async def test_grace_window_accepts_one_retry_only_on_every_backend(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """20 racing retries: on SQLite they arrive one after another, on PostgreSQL they race;
    either way at most one is accepted and the rest are reuse (README, "Grace window")."""
    app, _ = await setup(ctx)
    first = await login(client, app)
    assert (await refresh(client, app, first["refresh_token"])).status_code == 200  # the lost answer
    answers = await asyncio.gather(*(refresh(client, app, first["refresh_token"]) for _ in range(20)))
    assert [a.status_code for a in answers].count(200) <= 1, [a.status_code for a in answers]
    assert await live_refresh_tokens(ctx) == 0  # a second retry was reuse: the family is dead


@pytest.mark.parametrize("settings_overrides", [{"refresh_grace_seconds": 30}])
async def test_grace_window_second_sequential_retry_is_reuse(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, _ = await setup(ctx)
    first = await login(client, app)
    assert (await refresh(client, app, first["refresh_token"])).status_code == 200
    assert (await refresh(client, app, first["refresh_token"])).status_code == 200  # one retry
    again = await refresh(client, app, first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert await live_refresh_tokens(ctx) == 0


async def test_R5_disabled_user_refresh_revokes_family_although_request_fails(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, rs = await setup(ctx)
    tokens = await login(client, app)
    async with ctx.transaction() as session:
        user = await users.get_user(session, "alice")
        # Flip the flag directly: `users.set_disabled` would revoke by itself.
        await session.execute(update(users.User).where(users.User.id == user.id).values(disabled=True))
    refused = await refresh(client, app, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}
    async with ctx.transaction() as session:
        family = (await session.scalars(select(TokenFamily))).one()
    assert family.revoked_reason == "user_disabled"


class Statements:
    """Counts what reaches the database: statements through SQLAlchemy, and `DirectStatement`s."""

    def __init__(self, ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
        self.through_sqlalchemy: list[str] = []
        self.direct = 0
        event.listen(ctx.engine.sync_engine, "before_cursor_execute", self._seen)
        self._ctx = ctx
        fetchrow = DirectStatement.fetchrow

        async def counted(statement: DirectStatement, *args: Any) -> Any:
            self.direct += 1
            return await fetchrow(statement, *args)

        monkeypatch.setattr(DirectStatement, "fetchrow", counted)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.through_sqlalchemy.append(statement.split()[0].upper())

    def reset(self) -> None:
        self.through_sqlalchemy.clear()
        self.direct = 0


@pytest.mark.parametrize("settings_overrides", [{"role_scopes": {"admin": ["admin:write"]}}])
async def test_usual_refresh_is_one_statement_on_postgresql_and_nothing_after_it(
    client: httpx.AsyncClient, ctx: AppContext, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the rotation commits by itself, so no query may follow it (a read that
    failed after the commit would burn the token): the roles and the user come with it."""
    app = await make_client(ctx, grants=GRANTS, scope="read admin:write roles")
    await make_user(ctx, "alice", roles=("admin", "ops"))
    tokens = await login(client, app, scope="read admin:write roles")
    seen = Statements(ctx, monkeypatch)
    answer = await refresh(client, app, tokens["refresh_token"])
    assert answer.status_code == 200, answer.text
    claims = unverified_claims(answer.json()["access_token"])
    assert claims["roles"] == ["admin", "ops"] and claims["scope"] == "admin:write read roles"
    if backend == "postgresql":
        assert (seen.direct, seen.through_sqlalchemy) == (1, [])
    else:
        assert seen.direct == 0 and {"SELECT", "UPDATE", "INSERT"} <= set(seen.through_sqlalchemy)
    # The rotation is real: the new token works once, the old one is reuse.
    assert (await refresh(client, app, answer.json()["refresh_token"])).status_code == 200
    assert (await refresh(client, app, tokens["refresh_token"])).json()["error"] == "invalid_grant"
    assert await live_refresh_tokens(ctx) == 0


async def test_id_token_on_refresh_carries_the_users_claims_without_a_query(
    client: httpx.AsyncClient, ctx: AppContext, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = "openid email profile offline_access"
    app = await make_client(ctx, grants=("authorization_code", "refresh_token"), scope=scope)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge, scope=scope)
    first = (await client.post("/token", data=exchange(code, verifier), auth=app.basic)).json()
    seen = Statements(ctx, monkeypatch)
    renewed = await refresh(client, app, first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    before, after = unverified_claims(first["id_token"]), unverified_claims(renewed.json()["id_token"])
    for claim in ("sub", "email", "email_verified", "preferred_username", "updated_at", "auth_time"):
        assert after[claim] == before[claim], claim
    assert after["email"] == "alice@example.com" and after["preferred_username"] == "alice"
    if backend == "postgresql":
        assert (seen.direct, seen.through_sqlalchemy) == (1, [])


@pytest.mark.parametrize(
    "extra",
    [{"scope": "read admin"}, {"resource": "https://elsewhere.example/"}],
    ids=["wider-scope", "other-resource"],
)
async def test_refused_refresh_leaves_the_token_usable(
    client: httpx.AsyncClient, ctx: AppContext, extra: dict[str, str]
) -> None:
    """A request refused on its scope or resource rotates nothing, on both paths."""
    app, _ = await setup(ctx)
    tokens = await login(client, app)
    refused = await refresh(client, app, tokens["refresh_token"], **extra)
    assert refused.status_code == 400 and refused.json()["error"] in ("invalid_scope", "invalid_target")
    assert (await refresh(client, app, tokens["refresh_token"])).status_code == 200


async def test_client_without_the_refresh_grant_cannot_rotate_its_own_token(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """T9 holds before the one-statement rotation: a client whose refresh_token grant was taken
    away gets unauthorized_client and its token is not consumed."""
    app, _ = await setup(ctx)
    tokens = await login(client, app)
    async with ctx.transaction() as session:
        await clients.update_client(session, app.client_id, grant_types=["password"])
    refused = await refresh(client, app, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    async with ctx.transaction() as session:
        used = await session.scalar(select(func.count()).where(RefreshToken.used_at.is_not(None)))
    assert used == 0


@pytest.mark.parametrize("empty", ["scope", "resource"])
async def test_empty_scope_or_resource_is_omitted(
    client: httpx.AsyncClient, ctx: AppContext, empty: str
) -> None:
    """RFC 6749 §3.1: a parameter sent without a value is treated as if omitted."""
    app, _ = await setup(ctx)
    tokens = await login(client, app)
    answer = await refresh(client, app, tokens["refresh_token"], **{empty: ""})
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "read write"
    cc = await make_client(ctx, grants=("client_credentials",))
    issued = await client.post(
        "/token", data={"grant_type": "client_credentials", "resource": ""}, auth=cc.basic
    )
    assert issued.status_code == 200, issued.text
