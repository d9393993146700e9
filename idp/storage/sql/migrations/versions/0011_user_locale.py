"""``users.locale`` (issue 18): the language the user chose (BCP 47, e.g. "de").

Signed-in pages and every mail use it, and it is the ``locale`` claim of the ``profile`` scope.
Nullable: existing users have not chosen yet (their pages follow ``ui_locales``, the ``idp_lang``
cookie or the browser until they do).

Revision ID: 0011_user_locale
Revises: 0010_require_pkce
"""

from alembic import op
import sqlalchemy as sa


revision = "0011_user_locale"
down_revision = "0010_require_pkce"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locale")
