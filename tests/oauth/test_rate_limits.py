"""T11 and I4: client-secret guessing is throttled; plain request rates are bounded per IP; and a
cached success path (client_credentials, introspection) gains no database query from either."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import event, select

from authserver.context import AppContext
from authserver.db.models import AuditEvent
from tests.oauth.helpers import make_client, make_resource_server

CC = {"grant_type": "client_credentials", "scope": "read"}


@contextmanager
def counted_statements(ctx: AppContext) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(ctx.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(ctx.engine.sync_engine, "before_cursor_execute", record)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_client_auth_failures_per_ip": "5/minute"}])
async def test_T11_client_secret_guessing_is_throttled(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    statuses = []
    for i in range(8):
        answer = await client.post("/token", data=CC, auth=httpx.BasicAuth(app.client_id, f"guess-{i}"))
        statuses.append(answer.status_code)
    assert statuses == [401] * 5 + [429] * 3
    assert answer.json()["error"] == "temporarily_unavailable" and int(answer.headers["retry-after"]) > 0
    # Blocked before authentication: even the right secret waits out the window from this address.
    assert (await client.post("/token", data=CC, auth=app.basic)).status_code == 429
    assert (await client.post("/introspect", data={"token": "x"}, auth=app.basic)).status_code == 429
    async with ctx.transaction() as session:
        hits = (await session.scalars(select(AuditEvent).where(AuditEvent.event == "rate_limit.hit"))).all()
    assert [(h.ip, h.detail["limit"]) for h in hits] == [("203.0.113.7", "client_auth_failures_per_ip")]


async def test_cached_success_paths_run_no_query(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    rs = await make_resource_server(ctx)
    token = (await client.post("/token", data=CC, auth=app.basic)).json()["access_token"]
    assert (await client.post("/introspect", data={"token": token}, auth=rs.basic)).json()["active"]
    with counted_statements(ctx) as statements:
        assert (await client.post("/token", data=CC, auth=app.basic)).status_code == 200
        answer = await client.post("/introspect", data={"token": token}, auth=rs.basic)
        assert answer.json()["active"] is True
    assert [s for s in statements if "change_counters" not in s] == []


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_token_per_ip": "3/minute"}])
async def test_I4_request_rate_per_ip_on_token(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    statuses = [(await client.post("/token", data=CC, auth=app.basic)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_introspect_per_ip": "2/minute", "rate_limit_revoke_per_ip": "2/minute"}],
)
async def test_I4_introspection_and_revocation_are_rate_limited(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    rs = await make_resource_server(ctx)
    for path in ("/introspect", "/revoke"):
        statuses = [
            (await client.post(path, data={"token": "t"}, auth=rs.basic)).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
