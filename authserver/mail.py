"""Outgoing mail behind one small interface (`Mailer.send`), and the messages we send.

- `SmtpMailer` (production, `AUTHSERVER_MAIL_BACKEND=smtp`): aiosmtplib with STARTTLS (587), TLS
  (465) or, for a relay on the same host, neither; optional login.
- `OutboxMailer` (the development default): each message becomes an `.eml` file in
  `AUTHSERVER_MAIL_OUTBOX_DIR` (mode 0600), and the log names the file, never its content: the
  links in these mails are credentials (checklist L1).

Messages are Jinja2 templates in `templates/mail/`: `NAME.subject.txt`, `NAME.txt` (plain text) and
`NAME.html` (escaped like the pages), sent as one multipart/alternative message.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape

from authserver.settings import Settings

log = logging.getLogger("authserver.mail")


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class OutboxMailer:
    """Development: messages land as files; nothing leaves the machine."""

    directory: Path

    async def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
        log.info("mail written to the outbox", extra={"path": str(path)})


@dataclass(frozen=True)
class SmtpMailer:
    settings: Settings

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=password,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            timeout=s.smtp_timeout,
        )
        log.info("mail sent", extra={"mail_template": message.get("X-Authserver-Template", "")})


def make_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(settings)
    return OutboxMailer(settings.mail_outbox_dir)


@cache
def _environments(directory: Path) -> tuple[Environment, Environment]:
    """(plain text, HTML): only HTML is escaped, so a text mail shows `&` as `&`."""
    loader = FileSystemLoader(directory)
    text = Environment(loader=loader, autoescape=False, auto_reload=False, keep_trailing_newline=True)  # noqa: S701
    html = Environment(loader=loader, autoescape=select_autoescape(default=True), auto_reload=False)
    return text, html


def compose(templates: Path, name: str, *, sender: str, to: str, **context: Any) -> EmailMessage:
    """Render `templates/mail/NAME.*` into one message to `to`."""
    text_env, html_env = _environments(templates)
    subject = text_env.get_template(f"mail/{name}.subject.txt").render(**context).strip()
    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())  # one line: no header injection through a value
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="authserver")
    message["X-Authserver-Template"] = name
    message.set_content(text_env.get_template(f"mail/{name}.txt").render(**context))
    message.add_alternative(html_env.get_template(f"mail/{name}.html").render(**context), subtype="html")
    return message


async def deliver(mailer: Mailer, message: EmailMessage) -> bool:
    """Send after the response (a background task): a failure is logged by kind, never with the
    message or its link, and the person can ask again."""
    try:
        await mailer.send(message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        template = message.get("X-Authserver-Template", "")
        log.error("mail could not be sent: %s", type(exc).__name__, extra={"mail_template": template})
        return False
    return True
