"""Ledger rows in and out: the kinds (表单), CSV/XLSX import with line-numbered refusals, and export.

One declaration per kind (:data:`KINDS`) drives everything: the one-record form (``ledger add``), the
import of a CSV or XLSX file, the listing and the export. A header may be the column key (``name``), its
Chinese label (``项目名称``) or both as exported (``项目名称 (name)``).

**Imports are all or nothing.** Every row is checked (values, references, natural-key duplicates within
the file and against the ledger) and the rows are written in one transaction; any refused row refuses
the whole file, naming each line and reason, unless ``skip_bad`` writes the good rows and reports the
others. ``update`` replaces existing rows with the same natural key instead of refusing them.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table

from civicloop.kernel.i18n import LOCALES, Localized, Msg, t
from civicloop.ledger import store
from civicloop.ledger.indicators import CATALOGUE, Scope, indicator
from civicloop.ledger.models import (
    DOCUMENT_STATUSES,
    OUTCOME_STATUS,
    PROJECT_STATUSES,
    PROJECT_TYPES,
    REVIEW_OUTCOMES,
    TARGET_GROUPS,
    UNIT_KINDS,
    LedgerError,
    Measure,
    Source,
    target_period,
    yuan_text,
)
from civicloop.ledger.scoring import DEFAULT_TOLERANCE
from civicloop.ledger.store import (
    ledger_campaigns,
    ledger_document_reviews,
    ledger_documents,
    ledger_projects,
    ledger_targets,
    ledger_units,
    ledger_volunteering,
)

# ---------------------------------------------------------------------------------------------------
# Parsing single values
# ---------------------------------------------------------------------------------------------------


class Bad(ValueError):
    """A value that cannot be read; the message says why (both languages)."""


def _say(key: str, /, **fields: object) -> str:
    """A refusal in both languages ("中文 / English"), as import problems are reported."""
    return str(Msg(f"ledger.{key}", **fields))


@dataclass
class Ctx:
    """What checks need beyond the row: the profile, known units and documents, who imports, when."""

    profile: Any
    units: dict[str, str]  # unit id → kind
    documents: dict[str, tuple[date, str]]  # number → (issue date, status)
    actor: str
    now: datetime
    timezone: str = "Asia/Shanghai"


Parser = Callable[[Any, Ctx], Any]


def _text(max_len: int) -> Parser:
    def parse(raw: Any, ctx: Ctx) -> str:
        s = str(raw).strip()
        if len(s) > max_len:
            raise Bad(_say("bad.too_long", max_len=max_len))
        return s

    return parse


@cache
def _parsing() -> dict[str, Any]:
    """The words and marks a cell may hold (parsing.toml): separators, units, date marks, brackets."""
    return tomllib.loads((resources.files("civicloop.ledger") / "parsing.toml").read_text(encoding="utf-8"))


def _chars(name: str, section: str) -> str:
    """A regex character class's members: the marks *section.name* of parsing.toml, escaped."""
    return "".join(re.escape(c) for c in _parsing()[section][name])


_NUM = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_SEPARATORS: tuple[str, ...] = tuple(_parsing()["numbers"]["separators"])
_PERCENT: tuple[str, ...] = tuple(_parsing()["numbers"]["percent"])


def _number_text(raw: Any) -> str:
    s = str(raw).strip()
    for separator in _SEPARATORS:
        s = s.replace(separator, "")
    return s


def _integer(raw: Any, ctx: Ctx) -> int:
    if isinstance(raw, bool):
        raise Bad(_say("bad.not_whole"))
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        s = _number_text(raw)
        if not re.fullmatch(r"[+-]?\d+(?:\.0+)?", s):
            raise Bad(_say("bad.not_whole_got", raw=repr(raw)))
        value = int(float(s))
    if value < 0:
        raise Bad(_say("bad.negative", value=value))
    return value


def _number(raw: Any, ctx: Ctx) -> float:
    return plain_number(raw)


def plain_number(raw: Any) -> float:
    """A non-negative number; thousands separators allowed."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        s = _number_text(raw)
        if not _NUM.fullmatch(s):
            raise Bad(_say("bad.not_number", raw=repr(raw)))
        value = float(s)
    if value < 0:
        raise Bad(_say("bad.negative", value=f"{value:g}"))
    return value


_UNITS: dict[str, float] = {str(k): float(v) for k, v in _parsing()["amounts"].items()}
_AMOUNT = re.compile(r"^([+-]?\d+(?:\.\d+)?)(" + "|".join(re.escape(u) for u in _UNITS) + ")?$")


def parse_yuan(raw: Any) -> int:
    """An amount in whole yuan: 4526000000, "45.26亿", "45.26亿元", "3500万", "1,200,000元"."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        m = _AMOUNT.fullmatch(_number_text(raw))
        if m is None:
            raise Bad(_say("bad.amount", raw=repr(raw)))
        factor = _UNITS.get(m.group(2) or "", 1.0)
        value = float(m.group(1)) * factor
    if value < 0:
        raise Bad(_say("bad.negative_amount"))
    return round(value)


def _yuan(raw: Any, ctx: Ctx) -> int:
    return parse_yuan(raw)


_YEAR, _MONTH, _DAY = (str(_parsing()["dates"][k]) for k in ("year", "month", "day"))
_DATE = re.compile(
    rf"^(\d{{4}})\s*[-/.{re.escape(_YEAR)}]\s*(\d{{1,2}})\s*[-/.{re.escape(_MONTH)}]\s*(\d{{1,2}})\s*"
    rf"{re.escape(_DAY)}?$"
)


def parse_date(raw: Any) -> date:
    """2026-03-05, 2026/3/5, 2026.3.5, 2026年3月5日, or a spreadsheet date cell."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    s = str(raw).strip()
    m = _DATE.fullmatch(s.split(" ")[0] if _YEAR not in s else s)
    if m is None:
        raise Bad(_say("bad.date", raw=repr(raw)))
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise Bad(_say("bad.no_such_day", day=s, reason=exc)) from None


def _date(raw: Any, ctx: Ctx) -> date:
    return parse_date(raw)


def _choice(options: Mapping[str, tuple[str, str]], what: str) -> Parser:
    """A value out of *options* (key → (zh, en) labels), by key or either label; *what* names the choice
    (``ledger.choices.<what>``) in the refusal."""
    aliases: dict[str, str] = {}
    for key, (zh, en) in options.items():
        for alias in (key, zh, en, key.replace("_", " ")):
            aliases[alias.lower()] = key

    def parse(raw: Any, ctx: Ctx) -> str:
        s = str(raw).strip().lower()
        if s in aliases:
            return aliases[s]
        allowed = {
            loc: t("ledger.choices.separator", loc).join(
                t("ledger.choices.item", loc, key=k, label=zh if loc == "zh-CN" else en)
                for k, (zh, en) in options.items()
            )
            for loc in ("zh-CN", "en")
        }
        choices = Localized(allowed["zh-CN"], allowed["en"])
        raise Bad(
            _say("bad.unknown_choice", what=Msg(f"ledger.choices.{what}"), raw=repr(raw), allowed=choices)
        )

    return parse


def _district(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    for d in ctx.profile.districts:
        if s in (d.code, d.name, d.name_en or ""):
            return str(d.code)
    raise Bad(_say("bad.unknown_district", raw=repr(s)))


def _department(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    for d in ctx.profile.departments:
        if s in (d.id, d.name):
            return str(d.id)
    raise Bad(_say("bad.unknown_department", raw=repr(s)))


def _slug(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", s) or len(s) > 64:
        raise Bad(_say("bad.slug", raw=repr(s)))
    return s


def _unit_ref(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    if s not in ctx.units:
        raise Bad(_say("bad.unknown_unit", raw=repr(s)))
    return s


def _raw(raw: Any, ctx: Ctx) -> Any:
    return raw.strip() if isinstance(raw, str) else raw


# ---------------------------------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Col:
    """A column of a kind; its heading is ``ledger.columns.<of>.<key>`` in the catalogue."""

    key: str
    of: str  # the kind whose column this is
    parse: Parser
    required: bool = False
    default: Any = None
    export: Callable[[Any], Any] | None = None  # database value → cell

    def label(self, locale: str | None = None) -> str:
        """The column's heading in *locale* (default: the current locale)."""
        return t(f"ledger.columns.{self.of}.{self.key}", locale)

    @property
    def zh(self) -> str:
        return self.label("zh-CN")

    @property
    def en(self) -> str:
        return self.label("en")

    def header_in(self, locale: str | None = None) -> str:
        """The heading as exported, ``label (key)``: an import recognises it in either language."""
        return f"{self.label(locale)} ({self.key})"

    @property
    def header(self) -> str:
        return self.header_in()


RowCheck = Callable[[dict[str, Any], Ctx], list[str]]


@dataclass(frozen=True)
class Kind:
    """One ledger (or the units and targets): its columns, natural key, table and checks."""

    name: str
    table: Table
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    date_column: str | None = None
    check: RowCheck | None = None
    stamp: Mapping[str, Callable[[Ctx], Any]] = field(default_factory=dict)  # filled by the system

    def label(self, locale: str | None = None) -> str:
        """The ledger's name in *locale* (default: the current locale)."""
        return t(f"ledger.kinds.{self.name}", locale)

    @property
    def zh(self) -> str:
        return self.label("zh-CN")

    @property
    def en(self) -> str:
        return self.label("en")

    def column(self, key: str) -> Col:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)

    def natural_key(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(values[k] for k in self.key)

    def key_text(self, values: Mapping[str, Any]) -> str:
        return " / ".join(f"{self.column(k).zh}={values[k]}" for k in self.key)


def _now(ctx: Ctx) -> datetime:
    return ctx.now


def _actor(ctx: Ctx) -> str:
    return ctx.actor


def _check_unit(values: dict[str, Any], ctx: Ctx) -> list[str]:
    issues: list[str] = []
    uid = values["unit_id"]
    if values["kind"] not in UNIT_KINDS:
        issues.append(f"kind: {t('ledger.check.unknown_unit_kind', kind=repr(values['kind']))}")
    parent = values.get("parent_id")
    if parent is not None and parent not in ctx.units:
        issues.append(f"parent_id: {_say('check.parent_unknown', parent=repr(parent))}")
    if parent == uid:
        issues.append(f"parent_id: {_say('check.own_parent')}")
    scope = values.get("kpi_scope")
    if scope is None:
        if values.get("department_id"):
            scope = f"department:{values['department_id']}"
        elif values.get("district_code"):
            scope = f"district:{values['district_code']}"
        else:
            scope = "city"
    try:
        parsed = Scope.parse(str(scope))
    except LedgerError as exc:
        issues.append(f"kpi_scope: {exc}")
    else:
        if parsed.by == "department" and parsed.key not in {d.id for d in ctx.profile.departments}:
            issues.append(f"kpi_scope: {_say('check.no_department', key=repr(parsed.key))}")
        if parsed.by == "district" and parsed.key not in {d.code for d in ctx.profile.districts}:
            issues.append(f"kpi_scope: {_say('check.no_district', key=repr(parsed.key))}")
    values["kpi_scope"] = str(scope)
    if not issues:
        ctx.units[uid] = values["kind"]
    return issues


def parse_target_value(raw: Any, measure: Measure) -> float:
    """A target or entered value: rates as 95% or 0.95; yuan with 万/亿; counts and hours as numbers."""
    if measure is Measure.RATE:
        s = _number_text(raw) if not isinstance(raw, int | float) else str(raw)
        percent = s.endswith(_PERCENT)
        s = s.rstrip("".join(_PERCENT))
        if not _NUM.fullmatch(s):
            raise Bad(_say("bad.rate_format", raw=repr(raw)))
        value = float(s) / 100 if percent else float(s)
        if not 0 <= value <= 1:
            raise Bad(_say("bad.rate_range", raw=repr(raw)))
        return value
    if measure is Measure.YUAN:
        return float(parse_yuan(raw))
    return plain_number(raw)


def _check_target(values: dict[str, Any], ctx: Ctx) -> list[str]:
    issues: list[str] = []
    try:
        values["period"] = target_period(str(values["period"]), ctx.timezone).label
    except (LedgerError, ValueError) as exc:
        issues.append(f"period: {exc}")
    ind = indicator(values["indicator"], values.get("name"))
    known = values["indicator"] in CATALOGUE
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,63}", values["indicator"]):
        issues.append(f"indicator: {_say('check.indicator_key')}")
    if not known and not values.get("name"):
        issues.append(f"name: {_say('check.custom_needs_name', indicator=repr(values['indicator']))}")
    source = values.get("source") or ind.source.value
    if source not in {s.value for s in Source}:
        issues.append(f"source: {t('ledger.check.source', source=repr(source))}")
    elif source != ind.source.value and source != Source.ENTERED.value:
        fixed = _say(
            "check.source_fixed", indicator=values["indicator"], measured=ind.source.value, source=source
        )
        issues.append(f"source: {fixed}")
    values["source"] = source
    values["comparison"] = values.get("comparison") or ind.comparison.value
    try:
        values["target_value"] = parse_target_value(values["target_value"], ind.measure)
    except Bad as exc:
        issues.append(f"target_value: {exc}")
    if values["weight"] <= 0:
        issues.append(f"weight: {_say('check.weight')}")
    tol = values.get("tolerance")
    values["tolerance"] = DEFAULT_TOLERANCE if tol is None else tol
    if not 0 <= values["tolerance"] <= 1:
        issues.append(f"tolerance: {_say('check.tolerance')}")
    values["filter"] = values.get("filter") or ""
    if values["indicator"] == "closed_cases" and values["filter"]:
        try:
            ctx.profile.category(values["filter"])
        except KeyError:
            issues.append(f"filter: {_say('check.no_category', code=repr(values['filter']))}")
    return issues


def _check_project(values: dict[str, Any], ctx: Ctx) -> list[str]:
    issues = []
    start, finish = values.get("start_date"), values.get("finish_date")
    if start is not None and finish is not None and finish < start:
        issues.append(f"finish_date: {_say('check.finish_before_start', finish=finish, start=start)}")
    if values["status"] in ("started", "completed") and start is None:
        issues.append(f"start_date: {_say('check.needs_start')}")
    if values["status"] == "completed" and finish is None:
        issues.append(f"finish_date: {_say('check.needs_finish')}")
    if (
        values["completed_investment"] > values["planned_investment"] * 1.5
        and values["planned_investment"] > 0
    ):
        done, planned = values["completed_investment"], values["planned_investment"]
        over = Msg("ledger.check.investment_over", done=_amount(done), planned=_amount(planned))
        issues.append(f"completed_investment: {over}")
    return issues


def _amount(yuan: float) -> Localized:
    return Localized(yuan_text(yuan, "zh-CN"), yuan_text(yuan, "en"))


def _check_campaign(values: dict[str, Any], ctx: Ctx) -> list[str]:
    counted = ("events", "participants", "handbooks", "leaflets", "trainees")
    if not any(values[c] for c in counted):
        return [f"events: {_say('check.all_zero')}"]
    return []


def _check_document(values: dict[str, Any], ctx: Ctx) -> list[str]:
    ctx.documents[values["number"]] = (values["issue_date"], values["status"])
    return []


def _check_review(values: dict[str, Any], ctx: Ctx) -> list[str]:
    number = values["number"]
    doc = ctx.documents.get(number)
    if doc is None:
        return [f"number: {_say('check.no_document', number=repr(number))}"]
    issued, status = doc
    if values["reviewed_on"] < issued:
        return [f"reviewed_on: {_say('check.reviewed_before_issued', issued=issued)}"]
    if status == "abolished":
        return [f"number: {_say('check.already_abolished', number=number)}"]
    ctx.documents[number] = (issued, OUTCOME_STATUS[values["outcome"]])
    return []


UNIT_COLUMNS = (
    Col("unit_id", "units", _slug, required=True),
    Col("name", "units", _text(128), required=True),
    Col("name_en", "units", _text(128)),
    Col("kind", "units", _choice(UNIT_KINDS, "unit_kind"), required=True),
    Col("parent_id", "units", _slug),
    Col("department_id", "units", _department),
    Col("district_code", "units", _district),
    Col("kpi_scope", "units", _text(96)),
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "units",
            ledger_units,
            UNIT_COLUMNS,
            ("unit_id",),
            check=_check_unit,
            stamp={"created_at": _now},
        ),
        Kind(
            "targets",
            ledger_targets,
            (
                Col("period", "targets", _text(16), required=True),
                Col("unit_id", "targets", _unit_ref, required=True),
                Col("indicator", "targets", _text(64), required=True),
                Col("filter", "targets", _text(64), default=""),
                Col("name", "targets", _text(128)),
                Col("comparison", "targets", _choice({"ge": ("≥", ">="), "le": ("≤", "<=")}, "comparison")),
                Col("target_value", "targets", _raw, required=True),
                Col("weight", "targets", _number, required=True),
                Col("source", "targets", _choice({s.value: (s.zh, s.value) for s in Source}, "source")),
                Col("tolerance", "targets", _number),
                Col("note", "targets", _text(2000)),
            ),
            ("period", "unit_id", "indicator", "filter"),
            date_column="period",
            check=_check_target,
            stamp={"set_by": _actor, "set_at": _now},
        ),
        Kind(
            "projects",
            ledger_projects,
            (
                Col("name", "projects", _text(200), required=True),
                Col("project_type", "projects", _choice(PROJECT_TYPES, "project_type"), required=True),
                Col("district_code", "projects", _district),
                Col("unit_id", "projects", _unit_ref, required=True),
                Col("planned_investment", "projects", _yuan, required=True),
                Col("completed_investment", "projects", _yuan, default=0),
                Col("start_date", "projects", _date),
                Col("finish_date", "projects", _date),
                Col("status", "projects", _choice(PROJECT_STATUSES, "project_status"), required=True),
                Col("note", "projects", _text(2000)),
            ),
            ("name",),
            date_column="start_date",
            check=_check_project,
            stamp={"updated_at": _now},
        ),
        Kind(
            "campaigns",
            ledger_campaigns,
            (
                Col("held_on", "campaigns", _date, required=True),
                Col("theme", "campaigns", _text(64), required=True),
                Col("place", "campaigns", _text(128), required=True),
                Col("target_group", "campaigns", _choice(TARGET_GROUPS, "target_group"), required=True),
                Col("district_code", "campaigns", _district),
                Col("unit_id", "campaigns", _unit_ref, required=True),
                Col("events", "campaigns", _integer, default=1),
                Col("participants", "campaigns", _integer, default=0),
                Col("handbooks", "campaigns", _integer, default=0),
                Col("leaflets", "campaigns", _integer, default=0),
                Col("trainees", "campaigns", _integer, default=0),
                Col("note", "campaigns", _text(2000)),
            ),
            ("held_on", "theme", "place"),
            date_column="held_on",
            check=_check_campaign,
            stamp={"updated_at": _now},
        ),
        Kind(
            "volunteering",
            ledger_volunteering,
            (
                Col("held_on", "volunteering", _date, required=True),
                Col("theme", "volunteering", _text(64), required=True),
                Col("place", "volunteering", _text(128), required=True),
                Col("unit_id", "volunteering", _unit_ref, required=True),
                Col("participants", "volunteering", _integer, required=True),
                Col("hours", "volunteering", _number, required=True),
                Col("note", "volunteering", _text(2000)),
            ),
            ("held_on", "theme", "place"),
            date_column="held_on",
            stamp={"updated_at": _now},
        ),
        Kind(
            "documents",
            ledger_documents,
            (
                Col("number", "documents", _text(64), required=True),
                Col("title", "documents", _text(256), required=True),
                Col("issue_date", "documents", _date, required=True),
                Col("status", "documents", _choice(DOCUMENT_STATUSES, "document_status"), default="in_force"),
                Col("unit_id", "documents", _unit_ref, required=True),
                Col("note", "documents", _text(2000)),
            ),
            ("number",),
            date_column="issue_date",
            check=_check_document,
            stamp={"updated_at": _now},
        ),
        Kind(
            "reviews",
            ledger_document_reviews,
            (
                Col("number", "reviews", _text(64), required=True),
                Col("reviewed_on", "reviews", _date, required=True),
                Col("outcome", "reviews", _choice(REVIEW_OUTCOMES, "review_outcome"), required=True),
                Col("new_number", "reviews", _text(64)),
                Col("reviewer", "reviews", _text(64), required=True),
                Col("note", "reviews", _text(2000)),
            ),
            ("number", "reviewed_on"),
            date_column="reviewed_on",
            check=_check_review,
            stamp={"recorded_at": _now},
        ),
    )
}


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise LedgerError(_say("import.unknown_ledger", name=repr(name), names=", ".join(KINDS))) from None


# ---------------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowIssue:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{_say('import.line', line=self.line)}: {self.reason}"


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: list[RowIssue] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "rejected": [{"line": i.line, "reason": i.reason} for i in self.rejected],
        }


class ImportRejected(LedgerError):
    """The file was refused and nothing was written; ``issues`` name each line and reason."""

    def __init__(self, kind: str, issues: Sequence[RowIssue]) -> None:
        self.kind = kind
        self.issues = list(issues)
        lines = "\n".join(f"  {i}" for i in self.issues[:50])
        more = f"\n  {_say('import.more', n=len(self.issues) - 50)}" if len(self.issues) > 50 else ""
        super().__init__(f"{kind}: {_say('import.rejected', n=len(self.issues))}:\n{lines}{more}")


#: An XLSX file is a zip archive: refuse one that would unpack to more than this (a "zip bomb"), or
#: that holds absurdly many members. Python's zipfile never inflates a member past its declared size,
#: so the declared sizes bound what reading can cost. The XML inside is parsed by openpyxl through
#: defusedxml (a runtime dependency): no entity expansion, no external entities.
MAX_XLSX_UNPACKED = 256 * 1024 * 1024
MAX_XLSX_MEMBERS = 10_000


def check_xlsx_archive(path: Path) -> None:
    """Raise LedgerError naming the file when it is not a zip archive or would unpack too large."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise LedgerError(_say("import.not_xlsx", name=path.name, reason=exc)) from None
    unpacked = sum(m.file_size for m in members)
    if len(members) > MAX_XLSX_MEMBERS or unpacked > MAX_XLSX_UNPACKED:
        raise LedgerError(
            _say(
                "import.xlsx_too_large",
                name=path.name,
                unpacked=f"{unpacked:,}",
                members=len(members),
                limit=f"{MAX_XLSX_UNPACKED:,}",
                max_members=f"{MAX_XLSX_MEMBERS:,}",
            )
        )


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Header and (line number, cells) of a CSV (UTF-8 with or without BOM, else GB18030) or XLSX file."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]

        check_xlsx_archive(path)
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
            try:
                ws = wb.worksheets[0]
                rows = [(i, list(r)) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)]
            finally:
                wb.close()
        except Exception as exc:  # a damaged workbook, or XML that defusedxml refused (entities, DTDs)
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            raise LedgerError(_say("import.unreadable_xlsx", name=path.name, reason=reason)) from None
    elif suffix in (".csv", ".txt"):
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")  # Excel on a Chinese Windows saves CSV in GBK
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = []
        for cells in reader:
            rows.append((reader.line_num, list(cells)))
    else:
        raise LedgerError(_say("import.file_type", name=path.name))
    rows = [(n, cells) for n, cells in rows if any(_present(c) for c in cells)]
    if not rows:
        raise LedgerError(_say("import.empty", name=path.name))
    header = ["" if c is None else str(c).strip() for c in rows[0][1]]
    return header, rows[1:]


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


_HEADER = re.compile(
    rf"^(.*?)\s*[{_chars('open', 'headers')}]\s*([a-z_]+)\s*[{_chars('close', 'headers')}]\s*$"
)


def map_header(k: Kind, header: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """Column key of each header cell (None for a blank one) and the problems with the header."""
    by_name: dict[str, str] = {}
    for c in k.columns:
        by_name[c.key.lower()] = c.key
        for locale in LOCALES:
            by_name[c.label(locale).lower()] = c.key
            by_name[c.header_in(locale).lower()] = c.key
    keys: list[str | None] = []
    issues: list[str] = []
    for cell in header:
        if not cell:
            keys.append(None)
            continue
        m = _HEADER.fullmatch(cell)
        found = by_name.get(cell.lower()) or (by_name.get(m.group(2)) if m else None)
        if found is None:
            issues.append(_say("import.unknown_column", cell=repr(cell)))
        elif found in keys:
            issues.append(_say("import.column_twice", cell=repr(cell)))
        keys.append(found)
    for c in k.columns:
        if c.required and c.key not in keys:
            issues.append(
                _say("import.missing_column", header=Localized(c.header_in("zh-CN"), c.header_in("en")))
            )
    return keys, issues


def parse_row(k: Kind, cells: Mapping[str, Any], ctx: Ctx) -> tuple[dict[str, Any], list[str]]:
    """Values of one row (defaults filled) and its problems."""
    values: dict[str, Any] = {}
    issues: list[str] = []
    for c in k.columns:
        raw = cells.get(c.key)
        if not _present(raw):
            if c.required:
                issues.append(f"{c.key}: {_say('import.required', label=Localized(c.zh, c.en))}")
            values[c.key] = c.default
            continue
        try:
            values[c.key] = c.parse(raw, ctx)
        except Bad as exc:
            issues.append(f"{c.key}: {exc}")
            values[c.key] = None
    if not issues and k.check is not None:
        issues.extend(k.check(values, ctx))
    return values, issues


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def load_ctx(conn: Connection, city_id: str, profile: Any, actor: str, now: datetime) -> Ctx:
    units = store.unit_kinds(conn, city_id)
    docs = store.document_states(conn, city_id)
    return Ctx(profile, units, docs, actor, now, profile.timezone)


def write_rows(
    conn: Connection,
    k: Kind,
    city_id: str,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    ctx: Ctx,
    *,
    skip_bad: bool = False,
    update_existing: bool = False,
) -> ImportResult:
    """Check and write rows (line, {column key: raw value}) inside the caller's transaction.

    Raises :class:`ImportRejected` (the caller's transaction then rolls back) unless ``skip_bad``.
    """
    result = ImportResult(k.name)
    existing = store.natural_keys(conn, k.table, city_id, k.key)
    seen: dict[tuple[Any, ...], int] = {}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for line, cells in rows:
        result.rows += 1
        snapshot = (dict(ctx.units), dict(ctx.documents))
        values, issues = parse_row(k, cells, ctx)
        if not issues:
            nk = k.natural_key(values)
            if nk in seen:
                issues.append(_say("import.duplicate_line", line=seen[nk], key=k.key_text(values)))
            elif nk in existing and not update_existing:
                issues.append(_say("import.already_in_ledger", key=k.key_text(values)))
            else:
                seen[nk] = line
        if issues:
            ctx.units, ctx.documents = snapshot  # a refused row leaves no trace in the context
            result.rejected.extend(RowIssue(line, i) for i in issues)
            continue
        row = {"city_id": city_id, **values, **{col: make(ctx) for col, make in k.stamp.items()}}
        (updates if k.natural_key(values) in existing else inserts).append(row)
    if result.rejected and not skip_bad:
        raise ImportRejected(k.name, result.rejected)
    if k is KINDS["units"]:
        offset = len(existing)
        for i, row in enumerate(inserts):
            row["position"] = offset + i + 1
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for row in updates:
        changes = {c: v for c, v in row.items() if c not in k.key and c not in ("city_id", "position")}
        if k is KINDS["units"]:
            changes.pop("created_at", None)
        changed.append((row, changes))
    store.write_ledger_rows(conn, k.name, k.table, city_id, k.key, inserts, changed)
    if k is KINDS["reviews"]:
        # A document's status is the outcome of its latest review (清理结果).
        numbers = [r["number"] for r in inserts + updates]
        store.apply_review_outcomes(conn, city_id, numbers, OUTCOME_STATUS, ctx.now)
    result.inserted, result.updated = len(inserts), len(updates)
    return result


def file_rows(k: Kind, path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a file as (line, {column key: raw value}); a bad header refuses the whole file."""
    header, rows = read_table(path)
    keys, issues = map_header(k, header)
    if issues:
        raise ImportRejected(k.name, [RowIssue(1, i) for i in issues])
    out = []
    for line, cells in rows:
        out.append(
            (line, {key: cells[i] for i, key in enumerate(keys) if key is not None and i < len(cells)})
        )
    return out


# ---------------------------------------------------------------------------------------------------
# Reading back, exporting
# ---------------------------------------------------------------------------------------------------


def select_rows(conn: Connection, k: Kind, city_id: str, year: int | None = None) -> list[dict[str, Any]]:
    """The rows of a kind as {column key: value}, in a stable order (by date, then natural key)."""
    order = ["position"] if k.name == "units" else []
    if k.date_column is not None:
        order.append(k.date_column)
    order += list(k.key)
    rows = store.ledger_rows(
        conn, k.table, city_id, order=order, date_column=k.date_column, year=year,
        year_prefix=k.name == "targets",
    )  # fmt: skip
    return [{c.key: r[c.key] for c in k.columns} for r in rows]


def cell(value: Any) -> Any:
    """A database value as a spreadsheet cell: dates ISO, None blank, floats without trailing .0."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def export_csv(k: Kind, rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow([c.header for c in k.columns])
        for r in rows:
            w.writerow([cell(r[c.key]) for c in k.columns])


def export_xlsx(
    k: Kind, rows: Sequence[Mapping[str, Any]], path: Path, summary: Sequence[tuple[str, Any]]
) -> None:
    """Sheet 1: the rows (importable as they are); sheet 2: the summary (汇总)."""
    from openpyxl import Workbook  # type: ignore[import-untyped, unused-ignore]
    from openpyxl.styles import Font  # type: ignore[import-untyped, unused-ignore]

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = k.label()[:31]
    ws.append([c.header for c in k.columns])
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([_xlsx_cell(r[c.key]) for c in k.columns])
    for i, c in enumerate(k.columns, start=1):
        letter = ws.cell(row=1, column=i).column_letter
        ws.column_dimensions[letter].width = max(10, min(48, len(c.header) * 1.6))
        if c.parse is _yuan:
            for (cell_,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell_.number_format = "#,##0"
        if c.parse is _date:
            for (cell_,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell_.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    s = wb.create_sheet(f"{t('ledger.summary.sheet', 'zh-CN')} {t('ledger.summary.sheet', 'en')}")
    s.append([_say("summary.item"), _say("summary.value")])
    for c in s[1]:
        c.font = Font(bold=True)
    for label, value in summary:
        s.append([label, value])
    s.column_dimensions["A"].width = 40
    s.column_dimensions["B"].width = 24
    wb.save(path)


def _xlsx_cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def summarise(k: Kind, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    """Totals a person asks for first (e.g. 开工 41 项，完成投资 45.26 亿元)."""
    n = len(rows)
    if k.name == "projects":
        started = [r for r in rows if r["status"] != "planned"]
        planned = sum(r["planned_investment"] for r in rows)
        done = sum(r["completed_investment"] for r in started)
        out: list[tuple[str, Any]] = [
            (_say("summary.projects"), n),
            (_say("summary.started"), len(started)),
            (_say("summary.completed"), sum(1 for r in rows if r["status"] == "completed")),
            (_say("summary.planned_investment"), yuan_text(planned)),
            (_say("summary.investment_completed"), yuan_text(done)),
            (_say("summary.investment_yuan"), done),
        ]
        for ptype, (zh, _) in PROJECT_TYPES.items():
            of_type = [r for r in started if r["project_type"] == ptype]
            if of_type:
                total = sum(r["completed_investment"] for r in of_type)
                of_type_text = t("ledger.summary.projects_of_type", n=len(of_type), amount=yuan_text(total))
                out.append((f"  {zh} / {ptype}", of_type_text))
        return out
    if k.name == "campaigns":
        out = [(_say("summary.rows"), n)]
        for col in ("events", "participants", "handbooks", "leaflets", "trainees"):
            out.append((f"{k.column(col).zh} / {col}", sum(r[col] for r in rows)))
        for g, (zh, _) in TARGET_GROUPS.items():
            of_group = [r for r in rows if r["target_group"] == g]
            if of_group:
                out.append(
                    (
                        f"  {zh} / {g}",
                        t("ledger.summary.events_of_group", n=sum(r["events"] for r in of_group)),
                    )
                )
        return out
    if k.name == "volunteering":
        return [
            (_say("summary.activities"), n),
            (_say("summary.participants"), sum(r["participants"] for r in rows)),
            (_say("summary.hours"), round(sum(r["hours"] for r in rows), 1)),
        ]
    if k.name in ("documents", "reviews"):
        field_, labels = (
            ("status", DOCUMENT_STATUSES) if k.name == "documents" else ("outcome", REVIEW_OUTCOMES)
        )
        out = [(_say("summary.rows"), n)]
        for key, (zh, en) in labels.items():
            out.append((f"{zh} / {en}", sum(1 for r in rows if r[field_] == key)))
        return out
    if k.name == "targets":
        units = sorted({r["unit_id"] for r in rows})
        return [(_say("summary.targets"), n), (_say("summary.units"), len(units))]
    if k.name == "units":
        out = [(_say("summary.units"), n)]
        for key, (zh, en) in UNIT_KINDS.items():
            out.append((f"{zh} / {en}", sum(1 for r in rows if r["kind"] == key)))
        return out
    return [(_say("summary.rows"), n)]
