"""Alembic environment: migrations run online against the URL the caller puts in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

from persistence import models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "persistence.migrate sets sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            # One migrator at a time, even when several API processes start together.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7311001)")
            context.run_migrations()
    engine.dispose()


run_migrations_online()
