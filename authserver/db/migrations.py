"""Run and check Alembic migrations on an open async engine.

`authserver serve` upgrades the embedded SQLite database by itself but refuses to start against a
PostgreSQL that is behind: an operator decides when a shared database changes (architecture §8).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_PACKAGE = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """The bundled copy in a wheel install, else the repository's `migrations/`."""
    for candidate in (_PACKAGE / "_bundled" / "migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("authserver's migrations directory is missing from this install")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


@cache
def _heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def head_revisions() -> set[str]:
    """The code's migration heads; read from disk once per process (/readyz asks often)."""
    return set(_heads())


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_current(engine: AsyncEngine) -> bool:
    return await current_revisions(engine) == head_revisions()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def _upgrade(connection: Connection) -> None:
        cfg = _config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
