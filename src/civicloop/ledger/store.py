"""Tables of the ledgers capability (工作台账与目标责任考核), on the shared metadata.

Every key starts with ``city_id``. Natural keys are the primary keys, so a duplicate is refused by the
database as well as by the importer: a project by its name, an outreach event by (date, theme, place), a
volunteer activity by (date, theme, place), a normative document by its number (文号), a review by
(number, date), a target by (period, unit, indicator, filter).

Amounts of money are whole yuan (BigInteger): 45.26 亿元 = 4 526 000 000, exact on every store.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Float, Index, Integer, String, Table, Text

from civicloop.store.tables import UTCDateTime, metadata

ledger_units = Table(
    "ledger_units",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("name_en", String(128)),
    Column("kind", String(16), nullable=False),  # bureau | office | department | district | squad
    Column("parent_id", String(64)),
    Column("department_id", String(64)),  # the profile's department when it is the same unit
    Column("district_code", String(16)),
    Column("kpi_scope", String(96), nullable=False),  # city | department:<id> | district:<code>
    Column("position", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

ledger_targets = Table(
    "ledger_targets",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),  # 2026 | 2026-Q3 | 2026-07
    Column("unit_id", String(64), primary_key=True),
    Column("indicator", String(64), primary_key=True),
    Column("filter", String(64), primary_key=True),  # '' or a category code / theme / project type
    Column("name", String(128)),  # label override (entered indicators outside the catalogue)
    Column("comparison", String(2), nullable=False),  # ge | le
    Column("target_value", Float, nullable=False),
    Column("weight", Float, nullable=False),
    Column("source", String(8), nullable=False),  # auto | ledger | entered
    Column("tolerance", Float, nullable=False),
    Column("note", Text),
    Column("set_by", String(64), nullable=False),
    Column("set_at", UTCDateTime(), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("indicator", String(64), primary_key=True),
    Column("filter", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("value", Float, nullable=False),
    Column("evidence", Text, nullable=False),  # file path or URL
    Column("note", Text),
    Column("entered_by", String(64), nullable=False),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("status", String(10), nullable=False),  # pending | approved | rejected
    Column("reviewed_by", String(64)),
    Column("reviewed_at", UTCDateTime()),
    Column("review_note", Text),
)

ledger_inspections = Table(
    "ledger_inspections",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("indicator", String(64)),
    Column("inspected_on", Date, nullable=False),
    Column("note", Text, nullable=False),
    Column("deduction", Float, nullable=False),
    Column("inspector", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_inspections_unit", "city_id", "unit_id"),
)

ledger_projects = Table(
    "ledger_projects",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("project_type", String(16), nullable=False),
    Column("district_code", String(16)),
    Column("unit_id", String(64), nullable=False),
    Column("planned_investment", BigInteger, nullable=False),  # yuan
    Column("completed_investment", BigInteger, nullable=False),  # yuan
    Column("start_date", Date),
    Column("finish_date", Date),
    Column("status", String(12), nullable=False),
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_projects_start", "city_id", "start_date"),
)

ledger_campaigns = Table(
    "ledger_campaigns",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("held_on", Date, primary_key=True),
    Column("theme", String(64), primary_key=True),
    Column("place", String(128), primary_key=True),
    Column("target_group", String(12), nullable=False),
    Column("district_code", String(16)),
    Column("unit_id", String(64), nullable=False),
    Column("events", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("handbooks", Integer, nullable=False),
    Column("leaflets", Integer, nullable=False),
    Column("trainees", Integer, nullable=False),
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_volunteering = Table(
    "ledger_volunteering",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("held_on", Date, primary_key=True),
    Column("theme", String(64), primary_key=True),
    Column("place", String(128), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("hours", Float, nullable=False),  # volunteer hours, all participants together
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_documents = Table(
    "ledger_documents",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("number", String(64), primary_key=True),  # 文号, e.g. 并城管发〔2016〕12号
    Column("title", String(256), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("status", String(12), nullable=False),  # in_force | revised | reissued | abolished
    Column("unit_id", String(64), nullable=False),
    Column("note", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_document_reviews = Table(
    "ledger_document_reviews",
    metadata,
    Column("city_id", String(32), primary_key=True),
    Column("number", String(64), primary_key=True),
    Column("reviewed_on", Date, primary_key=True),
    Column("outcome", String(12), nullable=False),  # kept | revised | reissued | abolished
    Column("new_number", String(64)),
    Column("reviewer", String(64), nullable=False),
    Column("note", Text),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_document_reviews_date", "city_id", "reviewed_on"),
)

LEDGER_TABLES = (
    ledger_units,
    ledger_targets,
    ledger_entries,
    ledger_inspections,
    ledger_projects,
    ledger_campaigns,
    ledger_volunteering,
    ledger_documents,
    ledger_document_reviews,
)
