"""Case search (案卷查询): the columns and indexes that every filter and sort of the search uses.

New projection columns, filled from the stored case documents: ``street_code``, ``community_code``,
``rework_count`` (返工次数, from failed checks), ``due_at`` (the current step's deadline: the handling
deadline while a department holds the case, else the step's; empty when closed or suspended) and
``search_text`` (description and address, for the free-text filter). Each filter has an index led by
``city_id`` so that a search stays fast at millions of cases.

Revision ID: 0012_case_search
Revises: 0001_core
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012_case_search"
down_revision = "0001_core"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_cases_city_grid_created": ["city_id", "grid_code", "created_at"],
    "ix_cases_city_street_created": ["city_id", "street_code", "created_at"],
    "ix_cases_city_community_created": ["city_id", "community_code", "created_at"],
    "ix_cases_city_district_created": ["city_id", "district_code", "created_at"],
    "ix_cases_city_category_created": ["city_id", "category_code", "created_at"],
    "ix_cases_city_updated": ["city_id", "updated_at"],
    "ix_cases_city_due": ["city_id", "due_at"],
    "ix_cases_city_rework": ["city_id", "rework_count"],
}

HANDLING = frozenset({"dispatched", "return_requested", "extension_requested", "suspension_requested"})
NO_DUE = frozenset({"closed", "voided", "rejected", "not_filed", "suspended"})


def _moment(value: str | None, sqlite: bool) -> datetime | str | None:
    """A stored time as the projection writes it (SQLite: SQLAlchemy's text form, in UTC)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else moment


def _values(doc: dict[str, Any], stage: str, sqlite: bool) -> dict[str, Any]:
    if stage in NO_DUE:
        due = None
    else:
        due = _moment(doc.get("deadline") if stage in HANDLING else doc.get("step_deadline"), sqlite)
    text = " ".join(t for t in (doc.get("description"), doc.get("address")) if t) or None
    return {
        "s": doc.get("street_code"),
        "m": doc.get("community_code"),
        "r": int(doc.get("rework_count") or 0),
        "d": due,
        "t": text,
    }


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("street_code", sa.String(16)))
        batch.add_column(sa.Column("community_code", sa.String(16)))
        batch.add_column(sa.Column("rework_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("search_text", sa.Text()))
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    update = sa.text(
        "UPDATE cases SET street_code = :s, community_code = :m, rework_count = :r, due_at = :d, "
        "search_text = :t WHERE city_id = :city AND case_id = :case"
    )
    last = ("", "")
    while True:  # the existing cases, in batches by key
        rows = bind.execute(
            sa.text(
                "SELECT city_id, case_id, stage, doc FROM cases WHERE (city_id > :c) "
                "OR (city_id = :c AND case_id > :k) ORDER BY city_id, case_id LIMIT 5000"
            ),
            {"c": last[0], "k": last[1]},
        ).all()
        if not rows:
            break
        params = [
            {**_values(json.loads(r.doc), r.stage, sqlite), "city": r.city_id, "case": r.case_id}
            for r in rows
        ]
        bind.execute(update, params)
        last = (rows[-1].city_id, rows[-1].case_id)
    for name, columns in INDEXES.items():
        op.create_index(name, "cases", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="cases")
    with op.batch_alter_table("cases") as batch:
        for column in ("search_text", "due_at", "rework_count", "community_code", "street_code"):
            batch.drop_column(column)
