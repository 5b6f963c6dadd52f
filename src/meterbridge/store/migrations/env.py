"""Alembic environment: runs against the engine the Database passes in (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from meterbridge.store.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through meterbridge.store.database.Database")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # several processes starting at once (workers) migrate one after the other; the later
            # ones find the schema at head and do nothing
            connection.execute(text("SELECT pg_advisory_xact_lock(7246101)"))
        context.run_migrations()
    connection.commit()
