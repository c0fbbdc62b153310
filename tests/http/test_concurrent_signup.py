"""Duplicate accounts are impossible under truly concurrent signups (two worker processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from authserver.context import AppContext
from authserver.db import migrations
from authserver.settings import Settings
from tests.http.test_signup import row_counts
from tests.servers import running_server

PASSWORD = "correct horse battery staple"


async def test_20_concurrent_signups_same_email_create_one_user(database_url: str, tmp_path: Path) -> None:
    ctx = AppContext.create(Settings(database_url=database_url))
    try:
        await migrations.upgrade(ctx.engine)
        with running_server(database_url, tmp_path, workers=2) as base:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                emails = [
                    "".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate("race@example.com"))
                    for i in range(20)
                ]
                responses = await asyncio.gather(
                    *(
                        http.post("/signup", json={"email": e, "username": f"racer{i}", "password": PASSWORD})
                        for i, e in enumerate(emails)
                    )
                )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code >= 500]
        assert await row_counts(ctx) == (1, 0)
    finally:
        await ctx.aclose()
