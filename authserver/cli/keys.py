"""`authserver keys ...`: signing keys (architecture §3)."""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from typing import Any

import click

from authserver.cli.common import emit, run
from authserver.context import AppContext
from authserver.db.models import SigningKey
from authserver.domain import keys as keys_service


def _key_json(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "state": key.state,
        "alg": key.alg,
        "created": key.created_at.isoformat(),
        "activated": key.activated_at.isoformat() if key.activated_at else None,
        "retired": key.retired_at.isoformat() if key.retired_at else None,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no keys"
    return "\n".join(
        f"{r['kid']}  {r['state']:<8} created {r['created']}"
        + (f"  activated {r['activated']}" if r["activated"] else "")
        + (f"  retired {r['retired']}" if r["retired"] else "")
        for r in rows
    )


@click.group()
def keys() -> None:
    """Signing keys."""


@keys.command()
@click.option("--force", is_flag=True, help="Rotate even if the next key is younger than the JWKS max-age.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rotate(click_ctx: click.Context, force: bool, as_json: bool) -> None:
    """Rotate: next -> current, current -> retired, and a new next key is published."""

    async def work(ctx: AppContext) -> list[dict[str, Any]]:
        await ctx.ensure_keys()
        await ctx.rotate_keys(force=force)
        async with ctx.transaction() as session:
            return [_key_json(k) for k in await keys_service.list_keys(session)]

    emit(run(click_ctx, work), as_json, _table)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(click_ctx: click.Context, as_json: bool) -> None:
    """List keys: kid, state, created, activated, retired."""

    async def work(ctx: AppContext) -> list[dict[str, Any]]:
        async with ctx.transaction() as session:
            return [_key_json(k) for k in await keys_service.list_keys(session)]

    emit(run(click_ctx, work), as_json, _table)


@keys.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def prune(click_ctx: click.Context, as_json: bool) -> None:
    """Delete retired keys whose tokens have all expired (token lifetime plus clock skew)."""

    async def work(ctx: AppContext) -> list[str]:
        keep = timedelta(seconds=ctx.settings.access_token_ttl + ctx.settings.clock_skew)
        async with ctx.transaction() as session:
            return await keys_service.prune(session, keep_for=keep)

    emit(run(click_ctx, work), as_json, lambda kids: f"pruned {len(kids)} key(s)")


@keys.command()
@click.option(
    "--new-secret-stdin",
    is_flag=True,
    help="Read the new key-encryption secret from standard input (else one is generated).",
)
@click.pass_context
def rewrap(click_ctx: click.Context, new_secret_stdin: bool) -> None:
    """Re-encrypt every private key under a new key-encryption secret, in one transaction."""
    new_secret = sys.stdin.readline().strip() if new_secret_stdin else secrets.token_urlsafe(48)

    async def work(ctx: AppContext) -> str:
        new = keys_service.KeyEncryptor(new_secret)
        async with ctx.transaction() as session:
            count = await keys_service.rewrap(session, ctx.key_encryptor(), new)
        if ctx.settings.key_encryption_secret is None:
            path = keys_service.write_key_encryption_secret(ctx.settings.keys_dir, new_secret)
            return f"re-encrypted {count} key(s); the new secret is in {path}"
        shown = "" if new_secret_stdin else f"\nnew secret: {new_secret}"
        return (
            f"re-encrypted {count} key(s); set AUTHSERVER_KEY_ENCRYPTION_SECRET to the new secret "
            f"on every server now{shown}"
        )

    click.echo(run(click_ctx, work))
