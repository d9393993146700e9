"""``clients.default_acr_values`` (issue 19): a relying party can require a second factor for every
sign-in (``["urn:spom:acr:mfa"]``), set by the identity team (``idp clients create|update
--require-mfa``, the admin API) or by the app team in its registration (RFC 7591 / OpenID Connect
Dynamic Registration §2). Existing clients get NULL: nothing changes for them.

Revision ID: 0014_client_acr
Revises: 0013_second_factors
"""

from alembic import op
import sqlalchemy as sa


revision = "0014_client_acr"
down_revision = "0013_second_factors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_acr_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("default_acr_values")
