"""Backups that lose nothing, and the way back (checklist F4).

SQLite: the online backup API copies a consistent snapshot page by page while the server keeps
serving (readers and the writer are not blocked for the whole copy). PostgreSQL: `pg_dump` in its
custom format and `pg_restore`, with the password passed through the environment, never argv.

A backup holds signing keys encrypted under the key-encryption secret: without that secret
(`AUTHSERVER_KEY_ENCRYPTION_SECRET`, or `keys/key-encryption-secret` in development) a restored
database cannot sign. Keep the secret with the backups, apart from them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from authserver.db.engine import keep_owner_only


class BackupError(Exception):
    """One line, safe to print (never the database password)."""


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("this SQLite database has no file to back up")
    return Path(url.database)


def _libpq(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore, the password in PGPASSWORD (not in argv,
    which other users can read in the process list)."""
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    env = {"PGPASSWORD": url.password} if url.password else {}
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run(command, env=os.environ | env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise BackupError(f"{command[0]}: {last}")


def backup(database_url: str, target: Path, *, force: bool = False) -> None:
    if target.exists() and not force:
        raise BackupError(f"{target} exists; choose another path or pass --force")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_path(url)
        if not source.exists():
            raise BackupError(f"{source} does not exist")
        target.unlink(missing_ok=True)
        keep_owner_only(target)
        with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
            live.backup(copy)  # a consistent snapshot while the server writes
        return
    args, env = _libpq(url)
    keep_owner_only(target)
    _run(["pg_dump", "--format=custom", "--no-owner", *args, "--file", str(target), url.database or ""], env)


def restore(database_url: str, source: Path, *, force: bool = False) -> None:
    """Into the configured database, which no server may be using while this runs."""
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        target = _sqlite_path(url)
        if target.exists() and not force:
            raise BackupError(f"{target} exists; restoring replaces it, so pass --force (servers stopped)")
        for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            stale.unlink(missing_ok=True)
        keep_owner_only(target)
        with sqlite3.connect(source) as backup_copy, sqlite3.connect(target) as live:
            backup_copy.backup(live)
        return
    args, env = _libpq(url)
    clean = ["--clean", "--if-exists"] if force else []
    _run(["pg_restore", "--no-owner", *clean, *args, "--dbname", url.database or "", str(source)], env)
