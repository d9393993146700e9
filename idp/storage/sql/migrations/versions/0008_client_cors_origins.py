"""Column ``clients.allowed_cors_origins``: the browser origins a client's single-page app calls from.

NULL keeps the default (a public client: the origins of its redirect URIs; a confidential client:
none), so existing clients need no data change.

Revision ID: 0008_client_cors_origins
Revises: 0007_store_fallback
"""
from alembic import op
import sqlalchemy as sa


revision = "0008_client_cors_origins"
down_revision = "0007_store_fallback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_cors_origins", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("allowed_cors_origins")
