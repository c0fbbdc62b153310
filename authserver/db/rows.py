"""Row counts of UPDATE and DELETE statements, on which the single-winner rules depend."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result


def affected(result: Result[Any]) -> int:
    """How many rows a DML statement matched.

    `Session.execute` is typed as returning `Result`; for UPDATE and DELETE it is a `CursorResult`,
    which carries the count (both aiosqlite and asyncpg report it).
    """
    return int(cast(CursorResult[Any], result).rowcount or 0)
