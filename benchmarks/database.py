"""The benchmark's database: a throwaway PostgreSQL database by default, or SQLite, or one you name.

Also the two things the harness does in the database itself, both through authserver's own models:
seeding refresh-token chains (one real password grant is the template; cloning its family avoids
hundreds of argon2 verifications, which cost ~0.1-0.5 s of CPU each and say nothing about rotation),
and counting rows after the refresh workload to prove no rotation was lost or doubled.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import select, text

from authserver.db.engine import make_engine, make_sessionmaker
from authserver.db.models import TokenFamily
from authserver.domain import refresh_tokens, token_families

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Database:
    url: str  # as authserver takes it (AUTHSERVER_DATABASE_URL)
    kind: str  # "PostgreSQL" or "SQLite"


def postgres_reachable(admin_dsn: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(admin_dsn, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


async def _admin(admin_dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def throwaway_postgres(admin_dsn: str) -> Iterator[Database]:
    """A new, empty PostgreSQL database for one run, dropped afterwards whatever happens."""
    name = f"authserver_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_dsn.rpartition("/")
    try:
        yield Database(f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}", "PostgreSQL")
    finally:
        asyncio.run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def throwaway_sqlite() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="authserver-bench-db-") as folder:
        yield Database(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", "SQLite")


def kind_of(url: str) -> str:
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL"


async def _clone_families(url: str, client_id: str, count: int) -> list[str]:
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            template = (
                await session.execute(
                    select(TokenFamily)
                    .where(TokenFamily.client_id == client_id)
                    .order_by(TokenFamily.created_at.desc())
                    .limit(1)
                )
            ).scalar_one()
            tokens = []
            for _ in range(count):
                family = await token_families.start_family(
                    session,
                    client_id=template.client_id,
                    user_id=template.user_id,
                    scope=template.scope,
                    audience=template.audience,
                    grant_type=template.grant_type,
                    lifetime=template.expires_at - template.created_at,
                    auth_time=template.auth_time,
                )
                tokens.append(await refresh_tokens.add(session, family))
            return tokens
    finally:
        await engine.dispose()


def clone_refresh_chains(url: str, client_id: str, count: int) -> list[str]:
    """`count` new families like the client's latest one (made by a real password grant), each with
    one live refresh token, written by authserver's own domain functions."""
    return asyncio.run(_clone_families(url, client_id, count))


@dataclass(frozen=True)
class RotationAudit:
    """Row counts over one client's refresh tokens; see `problems` for what must hold."""

    families: int
    revoked_families: int
    rotations: int  # tokens with a parent: each is one successful rotation
    used: int  # tokens marked used
    doubled: int  # parents with more than one child
    families_with_several_live: int

    def problems(self, client_rotations: int, in_flight: int) -> list[str]:
        """What contradicts "0 lost or doubled rotations", given what wrk saw.

        Rotations the server committed while wrk stopped are in neither the client's count nor lost,
        so the server may have up to `in_flight` more than the client saw; never fewer.
        """
        found = []
        if self.rotations != self.used:
            found.append(f"{self.rotations} rotations but {self.used} used tokens")
        if self.doubled:
            found.append(f"{self.doubled} tokens rotated twice")
        if self.families_with_several_live:
            found.append(f"{self.families_with_several_live} families with more than one live token")
        if self.rotations < client_rotations:
            found.append(f"lost: wrk got {client_rotations} rotations, the database has {self.rotations}")
        if self.rotations > client_rotations + in_flight:
            found.append(
                f"{self.rotations} rotations in the database, wrk saw {client_rotations} "
                f"(+{in_flight} in flight)"
            )
        if self.revoked_families:
            found.append(f"{self.revoked_families} families revoked (reuse detected)")
        return found


_AUDIT = {
    "families": "SELECT count(*) FROM token_families WHERE client_id = :c",
    "revoked_families": "SELECT count(*) FROM token_families WHERE client_id = :c AND revoked_at IS NOT NULL",
    "rotations": "SELECT count(*) FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id "
    "WHERE f.client_id = :c AND r.parent_sha256 IS NOT NULL",
    "used": "SELECT count(*) FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id "
    "WHERE f.client_id = :c AND r.used_at IS NOT NULL",
    "doubled": "SELECT count(*) FROM (SELECT r.parent_sha256 FROM refresh_tokens r "
    "JOIN token_families f ON f.id = r.family_id WHERE f.client_id = :c "
    "AND r.parent_sha256 IS NOT NULL GROUP BY r.parent_sha256 HAVING count(*) > 1) d",
    "families_with_several_live": "SELECT count(*) FROM (SELECT r.family_id FROM refresh_tokens r "
    "JOIN token_families f ON f.id = r.family_id WHERE f.client_id = :c "
    "AND f.revoked_at IS NULL AND r.used_at IS NULL "
    "GROUP BY r.family_id HAVING count(*) > 1) d",
}


async def _audit(url: str, client_id: str) -> RotationAudit:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            counts = {
                name: int((await conn.execute(text(sql), {"c": client_id})).scalar_one())
                for name, sql in _AUDIT.items()
            }
        return RotationAudit(**counts)
    finally:
        await engine.dispose()


def audit_rotations(url: str, client_id: str) -> RotationAudit:
    return asyncio.run(_audit(url, client_id))
