"""POST /signup over HTTP: success, duplicates, and bad input that must never 500 or leave a row."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from authserver.context import AppContext
from authserver.db.models import User, UserRole

PASSWORD = "correct horse battery staple"
GOOD = {"email": "alice@example.com", "username": "alice", "password": PASSWORD}


async def row_counts(ctx: AppContext) -> tuple[int, int]:
    async with ctx.transaction() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        roles = await session.scalar(select(func.count()).select_from(UserRole))
    return int(users or 0), int(roles or 0)


async def test_signup_json_creates_user(client: httpx.AsyncClient, ctx: AppContext) -> None:
    response = await client.post("/signup", json=GOOD)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["username"] == "alice" and body["email"] == "alice@example.com"
    assert set(body) == {"id", "email", "username"}
    assert response.headers["cache-control"] == "no-store"
    assert await row_counts(ctx) == (1, 0)


async def test_signup_form_creates_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/signup", data=GOOD)
    assert response.status_code == 201, response.text


async def test_duplicate_signup_is_409(client: httpx.AsyncClient, ctx: AppContext) -> None:
    assert (await client.post("/signup", json=GOOD)).status_code == 201
    again = GOOD | {"email": "ALICE@EXAMPLE.COM", "username": "alice2"}
    response = await client.post("/signup", json=again)
    assert response.status_code == 409
    assert response.json()["error"] == "account_exists"
    assert await row_counts(ctx) == (1, 0)


@pytest.mark.parametrize("settings_overrides", [{"signup_reveals_conflicts": False}])
async def test_U7_conflicts_hidden_when_configured(client: httpx.AsyncClient) -> None:
    first = await client.post("/signup", json=GOOD)
    second = await client.post("/signup", json=GOOD)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()


def _raw(content: bytes | str, content_type: str) -> dict[str, Any]:
    return {"content": content, "headers": {"content-type": content_type}}


BAD_INPUTS: dict[str, tuple[dict[str, Any], int, str | None]] = {
    "malformed json": (_raw(b'{"email": "a@b.c",', "application/json"), 400, None),
    "json array": (_raw(b"[1, 2]", "application/json"), 400, None),
    "not utf-8": (_raw(b"\xff\xfe{}", "application/json"), 400, None),
    "wrong content type": (_raw(json.dumps(GOOD), "text/plain"), 415, None),
    "no content type": (_raw(json.dumps(GOOD), ""), 415, None),
    "oversized body": ({"json": GOOD | {"password": "p" * 70_000}}, 413, None),
    "empty fields": ({"json": {"email": "", "username": "", "password": ""}}, 400, "email"),
    "missing password": ({"json": {"email": "a@example.com", "username": "alice"}}, 400, "password"),
    "password not a string": ({"json": GOOD | {"password": 1234567890123}}, 400, "password"),
    "email with unicode": ({"json": GOOD | {"email": "ålice@exämple.com"}}, 400, "email"),
    "email with spaces": ({"json": GOOD | {"email": "alice @example.com"}}, 400, "email"),
    "email is an object": ({"json": GOOD | {"email": {"$ne": None}}}, 400, "email"),
    "10,000-character password": ({"json": GOOD | {"password": "Zq9!" * 2500}}, 400, "password"),
    "short password": ({"json": GOOD | {"password": "short"}}, 400, "password"),
    "sql in username": ({"json": GOOD | {"username": "x' OR '1'='1"}}, 400, "username"),
    "sql in email": ({"json": GOOD | {"email": "a'; DROP TABLE users;--@example.com"}}, 400, "email"),
    "sql in password": ({"json": GOOD | {"password": "'; DROP TABLE users; --"}}, 201, None),
    "repeated form field": (
        _raw(
            "email=a%40example.com&email=b%40example.com&username=alice&password=x",
            "application/x-www-form-urlencoded",
        ),
        400,
        "email",
    ),
    "unknown field": ({"json": GOOD | {"is_admin": True}}, 400, None),
    "common password": ({"json": GOOD | {"password": "password1234"}}, 400, "password"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
async def test_bad_input_gets_clear_4xx_and_no_row(
    client: httpx.AsyncClient, ctx: AppContext, case: str
) -> None:
    kwargs, status, field = BAD_INPUTS[case]
    response = await client.post("/signup", **kwargs)
    assert response.status_code == status, response.text
    if status >= 400:
        body = response.json()
        assert body["error"] and body["error_description"]
        if field:
            assert body.get("field") == field
        assert await row_counts(ctx) == (0, 0)
        assert PASSWORD not in response.text


async def test_get_signup_is_405(client: httpx.AsyncClient) -> None:
    assert (await client.get("/signup")).status_code == 405


@pytest.mark.parametrize("settings_overrides", [{"signup_enabled": False}])
async def test_signup_can_be_disabled(client: httpx.AsyncClient, ctx: AppContext) -> None:
    response = await client.post("/signup", json=GOOD)
    assert response.status_code == 403
    assert await row_counts(ctx) == (0, 0)
