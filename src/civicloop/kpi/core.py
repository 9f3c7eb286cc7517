"""Evaluation (综合评价): KPI definitions, rates, composite scores (综合指标值), grades and rankings.

Pure: no I/O, no database, no clock reads. The engine (:mod:`civicloop.kpi.engine`) counts events into
*counters*; everything here turns counters into rates, rates into composite scores, scores into grades
and ranks. Every KPI carries its Chinese and English name and its formula, so the same catalogue drives
the JSON output, the reports and ``docs/kpi.md``.

Formulas follow docs/domain.md §8; where the sources disagree the choice is named in the definition
(and the alternatives are settings of the city profile: ``dispatch_accuracy_variant``,
``rework_rate_denominator``).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo

from civicloop.kernel.i18n import both, t

# --------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------

Kind = Literal["counter", "rate", "average"]

#: How a counter behaves when a period is cut in two (tested as properties in tests/kpi/test_properties.py):
#: ``flow`` counts events by their own time, so the two halves add up to the whole; ``cohort`` counts a
#: population of the period (each case or event once) with its outcome as of the period end, so it does
#: not add up over a split; ``stock`` is the state at the period end.
Nature = Literal["flow", "cohort", "stock", ""]


@dataclass(frozen=True, slots=True)
class KpiDef:
    """One figure: its key (English snake_case), formula and the rule that puts it in a period.

    Its names are the catalogue's ``kpi.names.<key>`` (``zh``/``en``, :meth:`label`); the rule, cohort
    and subset texts are the definitions' reference in ``kpi/definitions.toml``.
    """

    key: str
    kind: Kind
    formula: str
    nature: Nature = ""  # counters: flow, cohort or stock

    @property
    def zh(self) -> str:
        return t(f"kpi.names.{self.key}", "zh-CN")

    @property
    def en(self) -> str:
        return t(f"kpi.names.{self.key}", "en")

    @property
    def rule(self) -> str:
        return _definitions()["rules"].get(self.key, "")

    @property
    def cohort(self) -> str:
        """Rates: the population both counts are taken over (which cases, counted when)."""
        return _definitions()["cohorts"].get(self.key, "")

    @property
    def subset(self) -> str:
        """Rates: why the numerator is a subset of the denominator."""
        return _definitions()["subsets"].get(self.key, "")

    def label(self, locale: str) -> str:
        return t(f"kpi.names.{self.key}", locale)


@cache
def _definitions() -> dict[str, dict[str, str]]:
    text = (resources.files("civicloop.kpi") / "definitions.toml").read_text(encoding="utf-8")
    return {area: {k: str(v) for k, v in table.items()} for area, table in tomllib.loads(text).items()}


def _c(key: str, nature: Nature = "flow") -> KpiDef:
    return KpiDef(key, "counter", key, nature)


COUNTERS: tuple[KpiDef, ...] = (
    _c("reports"),
    _c("valid_reports", "cohort"),
    _c("public_reports"),
    _c("missed_reports"),
    _c("supervision_reports"),
    _c("accepted"),
    _c("rejected"),
    _c("filed"),
    _c("not_filed"),
    _c("voided"),
    _c("accurate_filings", "cohort"),
    _c("self_fixed"),
    _c("dispatches"),
    _c("wrong_dispatches"),
    _c("accurate_dispatches", "cohort"),
    _c("dispatches_not_reworked", "cohort"),
    _c("extended_dispatches", "cohort"),
    _c("handled", "cohort"),
    _c("handled_on_time", "cohort"),
    _c("overdue_unhandled", "stock"),
    _c("due_to_close", "cohort"),
    _c("due_to_handle", "cohort"),
    _c("closed", "cohort"),
    _c("closed_on_time", "cohort"),
    _c("rework"),
    _c("rework_cases", "cohort"),
    _c("extensions"),
    _c("suspensions"),
    _c("suspended_open", "stock"),
    _c("verify_due"),
    _c("verify_on_time"),
    _c("check_due"),
    _c("check_on_time"),
    _c("verify_dispatch_due"),
    _c("verify_dispatch_on_time"),
    _c("check_dispatch_due"),
    _c("check_dispatch_on_time"),
    _c("file_on_time"),
    _c("dispatch_on_time"),
    _c("close_steps"),
    _c("close_on_time"),
    _c("handling_count"),
    _c("handling_minutes"),
    _c("open_green", "stock"),
    _c("open_yellow", "stock"),
    _c("open_red", "stock"),
    _c("rated_closures", "cohort"),
    _c("satisfied_closures", "cohort"),
    _c("contact_closures", "cohort"),
    _c("contact_callbacks", "cohort"),
)


#: The counters a rate's numerator and denominator are made of, under the default variants (for
#: --explain and the ledger); :func:`rate_parts` applies the profile's variants.
RATE_PARTS: dict[str, tuple[str, str]] = {}


def _r(key: str, parts: tuple[str, str], formula: str | None = None) -> KpiDef:
    RATE_PARTS[key] = parts
    return KpiDef(key, "rate", formula or f"{parts[0]} / {parts[1]}")


#: Every rate: (numerator, denominator) for the default variants (its cohort and why it is a subset are
#: in definitions.toml).
RATES: tuple[KpiDef, ...] = (
    _r("valid_report_rate", ("valid_reports", "reports")),
    _r("missed_report_rate", ("missed_reports", "filed")),
    _r("supervision_report_rate", ("supervision_reports", "filed")),
    _r("closure_rate", ("closed", "due_to_close")),
    _r("on_time_closure_rate", ("closed_on_time", "due_to_close")),
    _r("handling_rate", ("handled", "due_to_handle")),
    _r("on_time_handling_rate", ("handled_on_time", "due_to_handle")),
    _r("problem_handling_rate", ("handled", "due_to_handle")),
    _r(
        "rework_rate",
        ("rework_cases", "handled"),
        formula="rework_cases / handled (profile: rework_rate_denominator = handled) or "
        "rework_cases / due_to_close",
    ),
    _r(
        "dispatch_accuracy_rate",
        ("accurate_dispatches", "dispatches"),
        formula="accurate_dispatches / dispatches (eGova: not returned) or dispatches_not_reworked / "
        "dispatches (Activiti: no failed check; profile: dispatch_accuracy_variant)",
    ),
    _r("on_time_verify_rate", ("verify_on_time", "verify_due")),
    _r("on_time_check_rate", ("check_on_time", "check_due")),
    _r("on_time_filing_rate", ("file_on_time", "filed")),
    _r("filing_accuracy_rate", ("accurate_filings", "filed")),
    _r("on_time_dispatch_rate", ("dispatch_on_time", "dispatches")),
    _r("on_time_verify_dispatch_rate", ("verify_dispatch_on_time", "verify_dispatch_due")),
    _r("on_time_check_dispatch_rate", ("check_dispatch_on_time", "check_dispatch_due")),
    _r("on_time_closing_rate", ("close_on_time", "close_steps")),
    _r("extension_rate", ("extended_dispatches", "dispatches")),
    _r("satisfaction_rate", ("satisfied_closures", "rated_closures")),
    _r("callback_rate", ("contact_callbacks", "contact_closures")),
)

AVERAGES: tuple[KpiDef, ...] = (
    KpiDef("avg_handling_hours", "average", "handling_minutes / handling_count / 60"),
)

SCORES: tuple[KpiDef, ...] = (
    KpiDef("score", "average", "weighted terms, see composite_score"),
    KpiDef("grade", "average", "A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E (profile: kpi.grades)"),
)

CATALOGUE: dict[str, KpiDef] = {d.key: d for d in (*COUNTERS, *RATES, *AVERAGES, *SCORES)}
COUNTER_KEYS: tuple[str, ...] = tuple(d.key for d in COUNTERS)
#: The keys :func:`rates` returns: the rates (each ending in ``_rate``) and the averages.
RATE_KEYS: tuple[str, ...] = tuple(d.key for d in (*RATES, *AVERAGES))
assert all(d.key.endswith("_rate") for d in RATES), "every rate key ends in _rate"


def label(key: str, locale: str = "zh-CN") -> str:
    d = CATALOGUE.get(key)
    return d.label(locale) if d is not None else key


# --------------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------------


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by (never a made-up 0 or 100 %)."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def rate_parts(
    key: str, *, dispatch_accuracy_variant: str = "egova", rework_rate_denominator: str = "handled"
) -> tuple[str, str]:
    """(numerator, denominator) of rate *key* under the profile's variants."""
    if key == "dispatch_accuracy_rate" and dispatch_accuracy_variant != "egova":
        return ("dispatches_not_reworked", "dispatches")
    if key == "rework_rate" and rework_rate_denominator != "handled":
        return ("rework_cases", "due_to_close")
    return RATE_PARTS[key]


def rates(
    c: Mapping[str, float],
    *,
    dispatch_accuracy_variant: str = "egova",
    rework_rate_denominator: str = "handled",
) -> dict[str, float | None]:
    """Every rate of :data:`RATES` (and the averages) from one group's counters.

    Each rate is ``numerator / denominator`` of two counters over the same population, the numerator a
    subset of the denominator's (docs/kpi.md), so it lies in [0, 1]; an empty denominator, or a counter
    the group does not have, is no data (None).
    """

    get = c.get
    out: dict[str, float | None] = {}
    for key, num, den in _rate_table(dispatch_accuracy_variant, rework_rate_denominator):
        n, d = get(num), get(den)
        out[key] = None if n is None or d is None or d <= 0 else float(n) / float(d)
    n, d = get("handling_minutes"), get("handling_count")
    out["avg_handling_hours"] = None if n is None or d is None or d <= 0 else float(n) / float(d) / 60.0
    return out


@cache
def _rate_table(
    dispatch_accuracy_variant: str, rework_rate_denominator: str
) -> tuple[tuple[str, str, str], ...]:
    """(rate, numerator, denominator) of every rate of :data:`RATES` under the profile's variants."""
    return tuple(
        (
            d.key,
            *rate_parts(
                d.key,
                dispatch_accuracy_variant=dispatch_accuracy_variant,
                rework_rate_denominator=rework_rate_denominator,
            ),
        )
        for d in RATES
    )


# --------------------------------------------------------------------------------------------------
# Composite scores and grades
# --------------------------------------------------------------------------------------------------

ObjectType = Literal["department", "region", "inspector", "operator", "shift_leader", "dispatcher"]

#: Which scored object each grouping is (区域 levels share the region weights).
GROUPING_OBJECT: dict[str, ObjectType | None] = {
    "department": "department",
    "district": "region",
    "street": "region",
    "community": "region",
    "grid": "region",
    "inspector": "inspector",
    "operator": "operator",
    "shift_leader": "shift_leader",
    "dispatcher": "dispatcher",
    "category": None,
    "city": None,
}


@dataclass(frozen=True, slots=True)
class Term:
    """One weighted term of a composite: its weight name, the figure it reads and how."""

    weight: str
    source: str  # a rate key, or a counter key for volume terms
    how: Literal["rate", "one_minus", "volume"]


#: The terms of each composite (weights are the profile's, in percent).
TERMS: dict[ObjectType, tuple[Term, ...]] = {
    "department": (
        Term("volume", "filed", "volume"),
        Term("close_rate", "closure_rate", "rate"),
        Term("on_time_handling_rate", "on_time_handling_rate", "rate"),
        Term("no_rework_rate", "rework_rate", "one_minus"),
        Term("satisfaction_rate", "satisfaction_rate", "rate"),
    ),
    "inspector": (
        Term("valid_report_rate", "valid_report_rate", "rate"),
        Term("not_missed_rate", "missed_report_rate", "one_minus"),
        Term("on_time_verify_rate", "on_time_verify_rate", "rate"),
        Term("on_time_check_rate", "on_time_check_rate", "rate"),
    ),
    "operator": (
        Term("volume", "accepted", "volume"),
        Term("on_time_verify_dispatch_rate", "on_time_verify_dispatch_rate", "rate"),
        Term("on_time_check_dispatch_rate", "on_time_check_dispatch_rate", "rate"),
    ),
    "shift_leader": (
        Term("on_time_filing_rate", "on_time_filing_rate", "rate"),
        Term("accurate_filing_rate", "filing_accuracy_rate", "rate"),
        Term("on_time_closing_rate", "on_time_closing_rate", "rate"),
    ),
    "dispatcher": (
        Term("volume", "dispatches", "volume"),
        Term("on_time_dispatch_rate", "on_time_dispatch_rate", "rate"),
        Term("accurate_dispatch_rate", "dispatch_accuracy_rate", "rate"),
    ),
    "region": (
        Term("supervision_report_rate", "supervision_report_rate", "rate"),
        Term("filing_volume", "filed_per_grid", "volume"),
        Term("close_rate", "closure_rate", "rate"),
        Term("on_time_close_rate", "on_time_closure_rate", "rate"),
        Term("satisfaction_rate", "satisfaction_rate", "rate"),
    ),
}


@dataclass(frozen=True, slots=True)
class Score:
    score: float | None
    grade: str | None
    terms: dict[str, float | None] = field(default_factory=dict)  # term → its 0–100 value
    used_weight: float = 0.0  # percent of the weight that had data


def composite_score(
    obj: ObjectType,
    figures: Mapping[str, float | None],
    weights: Mapping[str, float],
    volume: Callable[[float], float] | None,
    grade: Callable[[float], str],
) -> Score:
    """综合指标值 out of 100: Σ weight × term / Σ weight over the terms that have data.

    A term without data (no denominator in the period) is left out and the others are scaled up, so a
    grid without a single verification is not graded on a made-up 0 or 100 %. ``used_weight`` says how
    much of the weight had data. Without any rate term (only a volume score) there is no score.
    """
    total = 0.0
    used = 0.0
    parts: dict[str, float | None] = {}
    for term in TERMS[obj]:
        w = float(weights.get(term.weight, 0.0))
        value = figures.get(term.source)
        v: float | None
        if value is None or (isinstance(value, float) and math.isnan(value)):
            v = None
        elif term.how == "volume":
            v = volume(float(value)) if volume is not None else None
        elif term.how == "one_minus":
            v = 100.0 * (1.0 - float(value))
        else:
            v = 100.0 * float(value)
        parts[term.weight] = None if v is None else round(v, 4)
        if v is not None and w > 0:
            total += w * v
            used += w
    rated = any(parts.get(t.weight) is not None for t in TERMS[obj] if t.how != "volume")
    if used <= 0 or not rated:
        # A volume score alone (e.g. a department that only returned a case) is no evaluation.
        return Score(None, None, parts, 0.0)
    score = round(total / used, 2)
    return Score(score, grade(score), parts, round(used, 4))


def grade_of(score: float, thresholds: Sequence[float] = (90, 75, 60, 40)) -> str:
    """Grade letter (等级): A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E (thresholds from the profile)."""
    for letter, threshold in zip("ABCD", thresholds, strict=True):
        if score >= threshold:
            return letter
    return "E"


def rank(scores: Mapping[str, float | None]) -> dict[str, int]:
    """Competition ranking (1, 2, 2, 4) by score, highest first; groups without a score are unranked."""
    ordered = sorted(((s, k) for k, s in scores.items() if s is not None), key=lambda p: (-p[0], p[1]))
    out: dict[str, int] = {}
    previous: float | None = None
    current = 0
    for position, (s, k) in enumerate(ordered, start=1):
        if previous is None or s != previous:
            current = position
            previous = s
        out[k] = current
    return out


def rank_change(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int | None]:
    """Places gained (positive) or lost since the previous period; None when not ranked then."""
    return {k: (before[k] - r if k in before else None) for k, r in now.items()}


# --------------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC, built from local calendar days of the city's time zone."""

    start: datetime
    end: datetime
    label: str
    kind: Literal["year", "quarter", "month", "range"]
    first_day: date
    last_day: date  # inclusive
    timezone: str

    def previous(self) -> Period:
        """The period before: the previous month/quarter/year, or a range of the same length before it."""
        if self.kind == "month":
            y, m = self.first_day.year, self.first_day.month
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
            return parse_period(f"{y:04d}-{m:02d}", self.timezone)
        if self.kind == "quarter":
            y, q = self.first_day.year, (self.first_day.month - 1) // 3 + 1
            y, q = (y - 1, 4) if q == 1 else (y, q - 1)
            return parse_period(f"{y:04d}-Q{q}", self.timezone)
        if self.kind == "year":
            return parse_period(str(self.first_day.year - 1), self.timezone)
        days = (self.last_day - self.first_day).days + 1
        last = self.first_day - timedelta(days=1)
        return period_between(last - timedelta(days=days - 1), last, self.timezone)

    def as_json(self) -> dict[str, str]:
        return {
            "label": self.label,
            "kind": self.kind,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "start_utc": self.start.isoformat(),
            "end_utc": self.end.isoformat(),
            "timezone": self.timezone,
        }


def _midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def period_between(first: date, last: date, timezone: str) -> Period:
    """The local days first … last (inclusive)."""
    if last < first:
        raise ValueError(both("kpi.period.ends_before_start", first=first, last=last))
    label = f"{first.isoformat()}..{last.isoformat()}"
    return Period(
        _midnight(first, timezone),
        _midnight(last + timedelta(days=1), timezone),
        label,
        "range",
        first,
        last,
        timezone,
    )


_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/|~|to)\s*(\d{4}-\d{2}-\d{2})$")


def parse_period(text: str, timezone: str = "Asia/Shanghai") -> Period:
    """``2026`` · ``2026-Q3`` · ``2026-11`` · ``2026-11-05`` (one day) · ``2026-11-01..2026-11-15``."""
    s = text.strip()
    if m := _YEAR.match(s):
        y = int(m.group(1))
        p = period_between(date(y, 1, 1), date(y, 12, 31), timezone)
        return _relabel(p, s, "year")
    if m := _QUARTER.match(s):
        y, q = int(m.group(1)), int(m.group(2))
        first = date(y, 3 * q - 2, 1)
        last = (date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)) - timedelta(days=1)
        return _relabel(period_between(first, last, timezone), f"{y}-Q{q}", "quarter")
    if m := _MONTH.match(s):
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            raise ValueError(both("kpi.period.no_such_month", month=mo, text=repr(text)))
        first = date(y, mo, 1)
        last = (date(y + 1, 1, 1) if mo == 12 else date(y, mo + 1, 1)) - timedelta(days=1)
        return _relabel(period_between(first, last, timezone), f"{y:04d}-{mo:02d}", "month")
    if m := _RANGE.match(s):
        return period_between(date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2)), timezone)
    try:
        day = date.fromisoformat(s)
    except ValueError:
        raise ValueError(both("kpi.period.unreadable", text=repr(text))) from None
    return period_between(day, day, timezone)


def _relabel(p: Period, label: str, kind: Literal["year", "quarter", "month"]) -> Period:
    return Period(p.start, p.end, label, kind, p.first_day, p.last_day, p.timezone)


# --------------------------------------------------------------------------------------------------
# Forecast helpers (研判): small, dependency-free and deterministic
# --------------------------------------------------------------------------------------------------


def exp_smoothing(series: Sequence[float], alpha: float = 0.5) -> list[float]:
    """One-step-ahead forecasts by simple exponential smoothing: out[i] forecasts series[i].

    out[0] is series[0] (no information before it); the final forecast (for the next, unseen step) is
    appended, so len(out) == len(series) + 1.
    """
    if not series:
        return []
    level = float(series[0])
    out = [level]
    for x in series:
        level = alpha * float(x) + (1 - alpha) * level
        out.append(level)
    return out


def errors(actual: Iterable[float], forecast: Iterable[float]) -> dict[str, float | None]:
    """MAE and MAPE (the latter over the non-zero actuals only) of paired values."""
    pairs = list(zip(actual, forecast, strict=False))
    if not pairs:
        return {"mae": None, "mape": None, "n": 0.0}
    mae = sum(abs(a - f) for a, f in pairs) / len(pairs)
    nz = [(a, f) for a, f in pairs if a != 0]
    mape = (sum(abs(a - f) / abs(a) for a, f in nz) / len(nz)) if nz else None
    return {"mae": mae, "mape": mape, "n": float(len(pairs))}
