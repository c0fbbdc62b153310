"""`authserver clients ...`: OAuth client registrations."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import click

from authserver.cli.common import CliError, emit, run
from authserver.context import AppContext
from authserver.db.models import Client
from authserver.domain import clients as clients_service


def _client_json(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.public,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": client.grant_types,
        "redirect_uris": client.redirect_uris,
        "scope": " ".join(client.scopes),
        "resources": client.resources,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "introspection_allowed": client.introspection_allowed,
        "created_at": client.created_at.isoformat(),
    }


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `24h`, `7d`, or a plain number of seconds."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match:
        raise click.BadParameter("use a number with s, m, h or d, such as 24h")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=int(match.group(1)) * unit)


@click.group()
def clients() -> None:
    """OAuth clients."""


@clients.command()
@click.option("--name", required=True)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    required=True,
    help="authorization_code, refresh_token, client_credentials, password or "
    "urn:ietf:params:oauth:grant-type:token-exchange (repeatable).",
)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeatable).")
@click.option("--scope", default="", help='Space-separated scopes, such as "openid profile".')
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="RFC 8707 resource the client may ask tokens for (repeatable).",
)
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_redirect_uris",
    multiple=True,
    help="Exact URI the end-session endpoint may send the browser to after logout (repeatable).",
)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option(
    "--introspect",
    is_flag=True,
    help="Allow this client (a resource server) to call /introspect (RFC 7662 §4).",
)
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
)
@click.option(
    "--jwks-file",
    type=click.File("r"),
    help="The client's public JWKS (JSON), for --auth-method private_key_jwt.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def create(
    click_ctx: click.Context,
    name: str,
    grant_types: tuple[str, ...],
    redirect_uris: tuple[str, ...],
    scope: str,
    resources: tuple[str, ...],
    post_logout_redirect_uris: tuple[str, ...],
    public: bool,
    introspect: bool,
    auth_method: str | None,
    jwks_file: Any,
    as_json: bool,
) -> None:
    """Register a client; its secret is printed now and never again."""
    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.load(jwks_file)
        except ValueError:
            raise CliError("--jwks-file is not valid JSON") from None

    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            registered = await clients_service.create_client(
                session,
                name=name,
                grant_types=grant_types,
                redirect_uris=redirect_uris,
                scopes=scope,
                public=public,
                auth_method=auth_method,
                resources=resources,
                jwks=jwks,
                post_logout_redirect_uris=post_logout_redirect_uris,
                introspection_allowed=introspect,
            )
            return _client_json(registered.client) | {"client_secret": registered.secret}

    def text(c: dict[str, Any]) -> str:
        lines = [f"client_id: {c['client_id']}"]
        if c["client_secret"]:
            lines.append(f"client_secret: {c['client_secret']}")
            lines.append("(store the secret now: it is not shown again)")
        return "\n".join(lines)

    emit(run(click_ctx, work), as_json, text)


@clients.command()
@click.argument("client_id")
@click.option("--grant-type", "grant_types", multiple=True, help="Replace the grant types (repeatable).")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, help="Replace the redirect URIs (repeatable)."
)
@click.option("--scope", default=None, help="Replace the scopes.")
@click.option("--resource", "resources", multiple=True, help="Replace the RFC 8707 resources (repeatable).")
@click.option("--introspect/--no-introspect", default=None, help="Allow or forbid calls to /introspect.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def update(
    click_ctx: click.Context,
    client_id: str,
    grant_types: tuple[str, ...],
    redirect_uris: tuple[str, ...],
    scope: str | None,
    resources: tuple[str, ...],
    introspect: bool | None,
    as_json: bool,
) -> None:
    """Change a client; every server applies it within AUTHSERVER_CACHE_SYNC_INTERVAL seconds."""

    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            client = await clients_service.update_client(
                session,
                client_id,
                grant_types=grant_types or None,
                redirect_uris=redirect_uris or None,
                scopes=scope,
                resources=resources or None,
                introspection_allowed=introspect,
            )
            return _client_json(client)

    emit(run(click_ctx, work), as_json, lambda c: f"updated client {c['client_id']}")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(click_ctx: click.Context, as_json: bool) -> None:
    """List clients (never their secrets)."""

    async def work(ctx: AppContext) -> list[dict[str, Any]]:
        async with ctx.transaction() as session:
            return [_client_json(c) for c in await clients_service.list_clients(session)]

    def text(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no clients"
        return "\n".join(
            f"{r['client_id']}  {r['name']:<24} {'public' if r['public'] else 'confidential':<12} "
            f"{','.join(r['grant_types'])}  [{r['scope']}]"
            for r in rows
        )

    emit(run(click_ctx, work), as_json, text)


@clients.command()
@click.argument("client_id")
@click.pass_context
def delete(click_ctx: click.Context, client_id: str) -> None:
    """Delete a client; its tokens stop working."""

    async def work(ctx: AppContext) -> None:
        async with ctx.transaction() as session:
            await clients_service.delete_client(session, client_id)

    run(click_ctx, work)
    click.echo(f"deleted client {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option(
    "--overlap", default="24h", show_default=True, help="How long the old secret keeps working (s, m, h, d)."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rotate_secret(click_ctx: click.Context, client_id: str, overlap: str, as_json: bool) -> None:
    """Issue a new client secret; the old one works for the overlap, then is refused."""
    window = parse_duration(overlap)

    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            secret = await clients_service.rotate_secret(session, client_id, window)
            return {
                "client_id": client_id,
                "client_secret": secret,
                "old_secret_valid_seconds": int(window.total_seconds()),
            }

    emit(
        run(click_ctx, work),
        as_json,
        lambda d: f"client_secret: {d['client_secret']}\n(store it now: it is not shown again)",
    )
