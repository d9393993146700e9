"""Audit trail for issue 3: look-ups by client IP, and append-only enforced by the database.

``idp audit list --ip`` filters on ``ip``, hence an index. A trigger refuses UPDATE on
``audit_events`` in SQLite and PostgreSQL alike, so no code path (ours or an operator's SQL)
can rewrite history; DELETE stays allowed because retention (``idp audit prune``) needs it.

Revision ID: 0002_throttle_audit
Revises: 0001
"""
from alembic import op

revision = "0002_throttle_audit"
down_revision = "0001"
branch_labels = None
depends_on = None

MESSAGE = "audit_events is append-only"


def upgrade() -> None:
    op.create_index("ix_audit_events_ip", "audit_events", ["ip"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END;
            $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""")
    else:
        op.execute(f"""
            CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update" +
               (" ON audit_events" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_index("ix_audit_events_ip", table_name="audit_events")
