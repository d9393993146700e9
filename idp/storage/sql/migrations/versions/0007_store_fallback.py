"""Table ``store_fallback``: short-lived state while Redis is unreachable.

Pending authorization requests and authorization codes normally live in Redis. During a Redis
outage ``idp.storage.store.fallback.FallbackStore`` writes them here instead, so users who are already
signed in keep completing single sign-on to relying parties. The table is empty outside outages.

Revision ID: 0007_store_fallback
Revises: 0006_signing_keys
"""
from alembic import op
import sqlalchemy as sa


revision = "0007_store_fallback"
down_revision = "0006_signing_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_fallback",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    with op.batch_alter_table("store_fallback", schema=None) as batch_op:
        batch_op.create_index("ix_store_fallback_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("store_fallback", schema=None) as batch_op:
        batch_op.drop_index("ix_store_fallback_expires_at")
    op.drop_table("store_fallback")
