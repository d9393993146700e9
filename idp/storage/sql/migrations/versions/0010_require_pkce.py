"""``clients.require_pkce`` (issue 16): PKCE becomes a per-client property (OAuth 2.1, RFC 9700
§2.1.1 expect it from every client).

New clients get ``IDP_REQUIRE_PKCE_DEFAULT`` (on unless the operator turns it off). Existing clients
keep what they had, so that an upgrade breaks no running relying party: public clients on (they
always had to send a challenge), confidential clients off. Turn it on for those with
``idp clients update CLIENT_ID --require-pkce`` once the app sends ``code_challenge``.

Revision ID: 0010_require_pkce
Revises: 0009_email_verified
"""

from alembic import op
import sqlalchemy as sa


revision = "0010_require_pkce"
down_revision = "0009_email_verified"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("require_pkce", sa.Boolean(), nullable=False, server_default=sa.false()))
    clients = sa.table("clients", sa.column("public", sa.Boolean()), sa.column("require_pkce", sa.Boolean()))
    op.execute(clients.update().where(clients.c.public == sa.true()).values(require_pkce=True))


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("require_pkce")
