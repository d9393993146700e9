"""Console roles (issue 20): ``staff_roles``, one row per person and role (``idp:admin``, ``idp:security``,
``team:<name>``). No one holds a role after the upgrade: the identity team gives them
(``idp users grant-role``).

Revision ID: 0015_staff_roles
Revises: 0014_client_acr
"""

from alembic import op
import sqlalchemy as sa


revision = "0015_staff_roles"
down_revision = "0014_client_acr"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=120), nullable=False),
        sa.Column("granted_at", sa.Float(), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "role"),
    )
    op.create_index("ix_staff_roles_user_id", "staff_roles", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_roles_user_id", table_name="staff_roles")
    op.drop_table("staff_roles")
