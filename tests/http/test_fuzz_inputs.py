"""L6 / L4 as a property: whatever bytes or text arrive, no 5xx and no traceback in the log.

Hypothesis sends arbitrary text and bytes in every parameter, in the body as a whole and in the
Authorization header, mixed with real values (a real client's credentials, a live refresh token)
so that inputs also reach the code behind client authentication. Bounded to stay fast; it runs on
SQLite and PostgreSQL like every storage test.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authserver.context import AppContext
from tests.log_capture import Collect
from tests.oauth.helpers import PASSWORD, REDIRECT, make_client, make_user

KNOWN_PARAMS = [
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "code",
    "code_verifier",
    "redirect_uri",
    "refresh_token",
    "scope",
    "resource",
    "username",
    "password",
    "token",
    "token_type_hint",
    "email",
    "nonce",
    "state",
]
GRANTS = [
    "client_credentials",
    "password",
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
]
ENDPOINTS = ["/token", "/introspect", "/revoke", "/signup"]

# Text as hostile as Hypothesis can make it: controls, NUL, surrogates, quotes, backslashes.
hostile_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40),
    st.sampled_from(["\x00", '"', "\\", "é", "\ud800", "a" * 5000, "1e20", "%00", "\r\n", "{}", "[]"]),
)
header_bytes = st.binary(max_size=120).filter(lambda b: not any(c in b for c in b"\r\n\x00"))


class Fixtures:
    """Real values the strategies may pick, made once per test run (per backend)."""

    def __init__(self, basic: str, client_id: str, refresh_token: str) -> None:
        self.basic = basic
        self.client_id = client_id
        self.refresh_token = refresh_token


def param_value(real: Fixtures) -> st.SearchStrategy[str]:
    return st.one_of(
        hostile_text,
        st.sampled_from(GRANTS),
        st.sampled_from([real.client_id, real.refresh_token, REDIRECT, "alice", PASSWORD]),
    )


def authorization(real: Fixtures) -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.none(),
        st.just(real.basic.encode()),
        header_bytes.map(lambda b: b"Basic " + base64.b64encode(b)),
        header_bytes.map(lambda b: b"Basic " + b),
        header_bytes,
    )


def body(real: Fixtures) -> st.SearchStrategy[tuple[bytes, str]]:
    form = st.dictionaries(
        st.one_of(st.sampled_from(KNOWN_PARAMS), hostile_text), param_value(real), max_size=8
    ).map(lambda d: ("&".join(f"{_enc(k)}={_enc(v)}" for k, v in d.items()).encode(), "form"))
    json_body = st.dictionaries(
        st.sampled_from(["email", "username", "password", *KNOWN_PARAMS[:3]]),
        st.one_of(hostile_text, st.integers(), st.none(), st.lists(st.integers(), max_size=3)),
        max_size=4,
    ).map(lambda d: (_json(d), "json"))
    raw = st.binary(max_size=300).map(lambda b: (b, "form"))
    return st.one_of(form, json_body, raw)


def _enc(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _json(data: dict[str, Any]) -> bytes:
    import json

    return json.dumps(data, ensure_ascii=True).encode()


async def real_fixtures(ctx: AppContext, http: httpx.AsyncClient) -> Fixtures:
    app = await make_client(ctx, grants=("password", "refresh_token", "client_credentials"), introspect=True)
    await make_user(ctx)
    login = await http.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        auth=app.basic,
    )
    assert login.status_code == 200, login.text
    basic = "Basic " + base64.b64encode(f"{app.client_id}:{app.secret}".encode()).decode()
    return Fixtures(basic, app.client_id, login.json()["refresh_token"])


def no_server_errors(response: httpx.Response, logs: Collect) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert not logs.tracebacks(), logs.tracebacks()[-1]
    assert not [r for r in logs.records if r.levelno >= logging.ERROR]


async def test_L6_no_input_reaches_a_5xx_or_a_traceback(
    client: httpx.AsyncClient, ctx: AppContext, server_logging: Collect
) -> None:
    real = await real_fixtures(ctx, client)

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        path=st.sampled_from(ENDPOINTS),
        payload=body(real),
        auth=authorization(real),
        content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", None]),
    )
    def attack(path: str, payload: tuple[bytes, str], auth: bytes | None, content_type: str | None) -> None:
        # Hypothesis drives examples from a worker thread; each request runs on the test's loop.
        sent = send(path, payload, auth, content_type)
        asyncio.run_coroutine_threadsafe(sent, loop).result(timeout=60)

    async def send(
        path: str, payload: tuple[bytes, str], auth: bytes | None, content_type: str | None
    ) -> None:
        content, kind = payload
        headers: dict[str, bytes] = {}
        chosen = content_type or (
            "application/json" if kind == "json" else "application/x-www-form-urlencoded"
        )
        headers["content-type"] = chosen.encode()
        if auth is not None:
            headers["authorization"] = auth
        response = await client.post(path, content=content, headers=headers)  # type: ignore[arg-type]
        no_server_errors(response, server_logging)

    loop = asyncio.get_running_loop()
    await anyio.to_thread.run_sync(attack)
