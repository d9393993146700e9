"""``users.email_verified`` and ``password_reset_tokens.mailed_to`` (issue 16): ``email_verified`` was
always false, so relying parties that trust only verified addresses stopped at "confirm your e-mail".

The flag is set when the institution assigned the address (``idp users create/import
--email-verified``) or when the user completes a link e-mailed to it (reset, invitation, device
approval); ``mailed_to`` records the address a link was sent to (NULL for a helpdesk link, which
proves nothing), so a link sent before the address changed proves nothing either. Existing users
start unverified: nothing recorded says their address was ever checked.

Revision ID: 0009_email_verified
Revises: 0008_client_cors_origins
"""

from alembic import op
import sqlalchemy as sa


revision = "0009_email_verified"
down_revision = "0008_client_cors_origins"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("password_reset_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailed_to", sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("password_reset_tokens", schema=None) as batch_op:
        batch_op.drop_column("mailed_to")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_verified")
