"""Scoring a period (考核评分): every unit against its targets, with the evidence behind each figure.

Which targets apply to a period *P*:

* the targets set for *P* itself (a year ``2026``, a quarter ``2026-Q3`` or a month ``2026-07``);
* for a quarter, month or date range inside one year, also the year's targets the unit has no target of
  its own for. Rates apply as they are; counts, amounts and hours are pro-rated by the share of the
  year's days in *P* (按天折算); an entered year value does not apply to a part of the year (no data).

The figures come from :mod:`civicloop.ledger.indicators`; the rules are those of
:mod:`civicloop.ledger.scoring`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.kernel.i18n import LOCALES, Msg, both, t
from civicloop.kpi.core import Period, parse_period
from civicloop.ledger import scoring
from civicloop.ledger.indicators import (
    CaseLoop,
    Figure,
    Indicator,
    Scope,
    case_loop_indicator,
    indicator,
    ledger_indicator,
)
from civicloop.ledger.models import (
    UNIT_KINDS,
    Comparison,
    LedgerError,
    Measure,
    Source,
    TargetKey,
    Unit,
    value_text,
)
from civicloop.ledger.scoring import STATUS_LABELS, TargetScore, UnitScore
from civicloop.ledger.service import Entry, Inspection, LedgerService
from civicloop.ledger.store import target_rows_of_periods


def _say(key: str, /, **fields: object) -> str:
    """Evidence in both languages ("中文 / English"): ``ledger.evidence.<key>``."""
    return str(Msg(f"ledger.evidence.{key}", **fields))


#: The scoring rules, in the order a report lists them (``ledger.rules.<key>``).
_RULES = (
    "credit_ge",
    "credit_le",
    "no_data",
    "unit_score",
    "coverage",
    "ranking",
    "grade",
    "entered",
    "ledger",
    "auto",
    "sub_period",
)
RULES: dict[str, str] = {k: both(f"ledger.rules.{k}") for k in _RULES}


@dataclass
class TargetResult:
    """One target of one unit in the period: what was asked, what was achieved, and why."""

    key: TargetKey
    indicator: Indicator
    name: str
    source: Source
    comparison: Comparison
    target: float
    weight: float
    tolerance: float
    figure: Figure
    score: TargetScore
    inherited_from: str | None = None
    prorate: float = 1.0
    entry: Entry | None = None

    @property
    def measure(self) -> Measure:
        return self.indicator.measure

    def label(self, locale: str | None = None) -> str:
        """The target's name in *locale*: the indicator's name, unless the target has a name of its own."""
        if self.name in {self.indicator.label(self.key.filter, loc) for loc in LOCALES}:
            return self.indicator.label(self.key.filter, locale)
        return self.name

    def target_text(self, locale: str | None = None) -> str:
        return f"{self.comparison.symbol} {value_text(self.target, self.measure, locale)}"

    def actual_text(self, locale: str | None = None) -> str:
        return value_text(self.figure.value, self.measure, locale)

    def evidence_text(self, limit: int = 10, locale: str | None = None) -> str:
        """Source, how the figure is made, and the first *limit* records behind it."""
        f = self.figure
        parts = [f.source]
        if f.detail:
            parts.append(f.detail)
        if f.records:
            shown = f.records[:limit]
            more = f" {_say('more', n=f.records_total)}" if f.records_total > len(shown) else ""
            parts.append(f"{_say('records')}: " + ", ".join(shown) + more)
        if self.inherited_from:
            parts.append(_say("inherited", year=self.inherited_from, factor=f"{self.prorate:.4f}"))
        return t("ledger.evidence.separator", locale).join(parts)

    def as_json(self) -> dict[str, Any]:
        s = self.score
        return {
            "target": str(self.key),
            "indicator": self.key.indicator,
            "filter": self.key.filter,
            "name": self.name,
            "source": self.source.value,
            "measure": self.measure.value,
            "comparison": self.comparison.value,
            "target_value": self.target,
            "target_text": self.target_text(),
            "edge": s.edge,
            "tolerance": self.tolerance,
            "weight": self.weight,
            "actual": s.actual,
            "actual_text": self.actual_text(),
            "status": s.status,
            "status_zh": STATUS_LABELS[s.status][0],
            "credit": None if s.credit is None else round(s.credit, 6),
            "points": None if s.points is None else round(s.points, 4),
            "inherited_from": self.inherited_from,
            "prorate": self.prorate,
            "evidence": self.figure.as_json(),
            "entry": None if self.entry is None else self.entry.as_json(),
        }


@dataclass
class UnitResult:
    unit: Unit
    targets: list[TargetResult]
    inspections: list[Inspection]
    score: UnitScore
    grade: str | None = None
    rank: int | None = None
    ranked: int | None = None  # units ranked in its kind

    def as_json(self) -> dict[str, Any]:
        s = self.score
        return {
            "unit_id": self.unit.unit_id,
            "name": self.unit.name,
            "kind": self.unit.kind,
            "kind_zh": self.unit.kind_zh,
            "parent_id": self.unit.parent_id,
            "kpi_scope": self.unit.kpi_scope,
            "score": s.score,
            "score_before_deductions": s.raw,
            "deductions": s.deductions,
            "grade": self.grade,
            "rank": self.rank,
            "ranked": self.ranked,
            "weight_total": s.weight_total,
            "weight_with_data": s.weight_with_data,
            "coverage": None if s.coverage is None else round(s.coverage, 4),
            "targets": [t.as_json() for t in self.targets],
            "inspections": [i.as_json() for i in self.inspections],
        }


@dataclass
class Assessment:
    city_id: str
    city_name: str
    period: Period
    units: list[UnitResult]
    generated_at: datetime
    rules: dict[str, str] = field(default_factory=lambda: dict(RULES))

    def as_json(self) -> dict[str, Any]:
        return {
            "city": self.city_id,
            "city_name": self.city_name,
            "period": self.period.as_json(),
            "generated_at": self.generated_at.isoformat(),
            "units": [u.as_json() for u in self.units],
            "rules": dict(self.rules),
        }

    def unit(self, unit_id: str) -> UnitResult:
        for u in self.units:
            if u.unit.unit_id == unit_id:
                return u
        raise KeyError(unit_id)


def _applicable_targets(service: LedgerService, period: Period) -> list[tuple[Any, str | None, float]]:
    """(target row, inherited from year label or None, pro-rating factor) for the period."""
    labels = [period.label]
    year_label: str | None = None
    if period.kind != "year" and period.first_day.year == period.last_day.year:
        year_label = str(period.first_day.year)
        labels.append(year_label)
    with service.city.store.read() as conn:
        rows = target_rows_of_periods(conn, service.city_id, labels)
    own = [r for r in rows if r.period == period.label]
    mine = {(r.unit_id, r.indicator, r.filter) for r in own}
    out: list[tuple[Any, str | None, float]] = [(r, None, 1.0) for r in own]
    if year_label is not None:
        year_days = (date(int(year_label), 12, 31) - date(int(year_label), 1, 1)).days + 1
        share = ((period.last_day - period.first_day).days + 1) / year_days
        for r in rows:
            if r.period == year_label and (r.unit_id, r.indicator, r.filter) not in mine:
                out.append((r, year_label, share))
    return out


def assess(city: Any, period_text: str, *, now: datetime | None = None) -> Assessment:
    """Score every unit with targets in the period, rank them, and keep the evidence of every figure."""
    tz = city.profile.timezone
    try:
        period = parse_period(period_text, tz)
    except ValueError as exc:
        raise LedgerError(str(exc)) from None
    service = LedgerService(city)
    units = {u.unit_id: u for u in service.units()}
    all_units = list(units.values())
    targets = _applicable_targets(service, period)
    entries: dict[TargetKey, list[Entry]] = {}
    for e in service.entries(period=period.label):
        entries.setdefault(e.key, []).append(e)
    notes: dict[str, list[Inspection]] = {}
    for n in service.inspections(period.label):
        notes.setdefault(n.unit_id, []).append(n)
    loop = CaseLoop(city)
    by_unit: dict[str, list[TargetResult]] = {}
    try:
        with city.store.read() as conn:
            for row, inherited, share in targets:
                unit = units.get(row.unit_id)
                if unit is None:
                    continue  # a target of a unit removed since: nothing to score it on
                key = TargetKey(period.label, row.unit_id, row.indicator, row.filter)
                ind = indicator(row.indicator, row.name)
                source = Source(row.source)
                entry: Entry | None = None
                if source is Source.AUTO:
                    figure = case_loop_indicator(
                        loop, row.indicator, period, Scope.parse(unit.kpi_scope), row.filter
                    )
                elif source is Source.LEDGER:
                    figure = ledger_indicator(
                        conn,
                        service.city_id,
                        row.indicator,
                        LedgerService.subtree(all_units, unit.unit_id),
                        period.first_day,
                        period.last_day,
                        row.filter,
                    )
                elif inherited is not None:
                    figure = Figure(
                        None, _say("entered"), _say("year_entry_not_applicable", period=period.label)
                    )
                else:
                    figure, entry = _entered(entries.get(key, []), tz)
                comparison = Comparison(row.comparison)
                cumulative = ind.measure.cumulative and source is not Source.ENTERED
                factor = share if (inherited is not None and cumulative) else 1.0
                target_value = row.target_value * factor
                score = scoring.score_target(
                    comparison, target_value, row.weight, figure.value, row.tolerance
                )
                by_unit.setdefault(unit.unit_id, []).append(
                    TargetResult(
                        key,
                        ind,
                        row.name or ind.label(row.filter),
                        source,
                        comparison,
                        target_value,
                        row.weight,
                        row.tolerance,
                        figure,
                        score,
                        inherited,
                        factor,
                        entry,
                    )
                )
    finally:
        loop.close()
    results: list[UnitResult] = []
    for unit_id, items in by_unit.items():
        unit = units[unit_id]
        items.sort(key=lambda r: (-r.weight, r.key.indicator, r.key.filter))
        inspections = notes.get(unit_id, [])
        unit_score = scoring.score_unit((r.score for r in items), sum(n.deduction for n in inspections))
        grade = None if unit_score.score is None else city.profile.kpi.grades.grade(unit_score.score)
        results.append(UnitResult(unit, items, inspections, unit_score, grade))
    groups: dict[str, list[tuple[str, float | None]]] = {}
    for r in results:
        groups.setdefault(r.unit.kind, []).append((r.unit.unit_id, r.score.score))
    ranks = scoring.rank_within(groups)
    for r in results:
        r.rank, r.ranked = ranks.get(r.unit.unit_id, (None, None))
    kinds = list(UNIT_KINDS)
    results.sort(
        key=lambda r: (
            kinds.index(r.unit.kind) if r.unit.kind in kinds else len(kinds),
            r.rank if r.rank is not None else 10**6,
            r.unit.position,
        )
    )
    return Assessment(city.id, city.profile.name, period, results, now or datetime.now(UTC))


def _local(at: datetime | None, tz: str) -> str:
    return "" if at is None else at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _entered(entries: list[Entry], tz: str) -> tuple[Figure, Entry | None]:
    """The latest approved entry, else no data saying whether one is pending, rejected or missing."""
    approved = [e for e in entries if e.status == "approved"]
    pending = [e for e in entries if e.status == "pending"]
    if approved:
        e = approved[-1]
        detail = _say(
            "approved",
            entered_by=e.entered_by,
            entered_at=_local(e.entered_at, tz),
            reviewed_by=e.reviewed_by,
            reviewed_at=_local(e.reviewed_at, tz),
        )
        if pending:
            detail += t("ledger.evidence.separator") + _say("newer_pending", n=len(pending))
        return Figure(e.value, _say("entered"), detail, records=[e.evidence], records_total=1), e
    if pending:
        e = pending[-1]
        return (
            Figure(
                None,
                _say("entered"),
                _say("pending", by=e.entered_by, value=f"{e.value:g}"),
                records=[e.evidence],
                records_total=1,
            ),
            e,
        )
    if entries:
        return Figure(None, _say("entered"), _say("rejected")), entries[-1]
    return Figure(None, _say("entered"), _say("not_entered")), None
