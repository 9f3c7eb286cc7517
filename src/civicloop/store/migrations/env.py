"""Alembic environment: civicloop passes an open connection in ``config.attributes['connection']``."""

from __future__ import annotations

from alembic import context

from civicloop.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic CLI use; civicloop always passes a connection
    raise RuntimeError("run migrations through `civicloop init` or civicloop.store.database.migrate()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
