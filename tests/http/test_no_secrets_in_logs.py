"""L1: no password or password hash in any log line during signup and signin, with the logging
configuration the server really uses, at its most verbose level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from authserver.context import AppContext
from authserver.db.models import User
from authserver.domain import users
from authserver.log import QUIET_LOGGERS, JsonFormatter, configure_logging

PASSWORD = "unguessable Passphrase 4 audit"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_logging() -> Iterator[_Collect]:
    names = ["", "authserver", "uvicorn", "uvicorn.access", *QUIET_LOGGERS]
    saved = {n: (lg.level, lg.propagate, list(lg.handlers)) for n in names if (lg := logging.getLogger(n))}
    configure_logging("DEBUG")
    collect = _Collect()
    logging.getLogger().setLevel(logging.DEBUG)
    for name in ("", "authserver", "uvicorn", "uvicorn.access"):
        logging.getLogger(name).addHandler(collect)
    try:
        yield collect
    finally:
        for name, (level, propagate, handlers) in saved.items():
            lg = logging.getLogger(name)
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers[:] = handlers


async def test_L1_signup_and_signin_log_no_password_or_hash(
    client: httpx.AsyncClient, ctx: AppContext, server_logging: _Collect
) -> None:
    body = {"email": "someone@example.com", "username": "someone", "password": PASSWORD}
    assert (await client.post("/signup", json=body)).status_code == 201
    assert (await client.post("/signup", json=body)).status_code == 409
    await client.post("/signup", json=body | {"username": "x", "email": "bad"})
    async with ctx.transaction() as session:
        for attempt in (PASSWORD, PASSWORD + "wrong"):
            await users.authenticate(session, ctx.hasher, "someone", attempt, max_password_length=1024)
        stored_hash = (await session.scalars(select(User.password_hash))).one()

    assert any(r.name == "authserver.audit" for r in server_logging.records)
    formatter = JsonFormatter()
    for record in server_logging.records:
        line = formatter.format(record)
        for secret in (PASSWORD, stored_hash, stored_hash.split("$")[-1]):
            assert secret not in line, f"secret leaked in log line from {record.name}"
