"""Security audit events (checklist L2): one table row and one structured log line each.

Callers pass identifiers (user id, client id, family id), never credentials; `record` refuses
detail keys that name a credential so a careless call fails in tests rather than leaking.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import AuditEvent

log = logging.getLogger("authserver.audit")

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
    **detail: Any,
) -> AuditEvent:
    _check_detail(detail)
    row = AuditEvent(event=event, user_id=user_id, client_id=client_id, ip=ip, detail=detail)
    session.add(row)
    log.info(
        event,
        extra={"audit": {"event": event, "user_id": user_id, "client_id": client_id, "ip": ip} | detail},
    )
    return row
