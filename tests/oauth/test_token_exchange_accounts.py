"""Which local account a Better Auth user's exchange is for: links, creation on first use, refusals.

Identity is (issuer, Better Auth user id), never an email (E7). Better Auth is mocked with respx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner
from sqlalchemy import select

from authserver.cli import cli
from authserver.context import AppContext
from authserver.db.models import AuditEvent, ExternalIdentity, User
from authserver.domain import clients, users
from authserver.domain.errors import InvalidInput
from authserver.http.app import create_app
from authserver.settings import Settings, SettingsError, load_settings
from tests.conftest import ISSUER
from tests.oauth.better_auth_fake import BA, EXCHANGE, FakeBetterAuth, jwt_exchange, link, session_exchange
from tests.oauth.helpers import RegisteredApp, make_client, make_user, unverified_claims


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"better_auth_url": BA, "better_auth_auto_create_users": True}


@pytest.fixture
def better_auth() -> Iterator[FakeBetterAuth]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeBetterAuth(router)


@pytest.fixture
async def app(ctx: AppContext) -> RegisteredApp:
    return await make_client(ctx, grants=(EXCHANGE,), scope="openid profile email orders:read")


async def events(ctx: AppContext, *names: str) -> list[AuditEvent]:
    async with ctx.transaction() as session:
        query = select(AuditEvent).where(AuditEvent.event.in_(names)).order_by(AuditEvent.id)
        return list(await session.scalars(query))


async def links(ctx: AppContext) -> list[ExternalIdentity]:
    async with ctx.transaction() as session:
        return list(await session.scalars(select(ExternalIdentity)))


async def test_X5_first_exchange_creates_and_links_an_account(
    client: httpx.AsyncClient, ctx: AppContext, app: RegisteredApp, better_auth: FakeBetterAuth
) -> None:
    better_auth.user["emailVerified"] = True
    first = await client.post("/token", data=jwt_exchange(better_auth.jwt()), auth=app.basic)
    assert first.status_code == 200, first.text
    sub = unverified_claims(first.json()["access_token"])["sub"]
    async with ctx.transaction() as session:
        user = await session.get(User, sub)
    assert user is not None and user.email == "ada@example.com"
    assert user.email_verified is True  # Better Auth verified it: nothing else makes an account
    assert user.username.startswith("ba-") and not user.disabled
    # No usable password: the account signs in only through Better Auth (or a later reset).
    assert await ctx.hasher.verify(user.password_hash, "") is False
    [row] = await links(ctx)
    assert (row.issuer, row.subject, row.user_id, row.linked_by) == (BA, better_auth.user_id, sub, "auto")
    # The session of the same Better Auth user lands on the same account; nothing new is made.
    second = await client.post("/token", data=session_exchange(), auth=app.basic)
    assert unverified_claims(second.json()["access_token"])["sub"] == sub
    assert len(await links(ctx)) == 1
    created = await events(ctx, "user.created", "identity.linked", "token.exchanged")
    assert [e.event for e in created] == [
        "user.created",
        "identity.linked",
        "token.exchanged",
        "token.exchanged",
    ]
    assert created[1].detail == {"issuer": BA, "subject": better_auth.user_id, "how": "auto"}
    assert created[2].client_id == app.client_id and created[2].detail == {"credential": "better_auth_jwt"}
    assert created[3].detail == {"credential": "better_auth_session"}


@pytest.mark.parametrize("verified", [False, "true", 1, None])
async def test_X5_unverified_email_creates_no_account(
    client: httpx.AsyncClient,
    ctx: AppContext,
    app: RegisteredApp,
    better_auth: FakeBetterAuth,
    verified: object,
) -> None:
    """Account pre-hijacking: someone signs up at Better Auth with carol's address (unverified),
    exchanges, and would keep a link to the account carol later takes over by password reset.
    Only a JSON `true` counts as verified."""
    better_auth.user |= {"email": "carol@example.com", "emailVerified": verified}
    if verified is None:
        del better_auth.user["emailVerified"]
    for data in (jwt_exchange(better_auth.jwt()), session_exchange()):
        response = await client.post("/token", data=data, auth=app.basic)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"
        assert "access_token" not in response.text
    assert await links(ctx) == []
    async with ctx.transaction() as session:
        assert (await session.scalars(select(User))).all() == []
    refused = await events(ctx, "token_exchange.refused")
    assert [e.detail["reason"] for e in refused] == ["email_unverified", "email_unverified"]
    # Carol's own signup is then free to take her address.
    signup = await client.post(
        "/signup",
        json={"email": "carol@example.com", "username": "carol", "password": "a long passphrase 2026"},
    )
    assert signup.status_code == 201, signup.text


@pytest.mark.parametrize("subject", ["a\u0000b", "x" * 256, "tab\there", ""])
async def test_L6_unprintable_or_oversized_subject_is_an_invalid_token(
    client: httpx.AsyncClient, ctx: AppContext, app: RegisteredApp, better_auth: FakeBetterAuth, subject: str
) -> None:
    """Checked before any query: on PostgreSQL a NUL in a bound parameter would be a 500."""
    better_auth.user |= {"id": subject, "emailVerified": True}
    response = await client.post("/token", data=jwt_exchange(better_auth.jwt()), auth=app.basic)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The subject token is not valid.",
    }
    assert await links(ctx) == []


@pytest.mark.parametrize("verified", [False, True])
async def test_X5_never_linked_by_email(
    client: httpx.AsyncClient,
    ctx: AppContext,
    app: RegisteredApp,
    better_auth: FakeBetterAuth,
    verified: bool,
) -> None:
    """A local account with the Better Auth user's email is not theirs to take, verified or not."""
    local = await make_user(ctx, "ada")  # ada@example.com, with a password of her own
    better_auth.user["emailVerified"] = verified
    response = await client.post("/token", data=jwt_exchange(better_auth.jwt()), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert await links(ctx) == []
    [refused] = await events(ctx, "token_exchange.refused")
    assert refused.client_id == app.client_id and refused.user_id is None
    reason = "email_taken" if verified else "email_unverified"  # refused either way
    assert refused.detail == {"issuer": BA, "subject": better_auth.user_id, "reason": reason}
    # Once an operator links them, the same token works, for that account.
    await link(ctx, local.id, better_auth.user_id)
    response = await client.post("/token", data=jwt_exchange(better_auth.jwt()), auth=app.basic)
    assert unverified_claims(response.json()["access_token"])["sub"] == local.id


async def test_X7_disabled_account_refused(
    client: httpx.AsyncClient, ctx: AppContext, app: RegisteredApp, better_auth: FakeBetterAuth
) -> None:
    local = await make_user(ctx, "ada")
    await link(ctx, local.id, better_auth.user_id)
    async with ctx.transaction() as session:
        await users.set_disabled(session, local.id, True)
    response = await client.post("/token", data=session_exchange(), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    [refused] = await events(ctx, "token_exchange.refused")
    assert refused.detail["reason"] == "user_disabled"


async def test_X5_concurrent_first_exchanges_make_one_account(
    client: httpx.AsyncClient, ctx: AppContext, app: RegisteredApp, better_auth: FakeBetterAuth
) -> None:
    better_auth.user["emailVerified"] = True
    token = better_auth.jwt()
    responses = await asyncio.gather(
        *(client.post("/token", data=jwt_exchange(token), auth=app.basic) for _ in range(4))
    )
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    subjects = {unverified_claims(r.json()["access_token"])["sub"] for r in responses}
    assert len(subjects) == 1 and len(await links(ctx)) == 1
    assert len(await events(ctx, "user.created")) == 1


async def test_X5_without_auto_create_only_linked_accounts(
    database_url: str, tmp_path: Path, better_auth: FakeBetterAuth
) -> None:
    settings = Settings(
        database_url=database_url, issuer=ISSUER, keys_dir=tmp_path / "keys", better_auth_url=BA
    )
    ctx = AppContext.create(settings)
    from authserver.db import migrations

    await migrations.upgrade(ctx.engine)
    app = create_app(ctx)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http,
        ):
            registered = await make_client(ctx, grants=(EXCHANGE,), scope="orders:read")
            response = await http.post("/token", data=jwt_exchange(better_auth.jwt()), auth=registered.basic)
            assert response.status_code == 400 and response.json()["error"] == "invalid_request"
            [refused] = await events(ctx, "token_exchange.refused")
            assert refused.detail["reason"] == "not_linked"
            assert await links(ctx) == [] and len(await events(ctx, "user.created")) == 0
    finally:
        await ctx.aclose()


async def test_X1_unconfigured_server_has_no_token_exchange(ctx: AppContext) -> None:
    """Without AUTHSERVER_BETTER_AUTH_URL the grant is neither offered nor advertised (D5)."""
    # This module's settings configure it; build a second app on the same database without.
    plain = AppContext.create(ctx.settings.model_copy(update={"better_auth_url": None}))
    app = create_app(plain)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http,
        ):
            registered = await make_client(plain, grants=(EXCHANGE,), scope="orders:read")
            metadata = (await http.get("/.well-known/openid-configuration")).json()
            assert EXCHANGE not in metadata["grant_types_supported"]
            response = await http.post("/token", data=jwt_exchange("a.b.c"), auth=registered.basic)
            assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
    finally:
        await plain.aclose()


async def test_X1_public_clients_cannot_register_for_token_exchange(ctx: AppContext) -> None:
    async with ctx.transaction() as session:
        with pytest.raises(InvalidInput, match="public client cannot use token exchange"):
            await clients.create_client(session, name="spa", grant_types=(EXCHANGE,), public=True)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"better_auth_url": "http://app.example.com"}, "https"),
        ({"better_auth_url": BA, "better_auth_algorithms": ["HS256"]}, "algorithms"),
        ({"better_auth_url": BA, "better_auth_algorithms": ["none"]}, "algorithms"),
        ({"better_auth_url": BA, "better_auth_algorithms": []}, "algorithms"),
        ({"better_auth_auto_create_users": True}, "better_auth_url"),
        ({"better_auth_issuer": BA}, "better_auth_url"),
    ],
)
def test_bad_better_auth_settings_stop_start_up(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(**overrides)


def test_better_auth_settings_accepted() -> None:
    settings = load_settings(
        better_auth_url="https://app.example.com/",
        better_auth_audience="https://api.example.com",
        better_auth_algorithms=["ES256", "EdDSA"],
    )
    from authserver.oauth.better_auth import better_auth_config

    config = better_auth_config(settings)
    assert config.issuer_id == "https://app.example.com" and config.audience == "https://api.example.com"
    assert tuple(config.algorithms) == ("ES256", "EdDSA") and config.session_cache_ttl == 0


def test_identities_cli(database_url: str, tmp_path: Path, backend: str) -> None:
    env = {
        "AUTHSERVER_DATABASE_URL": database_url,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "AUTHSERVER_CONFIG": None,
        "AUTHSERVER_BETTER_AUTH_URL": BA,
    }
    runner = CliRunner()
    if backend == "postgresql":
        assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    made = runner.invoke(
        cli,
        ["users", "create", "--email", "ada@example.com", "--username", "ada", "--password-stdin", "--json"],
        input="correct horse battery staple\n",
        env=env,
    )
    assert made.exit_code == 0, made.output
    linked = runner.invoke(cli, ["identities", "link", "ada", "ba-user-1", "--json"], env=env)
    assert linked.exit_code == 0, linked.output
    assert (
        '"issuer": "https://app.example.com"' in linked.output and '"linked_by": "operator"' in linked.output
    )
    again = runner.invoke(cli, ["identities", "link", "ada", "ba-user-2"], env=env)
    assert again.exit_code == 1 and "already has a link" in again.stderr
    listed = runner.invoke(cli, ["identities", "list"], env=env)
    assert "ba-user-1" in listed.output and "operator" in listed.output
    assert runner.invoke(cli, ["identities", "unlink", "ba-user-1"], env=env).exit_code == 0
    assert runner.invoke(cli, ["identities", "list"], env=env).output.strip() == "no links"
    gone = runner.invoke(cli, ["identities", "unlink", "ba-user-1"], env=env)
    assert gone.exit_code == 1 and "No such link" in gone.stderr
    no_issuer = runner.invoke(
        cli, ["identities", "link", "ada", "x"], env=env | {"AUTHSERVER_BETTER_AUTH_URL": None}
    )
    assert no_issuer.exit_code == 1 and "--issuer" in no_issuer.stderr


def test_identities_commands_have_help() -> None:
    runner = CliRunner()
    for path in (["identities"], ["identities", "link"], ["identities", "unlink"], ["identities", "list"]):
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, path
    help_text = "".join(runner.invoke(cli, ["clients", "create", "--help"]).output.split())  # click wraps
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in help_text
