"""Against real `authserver serve` processes: standard client libraries validate our tokens, and
workers on one database converge on a key rotation without restart."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import jwt as pyjwt
from click.testing import CliRunner
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from authserver.cli import cli
from authserver.context import AppContext
from tests import backends
from tests.oauth.helpers import make_client, unverified_header
from tests.servers import running_server


async def test_pyjwt_and_joserfc_validate_tokens_against_fetched_jwks(ctx: AppContext, tmp_path: Path) -> None:
    app = await make_client(ctx, resources=("https://api.example.com",))
    with running_server(ctx.settings.database_url, tmp_path) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post(
                "/token",
                data={"grant_type": "client_credentials", "resource": "https://api.example.com"},
                auth=app.basic,
            )
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            metadata = (await http.get("/.well-known/openid-configuration")).json()

        # PyJWT's own JWKS client fetches the keys over HTTP and picks the key by kid.
        jwks_client = pyjwt.PyJWKClient(metadata["jwks_uri"])
        signing_key = await asyncio.to_thread(jwks_client.get_signing_key_from_jwt, token)
        claims = pyjwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience="https://api.example.com",
            issuer=base,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
        assert claims["client_id"] == app.client_id
        assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"

        # joserfc (Authlib's JOSE library) with its claims registry.
        async with httpx.AsyncClient() as http:
            keyset = KeySet.import_key_set((await http.get(metadata["jwks_uri"])).json())
        decoded = jose_jwt.decode(token, keyset, algorithms=["RS256"])
        jose_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": base},
            aud={"essential": True, "value": "https://api.example.com"},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)


def test_two_processes_agree_on_rotation_within_5_seconds(tmp_path: Path) -> None:
    name, url = backends.create_pg_schema()
    try:
        env = {"AUTHSERVER_DATABASE_URL": url, "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"), "AUTHSERVER_CONFIG": None}
        runner = CliRunner()
        assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
        created = runner.invoke(
            cli, ["clients", "create", "--name", "m2m", "--grant-type", "client_credentials", "--json"], env=env
        )
        app = json.loads(created.stdout)
        auth = (app["client_id"], app["client_secret"])

        def kid_from(base: str) -> str:
            response = httpx.post(base + "/token", data={"grant_type": "client_credentials"}, auth=auth)
            assert response.status_code == 200, response.text
            return str(unverified_header(response.json()["access_token"])["kid"])

        with running_server(url, tmp_path) as one, running_server(url, tmp_path) as two:
            before = kid_from(one)
            assert kid_from(two) == before
            jwks = httpx.get(one + "/.well-known/jwks.json").json()
            rotated = runner.invoke(cli, ["keys", "rotate", "--force", "--json"], env=env)
            assert rotated.exit_code == 0, rotated.output
            new_kid = next(k["kid"] for k in json.loads(rotated.stdout) if k["state"] == "current")
            assert new_kid != before and new_kid in {k["kid"] for k in jwks["keys"]}  # was `next`
            started = time.monotonic()
            seen: dict[str, float] = {}
            while len(seen) < 2 and time.monotonic() - started < 5:
                for base in (one, two):
                    if base not in seen and kid_from(base) == new_kid:
                        seen[base] = time.monotonic() - started
                time.sleep(0.1)
            assert len(seen) == 2, f"servers still signing with the old key after 5 s: {seen}"
    finally:
        backends.drop_pg_schema(name)
