"""Free-text case search on PostgreSQL through a trigram index (``pg_trgm``).

The search's free-text filter is ``lower(search_text) LIKE '%…%'`` (description and address). Without an
index it reads every case row of the city: about a second per search at 1 M cases, growing with the years
kept. A GIN index of the trigrams of ``lower(search_text)`` answers the same condition for any phrase of
three characters or more (an address, a place, "井盖缺失"), in Chinese as in Latin script, without any
change to the query; shorter phrases still scan. Trigrams of Han characters need a UTF-8 ``LC_CTYPE``
(``C.UTF-8``, ``zh_CN.UTF-8`` …), which is what ``initdb`` gives on a UTF-8 system.

``pg_trgm`` ships with PostgreSQL (contrib) and is a trusted extension since PostgreSQL 13: the database
owner may create it. Where it is missing or may not be created, the migration says so and leaves the
search as it was (correct, a scan) rather than stopping the upgrade.

SQLite: nothing. Its FTS5 ``trigram`` tokenizer would need an external-content table keyed by the
``rowid`` of ``cases``, which ``VACUUM`` may renumber (the table has no INTEGER PRIMARY KEY): a search
that silently misses cases after routine maintenance is worse than a slow one (docs/api.md, under the
``/cases/search`` row).

Revision ID: 0016_case_text_trigrams
Revises: 0012_case_search
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0016_case_text_trigrams"
down_revision = "0012_case_search"
branch_labels = None
depends_on = None

INDEX = "ix_cases_text_trgm"
log = logging.getLogger("civicloop.migrations")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first()
    if available is None:
        log.warning("pg_trgm is not installed: the free-text case search stays a scan (install contrib)")
        return
    # A savepoint: a refused CREATE EXTENSION (no privilege) must not abort the upgrade's transaction.
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning("pg_trgm could not be created (%s): the free-text case search stays a scan", exc.orig)
        return
    savepoint.commit()
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON cases USING gin (lower(search_text) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")  # the extension stays: other objects may use it
