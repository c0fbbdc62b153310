"""Accounts on both backends: signup rules, the signin core, roles (checklist B1, B2, U5)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from authserver.context import AppContext
from authserver.db.models import AuditEvent, User
from authserver.domain import users
from authserver.domain.errors import AccountExists, InvalidInput, NotFound
from authserver.domain.passwords import PasswordHasher

PASSWORD = "correct horse battery staple"


async def make_user(ctx: AppContext, email: str = "Alice@Example.com", username: str = "alice") -> User:
    async with ctx.transaction() as session:
        return await users.create_user(
            session, ctx.hasher, ctx.password_rules, email=email, username=username, password=PASSWORD
        )


async def signin(ctx: AppContext, identifier: str, password: str = PASSWORD) -> User | None:
    async with ctx.transaction() as session:
        return await users.authenticate(session, ctx.hasher, identifier, password, max_password_length=1024)


async def count_users(ctx: AppContext) -> int:
    async with ctx.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_create_stores_only_argon2id_hash(ctx: AppContext) -> None:
    user = await make_user(ctx)
    async with ctx.transaction() as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
        assert stored.email == "Alice@example.com"  # domain lower-cased, local part kept
        assert stored.email_normalized == "alice@example.com"
        assert not stored.email_verified
        events = (await session.scalars(select(AuditEvent.event))).all()
    assert "user.created" in events


@pytest.mark.parametrize(
    ("email", "username"),
    [("ALICE@example.COM", "bob"), ("bob@example.com", "ALICE")],
)
async def test_duplicates_refused_case_insensitively(ctx: AppContext, email: str, username: str) -> None:
    await make_user(ctx)
    with pytest.raises(AccountExists):
        await make_user(ctx, email=email, username=username)
    assert await count_users(ctx) == 1


async def test_signin_by_email_or_username(ctx: AppContext) -> None:
    user = await make_user(ctx)
    for identifier in ("alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"):
        found = await signin(ctx, identifier)
        assert found is not None and found.id == user.id


async def test_B1_failures_are_indistinguishable(ctx: AppContext) -> None:
    await make_user(ctx)
    await make_user(ctx, email="carol@example.com", username="carol")
    async with ctx.transaction() as session:
        await users.set_disabled(session, "carol", True)
    assert await signin(ctx, "alice", PASSWORD + "x") is None
    assert await signin(ctx, "nobody") is None
    assert await signin(ctx, "carol") is None  # right password, disabled
    assert await signin(ctx, "alice", "") is None
    assert await signin(ctx, "alice", "x" * 5000) is None


async def test_B2_unknown_user_still_verifies_a_hash(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = PasswordHasher.verify_sync

    def spy(self: PasswordHasher, encoded: str, password: str) -> bool:
        calls.append(encoded)
        return original(self, encoded, password)

    monkeypatch.setattr(PasswordHasher, "verify_sync", spy)
    assert await signin(ctx, "nobody@example.com") is None
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


async def test_U5_rehash_on_login_when_parameters_change(ctx: AppContext) -> None:
    user = await make_user(ctx)
    ctx.hasher = PasswordHasher(time_cost=4, memory_kib=65536, parallelism=4)
    assert await signin(ctx, "alice") is not None
    async with ctx.transaction() as session:
        stored = await session.get(User, user.id)
        assert stored is not None and ",t=4," in stored.password_hash
    assert await signin(ctx, "alice") is not None


@pytest.mark.parametrize(
    ("email", "username", "field"),
    [
        ("not-an-email", "alice", "email"),
        ("al ice@example.com", "alice", "email"),
        ("ålice@example.com", "alice", "email"),
        ("alice@example.com", "a", "username"),
        ("alice@example.com", "alice'; DROP TABLE users;--", "username"),
        ("alice@example.com", "al@ce", "username"),
        ("", "alice", "email"),
    ],
)
async def test_invalid_identity_refused(ctx: AppContext, email: str, username: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await make_user(ctx, email=email, username=username)
    assert info.value.field == field
    assert await count_users(ctx) == 0


async def test_roles_add_remove_and_unknown_user(ctx: AppContext) -> None:
    await make_user(ctx)
    async with ctx.transaction() as session:
        assert await users.add_role(session, "alice", "admin") == ["admin"]
        assert await users.add_role(session, "alice", "admin") == ["admin"]
        assert await users.add_role(session, "alice@example.com", "billing:read") == ["admin", "billing:read"]
        assert await users.remove_role(session, "alice", "admin") == ["billing:read"]
        with pytest.raises(InvalidInput):
            await users.add_role(session, "alice", "Bad Role")
        with pytest.raises(NotFound):
            await users.add_role(session, "nobody", "admin")


async def test_unique_index_settles_a_race_the_precheck_missed(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_user(ctx)

    async def never_exists(*_args: object) -> bool:
        return False

    monkeypatch.setattr(users, "_exists", never_exists)
    with pytest.raises(AccountExists):
        await make_user(ctx, email="ALICE@example.com", username="other")
    assert await count_users(ctx) == 1


async def test_audit_refuses_detail_keys_that_name_credentials(ctx: AppContext) -> None:
    from authserver.domain import audit

    async with ctx.transaction() as session:
        for key in ("password", "refresh_token", "client_secret", "code", "password_hash"):
            with pytest.raises(ValueError, match="names a credential"):
                await audit.record(session, "x", **{key: "value"})
        await audit.record(session, "x", family_id="f", code_count=3)


@pytest.mark.parametrize(
    "typed", ["ann@xn--bcher-kva.example", "ANN@XN--BCHER-KVA.EXAMPLE", "ann@bücher.example"]
)
async def test_internationalised_domain_is_stored_and_found_in_one_form(ctx: AppContext, typed: str) -> None:
    user = await make_user(ctx, email="ann@xn--bcher-kva.example", username="ann")
    assert user.email == "ann@xn--bcher-kva.example"
    assert user.email_normalized == "ann@xn--bcher-kva.example"
    found = await signin(ctx, typed)
    assert found is not None and found.id == user.id


async def test_U2_password_length_is_measured_on_the_same_text_at_signup_and_signin(
    ctx: AppContext,
) -> None:
    """NFKC can grow or shrink text: both ends measure the normalised password."""
    shrinking = "e\u0301" * 40 + "Zq9!x"  # 85 code points, 45 after NFKC composes each pair
    async with ctx.transaction() as session:
        rules = users.PasswordRules(min_length=12, max_length=64)
        await users.create_user(
            session, ctx.hasher, rules, email="long@example.com", username="long", password=shrinking
        )
    async with ctx.transaction() as session:
        found = await users.authenticate(session, ctx.hasher, "long", shrinking, max_password_length=64)
    assert found is not None
