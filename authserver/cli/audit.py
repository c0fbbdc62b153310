"""`authserver audit list`: the security events (checklist L2) for operators.

Rows come newest first; `--since` takes an ISO date/time (UTC when no zone is given) or a
duration back from now (`30m`, `12h`, `7d`). Token issuance is a log-only event (issuing writes
nothing), so it appears in the JSON log, not here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import select

from authserver.cli.common import emit, run
from authserver.context import AppContext
from authserver.db.models import AuditEvent
from authserver.domain import users
from authserver.domain.errors import InvalidInput

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: datetime) -> datetime:
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("--since must be an ISO date/time or a duration like 30m, 12h, 7d") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _row(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "event": event.event,
        "outcome": event.outcome,
        "user_id": event.user_id,
        "client_id": event.client_id,
        "ip": event.ip,
        "detail": event.detail,
    }


def _line(row: dict[str, Any]) -> str:
    detail = " ".join(f"{k}={v}" for k, v in sorted(row["detail"].items()))
    parts = [row["at"], row["event"], row["outcome"]]
    parts += [f"{k}={row[k]}" for k in ("user_id", "client_id", "ip") if row[k]]
    return " ".join(parts + ([detail] if detail else []))


@click.group()
def audit() -> None:
    """Security audit events."""


@audit.command("list")
@click.option("--user", "user_ref", help="User id, email or username.")
@click.option("--event", help="Event name (e.g. login.failed), or a prefix ending in '.' (login.).")
@click.option("--since", help="ISO date/time (UTC) or a duration back from now: 30m, 12h, 7d.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_events(
    click_ctx: click.Context,
    user_ref: str | None,
    event: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Audit events, newest first."""

    async def work(ctx: AppContext) -> list[dict[str, Any]]:
        query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        if since:
            query = query.where(AuditEvent.at >= parse_since(since, datetime.now(UTC)))
        if event:
            if event.endswith("."):
                query = query.where(AuditEvent.event.startswith(event, autoescape=True))
            else:
                query = query.where(AuditEvent.event == event)
        async with ctx.transaction() as session:
            if user_ref:
                query = query.where(AuditEvent.user_id == (await users.get_user(session, user_ref)).id)
            return [_row(e) for e in (await session.scalars(query)).all()]

    emit(run(click_ctx, work), as_json, lambda rows: "\n".join(_line(r) for r in rows) or "no events")
