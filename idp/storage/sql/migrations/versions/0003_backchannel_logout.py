"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0, issue 5): clients register a
``backchannel_logout_uri``; ending a provider session queues one logout token per client that
holds a session under it in ``logout_deliveries`` (an outbox written in the same transaction,
so a crash between "session ended" and "relying parties told" loses nothing).

Revision ID: 0003_backchannel_logout
Revises: 0002_throttle_audit
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_backchannel_logout"
down_revision = "0002_throttle_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backchannel_logout_uri", sa.String(length=2000), nullable=True))
    op.create_table(
        "logout_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("done_at", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("logout_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_logout_deliveries_pending", ["done_at", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("logout_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_logout_deliveries_pending")
    op.drop_table("logout_deliveries")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("backchannel_logout_uri")
