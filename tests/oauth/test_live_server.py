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
from tests.oauth.helpers import make_client, unverified_header
from tests.servers import pg_with_client, running_server


async def test_pyjwt_and_joserfc_validate_tokens_against_fetched_jwks(
    ctx: AppContext, tmp_path: Path
) -> None:
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
    with pg_with_client(tmp_path, "--grant-type", "client_credentials") as (url, env, auth):
        runner = CliRunner()

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


def test_50_concurrent_refreshes_across_two_processes(tmp_path: Path) -> None:
    grants = ("--grant-type", "password", "--grant-type", "refresh_token", "--scope", "read")
    with pg_with_client(tmp_path, *grants) as (url, env, auth):
        runner = CliRunner()
        made = runner.invoke(
            cli,
            ["users", "create", "--email", "r@example.com", "--username", "racer", "--password-stdin"],
            env=env,
            input="correct horse battery staple\n",
        )
        assert made.exit_code == 0, made.output
        with running_server(url, tmp_path) as one, running_server(url, tmp_path) as two:
            asyncio.run(_race(one, two, auth))


async def _race(one: str, two: str, auth: tuple[str, str]) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        login = await http.post(
            one + "/token",
            data={"grant_type": "password", "username": "racer", "password": "correct horse battery staple"},
            auth=auth,
        )
        token = login.json()["refresh_token"]
        answers = await asyncio.gather(
            *(
                http.post(
                    base + "/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=auth
                )
                for base in [one, two] * 25
            )
        )
        statuses = [a.status_code for a in answers]
        assert statuses.count(200) == 1 and statuses.count(400) == 49, sorted(statuses)
        winner = next(a.json()["refresh_token"] for a in answers if a.status_code == 200)
        after = await http.post(
            two + "/token", data={"grant_type": "refresh_token", "refresh_token": winner}, auth=auth
        )
        assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
