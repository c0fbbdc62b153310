"""external identities: local accounts linked to Better Auth users (RFC 8693 token exchange)

Also widens token_families.grant_type to 64 characters for RFC 8693's grant type URN.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import authserver.db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_identities",
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("linked_by", sa.String(length=16), nullable=False),
        sa.Column("created_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_external_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issuer", "subject", name=op.f("pk_external_identities")),
    )
    with op.batch_alter_table("external_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_external_identities_user_id"), ["user_id"], unique=False)
        batch_op.create_index("uq_external_identities_issuer_user_id", ["issuer", "user_id"], unique=True)

    with op.batch_alter_table("token_families", schema=None) as batch_op:
        batch_op.alter_column(
            "grant_type",
            existing_type=sa.String(length=40),
            type_=sa.String(length=64),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Families from token exchange carry a 46-character grant type that no longer fits.
    op.execute("DELETE FROM token_families WHERE length(grant_type) > 40")
    with op.batch_alter_table("token_families", schema=None) as batch_op:
        batch_op.alter_column(
            "grant_type",
            existing_type=sa.String(length=64),
            type_=sa.String(length=40),
            existing_nullable=False,
        )

    with op.batch_alter_table("external_identities", schema=None) as batch_op:
        batch_op.drop_index("uq_external_identities_issuer_user_id")
        batch_op.drop_index(batch_op.f("ix_external_identities_user_id"))

    op.drop_table("external_identities")
