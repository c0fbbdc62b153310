"""The SMTP path against a real SMTP server on 127.0.0.1 (aiosmtpd): the reset mail arrives, and
its link works."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.policy import default
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.oauth.helpers import make_user
from tests.servers import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def settings_overrides(smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {
        "mail_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp[1],
        "smtp_security": "none",
        "mail_from": "Auth <auth@example.com>",
    }


async def test_reset_mail_arrives_over_smtp_with_a_working_link(
    client: httpx.AsyncClient, ctx: Any, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await make_user(ctx)
    assert (await client.post("/password/forgot", json={"email": "alice@example.com"})).status_code == 202
    [(sender, recipients, raw)] = inbox.messages
    assert sender == "auth@example.com" and recipients == ["alice@example.com"]
    message = email.message_from_bytes(raw, policy=default)
    assert message["Subject"] == "Reset your password"
    plain = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:8000(/password/reset\?token=[A-Za-z0-9_-]+)", plain)
    assert link is not None and link[0] in html
    page = await client.get(link[1])
    assert page.status_code == 200 and "Choose a new password" in page.text
    token = link[1].split("=", 1)[1]
    done = await client.post(
        "/password/reset", json={"token": token, "password": "an entirely fresh passphrase 42"}
    )
    assert done.status_code == 200
    assert [m for m in inbox.messages if b"Your password was changed" in m[2]]


async def test_smtp_failure_is_logged_without_the_link(
    client: httpx.AsyncClient, ctx: Any, smtp: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, _ = smtp
    await make_user(ctx)
    ctx._mailer = type(ctx.mailer)(ctx.settings.model_copy(update={"smtp_port": free_port()}))
    assert (await client.post("/password/forgot", json={"email": "alice@example.com"})).status_code == 202
    assert inbox.messages == []
    failures = [
        r for r in caplog.records if r.name == "authserver.mail" and "could not be sent" in r.getMessage()
    ]
    assert failures and all("token=" not in r.getMessage() for r in caplog.records)
