"""The operator CLI through click's runner: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from authserver.cli import cli
from authserver.context import AppContext
from authserver.db.models import Client, ClientSecret, User
from authserver.domain import clients as clients_service
from authserver.domain import users as users_service
from authserver.settings import Settings
from tests import backends

PASSWORD = "correct horse battery staple"


@pytest.fixture
def invoke(database_url: str, tmp_path: Path, backend: str):  # type: ignore[no-untyped-def]
    env = {
        "AUTHSERVER_DATABASE_URL": database_url,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "AUTHSERVER_CONFIG": None,
    }
    runner = CliRunner()
    if backend == "postgresql":
        assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0

    def _invoke(*args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, list(args), input=stdin, env=env | (extra_env or {}))

    return _invoke


def run_db(database_url: str, fn):  # type: ignore[no-untyped-def]
    async def _go():  # type: ignore[no-untyped-def]
        ctx = AppContext.create(Settings(database_url=database_url))
        try:
            async with ctx.transaction() as session:
                return await fn(ctx, session)
        finally:
            await ctx.aclose()

    return asyncio.run(_go())


def one_line_error(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_users_create_then_signin_core_verifies(invoke, database_url: str) -> None:  # type: ignore[no-untyped-def]
    result = invoke(
        "users",
        "create",
        "--email",
        "ops@example.com",
        "--username",
        "ops",
        "--password-stdin",
        "--role",
        "admin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["roles"] == ["admin"] and PASSWORD not in result.output

    async def check(ctx: AppContext, session):  # type: ignore[no-untyped-def]
        stored = (await session.scalars(select(User))).one()
        assert stored.password_hash.startswith("$argon2id$")
        for column in (stored.email, stored.username, stored.password_hash, stored.id):
            assert PASSWORD not in column
        user = await users_service.authenticate(
            session, ctx.hasher, "ops@example.com", PASSWORD, max_password_length=1024
        )
        return user.id if user else None

    assert run_db(database_url, check) == created["id"]


def test_users_list_disable_roles(invoke) -> None:  # type: ignore[no-untyped-def]
    invoke(
        "users",
        "create",
        "--email",
        "a@example.com",
        "--username",
        "anna",
        "--password-stdin",
        stdin=PASSWORD,
    )
    listed = json.loads(invoke("users", "list", "--json").stdout)
    assert [u["username"] for u in listed] == ["anna"] and "password_hash" not in listed[0]
    assert json.loads(invoke("users", "disable", "anna", "--json").stdout)["disabled"] is True
    assert json.loads(invoke("users", "enable", "a@example.com", "--json").stdout)["disabled"] is False
    assert json.loads(invoke("users", "roles", "add", "anna", "editor", "--json").stdout) == ["editor"]
    assert json.loads(invoke("users", "roles", "remove", "anna", "editor", "--json").stdout) == []
    assert "anna" in invoke("users", "list").stdout


def test_user_errors_are_one_line(invoke) -> None:  # type: ignore[no-untyped-def]
    weak = invoke(
        "users",
        "create",
        "--email",
        "b@example.com",
        "--username",
        "bob",
        "--password-stdin",
        stdin="short\n",
    )
    assert "at least 12" in one_line_error(weak)
    invoke(
        "users", "create", "--email", "b@example.com", "--username", "bob", "--password-stdin", stdin=PASSWORD
    )
    dup = invoke(
        "users",
        "create",
        "--email",
        "B@example.com",
        "--username",
        "bob2",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert "already exists" in one_line_error(dup)
    assert "No such user" in one_line_error(invoke("users", "disable", "nobody"))
    assert one_line_error(
        invoke(
            "users", "create", "--email", "c@example.com", "--username", "carl", "--password-stdin", stdin=""
        )
    )


def test_clients_lifecycle(invoke, database_url: str) -> None:  # type: ignore[no-untyped-def]
    result = invoke(
        "clients",
        "create",
        "--name",
        "Web app",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--scope",
        "openid profile",
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    secret = created["client_secret"]
    assert len(secret) >= 43

    listed = invoke("clients", "list", "--json")
    assert secret not in listed.stdout
    assert json.loads(listed.stdout)[0]["scope"] == "openid profile"

    rotated = json.loads(
        invoke("clients", "rotate-secret", created["client_id"], "--overlap", "1h", "--json").stdout
    )
    assert rotated["client_secret"] != secret

    async def secrets_state(ctx: AppContext, session):  # type: ignore[no-untyped-def]
        rows = (await session.scalars(select(ClientSecret))).all()
        assert all(secret not in r.secret_sha256 for r in rows)
        loaded = await clients_service.load_client_with_secrets(session, created["client_id"])
        assert loaded is not None
        live = loaded[1]
        return (
            clients_service.secret_matches(secret, live),
            clients_service.secret_matches(rotated["client_secret"], live),
            len(rows),
        )

    assert run_db(database_url, secrets_state) == (True, True, 2)

    assert invoke("clients", "delete", created["client_id"]).exit_code == 0

    async def count(ctx: AppContext, session):  # type: ignore[no-untyped-def]
        return len((await session.scalars(select(Client))).all())

    assert run_db(database_url, count) == 0
    assert "No such client" in one_line_error(invoke("clients", "delete", created["client_id"]))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--grant-type", "implicit"], "Unknown grant type"),
        (["--grant-type", "authorization_code"], "redirect URI"),
        (
            ["--grant-type", "authorization_code", "--redirect-uri", "http://evil.example.com/cb"],
            "plain http",
        ),
        (["--grant-type", "authorization_code", "--redirect-uri", "javascript:alert(1)"], "absolute"),
        (["--grant-type", "authorization_code", "--redirect-uri", "https://a.example/cb#x"], "fragment"),
        (["--grant-type", "client_credentials", "--public"], "public client"),
        (["--grant-type", "password", "--public"], "public client cannot use the password grant"),
        (
            ["--grant-type", "authorization_code", "--redirect-uri", "https://u@a.example/cb"],
            "user information",
        ),
    ],
)
def test_client_validation_errors(invoke, args: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    assert needle in one_line_error(invoke("clients", "create", "--name", "x", *args))


def test_bad_setting_is_one_line_naming_it(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("users", "list", extra_env={"AUTHSERVER_ISSUER": "http://example.com"})
    assert "AUTHSERVER_ISSUER" in one_line_error(result, code=2)
    result = invoke("users", "list", extra_env={"AUTHSERVER_ARGON2_MEMORY_KIB": "1024"})
    assert "AUTHSERVER_ARGON2_MEMORY_KIB" in one_line_error(result, code=2)


def test_every_command_has_help() -> None:
    runner = CliRunner()
    paths = [
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["db", "current"],
        ["users"],
        ["users", "create"],
        ["users", "list"],
        ["users", "disable"],
        ["users", "enable"],
        ["users", "roles", "add"],
        ["users", "roles", "remove"],
        ["clients"],
        ["clients", "create"],
        ["clients", "list"],
        ["clients", "delete"],
        ["clients", "rotate-secret"],
        ["keys"],
        ["keys", "rotate"],
        ["keys", "list"],
        ["keys", "prune"],
        ["keys", "rewrap"],
        ["tokens"],
        ["tokens", "prune"],
    ]
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, path


def test_postgres_behind_on_migrations_is_refused() -> None:
    name, url = backends.create_pg_schema()
    try:
        result = CliRunner().invoke(cli, ["users", "list"], env={"AUTHSERVER_DATABASE_URL": url})
        assert "authserver db upgrade" in one_line_error(result)
    finally:
        backends.drop_pg_schema(name)


def test_tokens_prune(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("tokens", "prune", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "access_tokens": 0,
        "codes": 0,
        "families": 0,
        "assertion_jtis": 0,
        "rate_limit_windows": 0,
        "account_tokens": 0,
    }
    assert "pruned 0 access-token record(s)" in invoke("tokens", "prune").stdout


def test_clients_create_private_key_jwt(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from joserfc.jwk import RSAKey

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [RSAKey.generate_key(2048, private=True).as_dict(private=False)]}))
    result = invoke(
        "clients",
        "create",
        "--name",
        "signed",
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        str(jwks),
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["client_secret"] is None and created["token_endpoint_auth_method"] == "private_key_jwt"
    assert "none to rotate" in one_line_error(invoke("clients", "rotate-secret", created["client_id"]))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "not valid JSON" in one_line_error(
        invoke(
            "clients",
            "create",
            "--name",
            "x",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            str(bad),
        )
    )


def test_client_ids_are_alphanumeric_so_they_never_read_as_options() -> None:
    from authserver.domain.clients import new_client_id

    ids = {new_client_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 24 and i.isalnum() and i.isascii() for i in ids)


def test_clients_create_introspect_flag(invoke) -> None:  # type: ignore[no-untyped-def]
    args = ["clients", "create", "--name", "api", "--grant-type", "client_credentials", "--json"]
    resource_server = json.loads(invoke(*args, "--introspect").stdout)
    ordinary = json.loads(invoke(*args).stdout)
    assert resource_server["introspection_allowed"] is True
    assert ordinary["introspection_allowed"] is False
