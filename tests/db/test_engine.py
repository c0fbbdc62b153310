"""Storage hygiene: files owner-only, no bound parameters in database errors (L7)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from authserver.context import AppContext
from authserver.db import migrations
from authserver.db.engine import make_engine
from authserver.db.models import User
from authserver.domain.keys import load_key_encryption_secret
from authserver.settings import Settings

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0c2FsdA$c2VjcmV0aGFzaA"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_L7_database_errors_hide_bound_parameters(ctx: AppContext) -> None:
    row = {"email": "d@example.com", "username": "dup", "password_hash": HASH}
    with pytest.raises(IntegrityError) as failed:
        async with ctx.transaction() as session:
            for n in range(2):  # the second row breaks the unique index
                session.add(
                    User(
                        id=f"00000000-0000-0000-0000-00000000000{n}",
                        email=row["email"],
                        email_normalized=row["email"],
                        username=row["username"],
                        username_normalized=row["username"],
                        password_hash=row["password_hash"],
                    )
                )
                await session.flush()
    text = str(failed.value)
    assert HASH not in text and "c2VjcmV0aGFzaA" not in text
    assert "hidden due to hide_parameters" in text


async def test_sqlite_file_is_created_and_kept_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "auth.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()
    assert mode(path) == 0o600
    for sidecar in (path.with_name("auth.db-wal"), path.with_name("auth.db-shm")):
        if sidecar.exists():
            assert mode(sidecar) & 0o077 == 0
    path.chmod(0o644)  # loosened by someone else: taken back on the next start
    make_engine(f"sqlite+aiosqlite:///{path}")
    assert mode(path) == 0o600


def test_keys_dir_is_kept_owner_only(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    os.chmod(keys, 0o755)  # noqa: S103 - as a fresh clone leaves the tracked keys/ directory
    load_key_encryption_secret(None, keys)
    assert mode(keys) == 0o700
    assert mode(keys / "key-encryption-secret") == 0o600


async def test_the_apps_engine_hides_parameters(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", keys_dir=tmp_path / "k")
    ctx = AppContext.create(settings)
    try:
        assert ctx.engine.sync_engine.hide_parameters
    finally:
        await ctx.aclose()
