"""Replay of real history (历史导入): another system's cases, from a CSV, as events through CaseService.

A mapping file (TOML, or YAML when PyYAML is installed) names the CSV's columns, their date formats,
how its statuses, categories and agencies map onto the city profile::

    [columns]                   # CSV header → field (created, category, department required)
    external_id = "Unique Key"
    created = "Created Date"
    due = "Due Date"
    closed = "Closed Date"
    category = "Complaint Type"
    department = "Agency"
    status = "Status"
    lat = "Latitude"
    lon = "Longitude"
    address = "Incident Address"
    description = "Descriptor"
    district = "Borough"        # optional; values pass through [district] when given
    urgency = "Priority"        # optional; values pass through [urgency] (normal | urgent)

    [formats]                   # strptime formats (or "iso"); naive times are in `timezone`
    created = "%m/%d/%Y %I:%M:%S %p"
    timezone = "America/New_York"

    [status]                    # source status → closed | open | void (no status column: a row with
    Closed = "closed"           # a closed date is closed, one without is open)
    Open = "open"

    [urgency]                   # source value → normal | urgent ("*" = fallback; default normal)
    High = "urgent"

    [category]                  # source value → category code ("*" = fallback)
    "Illegal Parking" = "09009"

    [department]                # source value → department id ("*" = fallback)
    NYPD = "ty-traffic-police"

How a row becomes events (all in **one** ``CaseService.execute`` batch, one transaction): case numbers
are reserved first (``reserve_case_ids``), then per row REPORT (channel ``import``, actor role
``system``) → ACCEPT → FILE → DISPATCH at the created time and, for a closed row, HANDLE → SEND_CHECK →
CHECK → CLOSE at the closed time (a ``void`` row is voided at the closed time instead). The handling
limit is ``due − created`` in natural hours, so the deadline is the source's due date exactly; due ==
created is a zero-length limit (on time only if handled at that moment). A row **without a due date**
gets the city profile's limit for its category and urgency, and its FILE event says so in its note
(:data:`PROFILE_LIMIT_NOTE`). A row **without any location** (no coordinates, no address) is imported
unlocated (待定位): it counts in the city's and its department's figures, and is listed by
``CaseQuery(unlocated=True)`` (``GET /api/v1/queues/unlocated``) until it is located.

Refusals name the row (CSV line) and the column (its header in the file); with ``skip_bad`` the refused
rows are written, as they were read plus ``line``, ``column`` and ``reason``, to ``<input>.refused.csv``
beside the input.

Two places where the domain's rules shaped this (said, not bypassed):

* ``Rules.handling_limit(category, condition, urgency)`` has no case context and FILE takes no limit
  field. The importer gives its CaseService an :class:`ImportRules` that answers, in batch order, the
  limit of the next FILE (the domain asks exactly once per FILE). A ``handling_limit`` field on FILE for
  the system role would be the cleaner fix.
* HANDLE is a department's action and CHECK an inspector's: the system role may do neither, so those
  two events are recorded as ``import:<department>`` (role department) and ``import`` (role inspector).

Every row is first replayed in memory with the same ``decide``/``apply`` (staging): bad rows are
reported with their CSV line number and reason, and nothing is written unless every row is good or
``skip_bad`` is set. Then the good rows are written in one strict batch: a refusal there rolls back all.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.cases.core import Actor, CaseState, Command, apply, decide
from civicloop.cases.service import BatchItem, CaseService
from civicloop.city.service import City
from civicloop.kernel.clock import TimeLimit, TimeUnit, WorkCalendar
from civicloop.kernel.errors import DomainError
from civicloop.kernel.i18n import both, t
from civicloop.kernel.vocabulary import Action, Channel, Role, Step, Urgency

SYSTEM = Actor("import", Role.SYSTEM)
CHECKER = Actor("import", Role.INSPECTOR)
STATUSES = ("closed", "open", "void")
URGENCIES = tuple(u.value for u in Urgency)
REQUIRED = ("created", "category", "department")
PROFILE_LIMIT_NOTE = both("kpi.import.profile_limit_note")


class MappingError(ValueError):
    """The mapping file is unusable (message names the key)."""


class ImportFailed(RuntimeError):
    """Bad rows without ``skip_bad``: nothing was written."""

    def __init__(self, bad: list[BadRow]) -> None:
        self.bad = bad
        lines = "; ".join(b.text() for b in bad[:20])
        more = t("kpi.import.and_more", "en", n=len(bad) - 20) if len(bad) > 20 else ""
        super().__init__(f"{both('kpi.import.failed', n=len(bad))}: {lines}{more}")


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str
    column: str | None = None  # the CSV header of the offending column, when one is to blame
    record: Mapping[str, str] | None = field(default=None, compare=False, repr=False)  # the row as read

    def text(self) -> str:
        """``line 7, column "Due Date": reason`` — plain text, no markup."""
        where = f'line {self.line}, column "{self.column}"' if self.column else f"line {self.line}"
        return f"{where}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    events: int = 0
    bad: list[BadRow] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)
    profile_limits: int = 0  # rows without a due date: the profile's limit
    zero_limits: int = 0  # rows due when created
    unlocated: int = 0  # rows without coordinates (待定位; with or without an address)
    refused_csv: Path | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "events": self.events,
            "skipped": len(self.bad),
            "bad_rows": [b.as_json() for b in self.bad],
            "deadline_from_profile": self.profile_limits,
            "zero_length_limits": self.zero_limits,
            "unlocated": self.unlocated,
            "refused_csv": str(self.refused_csv) if self.refused_csv else None,
        }


@dataclass
class Mapping_:
    columns: dict[str, str]
    formats: dict[str, str]
    timezone: str
    status: dict[str, str]
    category: dict[str, str]
    department: dict[str, str]
    district: dict[str, str]
    void_reason: str = "invalid"
    urgency: dict[str, str] = field(default_factory=dict)


def load_mapping(path: Path) -> Mapping_:
    text = Path(path).read_text(encoding="utf-8")
    raw: dict[str, Any]
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # type: ignore[import-untyped]

        loaded = yaml.safe_load(text)
        if not isinstance(loaded, dict):
            raise MappingError(f"{path}: the mapping must be a table of sections")
        raw = loaded
    else:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{path}: {exc}") from None
    columns = {str(k): str(v) for k, v in (raw.get("columns") or {}).items()}
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        raise MappingError(f"{path}: {both('kpi.import.columns_table_missing', missing=', '.join(missing))}")
    formats = {str(k): str(v) for k, v in (raw.get("formats") or {}).items()}
    status = {str(k): str(v).lower() for k, v in (raw.get("status") or {}).items()}
    wrong = [f"{k} = {v}" for k, v in status.items() if v not in STATUSES]
    if wrong:
        raise MappingError(
            f"{path}: [status] values must be one of {', '.join(STATUSES)}: {', '.join(wrong)}"
        )
    urgency = {str(k): str(v).lower() for k, v in (raw.get("urgency") or {}).items()}
    wrong = [f"{k} = {v}" for k, v in urgency.items() if v not in URGENCIES]
    if wrong:
        raise MappingError(
            f"{path}: [urgency] values must be one of {', '.join(URGENCIES)}: {', '.join(wrong)}"
        )
    return Mapping_(
        columns=columns,
        formats=formats,
        timezone=formats.pop("timezone", str(raw.get("timezone", "Asia/Shanghai"))),
        status=status,
        category={str(k): str(v) for k, v in (raw.get("category") or {}).items()},
        department={str(k): str(v) for k, v in (raw.get("department") or {}).items()},
        district={str(k): str(v) for k, v in (raw.get("district") or {}).items()},
        void_reason=str(raw.get("void_reason", "invalid")),
        urgency=urgency,
    )


class ImportRules:
    """The city's rules, except that FILE's handling limit comes from the imported rows, in order
    (``None``: the row had no due date, the profile's limit for its category and urgency)."""

    def __init__(self, base: Any, limits: list[TimeLimit | None] | None = None) -> None:
        self.base = base
        self.limits = list(limits or [])
        self.next = 0
        self.current: TimeLimit | None = None
        self.staging = False  # True while a row is replayed in memory (``current`` answers, or the profile)

    @property
    def calendar(self) -> WorkCalendar:
        cal: WorkCalendar = self.base.calendar
        return cal

    def handling_limit(self, category_code: str, condition_no: int, urgency: Urgency) -> TimeLimit:
        if self.staging:
            limit = self.current
        else:
            limit = self.limits[self.next]
            self.next += 1
        if limit is None:
            profile_limit: TimeLimit = self.base.handling_limit(category_code, condition_no, urgency)
            return profile_limit
        return limit

    def step_limit(self, step: Step) -> TimeLimit:
        limit: TimeLimit = self.base.step_limit(step)
        return limit

    def knows_category(self, code: str) -> bool:
        return bool(self.base.knows_category(code))

    def knows_condition(self, code: str, condition_no: int) -> bool:
        return bool(self.base.knows_condition(code, condition_no))

    def knows_department(self, department_id: str) -> bool:
        return bool(self.base.knows_department(department_id))

    def needs_verification(self, channel: Channel) -> bool:
        return False

    def evidence_needed(self, category_code: str | None, step: str) -> tuple[bool, bool]:
        return False, False  # a history export carries no photos: its steps are what happened


@dataclass
class _Row:
    line: int
    created: datetime
    due: datetime | None
    closed: datetime | None
    status: str
    category: str
    department: str
    fields: dict[str, Any]
    limit: TimeLimit | None  # None: the profile's limit for the category and urgency


def _parse_time(value: str, fmt: str | None, tz: ZoneInfo) -> datetime:
    value = value.strip()
    if not fmt or fmt == "iso":
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        moment = datetime.strptime(value, fmt)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def _lookup(table: Mapping[str, str], value: str) -> str | None:
    if value in table:
        return table[value]
    return table.get("*")


class _Refused(Exception):
    def __init__(self, field_name: str | None, reason: str) -> None:
        self.field_name = field_name
        self.reason = reason


def _rows(path: Path, m: Mapping_, city: City) -> Iterator[_Row | BadRow]:
    tz = ZoneInfo(m.timezone)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        headers = set(reader.fieldnames or [])
        absent = [f"{c} ({f})" for f, c in m.columns.items() if c not in headers]
        if absent:
            raise MappingError(f"{path}: {both('kpi.import.columns_not_in_csv', absent=', '.join(absent))}")
        start = 1
        for record in reader:
            line = start + 1
            start = reader.line_num
            try:
                yield _row(line, record, m, city, tz)
            except _Refused as refused:
                column = m.columns.get(refused.field_name) if refused.field_name else None
                yield BadRow(line, refused.reason, column, dict(record))


def _row(line: int, record: Mapping[str, str | None], m: Mapping_, city: City, tz: ZoneInfo) -> _Row:
    """One CSV record as a row to import; raises _Refused naming the field to blame."""
    profile = city.profile

    def col(name: str) -> str:
        header = m.columns.get(name)
        value = record.get(header) if header else None
        return value.strip() if isinstance(value, str) else ""

    def when(name: str) -> datetime | None:
        text = col(name)
        if not text:
            return None
        try:
            return _parse_time(text, m.formats.get(name), tz)
        except ValueError as exc:
            raise _Refused(name, both("kpi.import.unreadable_date", text=repr(text), error=exc)) from None

    created = when("created")
    if created is None:
        raise _Refused("created", both("kpi.import.no_created_date"))
    due, closed = when("due"), when("closed")
    status_value = col("status")
    if "status" in m.columns and status_value:
        status = _lookup(m.status, status_value)
        if status is None:
            raise _Refused("status", both("kpi.import.status_unmapped", status=repr(status_value)))
    else:  # no status column, or an empty cell: the closed date says it
        status = "closed" if closed is not None else "open"
    category = _lookup(m.category, col("category")) or col("category")
    try:
        profile.category(category)
    except KeyError:
        raise _Refused(
            "category", both("kpi.import.category_unmapped", value=repr(col("category")))
        ) from None
    department = _lookup(m.department, col("department")) or col("department")
    if department not in {d.id for d in profile.departments}:
        raise _Refused("department", both("kpi.import.department_unmapped", value=repr(col("department"))))
    if status in ("closed", "void") and closed is None:
        raise _Refused("closed", both("kpi.import.closed_without_date", status=repr(status_value)))
    if closed is not None and closed < created:
        raise _Refused("closed", both("kpi.import.closed_before_created"))
    limit: TimeLimit | None = None
    if due is not None:
        hours = (due - created).total_seconds() / 3600.0
        if not math.isfinite(hours) or hours < 0:
            raise _Refused("due", both("kpi.import.due_before_created"))
        limit = TimeLimit(hours, TimeUnit.NATURAL_HOUR)  # 0: due when created, a zero-length limit
    urgency = Urgency.NORMAL.value
    if "urgency" in m.columns and col("urgency"):
        mapped = _lookup(m.urgency, col("urgency"))
        if mapped is None:
            raise _Refused("urgency", both("kpi.import.urgency_unmapped", value=repr(col("urgency"))))
        urgency = mapped
    lat_text, lon_text = col("lat"), col("lon")
    fields: dict[str, Any] = {
        "channel": Channel.IMPORT.value,
        "category_code": category,
        "description": col("description")[:4000] or None,
        "address": col("address")[:256] or None,
        "external_id": col("external_id")[:256] or None,
        "urgency": urgency,
    }
    if lat_text or lon_text:
        try:
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            blame = "lat" if not _is_number(lat_text) else "lon"
            raise _Refused(
                blame, both("kpi.import.unreadable_coordinates", lat=repr(lat_text), lon=repr(lon_text))
            ) from None
        if not (lat == 0.0 and lon == 0.0):  # exports write 0, 0 for "no coordinates"
            fields["lat"], fields["lon"] = lat, lon
    if "district" in m.columns and col("district"):
        fields["district_code"] = _lookup(m.district, col("district")) or col("district")
    return _Row(line, created, due, closed, status, category, department, fields, limit)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _stage(city: City, row: _Row, rules: ImportRules, void_reason: str) -> str | None:
    """Replay one row in memory with the domain; the reason it is refused, or None."""
    rules.current, rules.staging = row.limit, True
    state: CaseState | None = None
    try:
        for action, actor, moment, fields in _row_steps(row, "STAGING-0000000", void_reason):
            event = decide(
                state, Command(action, "STAGING-0000000", fields), actor, moment, rules, city_id=city.id
            )
            state = apply(state, event)
    except DomainError as exc:
        return str(exc)
    finally:
        rules.current, rules.staging = None, False
    return None


def _row_steps(
    row: _Row, case_id: str, void_reason: str
) -> list[tuple[Action, Actor, datetime, dict[str, Any]]]:
    handler = Actor(f"import:{row.department}", Role.DEPARTMENT, department_id=row.department)
    file_fields: dict[str, Any] = {"category_code": row.category}
    if row.limit is None:
        file_fields["note"] = PROFILE_LIMIT_NOTE
    steps: list[tuple[Action, Actor, datetime, dict[str, Any]]] = [
        (Action.REPORT, SYSTEM, row.created, row.fields),
        (Action.ACCEPT, SYSTEM, row.created, {}),
        (Action.FILE, SYSTEM, row.created, file_fields),
        (Action.DISPATCH, SYSTEM, row.created, {"department_id": row.department}),
    ]
    if row.status == "closed" and row.closed is not None:
        steps += [
            (Action.HANDLE, handler, row.closed, {"note": both("kpi.import.note_handled")}),
            (Action.SEND_CHECK, SYSTEM, row.closed, {}),
            (Action.CHECK, CHECKER, row.closed, {"passed": True, "note": both("kpi.import.note")}),
            (Action.CLOSE, SYSTEM, row.closed, {"note": both("kpi.import.note")}),
        ]
    elif row.status == "void" and row.closed is not None:
        voider = Actor("import", Role.SHIFT_LEADER)
        steps.append(
            (
                Action.VOID,
                voider,
                row.closed,
                {"reason": void_reason, "note": both("kpi.import.note_void")},
            )
        )
    return steps


def import_cases(
    city: City, csv_path: Path, mapping: Mapping_ | Path, *, skip_bad: bool = False
) -> ImportReport:
    """Import the CSV's rows as cases (see the module doc). Raises ImportFailed (nothing written) on bad
    rows unless *skip_bad*."""
    m = mapping if isinstance(mapping, Mapping_) else load_mapping(Path(mapping))
    report = ImportReport()
    staging_rules = ImportRules(city.rules)
    good: list[_Row] = []
    try:
        for item in _rows(Path(csv_path), m, city):
            report.rows += 1
            if isinstance(item, BadRow):
                report.bad.append(item)
                continue
            reason = _stage(city, item, staging_rules, m.void_reason)
            if reason is not None:
                report.bad.append(BadRow(item.line, reason, None, None))
                continue
            good.append(item)
    except (UnicodeDecodeError, csv.Error) as exc:  # not UTF-8, a field over csv's limit, broken quoting
        raise MappingError(
            f"{csv_path}: {both('kpi.import.unreadable_csv', rows=report.rows, error=exc)}"
        ) from None
    if report.bad and not skip_bad:
        raise ImportFailed(report.bad)
    if report.bad:
        report.refused_csv = write_refused(Path(csv_path), report.bad)
    report.profile_limits = sum(1 for r in good if r.limit is None)
    report.zero_limits = sum(1 for r in good if r.limit is not None and r.limit.amount == 0)
    report.unlocated = sum(1 for r in good if "lat" not in r.fields)  # no coordinates: 待定位
    if not good:
        return report
    # Reserve the case numbers per year of creation (a failed import leaves gaps, never half cases).
    tz = ZoneInfo(city.profile.timezone)
    ids: dict[int, list[str]] = {}
    by_year: dict[int, int] = {}
    for row in good:
        y = row.created.astimezone(tz).year
        by_year[y] = by_year.get(y, 0) + 1
    for y, n in by_year.items():
        ids[y] = city.cases.reserve_case_ids(datetime(y, 7, 1, tzinfo=tz), n)
    rules = ImportRules(city.rules, [row.limit for row in good])
    service = CaseService(
        city.store,
        rules,
        city_id=city.id,
        case_prefix=city.profile.case_prefix,
        timezone=city.profile.timezone,
    )
    items: list[BatchItem] = []
    taken: dict[int, int] = {}
    for row in good:
        y = row.created.astimezone(tz).year
        case_id = ids[y][taken.get(y, 0)]
        taken[y] = taken.get(y, 0) + 1
        report.case_ids.append(case_id)
        for action, actor, moment, fields in _row_steps(row, case_id, m.void_reason):
            items.append(BatchItem(Command(action, case_id, fields), actor, moment))
    result = service.execute(items, strict=True)
    city.cases.cache.clear()  # the other service wrote these cases: do not trust cached states
    report.imported = len(good)
    report.events = result.events
    return report


def refused_path(csv_path: Path) -> Path:
    """Where ``--skip-bad`` writes the refused rows: ``<input>.refused.csv`` beside the input."""
    return csv_path.with_name(f"{csv_path.stem}.refused.csv")


def write_refused(csv_path: Path, bad: list[BadRow]) -> Path:
    """The refused rows as read, plus ``line``, ``column`` and ``reason`` (UTF-8 with BOM, for Excel).

    Rows refused by the domain during staging are re-read from the input by line number.
    """
    by_line = {b.line: b for b in bad}
    header: list[str] = []
    records: dict[int, dict[str, str]] = {b.line: dict(b.record) for b in bad if b.record is not None}
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        start = 1
        for record in reader:
            line = start + 1
            start = reader.line_num
            if line in by_line and line not in records:
                records[line] = {k: v for k, v in record.items() if isinstance(k, str)}
    out = refused_path(csv_path)
    extra = ["line", "column", "reason"]
    with open(out, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*extra, *header], extrasaction="ignore")
        writer.writeheader()
        for b in sorted(bad, key=lambda b: b.line):
            row = {k: v for k, v in records.get(b.line, {}).items() if k in header}
            writer.writerow({**row, "line": b.line, "column": b.column or "", "reason": b.reason})
    return out
