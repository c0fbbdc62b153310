"""Consent: which scopes a user allowed a client (architecture §6, checklist S9).

Remembered per user and client as a set of scopes: a request whose scopes are all inside the set
skips the consent page; asking for anything more shows it again. Withdrawing deletes the record
and revokes that client's refresh-token families for the user (checklist R5), so its tokens stop
working and the next sign-in asks again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import Client, Consent
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain import audit, token_families


@dataclass(frozen=True)
class GrantedApp:
    client_id: str
    client_name: str
    scopes: list[str]


async def covers(session: AsyncSession, user_id: str, client_id: str, scopes: Iterable[str]) -> bool:
    row = await session.get(Consent, (user_id, client_id))
    return row is not None and set(scopes) <= set(row.scopes)


async def grant(session: AsyncSession, user_id: str, client_id: str, scopes: Iterable[str]) -> None:
    """Remember the scopes (added to what the user allowed before)."""
    now = utcnow()
    row = await session.get(Consent, (user_id, client_id))
    if row is None:
        try:
            async with session.begin_nested():
                session.add(
                    Consent(
                        user_id=user_id,
                        client_id=client_id,
                        scopes=sorted(set(scopes)),
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()
        except IntegrityError:  # granted at the same moment in another tab: add to that row
            row = await session.get(Consent, (user_id, client_id), populate_existing=True)
    if row is not None:
        row.scopes = sorted(set(row.scopes) | set(scopes))
        row.updated_at = now
    await session.flush()
    await audit.record(
        session, "consent.granted", user_id=user_id, client_id=client_id, scope=" ".join(sorted(set(scopes)))
    )


async def list_for_user(session: AsyncSession, user_id: str) -> Sequence[GrantedApp]:
    rows = await session.execute(
        select(Consent.client_id, Client.name, Consent.scopes)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Client.name, Consent.client_id)
    )
    return [GrantedApp(client_id, name, list(scopes)) for client_id, name, scopes in rows.all()]


async def withdraw(session: AsyncSession, user_id: str, client_id: str, *, ip: str | None = None) -> bool:
    """Forget the consent and end the client's refresh-token families for this user (R5)."""
    result = await session.execute(
        delete(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    if not affected(result):
        return False
    await token_families.revoke_user_families(session, user_id, "consent_withdrawn", client_id=client_id)
    await audit.record(session, "consent.withdrawn", user_id=user_id, client_id=client_id, ip=ip)
    return True
