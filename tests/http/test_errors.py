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


async def test_trailing_slash_is_404_never_a_redirect_built_from_host(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("POST", "/token/"),
        ("GET", "/.well-known/openid-configuration/"),
        ("GET", "/healthz/"),
    ):
        response = await client.request(method, path, headers={"Host": "evil.example"})
        assert response.status_code == 404 and "location" not in response.headers


async def test_L4_refusals_at_the_edge_are_logged_with_their_reason(
    client: httpx.AsyncClient,
    server_logging,  # type: ignore[no-untyped-def]
) -> None:
    response = await client.post(
        "/token",
        content=b"grant_type=a&grant_type=b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    refused = [r for r in server_logging.records if "refused" in r.getMessage()]
    assert refused and "repeated" in refused[-1].reason  # type: ignore[attr-defined]
