"""What a running authserver holds: settings, the engine and the password hasher.

Built once per process by the CLI or the app's lifespan and passed down explicitly; it holds no
state that other workers would need to see (architecture §8).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authserver.db.engine import make_engine, make_sessionmaker
from authserver.domain.passwords import PasswordHasher
from authserver.domain.users import PasswordRules
from authserver.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hasher: PasswordHasher
    password_rules: PasswordRules
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, engine: AsyncEngine | None = None) -> AppContext:
        engine = engine or make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            hasher=PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            ),
            password_rules=PasswordRules(
                min_length=settings.password_min_length,
                max_length=settings.password_max_length,
            ),
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One session, one transaction: committed if the block succeeds, rolled back if not."""
        async with self.sessions() as session, session.begin():
            yield session

    async def aclose(self) -> None:
        await self.engine.dispose()
