"""The Starlette middleware: RFC 6750 §3 statuses, challenges and bodies, exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from authserver_resource import Authenticator, Issuer
from authserver_resource.starlette import BearerAuthMiddleware, check_scopes, get_principal
from tests.kit.conftest import AUDIENCE, ISSUER_URL, FakeIssuer, claims, rsa_key, sign


async def whoami(request: Request) -> Response:
    principal = get_principal(request)
    return JSONResponse({"sub": principal.subject if principal else None})


async def write_orders(request: Request) -> Response:
    principal = check_scopes(request, "orders:write")
    return JSONResponse({"sub": principal.subject})


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"sub": get_principal(websocket).subject})  # type: ignore[union-attr]
    await websocket.close()


def build(authenticator: Authenticator, **options: object) -> Starlette:
    return Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/orders", write_orders, methods=["POST"]),
            Route("/healthz", healthz),
            WebSocketRoute("/ws", socket),
        ],
        middleware=[Middleware(BearerAuthMiddleware, authenticator=authenticator, realm="orders", **options)],
    )


@pytest.fixture
async def authenticator(issuer: FakeIssuer) -> AsyncIterator[Authenticator]:
    async with Authenticator([Issuer(ISSUER_URL, audience=AUDIENCE)]) as auth:
        yield auth


async def call(
    app: Starlette, method: str = "GET", path: str = "/whoami", **kwargs: object
) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_passes_with_principal(authenticator: Authenticator) -> None:
    response = await call(build(authenticator), headers=bearer(sign(claims(), rsa_key())))
    assert response.status_code == 200 and response.json() == {"sub": "user-1"}


async def test_no_token_is_401_with_a_bare_challenge(authenticator: Authenticator) -> None:
    response = await call(build(authenticator))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="orders"'
    assert response.json() == {"error_description": "A bearer token is required."}
    # Another scheme is not a bearer token either.
    other = await call(build(authenticator), headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert other.status_code == 401 and other.headers["www-authenticate"] == 'Bearer realm="orders"'


async def test_invalid_token_is_401_invalid_token_without_echoing_it(authenticator: Authenticator) -> None:
    token = sign(claims(aud="https://elsewhere.example"), rsa_key())
    response = await call(build(authenticator), headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="orders", error="invalid_token", '
        'error_description="The access token is not meant for this resource."'
    )
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The access token is not meant for this resource.",
    }
    assert response.headers["cache-control"] == "no-store"
    assert token not in response.text and token.split(".")[1] not in str(response.headers)


async def test_malformed_header_is_400_invalid_request(authenticator: Authenticator) -> None:
    response = await call(build(authenticator), headers={"Authorization": "Bearer a b"})
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == (
        'Bearer realm="orders", error="invalid_request", '
        'error_description="The Authorization header is not a valid Bearer credential."'
    )
    assert response.json()["error"] == "invalid_request"


async def test_missing_scope_is_403_insufficient_scope_with_scope(authenticator: Authenticator) -> None:
    app = build(authenticator, scopes=["orders:read", "admin"])
    response = await call(app, headers=bearer(sign(claims(), rsa_key())))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="orders", error="insufficient_scope", '
        'error_description="The access token does not grant the scope this resource needs.", '
        'scope="orders:read admin"'
    )
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "The access token does not grant the scope this resource needs.",
        "scope": "orders:read admin",
    }


async def test_per_route_scopes_raised_in_the_handler_are_rendered(authenticator: Authenticator) -> None:
    app = build(authenticator)
    refused = await call(app, "POST", "/orders", headers=bearer(sign(claims(), rsa_key())))
    assert refused.status_code == 403 and 'scope="orders:write"' in refused.headers["www-authenticate"]
    allowed = await call(
        app, "POST", "/orders", headers=bearer(sign(claims(scope="orders:write"), rsa_key()))
    )
    assert allowed.status_code == 200


async def test_optional_mode_and_exempt_paths(authenticator: Authenticator) -> None:
    optional = build(authenticator, required=False)
    assert (await call(optional)).json() == {"sub": None}
    # A credential that is present must still be valid.
    assert (await call(optional, headers=bearer("a.b.c"))).status_code == 401
    # check_scopes in a handler of an optional app: anonymous gets 401.
    anonymous = await call(optional, "POST", "/orders")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == 'Bearer realm="orders"'
    exempt = build(authenticator, exempt_paths=["/healthz"])
    assert (await call(exempt, path="/healthz")).status_code == 200


async def test_issuer_outage_with_cold_cache_is_503(authenticator: Authenticator, issuer: FakeIssuer) -> None:
    issuer.down = True
    response = await call(build(authenticator), headers=bearer(sign(claims(), rsa_key())))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "www-authenticate" not in response.headers


async def handshake(app: Starlette, headers: dict[str, str]) -> list[Message]:
    """Drive one websocket connection at the ASGI level and collect what the app sends."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("api.test", 80),
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
    }
    incoming: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_websocket_handshake_is_authenticated(authenticator: Authenticator) -> None:
    app = build(authenticator)
    accepted = await handshake(app, bearer(sign(claims(), rsa_key())))
    assert [m["type"] for m in accepted] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert accepted[1]["text"] == '{"sub":"user-1"}'
    assert await handshake(app, {}) == [{"type": "websocket.close", "code": 1008}]
    assert await handshake(app, bearer("a.b.c")) == [{"type": "websocket.close", "code": 1008}]


def test_bad_configuration_refused_at_set_up(issuer: FakeIssuer) -> None:
    authenticator = Authenticator([Issuer(ISSUER_URL, audience=AUDIENCE)])
    with pytest.raises(ValueError):
        BearerAuthMiddleware(healthz, authenticator, scopes=["two words"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BearerAuthMiddleware(healthz, authenticator, realm="a\nb")  # type: ignore[arg-type]
