"""``password_reset_tokens.return_client_id`` and ``return_redirect_uri`` (issue 18): the app a reset or
device-approval link was asked for from.

The row already names the pending sign-in (``interaction_id``), but that lives only
``IDP_INTERACTION_SECONDS`` and only in the browser that started it; a link opened later, or in the
mail app of a phone, lost the way back to the app. Nullable: older links, helpdesk links and
invitations were asked for from no app.

Revision ID: 0012_link_return_app
Revises: 0011_user_locale
"""

from alembic import op
import sqlalchemy as sa


revision = "0012_link_return_app"
down_revision = "0011_user_locale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("password_reset_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("return_client_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("return_redirect_uri", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("password_reset_tokens", schema=None) as batch_op:
        batch_op.drop_column("return_redirect_uri")
        batch_op.drop_column("return_client_id")
