"""What a running authserver holds: settings, the engine and the password hasher.

Built once per process by the CLI or the app's lifespan and passed down explicitly; it holds no
state that other workers would need to see (architecture §8).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authserver.db.engine import make_engine, make_sessionmaker
from authserver.db.types import utcnow
from authserver.domain import keys
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
    _encryptor: keys.KeyEncryptor | None = None
    _keyring: keys.KeyRing | None = None

    @classmethod
    def create(cls, settings: Settings, engine: AsyncEngine | None = None) -> AppContext:
        engine = engine or make_engine(settings.database_url, pool_size=settings.db_pool_size)
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

    def key_encryptor(self) -> keys.KeyEncryptor:
        """Built on first use, so commands that never touch keys never create the dev secret file."""
        if self._encryptor is None:
            explicit = self.settings.key_encryption_secret
            secret = keys.load_key_encryption_secret(
                explicit.get_secret_value() if explicit else None, self.settings.keys_dir
            )
            self._encryptor = keys.KeyEncryptor(secret)
        return self._encryptor

    async def ensure_keys(self) -> bool:
        async with self.transaction() as session:
            return await keys.ensure_keys(session, self.key_encryptor(), self.settings.rsa_key_bits)

    async def fresh_keyring(self) -> keys.KeyRing:
        """The key ring, opening a session only when it is due for a re-read (JWKS hot path)."""
        if self._keyring is not None and not self._keyring.is_stale():
            return self._keyring
        async with self.transaction() as session:
            return await self.keyring(session)

    async def keyring(self, session: AsyncSession) -> keys.KeyRing:
        """This process's key ring, re-read from the database when older than the interval."""
        if self._keyring is None:
            self._keyring = keys.KeyRing(self.key_encryptor(), self.settings.key_refresh_interval)
        ring = self._keyring
        if ring.is_stale():
            await ring.refresh(session, force=True)
            if not ring.published():
                await self.ensure_keys()
                await ring.refresh(session, force=True)
            await self._maybe_auto_rotate(ring)
        return ring

    async def rotate_keys(self, *, force: bool = False) -> None:
        """One rotation in its own transaction (CLI and the automatic interval both use this)."""
        async with self.transaction() as session:
            await keys.rotate(
                session,
                self.key_encryptor(),
                self.settings.rsa_key_bits,
                min_next_age=timedelta(seconds=self.settings.jwks_max_age),
                force=force,
            )

    async def _maybe_auto_rotate(self, ring: keys.KeyRing) -> None:
        interval = self.settings.key_rotation_interval
        current = next((k for k in ring.published() if k.state == "current"), None)
        if not interval or current is None or current.activated_at is None:
            return
        if utcnow() - current.activated_at < timedelta(seconds=interval):
            return
        try:
            await self.rotate_keys()
            # Unattended rotation also retires what it made obsolete, or the JWKS would grow forever.
            keep = timedelta(seconds=self.settings.access_token_ttl + self.settings.clock_skew)
            async with self.transaction() as session:
                await keys.prune(session, keep_for=keep)
        except keys.KeyError_ as exc:  # another worker won, or next is too young: fine
            logging.getLogger("authserver.keys").info("automatic rotation skipped: %s", exc.message)

    async def aclose(self) -> None:
        await self.engine.dispose()
