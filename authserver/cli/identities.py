"""`authserver identities ...`: local accounts linked to Better Auth users (token exchange).

A link says "this Better Auth user is this local account" (identity = issuer + Better Auth user id,
never an email). An operator makes one after checking that both belong to the same person; with
`AUTHSERVER_BETTER_AUTH_AUTO_CREATE_USERS` on, first use creates an account and its link instead.
"""

from __future__ import annotations

from typing import Any

import click

from authserver.cli.common import CliError, emit, run, settings_from
from authserver.context import AppContext
from authserver.db.models import ExternalIdentity
from authserver.domain import external_identities
from authserver.oauth.better_auth import better_auth_config


def _link_json(row: ExternalIdentity) -> dict[str, Any]:
    return {
        "issuer": row.issuer,
        "subject": row.subject,
        "user_id": row.user_id,
        "linked_by": row.linked_by,
        "created_at": row.created_at.isoformat(),
    }


def _issuer(click_ctx: click.Context, given: str | None) -> str:
    """--issuer, else the configured Better Auth app's issuer (exactly what its tokens' `iss` is
    compared with, so a link made here is found by the token exchange)."""
    if given:
        return given
    settings = settings_from(click_ctx)
    if settings.better_auth_url is None:
        raise CliError("give --issuer, or set AUTHSERVER_BETTER_AUTH_URL")
    return better_auth_config(settings).issuer_id


_ISSUER_HELP = "The outside issuer (default: the configured Better Auth app's issuer)."


@click.group()
def identities() -> None:
    """Links between local accounts and Better Auth users."""


@identities.command()
@click.argument("user_ref", metavar="USER")
@click.argument("subject", metavar="BETTER_AUTH_USER_ID")
@click.option("--issuer", default=None, help=_ISSUER_HELP)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def link(click_ctx: click.Context, user_ref: str, subject: str, issuer: str | None, as_json: bool) -> None:
    """Link USER (id, email or username) to a Better Auth user id."""
    iss = _issuer(click_ctx, issuer)

    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            row = await external_identities.link(session, issuer=iss, subject=subject, user_ref=user_ref)
            return _link_json(row)

    emit(run(click_ctx, work), as_json, lambda r: f"linked {r['subject']} at {r['issuer']} to {r['user_id']}")


@identities.command()
@click.argument("subject", metavar="BETTER_AUTH_USER_ID")
@click.option("--issuer", default=None, help=_ISSUER_HELP)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def unlink(click_ctx: click.Context, subject: str, issuer: str | None, as_json: bool) -> None:
    """Remove a link. Tokens already issued stay valid until they expire or are revoked."""
    iss = _issuer(click_ctx, issuer)

    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            user_id = await external_identities.unlink(session, issuer=iss, subject=subject)
            return {"issuer": iss, "subject": subject, "user_id": user_id}

    emit(run(click_ctx, work), as_json, lambda r: f"unlinked {r['subject']} from {r['user_id']}")


@identities.command("list")
@click.option("--user", "user_ref", default=None, metavar="USER", help="Only this account's links.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(click_ctx: click.Context, user_ref: str | None, as_json: bool) -> None:
    """List links."""

    async def work(ctx: AppContext) -> list[dict[str, Any]]:
        async with ctx.transaction() as session:
            return [_link_json(r) for r in await external_identities.list_links(session, user_ref)]

    def text(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no links"
        return "\n".join(f"{r['user_id']}  {r['linked_by']:<8} {r['issuer']}  {r['subject']}" for r in rows)

    emit(run(click_ctx, work), as_json, text)
