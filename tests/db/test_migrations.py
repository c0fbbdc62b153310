"""Migrations run on both backends and describe exactly what the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from authserver.context import AppContext
from authserver.db import migrations
from authserver.db.models import Base


async def test_upgrade_reaches_head_and_matches_models(ctx: AppContext) -> None:
    assert await migrations.is_current(ctx.engine)

    async with ctx.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert diff == []
    assert {"users", "clients", "client_secrets", "user_roles", "audit_events"} <= tables


async def test_upgrade_is_idempotent(ctx: AppContext) -> None:
    await migrations.upgrade(ctx.engine)
    assert await migrations.current_revisions(ctx.engine) == migrations.head_revisions()


async def test_fresh_database_is_not_current(settings) -> None:  # type: ignore[no-untyped-def]
    context = AppContext.create(settings)
    try:
        assert not await migrations.is_current(context.engine)
    finally:
        await context.aclose()
