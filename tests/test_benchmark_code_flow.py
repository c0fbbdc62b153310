"""The benchmark's code-flow driver (benchmarks/code_flow.py) against the real app, on both backends.

A driver that silently took a shortcut (no login, no PKCE, no ID token) would time the wrong thing,
so it is run here through the same pages a browser sees.
"""

from __future__ import annotations

import httpx
import pytest

from authserver.context import AppContext
from benchmarks import code_flow
from tests.conftest import ISSUER
from tests.oauth.helpers import PASSWORD, make_client, make_user


async def test_driver_signs_in_once_then_reuses_the_session(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(
        ctx, grants=("authorization_code",), scope="openid read", redirect_uris=(code_flow.REDIRECT_URI,)
    )
    assert app.secret is not None
    await make_user(ctx, "loadtest")
    flow = code_flow.FlowClient(ISSUER, app.client_id, app.secret, "loadtest", PASSWORD)
    paths: list[str] = []

    async def seen(request: httpx.Request) -> None:
        paths.append(f"{request.method} {request.url.path}")

    client.event_hooks["request"] = [seen]
    first = await code_flow.sequence(client, flow)
    assert paths == [
        "GET /authorize",
        "GET /login",
        "POST /login",
        "GET /consent",
        "POST /consent",
        "POST /token",
    ]
    assert str(first["id_token"]).count(".") == 2 and first["token_type"] == "Bearer"
    paths.clear()
    await code_flow.sequence(client, flow)  # signed in, consent remembered
    assert paths == ["GET /authorize", "POST /token"]


async def test_driver_reports_a_wrong_password_as_a_failed_sequence(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(
        ctx, grants=("authorization_code",), scope="openid read", redirect_uris=(code_flow.REDIRECT_URI,)
    )
    assert app.secret is not None
    await make_user(ctx, "loadtest")
    flow = code_flow.FlowClient(ISSUER, app.client_id, app.secret, "loadtest", "not the password")
    with pytest.raises(code_flow.SequenceFailed) as failed:
        await code_flow.sequence(client, flow)
    assert "not the password" not in str(failed.value)
