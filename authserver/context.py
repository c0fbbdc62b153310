"""What a running authserver holds: settings, the engine, the password hasher, and the caches of
shared state each with its invalidation bound (the key ring, clients, token verdicts).

Built once per process by the CLI or the app's lifespan and passed down explicitly; it holds no
state that other workers would need to see (architecture §8): every cache is re-synchronised from
the database within a stated interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authserver import metrics
from authserver.caches import CacheSync
from authserver.db.engine import make_engine, make_sessionmaker
from authserver.db.faults import unavailability
from authserver.db.types import utcnow
from authserver.domain import change_counters, keys
from authserver.domain.passwords import PasswordHasher
from authserver.domain.users import PasswordRules
from authserver.limiter import Limiter
from authserver.mail import Mailer, make_mailer
from authserver.oauth.better_auth import BetterAuthExchange
from authserver.oauth.store import WorkerCaches
from authserver.settings import Settings


class LazySession:
    """A session made on first use (it begins its transaction on its first statement)."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self.opened: AsyncSession | None = None

    def __call__(self) -> AsyncSession:
        if self.opened is None:
            self.opened = self._factory()
        return self.opened


class NoSigningKey(Exception):
    """No current signing key exists yet: the lifespan task creates one; a request never does."""


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hasher: PasswordHasher
    password_rules: PasswordRules
    caches: WorkerCaches = field(default_factory=WorkerCaches)
    _encryptor: keys.KeyEncryptor | None = None
    _keyring: keys.KeyRing | None = None
    _cache_sync: CacheSync | None = None
    _maintenance: asyncio.Task[None] | None = None
    _cache_maintenance: asyncio.Task[None] | None = None
    _limiter: Limiter | None = None
    _mailer: Mailer | None = None
    _better_auth: BetterAuthExchange | None = None

    @classmethod
    def create(cls, settings: Settings, engine: AsyncEngine | None = None) -> AppContext:
        engine = engine or make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            connect_timeout=settings.db_connect_timeout,
            pool_timeout=settings.db_pool_timeout,
            statement_timeout=settings.db_statement_timeout,
        )
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
        """One session, one transaction: committed if the block succeeds, rolled back if not.

        A committed change to cached state drops this worker's copy at once; other workers see
        it within `cache_sync_interval` (authserver/caches.py)."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            self._drop_changed(session.info.pop(change_counters.BUMPED, set()))

    @asynccontextmanager
    async def request_transaction(self) -> AsyncIterator[LazySession]:
        """Like `transaction`, but the session opens on the request's first query: a request
        answered from caches (client_credentials, a cached introspection verdict) never takes
        a connection from the pool."""
        lazy = LazySession(self.sessions)
        try:
            yield lazy
            if lazy.opened is not None:
                await lazy.opened.commit()
                self._drop_changed(lazy.opened.info.pop(change_counters.BUMPED, set()))
        except BaseException:
            if lazy.opened is not None:
                await lazy.opened.rollback()
            raise
        finally:
            if lazy.opened is not None:
                await lazy.opened.close()

    def _drop_changed(self, names: set[str]) -> None:
        if change_counters.CLIENTS in names:
            self.caches.clients.clear()
        if change_counters.REVOCATIONS in names:
            self.caches.verdicts.clear()

    @property
    def limiter(self) -> Limiter:
        """The rate limits (`authserver/limiter.py`), built on first use."""
        if self._limiter is None:
            self._limiter = Limiter(self.settings, self.sessions, self._key_encryption_secret)
        return self._limiter

    @property
    def mailer(self) -> Mailer:
        """SMTP or the development outbox (`authserver/mail.py`), built on first use."""
        if self._mailer is None:
            self._mailer = make_mailer(self.settings)
        return self._mailer

    def _key_encryption_secret(self) -> str:
        explicit = self.settings.key_encryption_secret
        return keys.load_key_encryption_secret(
            explicit.get_secret_value() if explicit else None, self.settings.keys_dir
        )

    def key_encryptor(self) -> keys.KeyEncryptor:
        """Built on first use, so commands that never touch keys never create the dev secret file."""
        if self._encryptor is None:
            self._encryptor = keys.KeyEncryptor(self._key_encryption_secret())
        return self._encryptor

    # Caches of shared state (authserver/caches.py) --------------------------------------------

    async def sync_caches(self) -> None:
        """Before every OAuth request: caches no older than `cache_sync_interval`."""
        await self._cache_syncer().ensure_fresh()

    def _cache_syncer(self) -> CacheSync:
        if self._cache_sync is None:
            self._cache_sync = CacheSync(
                self.engine,
                self.settings.cache_sync_interval,
                {
                    name: (lambda name=name: self._drop_changed({name}))  # type: ignore[misc]
                    for name in (change_counters.CLIENTS, change_counters.REVOCATIONS)
                },
            )
        return self._cache_sync

    async def _sync_caches_forever(self) -> None:
        """Every quarter interval, so a request finds the caches fresh and does not wait for a read:
        under load each round trip of the read costs a turn of the busy event loop, so one read
        can take a good part of the interval."""
        log = logging.getLogger("authserver.caches")
        every = self.settings.cache_sync_interval / 4
        while True:
            await asyncio.sleep(every)
            try:
                await self._cache_syncer().sync(skip_if_younger_than=every)
            except Exception as exc:  # the next request, or the next round, tries again
                log.warning("cache sync failed: %s", type(exc).__name__)

    # Signing keys (architecture §3) -------------------------------------------------------------

    async def ensure_keys(self) -> bool:
        async with self.transaction() as session:
            return await keys.ensure_keys(session, self.key_encryptor(), self.settings.rsa_key_bits)

    def _ring(self) -> keys.KeyRing:
        if self._keyring is None:
            self._keyring = keys.KeyRing(self.key_encryptor(), self.settings.key_refresh_interval)
        return self._keyring

    async def keyring(self) -> keys.KeyRing:
        """The ring a request signs and verifies with. The lifespan task re-reads it every
        `key_refresh_interval`; a request re-reads it itself (a read, never a key generation)
        only if that task fell behind by a whole interval or is not running."""
        ring = self._ring()
        if ring.age() >= 2 * self.settings.key_refresh_interval:
            try:
                async with self.transaction() as session:
                    await ring.refresh(session, force=True)
            except Exception as error:
                # The database is away: keep signing and publishing the keys already loaded
                # (F1: JWKS and write-free token requests go on); a ring never loaded cannot.
                if unavailability(error) is None or ring.current_kid_or_none() is None:
                    raise
        if not ring.published() or ring.current_kid_or_none() is None:
            raise NoSigningKey("no signing key yet")
        return ring

    async def maintain_keys_once(self) -> None:
        """The lifespan task's step: first-run keys, the automatic rotation, a fresh ring."""
        ring = self._ring()
        async with self.transaction() as session:
            await ring.refresh(session, force=True)
        if ring.current_kid_or_none() is None:
            await self.ensure_keys()
            async with self.transaction() as session:
                await ring.refresh(session, force=True)
        if await self._maybe_auto_rotate(ring):
            async with self.transaction() as session:
                await ring.refresh(session, force=True)
        self._report_gauges(ring)

    def _report_gauges(self, ring: keys.KeyRing) -> None:
        current = next((k for k in ring.published() if k.state == "current"), None)
        if current is not None and current.activated_at is not None:
            metrics.SIGNING_KEY_AGE.set((utcnow() - current.activated_at).total_seconds())
        pool = self.engine.sync_engine.pool
        checked_out = getattr(pool, "checkedout", None)
        if callable(checked_out):
            metrics.DB_POOL_IN_USE.set(float(checked_out()))

    async def start_maintenance(self) -> None:
        """Start-up (the app's lifespan): keys exist and the ring is loaded before any request."""
        await self.maintain_keys_once()
        if self._maintenance is None:
            self._maintenance = asyncio.create_task(self._maintain_keys_forever(), name="key-maintenance")
        if self._cache_maintenance is None:
            self._cache_maintenance = asyncio.create_task(self._sync_caches_forever(), name="cache-sync")

    async def stop_maintenance(self) -> None:
        for task in (self._maintenance, self._cache_maintenance):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._maintenance = self._cache_maintenance = None

    async def _maintain_keys_forever(self) -> None:
        log = logging.getLogger("authserver.keys")
        while True:
            await asyncio.sleep(self.settings.key_refresh_interval)
            try:
                await self.maintain_keys_once()
            except Exception as exc:  # the database may be away; try again next interval
                log.warning("key maintenance failed: %s", type(exc).__name__)

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

    async def _maybe_auto_rotate(self, ring: keys.KeyRing) -> bool:
        interval = self.settings.key_rotation_interval
        current = next((k for k in ring.published() if k.state == "current"), None)
        if not interval or current is None or current.activated_at is None:
            return False
        if utcnow() - current.activated_at < timedelta(seconds=interval):
            return False
        try:
            await self.rotate_keys()
            # Unattended rotation also retires what it made obsolete, or the JWKS would grow forever.
            keep = timedelta(seconds=self.settings.access_token_ttl + self.settings.clock_skew)
            async with self.transaction() as session:
                await keys.prune(session, keep_for=keep)
        except keys.KeyError_ as exc:  # another worker won, or next is too young: fine
            logging.getLogger("authserver.keys").info("automatic rotation skipped: %s", exc.message)
            return False
        return True

    def better_auth(self) -> BetterAuthExchange | None:
        """The worker's Better Auth trust for token exchange (its JWKS cache and HTTP client),
        made on first use; None when AUTHSERVER_BETTER_AUTH_URL is unset."""
        if self._better_auth is None and self.settings.better_auth_url is not None:
            self._better_auth = BetterAuthExchange(self.settings, self.sessions, self.hasher)
        return self._better_auth

    async def aclose(self) -> None:
        await self.stop_maintenance()
        if self._limiter is not None and self._limiter.redis is not None:
            await self._limiter.redis.aclose()
        if self._better_auth is not None:
            await self._better_auth.aclose()
            self._better_auth = None
        await self.engine.dispose()
