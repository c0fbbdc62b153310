"""Security audit events (checklist L2): one table row and one structured log line each.

Each event has its time, name, user id, client id, client IP and outcome (success, failure,
refused). Callers pass identifiers (user id, client id, family id), never credentials; `record` refuses
detail keys that name a credential so a careless call fails in tests rather than leaking.

The log line is written when the row is committed, not when it is added: a request that rolls
back (a failed grant) must not leave a log line for an event the table never saw.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from authserver import metrics
from authserver.db.models import AuditEvent

log = logging.getLogger("authserver.audit")
_PENDING = "authserver.audit.pending"

_FORBIDDEN = ("password", "secret", "token", "code", "hash", "cookie", "authorization")


def _check_detail(detail: dict[str, Any]) -> None:
    for key in detail:
        lowered = key.lower()
        # Identifiers and counts are not credentials; anything else named like one is refused.
        if any(word in lowered for word in _FORBIDDEN) and not lowered.endswith(("_id", "_count")):
            raise ValueError(f"audit detail key {key!r} names a credential")


async def record(
    session: AsyncSession,
    event: str,
    *,
    user_id: str | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    outcome: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add the row to the caller's transaction; its log line follows the commit."""
    _check_detail(detail)
    result = outcome or outcome_of(event)
    row = AuditEvent(event=event, user_id=user_id, client_id=client_id, ip=ip, outcome=result, detail=detail)
    session.add(row)
    line = {"event": event, "user_id": user_id, "client_id": client_id, "ip": ip, "outcome": result} | detail
    session.sync_session.info.setdefault(_PENDING, []).append(line)
    return row


def outcome_of(event: str) -> str:
    """The default outcome an event name implies: `*.failed` failed, a lock or limit refused."""
    if event.endswith(".failed"):
        return "failure"
    if event in ("login.locked", "rate_limit.hit") or event.endswith(".refused"):
        return "refused"
    return "success"


def emit(
    event: str,
    *,
    user_id: str | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    outcome: str = "success",
    **detail: Any,
) -> None:
    """A log-only audit event, for paths that must stay free of database writes: a token issued
    (architecture §2: issuing an access token writes nothing). Same line shape as `record`."""
    _check_detail(detail)
    line = {"event": event, "user_id": user_id, "client_id": client_id, "ip": ip, "outcome": outcome} | detail
    log.info(event, extra={"audit": line})


@sa_event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    for line in session.info.pop(_PENDING, ()):
        log.info(line["event"], extra={"audit": line})
        metrics.count_audit_event(line["event"])


@sa_event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
