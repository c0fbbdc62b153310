"""The `authserver` operator CLI.

Every failure ends as one line on stderr and a non-zero exit (1 for an operation that failed,
2 for a usage or settings error), never a traceback: `common.run` maps settings, domain and
database errors onto `CliError` in one place, and click prints it.
"""

from __future__ import annotations

import click

from authserver.cli import audit, clients, db, identities, keys, serve, sessions, tokens, users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML settings file (same names as the AUTHSERVER_* variables, lower-case).",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """authserver: an OAuth 2.0 / OpenID Connect authorization server."""
    ctx.obj = {"config": config}


cli.add_command(serve.serve)
cli.add_command(db.db)
cli.add_command(users.users)
cli.add_command(clients.clients)
cli.add_command(keys.keys)
cli.add_command(tokens.tokens)
cli.add_command(sessions.sessions)
cli.add_command(audit.audit)
cli.add_command(identities.identities)


def main() -> None:
    cli.main(prog_name="authserver")
