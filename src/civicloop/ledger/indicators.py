"""Where an assessment figure comes from: the indicator catalogue and the three sources.

* **Case loop** (``auto``): :func:`case_loop_indicator` is the *only* place that calls the KPI engine
  (:mod:`civicloop.kpi.engine`; 着灯率 and 设施完好率 from :mod:`civicloop.kpi.assets` through
  :func:`_asset_rate`). Engine keys differ from ours in one place (:data:`ENGINE_RATE`: our
  ``disposal_rate`` 问题处置率 is the engine's ``problem_handling_rate``); if the engine's API changes,
  this function is the one to fix.
* **Ledgers** (``ledger``): :func:`ledger_indicator` sums the ledger rows of a unit and all units below it
  whose date falls in the period.
* **Entered** values (``entered``) are read by the assessment from the approved entries.

Each source returns a :class:`Figure`: the value (None = no data) and the evidence behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table

from civicloop.kpi.core import Period
from civicloop.ledger.models import Comparison, LedgerError, Measure, Source
from civicloop.ledger.store import (
    ledger_campaigns,
    ledger_document_reviews,
    ledger_projects,
    ledger_totals,
    ledger_volunteering,
)


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator of the catalogue: key, labels, how it is measured, its usual comparison."""

    key: str
    zh: str
    en: str
    source: Source
    measure: Measure
    comparison: Comparison = Comparison.GE
    filter_help: str = ""  # what the target's filter means for this indicator

    def label(self, flt: str = "") -> str:
        return f"{self.zh}（{flt}）" if flt else self.zh


def _i(key: str, zh: str, en: str, source: Source, measure: Measure, **kw: Any) -> Indicator:
    return Indicator(key, zh, en, source, measure, **kw)


A, L, E = Source.AUTO, Source.LEDGER, Source.ENTERED
R, C, Y, H = Measure.RATE, Measure.COUNT, Measure.YUAN, Measure.HOURS

CATALOGUE: dict[str, Indicator] = {
    i.key: i
    for i in (
        # --- the case loop (KPI engine) --------------------------------------------------------
        _i("on_time_closure_rate", "按期结案率", "on-time closure rate", A, R),
        _i("closure_rate", "结案率", "closure rate", A, R),
        _i("disposal_rate", "问题处置率", "problem disposal rate", A, R),
        _i("on_time_handling_rate", "按期处置率", "on-time handling rate", A, R),
        _i("rework_rate", "返工率", "rework rate", A, R, comparison=Comparison.LE),
        _i("light_on_rate", "着灯率", "light-on rate", A, R),
        _i("facility_intact_rate", "设施完好率", "facility intactness rate", A, R),
        _i(
            "closed_cases",
            "结案数",
            "cases closed (fixed)",
            A,
            C,
            filter_help="category code, e.g. 06013 道路破损 → repaired road sections",
        ),
        # --- ledgers ----------------------------------------------------------------------------
        _i("projects_started", "开工项目数", "projects started", L, C, filter_help="project type"),
        _i("investment_completed", "完成投资", "investment completed", L, Y, filter_help="project type"),
        _i("outreach_events", "宣传活动次数", "outreach events", L, C, filter_help="theme"),
        _i("outreach_participants", "宣传活动参与人次", "outreach participants", L, C, filter_help="theme"),
        _i("handbooks_distributed", "发放入户手册（份）", "handbooks distributed", L, C, filter_help="theme"),
        _i("leaflets_distributed", "发放宣传单（张）", "leaflets distributed", L, C, filter_help="theme"),
        _i("trainees", "培训人数", "trainees", L, C, filter_help="theme"),
        _i("volunteer_activities", "志愿服务活动次数", "volunteer activities", L, C, filter_help="theme"),
        _i("volunteer_participants", "志愿服务参与人次", "volunteer participants", L, C, filter_help="theme"),
        _i("volunteer_hours", "志愿服务时长", "volunteer hours", L, H, filter_help="theme"),
        _i("documents_reviewed", "清理规范性文件数", "normative documents reviewed", L, C),
        _i("documents_abolished", "废止规范性文件数", "normative documents abolished", L, C),
        _i("documents_reissued", "重新印发规范性文件数", "normative documents reissued", L, C),
        # --- entered with evidence (common ones; any other key is an entered indicator too) ----------
        _i("cadre_appointments", "干部选拔任用（人次）", "cadre appointments", E, C),
        _i("theory_study_sessions", "理论学习（次）", "theory study sessions", E, C),
        _i("civilised_unit", "文明单位创建（1=通过复查）", "civilised-unit review passed", E, C),
        _i("safety_incidents", "安全生产事故（起）", "work-safety incidents", E, C, comparison=Comparison.LE),
        _i("complaints_upheld", "有效投诉（件）", "complaints upheld", E, C, comparison=Comparison.LE),
        _i("talent_recruited", "引进人才（名）", "talent recruited", E, C),
    )
}


def indicator(key: str, name: str | None = None) -> Indicator:
    """The catalogue entry, or an entered count indicator for a key outside it (labelled by *name*)."""
    found = CATALOGUE.get(key)
    if found is not None:
        return found
    return Indicator(key, name or key, name or key, Source.ENTERED, Measure.COUNT)


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the case loop a unit answers for: a department, a district, or the whole city."""

    by: str  # department | district | city
    key: str | None = None

    @classmethod
    def parse(cls, text: str) -> Scope:
        by, _, key = text.partition(":")
        if by == "city" and not key:
            return cls("city")
        if by in ("department", "district") and key:
            return cls(by, key)
        raise LedgerError(
            f"考核范围应为 city、department:<部门id> 或 district:<区划代码>（收到 {text!r}） / the KPI scope "
            f"is city, department:<id> or district:<code> (got {text!r})"
        )

    def __str__(self) -> str:
        return self.by if self.key is None else f"{self.by}:{self.key}"


@dataclass
class Figure:
    """A value (None = no data) with what it rests on."""

    value: float | None
    source: str
    detail: str = ""
    numerator: float | None = None
    denominator: float | None = None
    records: list[str] = field(default_factory=list)  # case ids or ledger row keys (a sample)
    records_total: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": self.source,
            "detail": self.detail,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "records": list(self.records),
            "records_total": self.records_total,
        }


SAMPLE = 10  # how many case ids or ledger rows an evidence line lists

# ---------------------------------------------------------------------------------------------------
# The case loop: the one adapter into the KPI engine
# ---------------------------------------------------------------------------------------------------

#: Our key → the engine's rate key.
ENGINE_RATE: dict[str, str] = {
    "on_time_closure_rate": "on_time_closure_rate",
    "closure_rate": "closure_rate",
    "disposal_rate": "problem_handling_rate",
    "on_time_handling_rate": "on_time_handling_rate",
    "rework_rate": "rework_rate",
}
#: Asset rates (资产类指标) from the engine's ``assets`` module: no data without patrols or components.
ASSET_RATES = ("light_on_rate", "facility_intact_rate")


class CaseLoop:
    """The KPI engine opened once for an assessment (the groupings of a period are computed once)."""

    def __init__(self, city: Any) -> None:
        self.city = city
        self.engine: Any = None
        self.unavailable: str | None = None
        self.evaluations: dict[str, Any] = {}

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def case_loop_indicator(loop: CaseLoop, key: str, period: Period, scope: Scope, flt: str = "") -> Figure:
    """The case-loop figure *key* of one scope in *period*, with the cases behind it (KPI engine)."""
    source = "KPI 引擎 / KPI engine (civicloop.kpi)"
    if key in ASSET_RATES:
        return _asset_rate(loop, key, period, scope)
    if key not in ENGINE_RATE and key != "closed_cases":
        raise LedgerError(f"未知的系统指标 {key!r} / unknown case-loop indicator {key!r}")
    if loop.engine is None and loop.unavailable is None:
        try:
            from civicloop.kpi.engine import KpiEngine

            loop.engine = KpiEngine.for_city(loop.city)
        except Exception as exc:  # engine missing or the store unreadable: the figure is no data
            loop.unavailable = f"KPI 引擎不可用 / KPI engine unavailable: {exc}"
    if loop.engine is None:
        return Figure(None, source, loop.unavailable or "")
    engine = loop.engine
    label = period.label
    if label not in loop.evaluations:
        loop.evaluations[label] = engine.evaluate(period, ("department", "district", "city"), previous=False)
    evaluation = loop.evaluations[label]
    group = "city" if scope.by == "city" else scope.key
    try:
        row = evaluation[scope.by].row(group)
    except KeyError:
        return Figure(None, source, f"{scope} 在本期没有案卷 / no cases of {scope} in the period")
    if key == "closed_cases":
        cases = engine.cases_behind(period, "closed", scope.by, group)
        if flt:
            cases = sorted(set(cases) & set(engine.cases_behind(period, "closed", "category", flt)))
        what = f"结案（已修复）案卷{f'，类别 {flt}' if flt else ''} / closed (fixed) cases"
        return Figure(float(len(cases)), source, what, records=cases[:SAMPLE], records_total=len(cases))
    from civicloop.kpi.core import RATE_PARTS

    engine_key = ENGINE_RATE[key]
    value = row.rates.get(engine_key)
    num_key, den_key = RATE_PARTS[engine_key]
    numerator, denominator = row.counters.get(num_key), row.counters.get(den_key)
    cases = engine.cases_behind(period, num_key, scope.by, group)
    detail = (
        f"{num_key} / {den_key} = {numerator:g} / {denominator:g}"
        if denominator
        else "分母为 0 / nothing due"
    )
    return Figure(
        None if value is None else float(value),
        source,
        detail,
        numerator=numerator,
        denominator=denominator,
        records=cases[:SAMPLE],
        records_total=len(cases),
    )


def _asset_rate(loop: CaseLoop, key: str, period: Period, scope: Scope) -> Figure:
    """着灯率 / 设施完好率 from the KPI engine's asset rates: a district's row for a district scope, else
    the city-wide row (street lights and facilities are not assigned to departments there)."""
    source = "KPI 引擎资产指标 / KPI engine asset rates (civicloop.kpi.assets)"
    cache_key = f"{key}|{period.label}"
    if cache_key not in loop.evaluations:
        try:
            from civicloop.kpi import assets

            city = loop.city
            if key == "light_on_rate":
                rows = assets.light_on_rates(city.engine, city.id, period, by_road_class=False)
            else:
                rows = assets.facility_intact_rates(city.engine, city.id, period, by=("district_code",))
        except Exception as exc:  # engine missing or geography tables unreadable: no data
            return Figure(None, source, f"资产指标不可用 / asset rates unavailable: {exc}")
        loop.evaluations[cache_key] = rows
    rows = loop.evaluations[cache_key]
    row = rows[0]  # the city row comes first
    if scope.by == "district":
        row = next((r for r in rows[1:] if r.district_code == scope.key), None)
        if row is None:
            return Figure(None, source, f"{scope} 本期没有资产检查数据 / no asset data for {scope}")
    if not row.denominator:
        return Figure(None, source, "本期没有巡查或部件数据 / no patrol checks or components in the period")
    what = "亮灯检查 / lit checks" if key == "light_on_rate" else "完好设施·天 / intact component-days"
    where = "全市 / city-wide" if scope.by != "district" else str(scope)
    return Figure(
        float(row.numerator) / float(row.denominator),
        source,
        f"{what}: {row.numerator:,.0f} / {row.denominator:,.0f}（{where}）",
        numerator=float(row.numerator),
        denominator=float(row.denominator),
    )


# ---------------------------------------------------------------------------------------------------
# Ledgers
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LedgerSum:
    table: Table
    date_column: str
    value: str | None  # the column summed; None: the rows are counted
    filter_column: str | None
    key: Callable[[Any], str]  # a row's natural key, for the evidence
    where: tuple[str, str, str] | None = None  # (column, "==" or "!=", value): which rows count
    what: str = ""


def _campaign_key(r: Any) -> str:
    return f"{r.held_on} {r.theme} @ {r.place}"


_LEDGER: dict[str, _LedgerSum] = {
    "projects_started": _LedgerSum(
        ledger_projects, "start_date", None, "project_type", lambda r: str(r.name),
        ("status", "!=", "planned"), "开工日期在本期的项目 / projects started in the period",
    ),
    "investment_completed": _LedgerSum(
        ledger_projects, "start_date", "completed_investment", "project_type", lambda r: str(r.name),
        ("status", "!=", "planned"),
        "本期开工项目的完成投资合计 / investment completed by the projects started in the period",
    ),
    "outreach_events": _LedgerSum(ledger_campaigns, "held_on", "events", "theme", _campaign_key),
    "outreach_participants": _LedgerSum(
        ledger_campaigns, "held_on", "participants", "theme", _campaign_key
    ),
    "handbooks_distributed": _LedgerSum(
        ledger_campaigns, "held_on", "handbooks", "theme", _campaign_key
    ),
    "leaflets_distributed": _LedgerSum(ledger_campaigns, "held_on", "leaflets", "theme", _campaign_key),
    "trainees": _LedgerSum(ledger_campaigns, "held_on", "trainees", "theme", _campaign_key),
    "volunteer_activities": _LedgerSum(ledger_volunteering, "held_on", None, "theme", _campaign_key),
    "volunteer_participants": _LedgerSum(
        ledger_volunteering, "held_on", "participants", "theme", _campaign_key
    ),
    "volunteer_hours": _LedgerSum(ledger_volunteering, "held_on", "hours", "theme", _campaign_key),
    "documents_reviewed": _LedgerSum(
        ledger_document_reviews, "reviewed_on", None, None, lambda r: f"{r.number} {r.outcome}"
    ),
    "documents_abolished": _LedgerSum(
        ledger_document_reviews, "reviewed_on", None, None, lambda r: f"{r.number} {r.outcome}",
        ("outcome", "==", "abolished"),
    ),
    "documents_reissued": _LedgerSum(
        ledger_document_reviews, "reviewed_on", None, None, lambda r: f"{r.number} {r.outcome}",
        ("outcome", "==", "reissued"),
    ),
}  # fmt: skip

LEDGER_TABLE_NAMES = {
    "ledger_projects": "项目台账 projects",
    "ledger_campaigns": "宣传活动台账 campaigns",
    "ledger_volunteering": "志愿服务台账 volunteering",
    "ledger_document_reviews": "规范性文件清理记录 reviews",
}


def ledger_indicator(
    conn: Connection,
    city_id: str,
    key: str,
    unit_ids: Sequence[str],
    first_day: date,
    last_day: date,
    flt: str = "",
) -> Figure:
    """Sum a ledger over the rows of *unit_ids* (a unit and those below it) dated first_day … last_day.

    Document reviews belong to the unit that issued the document (its ``unit_id``).
    """
    spec = _LEDGER.get(key)
    if spec is None:
        raise LedgerError(f"未知的台账指标 {key!r} / unknown ledger indicator {key!r}")
    t = spec.table
    value, total, sample = ledger_totals(
        conn, t, city_id, spec.date_column, first_day, last_day, unit_ids,
        value_column=spec.value, where=spec.where,
        filter_on=(spec.filter_column, flt) if flt and spec.filter_column is not None else None,
        sample=SAMPLE,
    )  # fmt: skip
    detail = f"{spec.what or LEDGER_TABLE_NAMES[t.name]}：{total} 条 / rows"
    if flt:
        detail += f"（筛选 / filter: {flt}）"
    return Figure(
        float(value or 0),
        f"台账 / ledger {t.name}",
        detail,
        records=[spec.key(r) for r in sample],
        records_total=total,
    )
