"""Signing-key lifecycle (architecture §3; J9-J11) through the domain, the CLI and HTTP."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select, update

from authserver.cli import cli
from authserver.context import AppContext
from authserver.db.models import SigningKey
from authserver.db.types import utcnow
from authserver.domain import keys
from tests.conftest import ISSUER
from tests.oauth.helpers import make_client, unverified_header

FAST = {"key_refresh_interval": 0.05, "jwks_max_age": 0}


async def rotate(ctx: AppContext, *, force: bool = True) -> None:
    async with ctx.transaction() as session:
        await keys.rotate(
            session, ctx.key_encryptor(), 2048, min_next_age=timedelta(seconds=300), force=force
        )


async def rows(ctx: AppContext) -> list[SigningKey]:
    async with ctx.transaction() as session:
        return list(await keys.list_keys(session))


async def test_first_run_creates_current_and_next(ctx: AppContext) -> None:
    assert await ctx.ensure_keys() is True
    assert await ctx.ensure_keys() is False
    assert sorted(k.state for k in await rows(ctx)) == ["current", "next"]


async def test_kid_is_rfc7638_thumbprint_and_private_key_encrypted(ctx: AppContext) -> None:
    await ctx.ensure_keys()
    for row in await rows(ctx):
        assert RSAKey.import_key(row.public_jwk).thumbprint() == row.kid
        assert "PRIVATE KEY" not in row.private_key_encrypted and row.private_key_encrypted.startswith("v1:")
        pem = ctx.key_encryptor().decrypt(row.private_key_encrypted, row.kid)
        assert b"PRIVATE KEY" in pem
        with pytest.raises(keys.KeyError_):
            keys.KeyEncryptor("another secret that is long enough!!").decrypt(
                row.private_key_encrypted, row.kid
            )
    kek = ctx.settings.keys_dir / keys.KEK_FILE
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600


async def test_rotation_moves_states_and_refuses_young_next(ctx: AppContext) -> None:
    await ctx.ensure_keys()
    before = {k.state: k.kid for k in await rows(ctx)}
    with pytest.raises(keys.KeyError_, match="Wait"):
        await rotate(ctx, force=False)
    await rotate(ctx)
    after = {k.kid: k.state for k in await rows(ctx)}
    assert after[before["current"]] == "retired" and after[before["next"]] == "current"
    assert list(after.values()).count("next") == 1 and len(after) == 3


async def test_concurrent_rotations_have_one_winner(ctx: AppContext, backend: str) -> None:
    await ctx.ensure_keys()
    results = await asyncio.gather(rotate(ctx), rotate(ctx), return_exceptions=True)
    assert sum(r is None for r in results) >= 1
    states = [k.state for k in await rows(ctx)]
    assert states.count("current") == 1 and states.count("next") == 1


@pytest.mark.parametrize("settings_overrides", [FAST])
async def test_rotation_keeps_old_tokens_valid_and_new_key_prepublished(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx)
    jwks_before = (await client.get("/.well-known/jwks.json")).json()
    old = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)).json()
    next_kid = next(k.kid for k in await rows(ctx) if k.state == "next")
    assert next_kid in {k["kid"] for k in jwks_before["keys"]}  # published before it signs (J9)

    await rotate(ctx)
    await asyncio.sleep(0.1)
    new = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)).json()
    assert unverified_header(new["access_token"])["kid"] == next_kid

    jwks_after = KeySet.import_key_set((await client.get("/.well-known/jwks.json")).json())
    for token in (old["access_token"], new["access_token"]):
        decoded = jwt.decode(token, jwks_after, algorithms=["RS256"])
        assert decoded.claims["iss"] == ISSUER


async def test_prune_deletes_only_expired_retired_keys(ctx: AppContext) -> None:
    await ctx.ensure_keys()
    await rotate(ctx)
    await rotate(ctx)
    retired = sorted((k for k in await rows(ctx) if k.state == "retired"), key=lambda k: k.created_at)
    async with ctx.transaction() as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == retired[0].kid)
            .values(retired_at=utcnow() - timedelta(hours=2))
        )
        pruned = await keys.prune(session, keep_for=timedelta(seconds=660))
    assert pruned == [retired[0].kid]
    assert {k.kid for k in await rows(ctx)} >= {retired[1].kid}


def cli_env(ctx: AppContext) -> dict[str, str | None]:
    return {
        "AUTHSERVER_DATABASE_URL": ctx.settings.database_url,
        "AUTHSERVER_KEYS_DIR": str(ctx.settings.keys_dir),
        "AUTHSERVER_CONFIG": None,
        "AUTHSERVER_KEY_ENCRYPTION_SECRET": None,
    }


def test_cli_keys_list_rotate_prune(ctx_sync: tuple[AppContext, Path]) -> None:
    ctx, _ = ctx_sync
    runner = CliRunner()
    env = cli_env(ctx)
    listed = runner.invoke(cli, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    refused = runner.invoke(cli, ["keys", "rotate"], env=env)  # creates keys, next is brand new
    assert (
        refused.exit_code == 1 and "Wait" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    )
    rotated = runner.invoke(cli, ["keys", "rotate", "--force", "--json"], env=env)
    assert rotated.exit_code == 0, rotated.output
    states = sorted(k["state"] for k in json.loads(rotated.stdout))
    assert states == ["current", "next", "retired"]
    assert set(json.loads(rotated.stdout)[0]) == {"kid", "state", "alg", "created", "activated", "retired"}
    pruned = runner.invoke(cli, ["keys", "prune", "--json"], env=env)
    assert pruned.exit_code == 0 and json.loads(pruned.stdout) == []


def test_cli_rewrap_replaces_dev_secret(ctx_sync: tuple[AppContext, Path]) -> None:
    ctx, _ = ctx_sync
    runner = CliRunner()
    env = cli_env(ctx)
    assert runner.invoke(cli, ["keys", "rotate", "--force"], env=env).exit_code == 0
    kek = ctx.settings.keys_dir / keys.KEK_FILE
    old_secret = kek.read_text().strip()
    result = runner.invoke(cli, ["keys", "rewrap"], env=env)
    assert result.exit_code == 0, result.output
    new_secret = kek.read_text().strip()
    assert new_secret != old_secret and new_secret not in result.output
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600

    async def check() -> None:
        async with ctx.transaction() as session:
            for row in await session.scalars(select(SigningKey)):
                keys.KeyEncryptor(new_secret).decrypt(row.private_key_encrypted, row.kid)
                with pytest.raises(keys.KeyError_):
                    keys.KeyEncryptor(old_secret).decrypt(row.private_key_encrypted, row.kid)
        await ctx.aclose()

    asyncio.run(check())


@pytest.fixture
def ctx_sync(settings):  # type: ignore[no-untyped-def]
    """A migrated database for CLI tests, which run their own event loop."""
    from authserver.db import migrations

    async def migrate() -> None:
        context = AppContext.create(settings)
        try:
            await migrations.upgrade(context.engine)
        finally:
            await context.aclose()  # in the same event loop that opened the connections

    asyncio.run(migrate())
    return AppContext.create(settings), settings.keys_dir


@pytest.mark.parametrize(
    "settings_overrides", [{"key_rotation_interval": 3600, "key_refresh_interval": 0.05}]
)
async def test_automatic_rotation_rotates_once_and_prunes(ctx: AppContext) -> None:
    await ctx.ensure_keys()
    await rotate(ctx)  # leaves one retired key
    async with ctx.transaction() as session:
        long_ago = utcnow() - timedelta(hours=3)
        await session.execute(
            update(SigningKey).where(SigningKey.state == "retired").values(retired_at=long_ago)
        )
        await session.execute(
            update(SigningKey).where(SigningKey.state == "current").values(activated_at=long_ago)
        )
        await session.execute(
            update(SigningKey).where(SigningKey.state == "next").values(created_at=long_ago)
        )
    before = {k.state: k.kid for k in await rows(ctx)}
    # Three workers' maintenance steps at once: one rotation wins.
    await asyncio.gather(*(ctx.maintain_keys_once() for _ in range(3)))
    after = {k.kid: k.state for k in await rows(ctx)}
    assert after[before["next"]] == "current" and after[before["current"]] == "retired"
    assert before["retired"] not in after  # pruned: its tokens expired long ago
    assert sorted(after.values()) == ["current", "next", "retired"]
