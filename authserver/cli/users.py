"""`authserver users ...`: accounts and roles."""

from __future__ import annotations

import sys
from typing import Any

import click

from authserver.cli.common import CliError, emit, run
from authserver.context import AppContext
from authserver.db.models import User
from authserver.domain import users as users_service


def _user_json(user: User, roles: list[str]) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "email_verified": user.email_verified,
        "disabled": user.disabled,
        "roles": roles,
        "created_at": user.created_at.isoformat(),
    }


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise CliError("no password on standard input")
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def users() -> None:
    """User accounts."""


@users.command()
@click.option("--email", required=True)
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", "roles", multiple=True, help="Role to grant (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def create(
    click_ctx: click.Context,
    email: str,
    username: str,
    password_stdin: bool,
    roles: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a user."""
    password = _read_password(password_stdin)

    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            user = await users_service.create_user(
                session,
                ctx.hasher,
                ctx.password_rules,
                email=email,
                username=username,
                password=password,
                roles=roles,
            )
            return _user_json(user, sorted(set(roles)))

    emit(run(click_ctx, work), as_json, lambda u: f"created user {u['id']} ({u['username']})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(click_ctx: click.Context, as_json: bool) -> None:
    """List users."""

    async def work(ctx: AppContext) -> list[dict[str, Any]]:
        async with ctx.transaction() as session:
            return [_user_json(u, r) for u, r in await users_service.list_users(session)]

    def text(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no users"
        return "\n".join(
            f"{r['id']}  {r['username']:<20} {r['email']:<32} "
            f"{'disabled' if r['disabled'] else 'active':<8} {','.join(r['roles'])}"
            for r in rows
        )

    emit(run(click_ctx, work), as_json, text)


def _set_disabled(click_ctx: click.Context, user_ref: str, disabled: bool) -> dict[str, Any]:
    async def work(ctx: AppContext) -> dict[str, Any]:
        async with ctx.transaction() as session:
            user = await users_service.set_disabled(session, user_ref, disabled)
            return _user_json(user, await users_service.roles_of(session, user.id))

    return run(click_ctx, work)


@users.command()
@click.argument("user_ref", metavar="USER")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def disable(click_ctx: click.Context, user_ref: str, as_json: bool) -> None:
    """Disable a user (by id, email or username): signin refused, tokens revoked."""
    emit(_set_disabled(click_ctx, user_ref, True), as_json, lambda u: f"disabled {u['username']}")


@users.command()
@click.argument("user_ref", metavar="USER")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def enable(click_ctx: click.Context, user_ref: str, as_json: bool) -> None:
    """Enable a disabled user again."""
    emit(_set_disabled(click_ctx, user_ref, False), as_json, lambda u: f"enabled {u['username']}")


@users.group()
def roles() -> None:
    """A user's roles (they feed scope authorization)."""


def _change_role(click_ctx: click.Context, user_ref: str, role: str, add: bool) -> list[str]:
    async def work(ctx: AppContext) -> list[str]:
        async with ctx.transaction() as session:
            change = users_service.add_role if add else users_service.remove_role
            return await change(session, user_ref, role)

    return run(click_ctx, work)


@roles.command("add")
@click.argument("user_ref", metavar="USER")
@click.argument("role")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def roles_add(click_ctx: click.Context, user_ref: str, role: str, as_json: bool) -> None:
    """Grant ROLE to USER."""
    emit(_change_role(click_ctx, user_ref, role, True), as_json, lambda r: "roles: " + " ".join(r))


@roles.command("remove")
@click.argument("user_ref", metavar="USER")
@click.argument("role")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def roles_remove(click_ctx: click.Context, user_ref: str, role: str, as_json: bool) -> None:
    """Take ROLE away from USER."""
    emit(
        _change_role(click_ctx, user_ref, role, False),
        as_json,
        lambda r: "roles: " + (" ".join(r) or "(none)"),
    )
