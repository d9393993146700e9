"""Signing keys move into the database (issue 7).

Every provider process on every host already shares the database; keeping the keys there
makes a rotation one transaction that all processes see, and the two partial unique
indexes make a second current or next key per algorithm impossible, even when two hosts
rotate at the same moment. Private keys stay encrypted (PKCS#8, ``IDP_KEYS_PASSPHRASE``).

Revision ID: 0006_signing_keys
Revises: 0005_client_registration
"""
from alembic import op
import sqlalchemy as sa


revision = "0006_signing_keys"
down_revision = "0005_client_registration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("activated_at", sa.Float(), nullable=True),
        sa.Column("retired_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        for name, state in (("ix_signing_keys_one_current", "current"), ("ix_signing_keys_one_next", "next")):
            where = sa.text(f"state = '{state}'")
            batch_op.create_index(name, ["alg"], unique=True, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_signing_keys_one_next")
        batch_op.drop_index("ix_signing_keys_one_current")
    op.drop_table("signing_keys")
