"""Applies the Alembic migrations; called by ``main.py`` at start-up and by the test fixtures."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from persistence.urls import sqlalchemy_url

log = logging.getLogger("booking.migrate")

# Alembic's ``context`` is a module global it installs and removes around each run, so two runs in threads
# of one process break each other (the reliability suite starts envs in parallel): one run at a time.
_ONE_AT_A_TIME = threading.Lock()

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the schema to the newest revision, saying so at INFO when there was something to apply
    (Alembic's own per-step lines are library chatter, logged at DEBUG by ``api/observability.py``)."""
    config = alembic_config(database_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    if current != head:
        log.info("database schema: migrating from %s to %s", current or "empty", head)
    with _ONE_AT_A_TIME:
        command.upgrade(config, "head")
