"""browser sign in: sessions, pending authorization requests, consents, post-logout URIs, code sid

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 12:23:11.284982
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import authserver.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("auth_time", authserver.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("created_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_browser_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_browser_sessions")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_browser_sessions_secret_sha256")),
    )
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_browser_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_browser_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_consents_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_consents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_consents")),
    )
    op.create_table(
        "pending_authorizations",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("browser_session_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", authserver.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["browser_session_id"],
            ["browser_sessions.id"],
            name=op.f("fk_pending_authorizations_browser_session_id_browser_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_pending_authorizations_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_sha256", name=op.f("pk_pending_authorizations")),
    )
    with op.batch_alter_table("pending_authorizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_authorizations_browser_session_id"), ["browser_session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pending_authorizations_expires_at"), ["expires_at"], unique=False
        )

    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sid", sa.String(length=36), nullable=True))

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("post_logout_redirect_uris", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("post_logout_redirect_uris")

    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_column("sid")

    with op.batch_alter_table("pending_authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_authorizations_expires_at"))
        batch_op.drop_index(batch_op.f("ix_pending_authorizations_browser_session_id"))

    op.drop_table("pending_authorizations")
    op.drop_table("consents")
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_browser_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_browser_sessions_expires_at"))

    op.drop_table("browser_sessions")
