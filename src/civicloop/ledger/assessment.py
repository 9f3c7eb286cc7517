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

_RULES: dict[str, tuple[str, str]] = {
    "credit_ge": (
        "≥ 目标：实际值达到目标得满分；低于目标时在目标与下限（目标 ×(1−容差)，"
        "默认容差 20%）之间按线性比例得分，达到或低于下限得 0 分",
        "≥ targets: full credit at or above the target; linear credit between the target and the floor "
        "(target × (1 − tolerance), default 20 %); 0 at or below the floor",
    ),
    "credit_le": (
        "≤ 目标（如返工率、事故数）：不高于目标得满分；高于目标时在目标与上限"
        "（目标 ×(1+容差)）之间线性递减，达到或高于上限得 0 分；目标为 0 时超出即 0 分",
        "≤ targets mirrored: full credit at or below the target, linear down to 0 at the ceiling "
        "(target × (1 + tolerance)); a target of 0 has no band",
    ),
    "no_data": (
        "无数据的指标显示为「无数据」，不按 0 分计：其权重不参与计分，其余有数据指标的权重按比例放大至 100",
        "an indicator without data is shown as no data, never scored as zero: its weight is left out and "
        "the other weights are scaled up to 100",
    ),
    "unit_score": (
        "单位得分 = 100 × Σ(权重 × 完成度) ÷ Σ 有数据指标的权重，再减去检查扣分（不低于 0）",
        "unit score = 100 × Σ(weight × credit) ÷ Σ weight with data, minus inspection deductions (not "
        "below 0)",
    ),
    "coverage": (
        "数据覆盖率 = 有数据指标的权重 ÷ 全部权重；全部无数据的单位不评分、不排名",
        "coverage = weight with data ÷ all weight; a unit without any data has no score and no rank",
    ),
    "ranking": (
        "按单位类型（局机关、处室、直属单位、区、区级中队）分组排名，同分同名次（1, 2, 2, 4）",
        "ranked within the unit kind, ties share a place (1, 2, 2, 4)",
    ),
    "grade": (
        "等级：A ≥ 90，B ≥ 75，C ≥ 60，D ≥ 40，其余 E（城市配置 kpi.grades）",
        "grades A–E from the city profile (kpi.grades)",
    ),
    "entered": (
        "填报指标须附佐证材料，经他人审核通过后计分；待审核或被退回视为无数据",
        "an entered value counts once someone other than the person who entered it approved it; pending "
        "or rejected is no data",
    ),
    "ledger": (
        "台账指标统计本单位及所有下级单位在考核期内的台账记录",
        "ledger indicators count the rows of the unit and every unit below it dated within the period",
    ),
    "auto": (
        "系统指标取自案卷闭环的 KPI 引擎（按单位的考核范围：部门、区或全市），并列出其背后的案卷",
        "case-loop indicators come from the KPI engine for the unit's scope (department, district or "
        "city), with the cases behind them",
    ),
    "sub_period": (
        "季度或月度考核：优先用该期目标；未设的沿用年度目标，比率不变，数量和金额按天数折算，"
        "年度填报值不适用",
        "a quarter or month uses its own targets, else the year's: rates as they are, counts and amounts "
        "pro-rated by days, entered year values not applicable",
    ),
}
RULES: dict[str, str] = {k: f"{zh} / {en}" for k, (zh, en) in _RULES.items()}


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

    def target_text(self) -> str:
        return f"{self.comparison.symbol} {value_text(self.target, self.measure)}"

    def actual_text(self) -> str:
        return value_text(self.figure.value, self.measure)

    def evidence_text(self, limit: int = 10) -> str:
        """Source, how the figure is made, and the first *limit* records behind it."""
        f = self.figure
        parts = [f.source]
        if f.detail:
            parts.append(f.detail)
        if f.records:
            shown = f.records[:limit]
            more = f" 等 {f.records_total} 条 / of {f.records_total}" if f.records_total > len(shown) else ""
            parts.append("依据 / records: " + ", ".join(shown) + more)
        if self.inherited_from:
            parts.append(f"沿用 {self.inherited_from} 年度目标 / the year's target (× {self.prorate:.4f})")
        return "；".join(parts)

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
                        None,
                        "填报 / entered",
                        f"年度填报值不适用于 {period.label} / "
                        "the year's entered value does not apply to a part of it",
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
        detail = (
            f"{e.entered_by} 于 {_local(e.entered_at, tz)} 填报，"
            f"{e.reviewed_by} 于 {_local(e.reviewed_at, tz)} 审核 / "
            f"entered by {e.entered_by}, approved by {e.reviewed_by}"
        )
        if pending:
            detail += f"；另有 {len(pending)} 条待审核 / {len(pending)} newer pending"
        return Figure(e.value, "填报 / entered", detail, records=[e.evidence], records_total=1), e
    if pending:
        e = pending[-1]
        return (
            Figure(
                None,
                "填报 / entered",
                f"待审核：{e.entered_by} 填报 {e.value:g} / pending approval",
                records=[e.evidence],
                records_total=1,
            ),
            e,
        )
    if entries:
        return Figure(None, "填报 / entered", "填报已被退回 / the entered value was rejected"), entries[-1]
    return Figure(None, "填报 / entered", "未填报 / not entered"), None
