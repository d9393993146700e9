"""Alembic environment: URL from the config the caller built (see ``idp.storage.sql.migrate``)."""

from alembic import context

from idp.storage.sql.database import make_engine
from idp.storage.sql.models import Base

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:  # idp.storage.sql.migrate always sets it
        raise RuntimeError("sqlalchemy.url is not set: run migrations through idp.storage.sql.migrate")
    engine = make_engine(url)
    with engine.connect() as connection:
        # render_as_batch: ALTERs run on SQLite too (CONVENTIONS 10).
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
