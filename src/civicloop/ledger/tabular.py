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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table

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
            raise Bad(f"超过 {max_len} 字 / longer than {max_len} characters")
        return s

    return parse


_NUM = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def _number_text(raw: Any) -> str:
    return str(raw).strip().replace(",", "").replace("，", "").replace(" ", "")


def _integer(raw: Any, ctx: Ctx) -> int:
    if isinstance(raw, bool):
        raise Bad("应为整数 / must be a whole number")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        s = _number_text(raw)
        if not re.fullmatch(r"[+-]?\d+(?:\.0+)?", s):
            raise Bad(f"应为整数，收到 {raw!r} / must be a whole number, got {raw!r}")
        value = int(float(s))
    if value < 0:
        raise Bad(f"不能为负数（{value}） / must not be negative ({value})")
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
            raise Bad(f"应为数字，收到 {raw!r} / must be a number, got {raw!r}")
        value = float(s)
    if value < 0:
        raise Bad(f"不能为负数（{value:g}） / must not be negative ({value:g})")
    return value


_AMOUNT = re.compile(r"^([+-]?\d+(?:\.\d+)?)(亿元|亿|万元|万|元)?$")


def parse_yuan(raw: Any) -> int:
    """An amount in whole yuan: 4526000000, "45.26亿", "45.26亿元", "3500万", "1,200,000元"."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        m = _AMOUNT.fullmatch(_number_text(raw))
        if m is None:
            raise Bad(
                f"金额应为元，或带 万/亿 单位，如 3500万、45.26亿（收到 {raw!r}） / "
                f"an amount in yuan, or with 万 (10⁴) or 亿 (10⁸), e.g. 3500万, 45.26亿 (got {raw!r})"
            )
        factor = {"亿元": 1e8, "亿": 1e8, "万元": 1e4, "万": 1e4}.get(m.group(2) or "", 1.0)
        value = float(m.group(1)) * factor
    if value < 0:
        raise Bad("金额不能为负 / an amount must not be negative")
    return round(value)


def _yuan(raw: Any, ctx: Ctx) -> int:
    return parse_yuan(raw)


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def parse_date(raw: Any) -> date:
    """2026-03-05, 2026/3/5, 2026.3.5, 2026年3月5日, or a spreadsheet date cell."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    s = str(raw).strip()
    m = _DATE.fullmatch(s.split(" ")[0] if "年" not in s else s)
    if m is None:
        raise Bad(f"日期格式应为 2026-03-05（收到 {raw!r}） / a date such as 2026-03-05 (got {raw!r})")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise Bad(f"没有这一天：{s}（{exc}） / no such day: {s}") from None


def _date(raw: Any, ctx: Ctx) -> date:
    return parse_date(raw)


def _choice(options: Mapping[str, tuple[str, str]], what: str) -> Parser:
    aliases: dict[str, str] = {}
    for key, (zh, en) in options.items():
        for alias in (key, zh, en, key.replace("_", " ")):
            aliases[alias.lower()] = key

    def parse(raw: Any, ctx: Ctx) -> str:
        s = str(raw).strip().lower()
        if s in aliases:
            return aliases[s]
        allowed = "、".join(f"{k}（{zh}）" for k, (zh, _) in options.items())
        raise Bad(f"未知的{what} {raw!r}，可选：{allowed} / unknown {what} {raw!r}")

    return parse


def _district(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    for d in ctx.profile.districts:
        if s in (d.code, d.name, d.name_en or ""):
            return str(d.code)
    raise Bad(f"未知的区县 {s!r}（填区划代码或区名，如 140105 或 小店区） / unknown district {s!r}")


def _department(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    for d in ctx.profile.departments:
        if s in (d.id, d.name):
            return str(d.id)
    raise Bad(f"城市配置中没有部门 {s!r} / no department {s!r} in the city profile")


def _slug(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", s) or len(s) > 64:
        raise Bad(
            f"编号应为小写字母、数字和连字符，如 ty-roads（收到 {s!r}） / an id of a-z, 0-9 and hyphens"
        )
    return s


def _unit_ref(raw: Any, ctx: Ctx) -> str:
    s = str(raw).strip()
    if s not in ctx.units:
        raise Bad(f"未登记的考核单位 {s!r}（先导入 units） / unknown unit {s!r}: import it under units first")
    return s


def _raw(raw: Any, ctx: Ctx) -> Any:
    return raw.strip() if isinstance(raw, str) else raw


# ---------------------------------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Col:
    key: str
    zh: str
    parse: Parser
    required: bool = False
    default: Any = None
    export: Callable[[Any], Any] | None = None  # database value → cell

    @property
    def header(self) -> str:
        return f"{self.zh} ({self.key})"


RowCheck = Callable[[dict[str, Any], Ctx], list[str]]


@dataclass(frozen=True)
class Kind:
    """One ledger (or the units and targets): its columns, natural key, table and checks."""

    name: str
    zh: str
    en: str
    table: Table
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    date_column: str | None = None
    check: RowCheck | None = None
    stamp: Mapping[str, Callable[[Ctx], Any]] = field(default_factory=dict)  # filled by the system

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
        issues.append(f"kind: 未知单位类型 {values['kind']!r}")
    parent = values.get("parent_id")
    if parent is not None and parent not in ctx.units:
        issues.append(
            f"parent_id: 上级单位 {parent!r} 未登记（上级须先于下级出现） / parent unit not registered yet"
        )
    if parent == uid:
        issues.append("parent_id: 单位不能是自己的上级 / a unit cannot be its own parent")
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
            issues.append(f"kpi_scope: 城市配置中没有部门 {parsed.key!r} / no such department")
        if parsed.by == "district" and parsed.key not in {d.code for d in ctx.profile.districts}:
            issues.append(f"kpi_scope: 城市配置中没有区县 {parsed.key!r} / no such district")
    values["kpi_scope"] = str(scope)
    if not issues:
        ctx.units[uid] = values["kind"]
    return issues


def parse_target_value(raw: Any, measure: Measure) -> float:
    """A target or entered value: rates as 95% or 0.95; yuan with 万/亿; counts and hours as numbers."""
    if measure is Measure.RATE:
        s = _number_text(raw) if not isinstance(raw, int | float) else str(raw)
        percent = s.endswith("%") or s.endswith("％")
        s = s.rstrip("%％")
        if not _NUM.fullmatch(s):
            raise Bad(f"比率应写成 95% 或 0.95（收到 {raw!r}） / a rate is written 95% or 0.95 (got {raw!r})")
        value = float(s) / 100 if percent else float(s)
        if not 0 <= value <= 1:
            raise Bad(f"比率应在 0–100% 之间（收到 {raw!r}） / a rate lies between 0 and 100% (got {raw!r})")
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
        issues.append("indicator: 指标键应为英文小写加下划线，如 on_time_closure_rate / snake_case key")
    if not known and not values.get("name"):
        issues.append(
            f"name: {values['indicator']!r} 不在指标目录中，自定义填报指标须给出名称 / "
            "an indicator outside the catalogue is entered and needs a name"
        )
    source = values.get("source") or ind.source.value
    if source not in {s.value for s in Source}:
        issues.append(f"source: 应为 auto、ledger 或 entered（收到 {source!r}）")
    elif source != ind.source.value and source != Source.ENTERED.value:
        issues.append(
            f"source: {values['indicator']} 的考核方式为 {ind.source.value}，只能改为 entered / this "
            f"indicator is measured as {ind.source.value} (or entered), not {source}"
        )
    values["source"] = source
    values["comparison"] = values.get("comparison") or ind.comparison.value
    try:
        values["target_value"] = parse_target_value(values["target_value"], ind.measure)
    except Bad as exc:
        issues.append(f"target_value: {exc}")
    if values["weight"] <= 0:
        issues.append("weight: 权重须大于 0 / the weight must be above 0")
    tol = values.get("tolerance")
    values["tolerance"] = DEFAULT_TOLERANCE if tol is None else tol
    if not 0 <= values["tolerance"] <= 1:
        issues.append("tolerance: 容差应在 0–1 之间，如 0.2 / a fraction between 0 and 1")
    values["filter"] = values.get("filter") or ""
    if values["indicator"] == "closed_cases" and values["filter"]:
        try:
            ctx.profile.category(values["filter"])
        except KeyError:
            issues.append(f"filter: 城市配置中没有类别 {values['filter']!r} / no such category")
    return issues


def _check_project(values: dict[str, Any], ctx: Ctx) -> list[str]:
    issues = []
    start, finish = values.get("start_date"), values.get("finish_date")
    if start is not None and finish is not None and finish < start:
        issues.append(f"finish_date: 完工日期 {finish} 早于开工日期 {start} / finishes before it starts")
    if values["status"] in ("started", "completed") and start is None:
        issues.append(
            "start_date: 在建或竣工项目须填开工日期 / a started or completed project needs its start date"
        )
    if values["status"] == "completed" and finish is None:
        issues.append("finish_date: 竣工项目须填完工日期 / a completed project needs its finish date")
    if (
        values["completed_investment"] > values["planned_investment"] * 1.5
        and values["planned_investment"] > 0
    ):
        issues.append(
            f"completed_investment: 完成投资 {yuan_text(values['completed_investment'])} 超过计划投资 "
            f"{yuan_text(values['planned_investment'])} 的 1.5 倍，请核对 / "
            "more than 1.5 × the planned investment"
        )
    return issues


def _check_campaign(values: dict[str, Any], ctx: Ctx) -> list[str]:
    counted = ("events", "participants", "handbooks", "leaflets", "trainees")
    if not any(values[c] for c in counted):
        return ["events: 活动次数、人数、手册、宣传单、培训人数不能全为 0 / all counts are zero"]
    return []


def _check_document(values: dict[str, Any], ctx: Ctx) -> list[str]:
    ctx.documents[values["number"]] = (values["issue_date"], values["status"])
    return []


def _check_review(values: dict[str, Any], ctx: Ctx) -> list[str]:
    number = values["number"]
    doc = ctx.documents.get(number)
    if doc is None:
        return [
            f"number: 文件台账中没有文号 {number!r}（先导入 documents） / no such document: import it first"
        ]
    issued, status = doc
    if values["reviewed_on"] < issued:
        return [f"reviewed_on: 清理日期早于印发日期 {issued} / reviewed before it was issued"]
    if status == "abolished":
        return [f"number: {number} 已废止，不能再次清理 / already abolished"]
    ctx.documents[number] = (issued, OUTCOME_STATUS[values["outcome"]])
    return []


UNIT_COLUMNS = (
    Col("unit_id", "单位编号", _slug, required=True),
    Col("name", "单位名称", _text(128), required=True),
    Col("name_en", "英文名称", _text(128)),
    Col("kind", "单位类型", _choice(UNIT_KINDS, "单位类型"), required=True),
    Col("parent_id", "上级单位", _slug),
    Col("department_id", "对应部门", _department),
    Col("district_code", "所属区县", _district),
    Col("kpi_scope", "考核范围", _text(96)),
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "units",
            "考核单位",
            "organisational units",
            ledger_units,
            UNIT_COLUMNS,
            ("unit_id",),
            check=_check_unit,
            stamp={"created_at": _now},
        ),
        Kind(
            "targets",
            "考核目标",
            "targets",
            ledger_targets,
            (
                Col("period", "考核期间", _text(16), required=True),
                Col("unit_id", "考核单位", _unit_ref, required=True),
                Col("indicator", "指标", _text(64), required=True),
                Col("filter", "筛选", _text(64), default=""),
                Col("name", "指标名称", _text(128)),
                Col("comparison", "比较", _choice({"ge": ("≥", ">="), "le": ("≤", "<=")}, "比较方式")),
                Col("target_value", "目标值", _raw, required=True),
                Col("weight", "权重", _number, required=True),
                Col("source", "考核方式", _choice({s.value: (s.zh, s.value) for s in Source}, "考核方式")),
                Col("tolerance", "容差", _number),
                Col("note", "说明", _text(2000)),
            ),
            ("period", "unit_id", "indicator", "filter"),
            date_column="period",
            check=_check_target,
            stamp={"set_by": _actor, "set_at": _now},
        ),
        Kind(
            "projects",
            "基础设施项目台账",
            "infrastructure projects",
            ledger_projects,
            (
                Col("name", "项目名称", _text(200), required=True),
                Col("project_type", "项目类型", _choice(PROJECT_TYPES, "项目类型"), required=True),
                Col("district_code", "所在区县", _district),
                Col("unit_id", "责任单位", _unit_ref, required=True),
                Col("planned_investment", "计划投资（元）", _yuan, required=True),
                Col("completed_investment", "完成投资（元）", _yuan, default=0),
                Col("start_date", "开工日期", _date),
                Col("finish_date", "完工日期", _date),
                Col("status", "状态", _choice(PROJECT_STATUSES, "项目状态"), required=True),
                Col("note", "备注", _text(2000)),
            ),
            ("name",),
            date_column="start_date",
            check=_check_project,
            stamp={"updated_at": _now},
        ),
        Kind(
            "campaigns",
            "宣传活动台账",
            "campaigns and outreach events",
            ledger_campaigns,
            (
                Col("held_on", "日期", _date, required=True),
                Col("theme", "主题", _text(64), required=True),
                Col("place", "地点", _text(128), required=True),
                Col("target_group", "对象", _choice(TARGET_GROUPS, "宣传对象"), required=True),
                Col("district_code", "所在区县", _district),
                Col("unit_id", "组织单位", _unit_ref, required=True),
                Col("events", "活动次数", _integer, default=1),
                Col("participants", "参与人次", _integer, default=0),
                Col("handbooks", "发放手册（份）", _integer, default=0),
                Col("leaflets", "发放宣传单（张）", _integer, default=0),
                Col("trainees", "培训人数", _integer, default=0),
                Col("note", "备注", _text(2000)),
            ),
            ("held_on", "theme", "place"),
            date_column="held_on",
            check=_check_campaign,
            stamp={"updated_at": _now},
        ),
        Kind(
            "volunteering",
            "志愿服务台账",
            "volunteer activities",
            ledger_volunteering,
            (
                Col("held_on", "日期", _date, required=True),
                Col("theme", "主题", _text(64), required=True),
                Col("place", "地点", _text(128), required=True),
                Col("unit_id", "组织单位", _unit_ref, required=True),
                Col("participants", "参与人数", _integer, required=True),
                Col("hours", "服务时长（小时）", _number, required=True),
                Col("note", "备注", _text(2000)),
            ),
            ("held_on", "theme", "place"),
            date_column="held_on",
            stamp={"updated_at": _now},
        ),
        Kind(
            "documents",
            "规范性文件台账",
            "normative documents",
            ledger_documents,
            (
                Col("number", "文号", _text(64), required=True),
                Col("title", "文件名称", _text(256), required=True),
                Col("issue_date", "印发日期", _date, required=True),
                Col("status", "状态", _choice(DOCUMENT_STATUSES, "文件状态"), default="in_force"),
                Col("unit_id", "制发单位", _unit_ref, required=True),
                Col("note", "备注", _text(2000)),
            ),
            ("number",),
            date_column="issue_date",
            check=_check_document,
            stamp={"updated_at": _now},
        ),
        Kind(
            "reviews",
            "规范性文件清理记录",
            "document reviews",
            ledger_document_reviews,
            (
                Col("number", "文号", _text(64), required=True),
                Col("reviewed_on", "清理日期", _date, required=True),
                Col("outcome", "清理结果", _choice(REVIEW_OUTCOMES, "清理结果"), required=True),
                Col("new_number", "新文号", _text(64)),
                Col("reviewer", "审查人", _text(64), required=True),
                Col("note", "备注", _text(2000)),
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
        raise LedgerError(
            f"未知的台账 {name!r}，可选：{', '.join(KINDS)} / "
            f"unknown ledger {name!r}; one of {', '.join(KINDS)}"
        ) from None


# ---------------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowIssue:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"第 {self.line} 行 / line {self.line}: {self.reason}"


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
        more = (
            f"\n  … 另有 {len(self.issues) - 50} 处 / {len(self.issues) - 50} more"
            if len(self.issues) > 50
            else ""
        )
        super().__init__(
            f"{kind}: {len(self.issues)} 处错误，未导入任何记录 / {len(self.issues)} problems, nothing was "
            f"imported:\n{lines}{more}"
        )


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
        raise LedgerError(f"{path.name} 不是有效的 xlsx 文件 / is not a valid xlsx file ({exc})") from None
    unpacked = sum(m.file_size for m in members)
    if len(members) > MAX_XLSX_MEMBERS or unpacked > MAX_XLSX_UNPACKED:
        raise LedgerError(
            f"{path.name} 解压后过大（{unpacked:,} 字节，{len(members)} 个成员），拒绝读取 / "
            f"{path.name} would unpack to {unpacked:,} bytes in {len(members)} members "
            f"(limit {MAX_XLSX_UNPACKED:,} bytes, {MAX_XLSX_MEMBERS:,} members): refused"
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
            raise LedgerError(
                f"{path.name} 无法作为 xlsx 读取 / {path.name} cannot be read as xlsx: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            ) from None
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
        raise LedgerError(f"只支持 .csv 和 .xlsx 文件（收到 {path.name}） / only .csv and .xlsx files")
    rows = [(n, cells) for n, cells in rows if any(_present(c) for c in cells)]
    if not rows:
        raise LedgerError(f"{path.name} 是空文件 / {path.name} is empty")
    header = ["" if c is None else str(c).strip() for c in rows[0][1]]
    return header, rows[1:]


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


_HEADER = re.compile(r"^(.*?)\s*[（(]\s*([a-z_]+)\s*[)）]\s*$")


def map_header(k: Kind, header: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """Column key of each header cell (None for a blank one) and the problems with the header."""
    by_name: dict[str, str] = {}
    for c in k.columns:
        by_name[c.key.lower()] = c.key
        by_name[c.zh.lower()] = c.key
        by_name[c.header.lower()] = c.key
    keys: list[str | None] = []
    issues: list[str] = []
    for cell in header:
        if not cell:
            keys.append(None)
            continue
        m = _HEADER.fullmatch(cell)
        found = by_name.get(cell.lower()) or (by_name.get(m.group(2)) if m else None)
        if found is None:
            issues.append(f"未知的列 {cell!r} / unknown column {cell!r}")
        elif found in keys:
            issues.append(f"列 {cell!r} 重复 / column {cell!r} appears twice")
        keys.append(found)
    for c in k.columns:
        if c.required and c.key not in keys:
            issues.append(f"缺少必填列 {c.header} / missing required column {c.header}")
    return keys, issues


def parse_row(k: Kind, cells: Mapping[str, Any], ctx: Ctx) -> tuple[dict[str, Any], list[str]]:
    """Values of one row (defaults filled) and its problems."""
    values: dict[str, Any] = {}
    issues: list[str] = []
    for c in k.columns:
        raw = cells.get(c.key)
        if not _present(raw):
            if c.required:
                issues.append(f"{c.key}: 必填 / required ({c.zh})")
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
                issues.append(
                    f"与第 {seen[nk]} 行重复（{k.key_text(values)}） / duplicate of line {seen[nk]}"
                )
            elif nk in existing and not update_existing:
                issues.append(
                    f"台账中已有该记录（{k.key_text(values)}），如需更新请用 --update / "
                    "already in the ledger (use --update to replace it)"
                )
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
    ws.title = k.zh[:31]
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
    s = wb.create_sheet("汇总 summary")
    s.append(["项目 / item", "数值 / value"])
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
            ("项目数 / projects", n),
            ("开工项目 / started", len(started)),
            ("竣工项目 / completed", sum(1 for r in rows if r["status"] == "completed")),
            ("计划投资 / planned investment", yuan_text(planned)),
            ("完成投资 / investment completed", yuan_text(done)),
            ("完成投资（元） / yuan", done),
        ]
        for t, (zh, _) in PROJECT_TYPES.items():
            of_type = [r for r in started if r["project_type"] == t]
            if of_type:
                total = sum(r["completed_investment"] for r in of_type)
                out.append((f"  {zh} / {t}", f"{len(of_type)} 项，{yuan_text(total)}"))
        return out
    if k.name == "campaigns":
        out = [("记录 / rows", n)]
        for col in ("events", "participants", "handbooks", "leaflets", "trainees"):
            out.append((f"{k.column(col).zh} / {col}", sum(r[col] for r in rows)))
        for g, (zh, _) in TARGET_GROUPS.items():
            of_group = [r for r in rows if r["target_group"] == g]
            if of_group:
                out.append((f"  {zh} / {g}", f"{sum(r['events'] for r in of_group)} 次"))
        return out
    if k.name == "volunteering":
        return [
            ("活动 / activities", n),
            ("参与人数 / participants", sum(r["participants"] for r in rows)),
            ("服务时长（小时） / hours", round(sum(r["hours"] for r in rows), 1)),
        ]
    if k.name in ("documents", "reviews"):
        field_, labels = (
            ("status", DOCUMENT_STATUSES) if k.name == "documents" else ("outcome", REVIEW_OUTCOMES)
        )
        out = [("记录 / rows", n)]
        for key, (zh, en) in labels.items():
            out.append((f"{zh} / {en}", sum(1 for r in rows if r[field_] == key)))
        return out
    if k.name == "targets":
        units = sorted({r["unit_id"] for r in rows})
        return [("目标 / targets", n), ("单位 / units", len(units))]
    if k.name == "units":
        out = [("单位 / units", n)]
        for key, (zh, en) in UNIT_KINDS.items():
            out.append((f"{zh} / {en}", sum(1 for r in rows if r["kind"] == key)))
        return out
    return [("记录 / rows", n)]
