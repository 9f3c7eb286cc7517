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

from civicloop.kernel import i18n
from civicloop.kernel.i18n import Msg, current_locale, normalise_locale, t
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

    def label(self, flt: str = "", locale: str | None = None) -> str:
        """The name (with the target's filter) in *locale* (default: the current locale)."""
        loc = current_locale() if locale is None else normalise_locale(locale)
        name = self.en if loc == "en" else self.zh
        return t("ledger.indicators_filtered", loc, name=name, filter=flt) if flt else name


def _i(key: str, source: Source, measure: Measure, *, filter_help: str = "", **kw: Any) -> Indicator:
    """An indicator named ``ledger.indicators.<key>``; *filter_help* is a ``ledger.filter_help`` key."""
    zh, en = t(f"ledger.indicators.{key}", "zh-CN"), t(f"ledger.indicators.{key}", "en")
    helps = t(f"ledger.filter_help.{filter_help}", "en") if filter_help else ""
    return Indicator(key, zh, en, source, measure, filter_help=helps, **kw)


def _say(key: str, /, **fields: object) -> str:
    """Both languages ("中文 / English"), as refusals and evidence lines read."""
    return str(Msg(f"ledger.{key}", **fields))


A, L, E = Source.AUTO, Source.LEDGER, Source.ENTERED
R, C, Y, H = Measure.RATE, Measure.COUNT, Measure.YUAN, Measure.HOURS

CATALOGUE: dict[str, Indicator] = {
    i.key: i
    for i in (
        # --- the case loop (KPI engine) --------------------------------------------------------
        _i("on_time_closure_rate", A, R),
        _i("closure_rate", A, R),
        _i("disposal_rate", A, R),
        _i("on_time_handling_rate", A, R),
        _i("rework_rate", A, R, comparison=Comparison.LE),
        _i("light_on_rate", A, R),
        _i("facility_intact_rate", A, R),
        _i("closed_cases", A, C, filter_help="category"),
        # --- ledgers ----------------------------------------------------------------------------
        _i("projects_started", L, C, filter_help="project_type"),
        _i("investment_completed", L, Y, filter_help="project_type"),
        _i("outreach_events", L, C, filter_help="theme"),
        _i("outreach_participants", L, C, filter_help="theme"),
        _i("handbooks_distributed", L, C, filter_help="theme"),
        _i("leaflets_distributed", L, C, filter_help="theme"),
        _i("trainees", L, C, filter_help="theme"),
        _i("volunteer_activities", L, C, filter_help="theme"),
        _i("volunteer_participants", L, C, filter_help="theme"),
        _i("volunteer_hours", L, H, filter_help="theme"),
        _i("documents_reviewed", L, C),
        _i("documents_abolished", L, C),
        _i("documents_reissued", L, C),
        # --- entered with evidence (common ones; any other key is an entered indicator too) ----------
        _i("cadre_appointments", E, C),
        _i("theory_study_sessions", E, C),
        _i("civilised_unit", E, C),
        _i("safety_incidents", E, C, comparison=Comparison.LE),
        _i("complaints_upheld", E, C, comparison=Comparison.LE),
        _i("talent_recruited", E, C),
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
        raise LedgerError(_say("errors.scope", raw=repr(text)))

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
    source = _say("evidence.kpi_engine")
    if key in ASSET_RATES:
        return _asset_rate(loop, key, period, scope)
    if key not in ENGINE_RATE and key != "closed_cases":
        raise LedgerError(_say("errors.unknown_case_loop_indicator", key=repr(key)))
    if loop.engine is None and loop.unavailable is None:
        try:
            from civicloop.kpi.engine import KpiEngine

            loop.engine = KpiEngine.for_city(loop.city)
        except Exception as exc:  # engine missing or the store unreadable: the figure is no data
            loop.unavailable = _say("evidence.kpi_unavailable", reason=exc)
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
        return Figure(None, source, _say("evidence.no_cases", scope=scope))
    if key == "closed_cases":
        cases = engine.cases_behind(period, "closed", scope.by, group)
        if flt:
            cases = sorted(set(cases) & set(engine.cases_behind(period, "closed", "category", flt)))
        what = _say("evidence.closed_cases_of", category=flt) if flt else _say("evidence.closed_cases")
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
        else _say("evidence.nothing_due")
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
    source = _say("evidence.asset_engine")
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
            return Figure(None, source, _say("evidence.asset_unavailable", reason=exc))
        loop.evaluations[cache_key] = rows
    rows = loop.evaluations[cache_key]
    row = rows[0]  # the city row comes first
    if scope.by == "district":
        row = next((r for r in rows[1:] if r.district_code == scope.key), None)
        if row is None:
            return Figure(None, source, _say("evidence.no_asset_data", scope=scope))
    if not row.denominator:
        return Figure(None, source, _say("evidence.no_patrols"))
    what = _say("evidence.lit_checks" if key == "light_on_rate" else "evidence.intact_days")
    where = _say("evidence.city_wide") if scope.by != "district" else str(scope)
    detail = t(
        "ledger.evidence.asset_detail",
        what=what,
        numerator=f"{row.numerator:,.0f}",
        denominator=f"{row.denominator:,.0f}",
        where=where,
    )
    return Figure(
        float(row.numerator) / float(row.denominator),
        source,
        detail,
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
        ("status", "!=", "planned"), _say("evidence.projects_started"),
    ),
    "investment_completed": _LedgerSum(
        ledger_projects, "start_date", "completed_investment", "project_type", lambda r: str(r.name),
        ("status", "!=", "planned"),
        _say("evidence.investment_completed"),
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
    name: f"{t(f'ledger.tables.{name}', 'zh-CN')} {t(f'ledger.tables.{name}', 'en')}"
    for name in ("ledger_projects", "ledger_campaigns", "ledger_volunteering", "ledger_document_reviews")
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
        raise LedgerError(_say("errors.unknown_ledger_indicator", key=repr(key)))
    t = spec.table
    value, total, sample = ledger_totals(
        conn, t, city_id, spec.date_column, first_day, last_day, unit_ids,
        value_column=spec.value, where=spec.where,
        filter_on=(spec.filter_column, flt) if flt and spec.filter_column is not None else None,
        sample=SAMPLE,
    )  # fmt: skip
    detail = i18n.t("ledger.evidence.ledger_rows", what=spec.what or LEDGER_TABLE_NAMES[t.name], total=total)
    if flt:
        detail += i18n.t("ledger.evidence.ledger_filter", filter=flt)
    return Figure(
        float(value or 0),
        i18n.t("ledger.evidence.ledger_source", table=t.name),
        detail,
        records=[spec.key(r) for r in sample],
        records_total=total,
    )
