"""L1/S4 for the pages: no password, session cookie, CSRF token or code in a log line or a URL."""

from __future__ import annotations

import httpx

from authserver.context import AppContext
from authserver.log import JsonFormatter
from tests.log_capture import Collect
from tests.oauth.helpers import PASSWORD, make_user
from tests.pages.helpers import COOKIE, hidden_fields, login, openid_app, query, request_params, submit


async def test_L1_S4_sign_in_flow_logs_and_renders_no_secrets(
    client: httpx.AsyncClient,
    ctx: AppContext,
    server_logging: Collect,
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    start = await client.get("/authorize", params=request_params(app)[1])
    pre_login_cookie = client.cookies[COOKIE]
    login_page = await client.get(start.headers["location"])
    csrf_before = hidden_fields(login_page)["csrf"]
    failed = await submit(client, login_page, "/login", username="alice", password="not the password 1")
    assert failed.status_code == 400 and "not the password 1" not in failed.text
    consent_redirect = await login(client, start.headers["location"])
    cookie = client.cookies[COOKIE]
    consent_page = await client.get(consent_redirect.headers["location"])
    done = await submit(client, consent_page, "/consent", decision="allow")
    code = query(done.headers["location"])["code"]

    secrets = [
        PASSWORD,
        "not the password 1",
        pre_login_cookie,
        cookie,
        csrf_before,
        hidden_fields(consent_page)["csrf"],
        code,
    ]
    for location in (start.headers["location"], consent_redirect.headers["location"]):
        assert all(secret not in location for secret in secrets)  # S4: no credential in a URL we render
    formatter = JsonFormatter()
    assert server_logging.records
    for record in server_logging.records:
        line = formatter.format(record)
        for secret in secrets:
            assert secret not in line, f"secret leaked in a log line from {record.name}"
