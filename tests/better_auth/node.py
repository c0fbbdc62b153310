"""Start a real Better Auth app (a Node script in this folder) for an integration test.

Each script listens on 127.0.0.1 on a port the OS picks and prints `LISTENING <base URL>` when
ready, so there is no port race; it exits when its stdin closes, so it never outlives the test.
Needs Node and `npm ci --prefix tests/better_auth` (.ci/run does it): skipped without them on a
laptop, a failure with CI=true.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Better Auth integration test must run)")
    pytest.skip(reason)


@contextmanager
def better_auth_app(script: str, workdir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `script` with a fresh SQLite database and secret; yield its base URL."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (HERE / "node_modules" / "better-auth").is_dir():
        _unavailable("Better Auth is not installed: run npm ci --prefix tests/better_auth")
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
        "BA_DATABASE": str(workdir / "better-auth.db"),
        "NODE_ENV": "test",
    } | (env or {})
    log_path = workdir / f"{Path(script).stem}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(node), script],
        cwd=HERE,
        env=full_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield _wait_for_listening(proc, log_path)
    finally:
        proc.stdin.close()  # the script exits when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()


def _wait_for_listening(proc: subprocess.Popen[bytes], log: Path) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Better Auth exited {proc.returncode}: {log.read_text()[-2000:]}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline().decode().strip()
            if line.startswith("LISTENING "):
                return line.removeprefix("LISTENING ")
    raise RuntimeError(f"Better Auth did not start: {log.read_text()[-2000:]}")
