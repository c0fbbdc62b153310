"""Issuer metadata: RFC 8414 well-known location, OIDC fallback, and the exact-issuer rule."""

from __future__ import annotations

import httpx
import pytest
import respx

from authserver_resource import Issuer, IssuerUnavailable
from authserver_resource.metadata import MetadataCache
from tests.kit.conftest import AUDIENCE, ISSUER_URL, FakeClock


def test_well_known_urls_insert_the_suffix_before_the_path() -> None:
    # RFC 8414 §3.1: https://example.com/tenant -> https://example.com/.well-known/...-server/tenant
    issuer = Issuer("https://example.com/tenant", audience=AUDIENCE)
    assert issuer.metadata_urls() == (
        "https://example.com/.well-known/oauth-authorization-server/tenant",
        "https://example.com/tenant/.well-known/openid-configuration",
    )
    configured = Issuer(ISSUER_URL, audience=AUDIENCE, metadata_url="https://issuer.example/meta")
    assert configured.metadata_urls() == ("https://issuer.example/meta",)


async def test_falls_back_to_openid_discovery(router: respx.MockRouter, clock: FakeClock) -> None:
    router.get(f"{ISSUER_URL}/.well-known/oauth-authorization-server").respond(404)
    router.get(f"{ISSUER_URL}/.well-known/openid-configuration").respond(
        json={"issuer": ISSUER_URL, "jwks_uri": f"{ISSUER_URL}/certs"}
    )
    async with httpx.AsyncClient() as http:
        cache = MetadataCache(Issuer(ISSUER_URL, audience=AUDIENCE), http, clock=clock)
        assert await cache.endpoint("jwks_uri") == f"{ISSUER_URL}/certs"


async def test_metadata_for_another_issuer_is_refused(router: respx.MockRouter, clock: FakeClock) -> None:
    # RFC 8414 §3.3: the issuer in the document MUST be identical to the one we asked about.
    route = router.get(f"{ISSUER_URL}/.well-known/oauth-authorization-server").respond(
        json={"issuer": "https://evil.example", "jwks_uri": "https://evil.example/jwks"}
    )
    async with httpx.AsyncClient() as http:
        cache = MetadataCache(Issuer(ISSUER_URL, audience=AUDIENCE), http, clock=clock)
        with pytest.raises(IssuerUnavailable):
            await cache.get()
        with pytest.raises(IssuerUnavailable):
            await cache.get()
        assert route.call_count == 1  # the failure is not retried on every request


async def test_insecure_endpoint_in_metadata_is_refused(router: respx.MockRouter, clock: FakeClock) -> None:
    router.get(f"{ISSUER_URL}/.well-known/oauth-authorization-server").respond(
        json={"issuer": ISSUER_URL, "jwks_uri": "http://issuer.example/jwks"}
    )
    async with httpx.AsyncClient() as http:
        cache = MetadataCache(Issuer(ISSUER_URL, audience=AUDIENCE), http, clock=clock)
        with pytest.raises(IssuerUnavailable, match="https"):
            await cache.endpoint("jwks_uri")


async def test_metadata_kept_through_an_outage(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.get(f"{ISSUER_URL}/.well-known/oauth-authorization-server").respond(
        json={"issuer": ISSUER_URL, "jwks_uri": f"{ISSUER_URL}/jwks"}
    )
    async with httpx.AsyncClient() as http:
        cache = MetadataCache(Issuer(ISSUER_URL, audience=AUDIENCE), http, clock=clock)
        await cache.get()
        route.mock(side_effect=httpx.ConnectError("down"))
        clock.advance(3601)
        assert (await cache.get())["jwks_uri"] == f"{ISSUER_URL}/jwks"
        assert route.call_count == 2
