"""Alembic environment: models are the source of truth (target_metadata)."""

from __future__ import annotations

from alembic import context

from shoper_retention import models
from shoper_retention.db import engine_url, make_engine

config = context.config
target_metadata = models.Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url")
    if not url:
        from shoper_retention.settings import Settings

        url = Settings.from_env().database_url
    return engine_url(url)


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
