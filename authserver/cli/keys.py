"""`authserver keys ...`: signing keys (filled in by the token-service work)."""

from __future__ import annotations

import click

from authserver.cli.common import CliError


@click.group()
def keys() -> None:
    """Signing keys."""


@keys.command()
def rotate() -> None:
    """Rotate the signing keys (next -> current -> retired)."""
    raise CliError("signing keys are not implemented yet")


@keys.command("list")
def list_() -> None:
    """List signing keys."""
    raise CliError("signing keys are not implemented yet")
