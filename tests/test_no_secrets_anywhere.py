"""L1 over every flow at once: with every logger at DEBUG, run signup (API and page), the login
page, all grants, refresh, reset, verification, introspection, revocation and consent, then search
all captured log output, every column of the audit table and the outbox for every secret used.

The outbox is a mailbox: each message must carry the one link it was sent to deliver (that is its
job) and no other secret; the log and the audit table must carry none at all.
"""

from __future__ import annotations

import anyio
import httpx
from sqlalchemy import select

from authserver.context import AppContext
from authserver.db.models import AuditEvent
from tests.log_capture import Collect
from tests.oauth.helpers import PASSWORD, exchange, make_client, make_resource_server, make_user
from tests.pages.helpers import COOKIE, hidden_fields, openid_app, request_params, run_to_code
from tests.pages.mail_helpers import links, outbox_files

NEW_PASSWORD = "a completely new passphrase 77"
SIGNUP_PASSWORD = "signup page passphrase 2026"


async def test_L1_no_secret_in_logs_audit_or_outbox_across_every_flow(
    client: httpx.AsyncClient, ctx: AppContext, server_logging: Collect
) -> None:
    secrets: list[str] = [PASSWORD, NEW_PASSWORD, SIGNUP_PASSWORD]
    await make_user(ctx)
    cc = await make_client(ctx, grants=("client_credentials", "password", "refresh_token"))
    rs = await make_resource_server(ctx)
    web = await openid_app(ctx)
    secrets += [cc.secret or "", rs.secret or "", web.secret or ""]

    # Signup over the API, with its verification mail; and verify it.
    api_user = {"email": "dan@example.com", "username": "dan", "password": "quiet harbour lanterns 19"}
    secrets.append(api_user["password"])
    assert (await client.post("/signup", json=api_user)).status_code == 201
    [(_, verification)] = links(ctx, "email_verification")
    secrets.append(verification)
    assert (await client.post("/email/verify", json={"token": verification})).status_code == 200

    # The code flow through the login and consent pages (browser session, CSRF, code, verifier).
    verifier, params = request_params(web, scope="openid email offline_access")
    code = (await run_to_code(client, params))["code"]
    secrets += [verifier, code, client.cookies[COOKIE]]
    code_tokens = (await client.post("/token", data=exchange(code, verifier), auth=web.basic)).json()
    secrets += [code_tokens["access_token"], code_tokens["refresh_token"], code_tokens["id_token"]]

    # Signup on the page (a second browser).
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as other:
        page = await other.get("/register")
        secrets.append(hidden_fields(page)["csrf"])
        form = hidden_fields(page) | {
            "email": "erin@example.com",
            "username": "erin",
            "password": SIGNUP_PASSWORD,
        }
        assert (await other.post("/register", data=form)).status_code == 303
        secrets.append(other.cookies[COOKIE])

    # Every other grant, a refresh, introspection, revocation.
    m2m = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cc.basic)).json()
    login = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    pw = (await client.post("/token", data=login, auth=cc.basic)).json()
    refreshed = (
        await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": pw["refresh_token"]},
            auth=cc.basic,
        )
    ).json()
    secrets += [m2m["access_token"], pw["access_token"], pw["refresh_token"]]
    secrets += [refreshed["access_token"], refreshed["refresh_token"]]
    failed = {"grant_type": "password", "username": "alice", "password": "wrong " + PASSWORD}
    secrets.append(failed["password"])
    assert (await client.post("/token", data=failed, auth=cc.basic)).status_code == 400
    assert (
        await client.post("/introspect", data={"token": refreshed["access_token"]}, auth=rs.basic)
    ).status_code == 200
    assert (
        await client.post("/revoke", data={"token": refreshed["refresh_token"]}, auth=cc.basic)
    ).status_code == 200

    # A forgotten password, reset with the mailed link.
    assert (await client.post("/password/forgot", json={"email": "alice@example.com"})).status_code == 202
    [(_, reset)] = links(ctx, "password_reset")
    secrets.append(reset)
    changed = await client.post("/password/reset", json={"token": reset, "password": NEW_PASSWORD})
    assert changed.status_code == 200

    secrets = [s for s in dict.fromkeys(secrets) if s]
    assert len(secrets) >= 20  # passwords, client secrets, tokens, code, verifier, cookies, links
    lines = server_logging.lines()
    assert any('"audit"' in line for line in lines)  # the events were logged, only without secrets
    for line in lines:
        for secret in secrets:
            assert secret not in line, f"a secret appears in the log: {line[:200]}"
    async with ctx.transaction() as session:
        rows = (await session.scalars(select(AuditEvent))).all()
    assert rows
    for row in rows:
        text = " ".join(str(v) for v in (row.event, row.user_id, row.client_id, row.ip, row.detail, row.note))
        for secret in secrets:
            assert secret not in text, f"a secret appears in audit event {row.event}"
    delivered = {verification, reset}
    for path in outbox_files(ctx):
        text = await anyio.Path(path).read_text(errors="replace")
        carried = [s for s in secrets if s in text]
        assert len(carried) <= 1 and set(carried) <= delivered, (path.name, len(carried))
