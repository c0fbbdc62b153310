"""One client-authentication rule at /token, /introspect and /revoke (RFC 6749 §2.3, §5.2; T3, T4)."""

from __future__ import annotations

import base64

import httpx
import pytest

from authserver.context import AppContext
from tests.oauth.helpers import make_client, make_resource_server

ENDPOINTS = {
    "/token": {"grant_type": "client_credentials"},
    "/introspect": {"token": "anything"},
    "/revoke": {"token": "anything"},
}


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
@pytest.mark.parametrize(
    "header",
    [
        "Basic /w==",  # one byte 0xFF: not UTF-8
        "Basic " + base64.b64encode(b"\xc3\x28:\xa0\xa1").decode(),  # invalid UTF-8 sequences
        "Basic !!!notbase64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"%ZZ:%ff").decode(),  # percent-encoding of non-UTF-8 bytes
        "Basic ",
    ],
)
async def test_L6_malformed_basic_credentials_are_401_not_500(
    client: httpx.AsyncClient, path: str, header: str
) -> None:
    response = await client.post(path, data=ENDPOINTS[path], headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
async def test_T3_unknown_client_and_wrong_secret_read_the_same(
    client: httpx.AsyncClient, ctx: AppContext, path: str
) -> None:
    app = await make_resource_server(ctx)
    unknown = await client.post(path, data=ENDPOINTS[path], auth=("NoSuchClient123", "secret"))
    wrong = await client.post(path, data=ENDPOINTS[path], auth=(app.client_id, "wrong secret"))
    unknown_post = await client.post(
        path, data=ENDPOINTS[path] | {"client_id": "NoSuchClient123", "client_secret": "s"}
    )
    for response in (unknown, wrong, unknown_post):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
    assert unknown.json() == wrong.json() == unknown_post.json()


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
async def test_T4_one_mechanism_per_request_everywhere(
    client: httpx.AsyncClient, ctx: AppContext, path: str
) -> None:
    app = await make_resource_server(ctx)
    both = await client.post(
        path,
        data=ENDPOINTS[path] | {"client_id": app.client_id, "client_secret": app.secret or ""},
        auth=app.basic,
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    secret_and_assertion = await client.post(
        path,
        data=ENDPOINTS[path]
        | {
            "client_id": app.client_id,
            "client_secret": app.secret or "",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "a.b.c",
        },
    )
    assert secret_and_assertion.status_code == 400
    assert secret_and_assertion.json()["error"] == "invalid_request"


async def test_T3_client_uses_the_method_it_registered(client: httpx.AsyncClient, ctx: AppContext) -> None:
    basic_app = await make_client(ctx)  # registered for client_secret_basic
    post_app = await make_client(ctx, auth_method="client_secret_post")
    form = {"grant_type": "client_credentials"}
    # The right secret through the wrong channel: refused, and only now told which method to use.
    by_post = await client.post(
        "/token", data=form | {"client_id": basic_app.client_id, "client_secret": basic_app.secret or ""}
    )
    assert by_post.status_code == 401 and "client_secret_basic" in by_post.json()["error_description"]
    by_basic = await client.post("/token", data=form, auth=post_app.basic)
    assert by_basic.status_code == 401 and "client_secret_post" in by_basic.json()["error_description"]
    # A wrong secret through the wrong channel says nothing about the registration.
    guess = await client.post(
        "/token", data=form | {"client_id": basic_app.client_id, "client_secret": "guess"}
    )
    assert guess.status_code == 401 and "client_secret_basic" not in guess.text
    assert (await client.post("/token", data=form, auth=basic_app.basic)).status_code == 200


async def test_T3_confidential_client_without_credentials_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx)
    response = await client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": app.client_id}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_I1_public_client_cannot_introspect(client: httpx.AsyncClient, ctx: AppContext) -> None:
    public = await make_client(ctx, grants=("authorization_code",), public=True)
    response = await client.post("/introspect", data={"token": "x", "client_id": public.client_id})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_L4_operators_see_why_a_client_failed(
    client: httpx.AsyncClient, ctx: AppContext, server_logging
) -> None:  # type: ignore[no-untyped-def]
    app = await make_client(ctx)
    response = await client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, "wrong secret")
    )
    assert response.status_code == 401
    refused = [
        r for r in server_logging.records if r.name == "authserver.oauth" and "refused" in r.getMessage()
    ]
    assert refused and refused[-1].reason == "wrong or expired client secret"  # type: ignore[attr-defined]
    assert refused[-1].client_id is None or refused[-1].client_id == app.client_id  # type: ignore[attr-defined]
    assert all("wrong secret" not in line for line in server_logging.lines())
