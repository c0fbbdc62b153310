"""introspection allowed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("introspection_allowed", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
    _emails_to_ascii_domains()


def _emails_to_ascii_domains() -> None:
    """Emails stored with a Unicode domain (before IDNA forms were kept) could not be found when
    typed as their `xn--` form: store every one in the ASCII form the code now uses."""
    from email_validator import EmailNotValidError, validate_email

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, email FROM users")).all()
    for user_id, email in rows:
        if email.isascii():
            continue
        try:
            ascii_email = validate_email(email, check_deliverability=False, allow_smtputf8=False).ascii_email
        except EmailNotValidError:
            continue
        if ascii_email:
            conn.execute(
                sa.text("UPDATE users SET email = :e, email_normalized = :n WHERE id = :i"),
                {"e": ascii_email, "n": ascii_email.lower(), "i": user_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("introspection_allowed")
