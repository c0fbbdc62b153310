"""Every error is JSON with an RFC-style `error` code, including Starlette's own 404 and 405."""

from __future__ import annotations

import httpx


async def test_404_is_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "not_found"


async def test_405_is_json_and_says_what_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/token")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]
