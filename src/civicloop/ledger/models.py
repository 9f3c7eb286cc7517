"""Vocabulary of the ledgers (工作台账) and of target-responsibility assessment (目标责任考核).

Pure: names, labels in both languages, and the small value types the service and the scoring share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

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

    @property
    def zh(self) -> str:
        return {"auto": "系统自动", "ledger": "台账统计", "entered": "填报审核"}[self.value]


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


UNIT_KINDS: dict[str, tuple[str, str]] = {
    "bureau": ("局机关", "bureau"),
    "office": ("处室", "office"),
    "department": ("直属单位", "department"),
    "district": ("区", "district"),
    "squad": ("区级中队／中心", "district squad or centre"),
}

PROJECT_TYPES: dict[str, tuple[str, str]] = {
    "heating": ("供热", "heating"),
    "water": ("供水", "water supply"),
    "roads_bridges": ("道桥", "roads and bridges"),
    "flood_control": ("防洪排涝", "flood control and drainage"),
    "sewage": ("污水处理", "sewage treatment"),
    "sanitation": ("环卫", "sanitation"),
    "gas": ("燃气", "gas"),
    "gardens": ("园林绿化", "parks and greening"),
    "other": ("其他", "other"),
}

PROJECT_STATUSES: dict[str, tuple[str, str]] = {
    "planned": ("谋划", "planned"),
    "started": ("在建", "started"),
    "completed": ("竣工", "completed"),
    "suspended": ("停工", "suspended"),
}

TARGET_GROUPS: dict[str, tuple[str, str]] = {
    "community": ("进社区", "community"),
    "school": ("进校园", "school"),
    "agency": ("进机关", "agency"),
    "enterprise": ("进企业", "enterprise"),
    "public": ("公共场所", "public"),
}

DOCUMENT_STATUSES: dict[str, tuple[str, str]] = {
    "in_force": ("有效", "in force"),
    "revised": ("已修订", "revised"),
    "reissued": ("重新印发", "reissued"),
    "abolished": ("已废止", "abolished"),
}

REVIEW_OUTCOMES: dict[str, tuple[str, str]] = {
    "kept": ("继续有效", "kept"),
    "revised": ("修订", "revised"),
    "reissued": ("重新印发", "reissued"),
    "abolished": ("废止", "abolished"),
}

#: The document status each review outcome leaves behind.
OUTCOME_STATUS = {"kept": "in_force", "revised": "revised", "reissued": "reissued", "abolished": "abolished"}

ENTRY_STATUSES: dict[str, tuple[str, str]] = {
    "pending": ("待审核", "pending approval"),
    "approved": ("已审核", "approved"),
    "rejected": ("已退回", "rejected"),
}

_TARGET_PERIOD = re.compile(r"^\d{4}(?:-Q[1-4]|-(?:0[1-9]|1[0-2]))?$")


class LedgerError(ValueError):
    """A refusal a person can act on; the message is in both languages."""


def target_period(text: str, timezone: str) -> Period:
    """A target's period: a year ``2026``, a quarter ``2026-Q3`` or a month ``2026-07``."""
    label = text.strip().upper().replace("Q", "-Q").replace("--Q", "-Q")
    if not _TARGET_PERIOD.fullmatch(label):
        raise LedgerError(
            f"目标期间须为年度、季度或月份，如 2026、2026-Q3、2026-07（收到 {text!r}） / "
            f"a target's period is a year, quarter or month such as 2026, 2026-Q3, 2026-07 (got {text!r})"
        )
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
            raise LedgerError(
                f"目标编号应为 期间/单位/指标[:筛选]，如 2026/ty-roads/on_time_closure_rate"
                f"（收到 {text!r}） / "
                f"a target reference is period/unit/indicator[:filter] (got {text!r})"
            )
        indicator, _, flt = parts[2].partition(":")
        return cls(parts[0], parts[1], indicator, flt)


def yuan_text(yuan: float) -> str:
    """An amount as a person reads it: 亿元 from 0.1 亿 up, else 万元, else 元."""
    if abs(yuan) >= 10_000_000:
        return f"{yuan / 100_000_000:,.2f} 亿元"
    if abs(yuan) >= 10_000:
        return f"{yuan / 10_000:,.2f} 万元"
    return f"{yuan:,.0f} 元"


def value_text(value: float | None, measure: Measure) -> str:
    """A figure for display: 96.50 %, 1,630, 45.26 亿元, 2,400 小时; None is 无数据."""
    if value is None:
        return "无数据"
    if measure is Measure.RATE:
        return f"{value * 100:.2f} %"
    if measure is Measure.YUAN:
        return yuan_text(value)
    if measure is Measure.HOURS:
        return f"{value:,.1f} 小时"
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
        return UNIT_KINDS.get(self.kind, (self.kind, self.kind))[0]
