"""Scoring rules of the target-responsibility assessment (目标责任考核计分规则). Pure: no I/O.

**One target.** A target has a comparison (≥ or ≤), a target value *t*, a weight *w* and a tolerance *m*
(default 20 %). Its credit (完成度) is between 0 and 1:

* ``≥`` targets: met (credit 1) when the actual value *a* ≥ *t*. Below the target the credit falls
  linearly to 0 at the floor *f* = *t* × (1 − *m*): credit = (*a* − *f*) / (*t* − *f*); at or below the
  floor it is 0. Example: 按期结案率 ≥ 95 %, floor 76 %: 85.5 % earns 0.5.
* ``≤`` targets are mirrored: met when *a* ≤ *t*; above it the credit falls linearly to 0 at the ceiling
  *c* = *t* × (1 + *m*): credit = (*c* − *a*) / (*c* − *t*); at or above the ceiling it is 0. A target of
  0 (no incidents) has no band: any excess earns 0.
* The target earns *w* × credit points.

**No data is not zero.** A target whose figure does not exist for the period (no cases to divide by,
no asset inventory, an entered value not yet approved) is shown as 无数据 / no data and takes no part:
its weight is left out and the weights of the targets with data are scaled up to 100 (redistributed in
proportion). ``coverage`` says how much of the weight had data. A unit without a single target with data
has no score and is not ranked.

**Unit score** = 100 × Σ(*w* × credit) / Σ *w* over the targets with data, minus the deductions of the
assessor's inspection notes (检查扣分), not below 0; rounded to 2 decimals. Units are ranked within their
kind (bureau, offices, departments, districts, squads) by competition ranking (1, 2, 2, 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from civicloop.ledger.models import Comparison, labels

DEFAULT_TOLERANCE = 0.2

Status = Literal["met", "partial", "missed", "no_data"]

STATUS_LABELS: dict[str, tuple[str, str]] = labels("score_status", ("met", "partial", "missed", "no_data"))


def band_edge(comparison: Comparison, target: float, tolerance: float = DEFAULT_TOLERANCE) -> float:
    """The floor of a ≥ target or the ceiling of a ≤ target, where the credit reaches 0."""
    if target <= 0:
        return target
    return target * (1 - tolerance) if comparison is Comparison.GE else target * (1 + tolerance)


def credit(
    comparison: Comparison, target: float, actual: float, tolerance: float = DEFAULT_TOLERANCE
) -> float:
    """The share of the weight an actual value earns (0 … 1), by the linear rule above."""
    edge = band_edge(comparison, target, tolerance)
    if comparison is Comparison.GE:
        if actual >= target:
            return 1.0
        if actual <= edge or edge >= target:
            return 0.0
        return (actual - edge) / (target - edge)
    if actual <= target:
        return 1.0
    if actual >= edge or edge <= target:
        return 0.0
    return (edge - actual) / (edge - target)


@dataclass(frozen=True, slots=True)
class TargetScore:
    """One target's outcome: its credit and points, or no data."""

    weight: float
    actual: float | None
    credit: float | None
    points: float | None
    status: Status
    edge: float  # floor (≥) or ceiling (≤)


def score_target(
    comparison: Comparison,
    target: float,
    weight: float,
    actual: float | None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> TargetScore:
    """Score one target; ``actual`` None (or NaN) means no data, never zero."""
    edge = band_edge(comparison, target, tolerance)
    if actual is None or math.isnan(actual):
        return TargetScore(weight, None, None, None, "no_data", edge)
    c = credit(comparison, target, actual, tolerance)
    status: Status = "met" if c >= 1.0 else ("missed" if c <= 0.0 else "partial")
    return TargetScore(weight, actual, c, weight * c, status, edge)


@dataclass(frozen=True, slots=True)
class UnitScore:
    """A unit's result: score out of 100 (None without data), before and after deductions."""

    score: float | None
    raw: float | None  # before deductions
    deductions: float
    weight_total: float
    weight_with_data: float

    @property
    def coverage(self) -> float | None:
        """Share of the weight that had data (数据覆盖率)."""
        return self.weight_with_data / self.weight_total if self.weight_total > 0 else None


def score_unit(targets: Iterable[TargetScore], deductions: float = 0.0) -> UnitScore:
    """Weighted score over the targets with data (no-data weights redistributed), minus deductions."""
    items = list(targets)
    total = sum(t.weight for t in items)
    scored = [t for t in items if t.points is not None and t.weight > 0]
    with_data = sum(t.weight for t in scored)
    if with_data <= 0:
        return UnitScore(None, None, deductions, total, 0.0)
    raw = 100.0 * sum(t.points or 0.0 for t in scored) / with_data
    final = max(0.0, raw - deductions)
    return UnitScore(round(final, 2), round(raw, 2), deductions, total, with_data)


def rank_within(groups: Mapping[str, Sequence[tuple[str, float | None]]]) -> dict[str, tuple[int, int]]:
    """Competition ranking (1, 2, 2, 4) of each group's members by score, highest first.

    Returns member → (rank, members ranked in its group); members without a score are left out.
    """
    out: dict[str, tuple[int, int]] = {}
    for members in groups.values():
        ordered = sorted(((s, k) for k, s in members if s is not None), key=lambda p: (-p[0], p[1]))
        previous: float | None = None
        current = 0
        for position, (s, k) in enumerate(ordered, start=1):
            if previous is None or s != previous:
                current, previous = position, s
            out[k] = (current, len(ordered))
    return out
