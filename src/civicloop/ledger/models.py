"""Vocabulary of the ledgers (工作台账) and of target-responsibility assessment (目标责任考核).

Pure: names, labels in both languages, and the small value types the service and the scoring share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from civicloop.kernel.i18n import Msg, current_locale, normalise_locale, t
from civicloop.kpi.core import Period, parse_period


class Comparison(StrEnum):
    """How an actual value meets its target: 不低于 (≥) or 不高于 (≤)."""

    GE = "ge"
    LE = "le"

    @property
    def symbol(self) -> str:
        return "≥" if self is Comparison.GE else "≤"


class Source(StrEnum):
    """How a target is measured (考核方式).

    ``auto``: from civicloop's own case-loop figures (KPI engine); ``ledger``: from the ledgers kept here;
    ``entered``: a value entered with evidence and approved by an assessor (填报 + 审核).
    """

    AUTO = "auto"
    LEDGER = "ledger"
    ENTERED = "entered"

    def label(self, locale: str | None = None) -> str:
        return t(f"ledger.sources.{self.value}", locale)

    @property
    def zh(self) -> str:
        return self.label("zh-CN")


class Measure(StrEnum):
    """What kind of number an indicator is: a rate (stored as a fraction), a count, yuan, hours."""

    RATE = "rate"
    COUNT = "count"
    YUAN = "yuan"
    HOURS = "hours"

    @property
    def cumulative(self) -> bool:
        """Counts, amounts and hours add up over time (a year's target is pro-rated for a quarter)."""
        return self is not Measure.RATE


def labels(area: str, keys: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """key → (Chinese, English) label of a ledger vocabulary (``ledger.<area>.<key>`` in the catalogue)."""
    return {k: (t(f"ledger.{area}.{k}", "zh-CN"), t(f"ledger.{area}.{k}", "en")) for k in keys}


UNIT_KINDS: dict[str, tuple[str, str]] = labels(
    "unit_kinds", ("bureau", "office", "department", "district", "squad")
)

PROJECT_TYPES: dict[str, tuple[str, str]] = labels(
    "project_types",
    ("heating", "water", "roads_bridges", "flood_control", "sewage", "sanitation", "gas", "gardens", "other"),
)

PROJECT_STATUSES: dict[str, tuple[str, str]] = labels(
    "project_statuses", ("planned", "started", "completed", "suspended")
)

TARGET_GROUPS: dict[str, tuple[str, str]] = labels(
    "target_groups", ("community", "school", "agency", "enterprise", "public")
)

DOCUMENT_STATUSES: dict[str, tuple[str, str]] = labels(
    "document_statuses", ("in_force", "revised", "reissued", "abolished")
)

REVIEW_OUTCOMES: dict[str, tuple[str, str]] = labels(
    "review_outcomes", ("kept", "revised", "reissued", "abolished")
)

#: The document status each review outcome leaves behind.
OUTCOME_STATUS = {"kept": "in_force", "revised": "revised", "reissued": "reissued", "abolished": "abolished"}

ENTRY_STATUSES: dict[str, tuple[str, str]] = labels("entry_statuses", ("pending", "approved", "rejected"))

_TARGET_PERIOD = re.compile(r"^\d{4}(?:-Q[1-4]|-(?:0[1-9]|1[0-2]))?$")


class LedgerError(ValueError):
    """A refusal a person can act on; the message is in both languages."""


def target_period(text: str, timezone: str) -> Period:
    """A target's period: a year ``2026``, a quarter ``2026-Q3`` or a month ``2026-07``."""
    label = text.strip().upper().replace("Q", "-Q").replace("--Q", "-Q")
    if not _TARGET_PERIOD.fullmatch(label):
        raise LedgerError(str(Msg("ledger.errors.target_period", raw=repr(text))))
    return parse_period(label, timezone)


@dataclass(frozen=True, slots=True)
class TargetKey:
    """A target's identity: period / unit / indicator[:filter], e.g. ``2026/ty-roads/closed_cases:06013``."""

    period: str
    unit_id: str
    indicator: str
    filter: str = ""

    def __str__(self) -> str:
        tail = f"{self.indicator}:{self.filter}" if self.filter else self.indicator
        return f"{self.period}/{self.unit_id}/{tail}"

    @classmethod
    def parse(cls, text: str) -> TargetKey:
        parts = text.strip().split("/")
        if len(parts) != 3 or not all(parts):
            raise LedgerError(str(Msg("ledger.errors.target_key", raw=repr(text))))
        indicator, _, flt = parts[2].partition(":")
        return cls(parts[0], parts[1], indicator, flt)


def yuan_text(yuan: float, locale: str | None = None) -> str:
    """An amount as a person reads it: 亿元 from 0.1 亿 up, else 万元, else 元 (in *locale*, default the
    current one)."""
    if abs(yuan) >= 10_000_000:
        return t("ledger.amount.yi", locale, value=f"{yuan / 100_000_000:,.2f}")
    if abs(yuan) >= 10_000:
        return t("ledger.amount.wan", locale, value=f"{yuan / 10_000:,.2f}")
    return t("ledger.amount.yuan", locale, value=f"{yuan:,.0f}")


def value_text(value: float | None, measure: Measure, locale: str | None = None) -> str:
    """A figure for display: 96.50 %, 1,630, 45.26 亿元, 2,400 小时; None is 无数据."""
    if value is None:
        return t("ledger.amount.no_data", locale)
    if measure is Measure.RATE:
        return f"{value * 100:.2f} %"
    if measure is Measure.YUAN:
        return yuan_text(value, locale)
    if measure is Measure.HOURS:
        return t("ledger.amount.hours", locale, value=f"{value:,.1f}")
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@dataclass(frozen=True, slots=True)
class Unit:
    """An organisational unit that is assessed (考核单位): the bureau, an office, a department, a district
    or a district squad. ``kpi_scope`` is the part of the case loop it answers for."""

    unit_id: str
    name: str
    kind: str
    parent_id: str | None
    department_id: str | None
    district_code: str | None
    kpi_scope: str
    position: int
    name_en: str | None = None

    @property
    def kind_zh(self) -> str:
        return self.kind_label("zh-CN")

    def kind_label(self, locale: str | None = None) -> str:
        zh, en = UNIT_KINDS.get(self.kind, (self.kind, self.kind))
        return en if (current_locale() if locale is None else normalise_locale(locale)) == "en" else zh
