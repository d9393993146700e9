"""Client registration for app teams (issue 6): secret rotation with a grace period,
``private_key_jwt`` keys, informational RFC 7591 metadata, the owning team and the hashed
RFC 7592 registration access token on ``clients``; a table of hashed RFC 7591 initial
access tokens issued to app teams.

Revision ID: 0005_client_registration
Revises: 0004_password_reset
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_client_registration"
down_revision = "0004_password_reset"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret_hash", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_expires_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("secret_issued_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("jwks_uri", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("application_type", sa.String(length=10), nullable=False,
                                      server_default="web"))
        batch_op.add_column(sa.Column("info", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("team", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("registration_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("updated_at", sa.Float(), nullable=True))
        batch_op.create_unique_constraint("uq_clients_registration_token_hash", ["registration_token_hash"])

    op.create_table(
        "initial_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("max_clients", sa.Integer(), nullable=True),
        sa.Column("clients_registered", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("initial_access_tokens")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint("uq_clients_registration_token_hash", type_="unique")
        for name in ("updated_at", "created_by", "registration_token_hash", "team", "info", "application_type",
                     "jwks_uri", "jwks", "secret_issued_at", "previous_secret_expires_at", "previous_secret_hash"):
            batch_op.drop_column(name)
