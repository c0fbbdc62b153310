"""ruff and mypy (strict) stay clean: run as tests so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_clean() -> None:
    result = _run("ruff", "check", "authserver", "tests", "migrations", "kit/authserver_resource", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_clean() -> None:
    paths = ("authserver", "tests", "migrations", "kit/authserver_resource", "examples", "benchmarks")
    result = _run("ruff", "format", "--check", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    # pyproject.toml's [tool.mypy] files: the server, the resource kit and the examples.
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
