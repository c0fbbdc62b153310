"""Reading the development outbox: the links our mails carry."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from authserver.context import AppContext

LINK = re.compile(r"http://127\.0\.0\.1:8000(/[a-z/]+)\?token=([A-Za-z0-9_-]+)")


def outbox(ctx: AppContext) -> list[EmailMessage]:
    folder = ctx.settings.mail_outbox_dir
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    return [email.message_from_bytes(p.read_bytes(), policy=default) for p in files]  # type: ignore[misc]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def links(ctx: AppContext, template: str) -> list[tuple[str, str]]:
    """(path, token) of every mail made from `template`, oldest first."""
    found = []
    for message in outbox(ctx):
        if message["X-Authserver-Template"] == template:
            match = LINK.search(text_of(message))
            assert match is not None
            found.append((match[1], match[2]))
    return found


def outbox_files(ctx: AppContext) -> list[Path]:
    folder = ctx.settings.mail_outbox_dir
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []
