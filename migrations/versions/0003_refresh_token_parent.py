"""refresh token parent

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 00:51:46.354126
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_refresh_tokens_parent_sha256"), ["parent_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_parent_sha256"))
        batch_op.drop_column("parent_sha256")
