"""The SQL database: engine, models, one repository module per aggregate, Alembic migrations."""
