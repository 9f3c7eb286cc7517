"""The city profile (城市配置): everything that differs from city to city, as data.

Categories with their filing conditions (立案条件), handling limits (处置时限) and closing conditions
(结案条件); departments (专业部门); the work calendar; per-step limits; verification rules; KPI weights; and
the simulation's mix of reports. Code never names a city: it reads a ``CityProfile``.

Field-level checks live on the models, so a key path points at the offending value. Checks that need
the whole profile (unknown department ids, duplicate codes, …) are in :func:`profile_issues`; the
loader runs them itself to report each problem with its key path, and a ``CityProfile`` built in code
runs them in its own validator.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import re
import zoneinfo
from collections.abc import Iterable
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from civicloop.kernel.clock import TimeLimit, TimeUnit

# Profile checks are reported in English for now (a profile is edited by IT staff, and pydantic's own
# messages are English); their Chinese texts wait in the catalogue for a localised `city check`.
from civicloop.kernel.i18n import t
from civicloop.profile.calendar import CN_SOURCE, parse_calendar_source
from civicloop.profile.categories import national_directory
from civicloop.routing.core import ResponsibilityRule, find_overlaps

Urgency = Literal["normal", "urgent"]
"""Urgency level (紧急程度): 一般 normal or 紧急 urgent."""

Channel = Literal["inspector", "patrol", "video", "citizen", "hotline", "open311", "media", "assigned"]
"""Report channel (信息来源): 监督员 inspector, 巡查 patrol, 视频 video, 公众 citizen (app / WeChat),
12345/12319 hotline, Open311 API, 媒体 media, 上级交办 assigned."""

DepartmentKind = Literal[
    "city_management",  # 城市管理局 itself (coordination, fallback)
    "sanitation",  # 环境卫生
    "roads_bridges",  # 道路桥梁 / 市政设施
    "street_lighting",  # 路灯
    "gardens",  # 园林绿化
    "law_enforcement",  # 城市管理综合行政执法
    "water",  # 供水
    "drainage",  # 排水
    "gas",  # 燃气
    "heating",  # 供热
    "power",  # 供电
    "telecom",  # 通信
    "traffic_police",  # 交警
    "transport",  # 交通运输 / 公交
    "housing",  # 住房和城乡建设
    "market_regulation",  # 市场监督管理
    "ecology_environment",  # 生态环境
    "natural_resources",  # 自然资源和规划
    "civil_affairs",  # 民政
    "district_government",  # 区政府
    "street_office",  # 街道办事处
    "other",
]

SimHours = Literal["morning", "daytime", "evening", "night", "commute", "uniform"]
"""When reports of a category arrive in the simulation: morning (peak 07–10), daytime (08–18), evening
(17–22), night (18–02, e.g. barbecue), commute (07–09 and 17–19), uniform (round the clock)."""

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CODE5 = re.compile(r"^\d{5}$")
_DIVISION = re.compile(r"^\d{6}$")
# 统一社会信用代码 (GB 32100-2015): 18 characters, digits and capitals without I, O, S, V, Z. Only the
# shape is checked, not the check digit: demo profiles carry placeholders that must not pass as real.
_CREDIT = re.compile(r"^[0-9A-Z]{18}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_PREFIX = re.compile(r"^[A-Z]{1,4}$")


def is_city_id(value: str) -> bool:
    """A jurisdiction id as stored with every case: a slug that fits the 32 characters of its column."""
    return len(value) <= 32 and bool(_SLUG.fullmatch(value))


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError("must be a lower-case slug of letters, digits and hyphens, e.g. 'ty-sanitation'")
    return value


def _code5(value: str) -> str:
    if not _CODE5.fullmatch(value):
        raise ValueError('must be a 5-digit code (2-digit major + 3-digit minor) as a string, e.g. "06010"')
    return value


def _division(value: str) -> str:
    if not _DIVISION.fullmatch(value):
        raise ValueError(t("profile.bad_division_code", "en"))
    return value


def _credit(value: str) -> str:
    if not _CREDIT.fullmatch(value):
        raise ValueError(t("profile.bad_credit_code", "en"))
    return value


def _positive_limit(value: TimeLimit) -> TimeLimit:
    # TimeLimit checks this itself today; kept so a profile never depends on that staying true.
    if not (value.amount > 0 and math.isfinite(value.amount)):
        raise ValueError(f"amount must be finite and > 0 (got {value.amount})")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
Code5 = Annotated[str, AfterValidator(_code5)]
DivisionCode = Annotated[str, AfterValidator(_division)]
CreditCode = Annotated[str, AfterValidator(_credit)]
Text = Annotated[str, AfterValidator(_non_blank)]
Limit = Annotated[TimeLimit, AfterValidator(_positive_limit)]
"""A time limit, in TOML ``{ amount = 4, unit = "work_hour" }``; unit is work_hour (工作时), work_day
(工作日) or natural_hour (自然小时)."""
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
WorkPeriod = tuple[dt.time, dt.time]


def _work_hours(amount: float) -> TimeLimit:
    return TimeLimit(amount, TimeUnit.WORK_HOUR)


def _fmt_limit(limit: TimeLimit) -> str:
    return f"{limit.amount:g} {limit.unit.value}"


class _Model(BaseModel):
    # Frozen: a profile is shared by every request and simulation worker; extra="forbid" turns a
    # misspelt TOML key into an error instead of a silently ignored setting.
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProfileIssue(NamedTuple):
    """One problem in a profile: the dotted key path (``categories[3].department``) and the reason."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}" if self.key else self.reason


# --- calendar and step limits ------------------------------------------------------------------------


class CalendarOverride(_Model):
    """One entry of the override table (调休/节假日调整): it wins over the holiday library."""

    date: dt.date
    workday: bool
    reason: Text
    source: str | None = None


class CalendarSettings(_Model):
    """The work calendar (工作日历) the working-time clock runs on.

    ``work_periods`` are the daily shifts, default eGova's 08:00–12:00 and 14:00–18:00 (480 minutes);
    a period cannot cross midnight. ``work_day_mode`` says how a 工作日 limit counts: "minutes" adds one
    day's working minutes per day, "same_time" ends at the same clock time on the N-th working day (a
    local choice, see domain.md §7). ``fallback_weekends`` treats a year that neither the holiday
    library nor ``override_years`` covers as plain Monday–Friday weeks (flagged provisional); when false
    such a date is an error. ``override_years`` lists the years the overrides cover in full. ``source``
    is where holidays come from: ``cn`` (chinese-calendar: statutory holidays and 调休) or
    ``holidays:<COUNTRY>[-<SUBDIVISION>]`` (the ``holidays`` package, e.g. ``holidays:US-MD``,
    ``holidays:GB``, ``holidays:DE-BY``).
    """

    source: str = CN_SOURCE
    work_periods: tuple[WorkPeriod, ...] = (
        (dt.time(8, 0), dt.time(12, 0)),
        (dt.time(14, 0), dt.time(18, 0)),
    )
    work_day_mode: Literal["minutes", "same_time"] = "minutes"
    fallback_weekends: bool = False
    overrides: tuple[CalendarOverride, ...] = ()
    override_years: tuple[int, ...] = ()

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        parse_calendar_source(value)
        return value

    @field_validator("work_periods")
    @classmethod
    def _periods_ordered(cls, value: tuple[WorkPeriod, ...]) -> tuple[WorkPeriod, ...]:
        if not value:
            raise ValueError('needs at least one period such as ["08:00", "12:00"]')
        previous_end: dt.time | None = None
        for i, (start, end) in enumerate(value):
            if start.tzinfo is not None or end.tzinfo is not None:
                # "08:00Z" parses as a time with a zone: a work period is local time, and comparing the
                # two kinds of time fails — refuse it by name instead.
                raise ValueError(t("profile.period_has_zone", "en", index=i))
            if start >= end:
                raise ValueError(
                    f"period {i} ({start:%H:%M}–{end:%H:%M}) must start before it ends; "
                    "periods cannot cross midnight"
                )
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"period {i} ({start:%H:%M}–{end:%H:%M}) starts before period {i - 1} ends "
                    f"({previous_end:%H:%M}); list periods in order without overlap"
                )
            previous_end = end
        return value

    @field_validator("overrides")
    @classmethod
    def _unique_dates(cls, value: tuple[CalendarOverride, ...]) -> tuple[CalendarOverride, ...]:
        seen: set[dt.date] = set()
        for o in value:
            if o.date in seen:
                raise ValueError(f"{o.date.isoformat()} is listed more than once")
            seen.add(o.date)
        return value

    @field_validator("override_years")
    @classmethod
    def _years_have_overrides(cls, value: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        overrides: tuple[CalendarOverride, ...] = info.data.get("overrides", ())
        covered = {o.date.year for o in overrides}
        for year in value:
            # A year "fully covered" by overrides must at least list its holidays; an empty year is a
            # typo that would silently turn every holiday into a workday.
            if year not in covered:
                raise ValueError(f"{year} is declared fully covered but no override falls in {year}")
        return value

    def override_map(self) -> dict[dt.date, bool]:
        """Date → workday (True) or day off (False), for the clock's ``CalendarSpec.day_kinds``."""
        return {o.date: o.workday for o in self.overrides}

    @property
    def minutes_per_workday(self) -> float:
        """Working minutes in one day (480 for the default periods)."""
        return sum(
            (dt.datetime.combine(dt.date.min, end) - dt.datetime.combine(dt.date.min, start)).total_seconds()
            / 60
            for start, end in self.work_periods
        )


class StepLimits(_Model):
    """Limits of the steps around handling (环节时限), each on the work calendar unless set otherwise.

    eGova allows 30 working minutes for 核实 (verify) and 核查 (check) (Cixi/Ningbo: 120); the others are
    common practice and configurable.
    """

    accept: Limit = _work_hours(0.5)  # 受理: register a report
    verify: Limit = _work_hours(0.5)  # 核实: inspector verifies a public report on site (eGova: 30 min)
    file: Limit = _work_hours(0.5)  # 立案: shift leader files against the 立案条件
    dispatch: Limit = _work_hours(0.5)  # 派遣: dispatcher sends the case to a department
    check_dispatch: Limit = _work_hours(0.5)  # 派发核查: operator sends the check task
    check: Limit = _work_hours(0.5)  # 核查: inspector checks the handling on site (eGova: 30 min)
    close: Limit = _work_hours(1)  # 结案: shift leader closes after a passed check
    approve: Limit = _work_hours(2)  # 审批 of 回退/延期/挂账/作废 requests


# --- departments and districts -----------------------------------------------------------------------


class District(_Model):
    """A district or county (区/县) of the city, by its GB/T 2260 code."""

    code: DivisionCode
    name: Text
    name_en: str | None = None
    urban: bool = True  # 主城区: simulated and patrolled by default


STANDARD_KINDS: frozenset[str] = frozenset(get_args(DepartmentKind))


class Department(_Model):
    """A responsible unit (专业部门 / 责任单位) cases are dispatched to.

    ``kind`` is free text (a city's own kind of unit, e.g. "public_works"); ``standard_kind`` optionally
    says which standard kind it is (``DepartmentKind``: sanitation, street_lighting, power, …) so that
    code looking for "the sanitation department" finds it — a kind that is itself standard counts as
    its own standard kind. ``district_code`` is set for district-level units (e.g. a district's 城管执法
    squad); such units receive cases of categories with ``district_departments = true`` in their
    district.
    """

    id: Slug
    name: Text
    name_en: str | None = None
    kind: Text
    standard_kind: DepartmentKind | None = None
    district_code: DivisionCode | None = None
    credit_code: CreditCode | None = None  # 统一社会信用代码 (主管部门代码 of GB/T 47678.5 表3)
    contact: str | None = None

    @property
    def standard(self) -> str | None:
        """The standard kind: ``standard_kind``, else ``kind`` when it is one of the standard kinds."""
        if self.standard_kind is not None:
            return self.standard_kind
        return self.kind if self.kind in STANDARD_KINDS else None


# --- categories --------------------------------------------------------------------------------------


class FilingCondition(_Model):
    """One filing condition (立案条件) with its limits (处置时限) and closing condition (结案条件).

    ``limits`` is keyed by urgency; "normal" (一般) is required, "urgent" (紧急) optional. A multi-stage
    item such as 私搭乱建 (停工 / 处罚 / 拆除) uses one condition per ``stage``. ``department`` overrides the
    category's default department for this condition.
    """

    no: int = Field(ge=1)
    filing: Text
    filing_en: str | None = None
    closing: Text
    closing_en: str | None = None
    limits: dict[Urgency, Limit]
    department: Slug | None = None
    stage: str | None = None

    @field_validator("limits")
    @classmethod
    def _normal_required(cls, value: dict[Urgency, TimeLimit]) -> dict[Urgency, TimeLimit]:
        if "normal" not in value:
            raise ValueError(t("profile.normal_limit_required", "en"))
        return value

    def limit(self, urgency: Urgency = "normal") -> TimeLimit:
        """The limit for that urgency, falling back to the normal one."""
        return self.limits.get(urgency, self.limits["normal"])


def _default_channel_mix() -> dict[Channel, float]:
    return {"inspector": 0.7, "citizen": 0.15, "hotline": 0.15}


class SimCategory(_Model):
    """How the simulator generates reports of one category.

    ``weight`` is the relative frequency; ``hours`` the daily pattern (see ``SimHours``); ``months`` the
    months it occurs in (empty = all year, e.g. snow only in winter); ``texts`` short report texts as an
    inspector or citizen types them; ``p_*`` the chance a case is returned (回退), extended (延期),
    suspended (挂账) or fails its check (返工); ``handle_hours`` the typical working hours a department
    takes; ``channel_mix`` the share of each report channel (sums to 1).
    """

    weight: float = Field(gt=0)
    hours: SimHours = "daytime"
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] = ()
    texts: tuple[Text, ...] = Field(min_length=3)
    texts_en: tuple[Text, ...] = ()
    p_return: Probability = 0.03
    p_extension: Probability = 0.03
    p_suspension: Probability = 0.005
    p_rework: Probability = 0.04
    handle_hours: float = Field(default=2.0, gt=0)
    channel_mix: dict[Channel, Annotated[float, Field(ge=0)]] = Field(default_factory=_default_channel_mix)

    @field_validator("channel_mix")
    @classmethod
    def _mix_sums_to_one(cls, value: dict[Channel, float]) -> dict[Channel, float]:
        total = sum(value.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"shares must sum to 1 (got {total:g})")
        return value

    @model_validator(mode="after")
    def _branches_fit(self) -> SimCategory:
        # Return, extension and suspension are alternative branches of one case.
        total = self.p_return + self.p_extension + self.p_suspension
        if total > 1:
            raise ValueError(f"p_return + p_extension + p_suspension must not exceed 1 (got {total:g})")
        return self


def _national_matter_name(code: str) -> str:
    """The matter's national name, for error messages."""
    found = national_directory().find(code)
    return " / ".join(f"{c.kind} {c.name}" for c in found) if found else "not in the directory"


class CategoryRule(_Model):
    """A case category of the city (案件类别): a GB/T 47678.5 管理事项 with the city's rules.

    Case categories always use **matter** codes (``kind = "matter"``); the asset type a matter is about
    is ``component_code`` (matter 01037 路灯异常 → component 01037 路灯), filled automatically for the
    "…异常" matters of majors 01–05. ``name``, ``major_code`` and ``major_name`` come from the national
    directory when omitted. A city extension (扩展类) sets ``local = true`` and uses a code in a major
    the standard does not use (e.g. 11001).

    ``district_departments``: the case goes to the district-level unit of the responsible
    department's kind in the case's district (e.g. a district 城管执法 squad), else to the department
    itself. ``keywords`` are synonyms (Chinese and English) for search, Open311 and the classifier;
    each ``urgent_keywords`` entry is a space-separated set of words that must all occur in a report
    for it to count as urgent ("井盖 缺失"). ``service``: published as an Open311 service.
    ``always_review``: never auto-dispatched, a dispatcher decides. A local category may name the
    national matter it is reported as (``national_code``, GB/T 47678.5) and the code the city's own
    service list gives it (``source_code``, e.g. an Open311 service_code from an imported taxonomy).
    """

    # ``local`` comes first so the code validator can see it.
    local: bool = False
    code: Code5
    kind: Literal["matter"] = "matter"
    major_code: str
    major_name: Text
    name: Text
    name_en: str | None = None
    department: Slug
    district_departments: bool = False
    keywords: tuple[Text, ...] = ()
    urgent_keywords: tuple[Text, ...] = ()
    service: bool = True
    always_review: bool = False
    #: A photo shows the problem and its fix (garbage, a broken cover …); not so noise (噪声) or a smell:
    #: the profile's ``safeguards.photo_steps`` apply only to categories with visual evidence.
    visual_evidence: bool = True
    conditions: tuple[FilingCondition, ...] = Field(min_length=1)
    component_code: Code5 | None = None
    national_code: Code5 | None = None
    source_code: str | None = None
    sim: SimCategory | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_from_directory(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return data
        code: str = data["code"]
        directory = national_directory()
        if data.get("local") is True:
            if _CODE5.fullmatch(code):
                data = {"major_code": code[:2], **data}
            return data
        if ("matter", code) in directory:
            matter = directory.get("matter", code)
            filled = {"name": matter.name, "major_code": matter.major_code, "major_name": matter.major_name}
            # The "…异常" matters of majors 01–05 mirror a component type with the same code.
            if ("component", code) in directory:
                filled["component_code"] = code
            return {**filled, **data}
        # Unknown code: the code validator reports it; placeholders keep "name is required" noise out.
        return {"name": "?", "major_code": "?", "major_name": "?", **data}

    @field_validator("code")
    @classmethod
    def _code_in_directory(cls, value: str, info: ValidationInfo) -> str:
        directory = national_directory()
        if info.data.get("local"):
            if directory.find(value):
                name = _national_matter_name(value)
                raise ValueError(t("profile.national_code_not_local", "en", code=value, name=name))
            if directory.is_national_major(value[:2]):
                raise ValueError(t("profile.national_major_not_local", "en", major=value[:2]))
            return value
        if ("matter", value) not in directory:
            raise ValueError(t("profile.not_a_matter_code", "en", code=value))
        return value

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_is_matter(cls, value: Any) -> Any:
        if value != "matter":
            raise ValueError(t("profile.kind_must_be_matter", "en", value=repr(value)))
        return value

    @field_validator("major_code", "major_name", "name")
    @classmethod
    def _matches_directory(cls, value: str, info: ValidationInfo) -> str:
        code = info.data.get("code")
        if info.data.get("local") or code is None:
            if info.field_name == "major_code" and code is not None and value != code[:2]:
                raise ValueError(f"must be the first two digits of the code ({code[:2]})")
            return value
        matter = national_directory().get("matter", code)
        expected = getattr(matter, str(info.field_name))
        if value != expected:
            raise ValueError(f"{value!r} differs from the national directory's {expected!r} (matter {code})")
        return value

    @field_validator("component_code")
    @classmethod
    def _component_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and ("component", value) not in national_directory():
            raise ValueError(t("profile.not_a_component_code", "en", code=value))
        return value

    @field_validator("national_code")
    @classmethod
    def _national_matter(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not info.data.get("local"):
            raise ValueError(t("profile.national_code_only_local", "en"))
        if ("matter", value) not in national_directory():
            raise ValueError(t("profile.not_a_matter_code", "en", code=value))
        return value

    @property
    def reporting_code(self) -> str | None:
        """The GB/T 47678.5 matter code this category is reported as nationally (None: not mapped)."""
        return self.code if not self.local else self.national_code

    def condition(self, no: int) -> FilingCondition:
        """The filing condition with that number; KeyError if there is none."""
        for c in self.conditions:
            if c.no == no:
                return c
        known = ", ".join(str(c.no) for c in self.conditions)
        raise KeyError(f"category {self.code} {self.name} has no filing condition {no} (has {known})")

    def is_urgent_text(self, text: str) -> bool:
        """True if the text contains every word of one of the ``urgent_keywords`` entries."""
        return any(all(word in text for word in entry.split()) for entry in self.urgent_keywords)


# --- verification, routing, KPIs, simulation ---------------------------------------------------------


#: The steps a safeguard can name: 属实 / 不属实, 处置反馈, 核查通过 / 核查不通过.
SafeguardStep = Literal["verify_confirmed", "verify_denied", "handle", "check_passed", "check_failed"]


class Safeguards(_Model):
    """Which steps need a reason (a note) and which a photo, enforced by the domain (not only the pages).

    Defaults: 核查不通过 needs a reason; 处置反馈 and 核查通过 need a photo for categories with visual
    evidence (``visual_evidence``, true unless the category says otherwise, e.g. noise).
    """

    reason_steps: tuple[SafeguardStep, ...] = ("check_failed",)
    photo_steps: tuple[SafeguardStep, ...] = ("handle", "check_passed")


class VerificationPolicy(_Model):
    """Which report channels need an on-site check (核实) by an inspector before filing.

    Public reports are verified; an inspector's own report (or a patrol / video sighting) is evidence
    enough.
    """

    verify_channels: tuple[Channel, ...] = ("citizen", "hotline", "open311", "media")

    def needs_verification(self, channel: str) -> bool:
        """True if a report from that channel must be verified (核实) before it can be filed."""
        return channel in self.verify_channels


_RULE_CATEGORY = re.compile(r"^\d{2}(?:\d{3})?$")
_RULE_AREA = re.compile(r"^\d{6}(?:\d{3}(?:\d{3}(?:[0-9A-Z]{3})?)?)?$")


class RoutingRule(_Model):
    """One line of the responsibility list (权责清单): (category, area, component owner) → department.

    ``category``: a 5-digit matter code or a 2-digit major; omitted = any category. ``area``: a code
    prefix of a district (6 digits), street (9), community (12) or unit grid (15 characters); omitted =
    city-wide. ``owner``: only cases about a component whose 权属 owner is this unit (a department id or
    an 18-character credit code). ``valid_from`` is inclusive, ``valid_to`` exclusive; either may be
    omitted. The most specific rule wins; see ``civicloop.routing.core`` for the precedence.
    """

    id: Slug | None = None
    department: Slug
    category: str | None = None
    area: str | None = None
    owner: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    note: str | None = None

    @field_validator("category")
    @classmethod
    def _category_shape(cls, value: str | None) -> str | None:
        if value is not None and not _RULE_CATEGORY.fullmatch(value):
            raise ValueError(
                'must be a 5-digit category code such as "01037" or a 2-digit major such as "01" '
                f"(got {value!r})"
            )
        return value

    @field_validator("area")
    @classmethod
    def _area_shape(cls, value: str | None) -> str | None:
        if value is not None and not _RULE_AREA.fullmatch(value):
            raise ValueError(
                "must be a district (6 digits), street (9), community (12) or grid (15 characters, "
                f"upper-case letters allowed in the last 3) code (got {value!r})"
            )
        return value

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, value: str | None) -> str | None:
        if value is not None and not (_SLUG.fullmatch(value) or _CREDIT.fullmatch(value)):
            raise ValueError("must be a department id (slug) or an 18-character unified social credit code")
        return value

    @model_validator(mode="after")
    def _validity_ordered(self) -> RoutingRule:
        if self.valid_from is not None and self.valid_to is not None and self.valid_from >= self.valid_to:
            raise ValueError(
                f"valid_from ({self.valid_from.isoformat()}) must be before valid_to "
                f"({self.valid_to.isoformat()}, exclusive)"
            )
        return self


class RoutingSettings(_Model):
    """Routing: the responsibility rules and the fallback.

    ``rules`` are ``[[routing.rules]]`` entries (see :class:`RoutingRule`); a category's own
    ``department`` (and its district unit) is the default when no more specific rule applies.
    ``fallback_department`` receives cases no rule and no category covers.
    """

    fallback_department: Slug | None = None
    rules: tuple[RoutingRule, ...] = ()


class _Weights(_Model):
    """Composite-score weights in percent; every field is one term and they sum to 100."""

    @model_validator(mode="after")
    def _sum_to_100(self) -> _Weights:
        values = {name: float(getattr(self, name)) for name in type(self).model_fields}
        total = sum(values.values())
        if not math.isclose(total, 100.0, abs_tol=1e-6):
            terms = " + ".join(f"{k} {v:g}" for k, v in values.items())
            raise ValueError(f"weights must sum to 100 (got {total:g} = {terms})")
        return self


Weight = Annotated[float, Field(ge=0, le=100)]


class DepartmentWeights(_Weights):
    """部门 (department). Default from the Activiti platform: volume score 10 + 结案率 30 + 按期处置率 30 +
    (1 − 返工率) 30. The volume term scores the department's 立案数 (fewer is better, see VolumeBands)."""

    volume: Weight = 10
    close_rate: Weight = 30  # 结案率
    on_time_handling_rate: Weight = 30  # 按期处置率
    no_rework_rate: Weight = 30  # 1 − 返工率
    satisfaction_rate: Weight = 0  # 满意率 (回访): weighted only where the profile says so


class InspectorWeights(_Weights):
    """监督员 (inspector). Default 有效上报率 40 + 漏报 20 + 按时核实率 20 + 按时核查率 20. The platform adds
    漏报率 itself, rewarding missed reports; civicloop scores 1 − 漏报率 (domain.md §8.3)."""

    valid_report_rate: Weight = 40  # 有效上报率
    not_missed_rate: Weight = 20  # 1 − 漏报率
    on_time_verify_rate: Weight = 20  # 按时核实率
    on_time_check_rate: Weight = 20  # 按时核查率


class OperatorWeights(_Weights):
    """受理员 (operator). Default volume 25 + 按时派发核实率 40 + 按时派发核查率 35. The platform's SQL uses
    the verify rate twice; civicloop uses the check-dispatch rate for the third term."""

    volume: Weight = 25
    on_time_verify_dispatch_rate: Weight = 40  # 按时派发核实率
    on_time_check_dispatch_rate: Weight = 35  # 按时派发核查率


class ShiftLeaderWeights(_Weights):
    """值班长 (shift leader). Default 按时立案率 25 + 准确立案率 40 + 按时结案率 35 (the platform's SQL puts
    按时结案率 in the first term; civicloop follows the documented order)."""

    on_time_filing_rate: Weight = 25  # 按时立案率
    accurate_filing_rate: Weight = 40  # 准确立案率
    on_time_closing_rate: Weight = 35  # 按时结案率 (the 结案 step done within its limit)


class DispatcherWeights(_Weights):
    """派遣员 (dispatcher). Default volume 20 + 按时派遣率 40 + 准确派遣率 40."""

    volume: Weight = 20
    on_time_dispatch_rate: Weight = 40  # 按时派遣率
    accurate_dispatch_rate: Weight = 40  # 准确派遣率


class RegionWeights(_Weights):
    """区域 (region / grid). The platform's weights 监督举报率 10 + 立案数 score 20 + 结案率 30 +
    按期结案率 10 sum to 70 %. civicloop's default gives 按期结案率 40 (the likely intended figure,
    unverified) so the score is out of 100 and on-time closing weighs more than mere closing."""

    supervision_report_rate: Weight = 10  # 监督举报率
    filing_volume: Weight = 20  # 立案数 score (fewer is better, see VolumeBands)
    close_rate: Weight = 30  # 结案率
    on_time_close_rate: Weight = 40  # 按期结案率
    satisfaction_rate: Weight = 0  # 满意率 (回访): weighted only where the profile says so


class KpiWeights(_Model):
    """Composite-score (综合指标值) weights per scored object; defaults from the Activiti platform,
    unverified against GB/T 30428.4, with its known defects fixed (domain.md §8.3)."""

    department: DepartmentWeights = DepartmentWeights()
    inspector: InspectorWeights = InspectorWeights()
    operator: OperatorWeights = OperatorWeights()
    shift_leader: ShiftLeaderWeights = ShiftLeaderWeights()
    dispatcher: DispatcherWeights = DispatcherWeights()
    region: RegionWeights = RegionWeights()


class VolumeBands(_Model):
    """A step table turning a count into a score out of 100.

    ``direction = "at_most"``: the first band whose threshold the count does not exceed gives the score
    (fewer problems is better); ``"at_least"``: the first band whose threshold the count reaches (more
    work done is better). A count outside every band scores ``otherwise``.
    """

    direction: Literal["at_most", "at_least"]
    bands: tuple[tuple[float, Annotated[float, Field(ge=0, le=100)]], ...] = Field(min_length=1)
    otherwise: float = Field(default=0, ge=0, le=100)

    @field_validator("bands")
    @classmethod
    def _monotonic(
        cls, value: tuple[tuple[float, float], ...], info: ValidationInfo
    ) -> tuple[tuple[float, float], ...]:
        thresholds = [t for t, _ in value]
        ascending = info.data.get("direction") == "at_most"
        ordered = all((a < b) if ascending else (a > b) for a, b in itertools.pairwise(thresholds))
        if not ordered:
            order = "increasing" if ascending else "decreasing"
            direction = info.data.get("direction")
            raise ValueError(f"thresholds must be strictly {order} for direction {direction!r}")
        return value

    def score(self, count: float) -> float:
        """The score (0–100) of a count."""
        for threshold, score in self.bands:
            if (count <= threshold) if self.direction == "at_most" else (count >= threshold):
                return score
        return self.otherwise


def _bands(direction: Literal["at_most", "at_least"], *bands: tuple[float, float]) -> VolumeBands:
    return VolumeBands(direction=direction, bands=bands)


class VolumeScores(_Model):
    """Volume-score tables, defaults from the Activiti platform (unverified against the standard).

    The department table (立案数 ≤50 → 10 points … ≤1000 → 4) is rescaled to 100 so that every term of
    every composite is a 0–100 score times a percentage weight. The dispatcher's volume table is not
    documented; it reuses the operator's (an assumption). Grid volume: 一类 areas score 0 cases → 100,
    < 3 → 90, < 5 → 75, < 7 → 60, < 9 → 40; 二类 areas use thresholds one higher.
    """

    department: VolumeBands = _bands("at_most", (50, 100), (100, 90), (200, 75), (500, 60), (1000, 40))
    operator: VolumeBands = _bands("at_least", (2001, 100), (1201, 90), (501, 75), (301, 60), (101, 40))
    dispatcher: VolumeBands = _bands("at_least", (2001, 100), (1201, 90), (501, 75), (301, 60), (101, 40))
    region: VolumeBands = _bands("at_most", (0, 100), (2, 90), (4, 75), (6, 60), (8, 40))
    region_class2: VolumeBands = _bands("at_most", (1, 100), (3, 90), (5, 75), (7, 60), (9, 40))


class GradeThresholds(_Model):
    """Grade bands (等级) of a composite score: A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E."""

    a: float = 90
    b: float = 75
    c: float = 60
    d: float = 40

    @model_validator(mode="after")
    def _descending(self) -> GradeThresholds:
        if not (100 >= self.a > self.b > self.c > self.d >= 0):
            raise ValueError("thresholds must satisfy 100 ≥ a > b > c > d ≥ 0")
        return self

    def grade(self, score: float) -> Literal["A", "B", "C", "D", "E"]:
        """The grade letter of a score."""
        if score >= self.a:
            return "A"
        if score >= self.b:
            return "B"
        if score >= self.c:
            return "C"
        if score >= self.d:
            return "D"
        return "E"


class KpiTargets(_Model):
    """Targets (考核目标) as fractions: 按期结案率 ≥ 95 %, 着灯率 ≥ 98 % on main roads and 96 % on secondary
    roads, 设施完好率 ≥ 95 % (common targets, unverified)."""

    on_time_close_rate: Probability = 0.95  # 按期结案率
    light_on_rate_main: Probability = 0.98  # 着灯率, 主干道
    light_on_rate_secondary: Probability = 0.96  # 着灯率, 次干道
    facility_intact_rate: Probability = 0.95  # 设施完好率


class KpiSettings(_Model):
    """KPI settings (绩效评价).

    ``dispatch_accuracy_variant``: 准确派遣率 as eGova's 准确派遣数 / 派遣数 ("egova") or the Activiti
    platform's (派遣数 − 返工数) / 派遣数 ("activiti"). ``rework_rate_denominator``: 返工率 over 处置数
    ("handled") or over 应结案数 ("due_to_close", the Activiti platform).
    """

    weights: KpiWeights = KpiWeights()
    volume_bands: VolumeScores = VolumeScores()
    grades: GradeThresholds = GradeThresholds()
    dispatch_accuracy_variant: Literal["egova", "activiti"] = "egova"
    rework_rate_denominator: Literal["handled", "due_to_close"] = "handled"
    targets: KpiTargets = KpiTargets()


class SimulationSettings(_Model):
    """Parameters of the day-in-the-life simulator (模拟).

    ``reports_per_day`` is the city-wide mean on a working day; days off get ``day_off_factor`` of it.
    ``districts`` lists the simulated districts (empty = every urban district).
    """

    start: dt.date = dt.date(2026, 3, 2)  # a Monday after the Spring Festival make-up days
    days: int = Field(default=28, ge=1)
    seed: int = 0
    reports_per_day: float = Field(default=400, gt=0)
    day_off_factor: float = Field(default=0.7, ge=0)
    inspectors_per_district: int = Field(default=20, ge=1)
    operators: int = Field(default=6, ge=1)
    shift_leaders: int = Field(default=2, ge=1)
    dispatchers: int = Field(default=3, ge=1)
    districts: tuple[DivisionCode, ...] = ()


# --- the profile -------------------------------------------------------------------------------------

_LOADER_CONTEXT = "civicloop.profile.loader"
"""Validation-context flag: the loader runs the cross-checks itself, to report key paths."""


def _validate_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Shanghai'") from None
    return value


def _validate_prefix(value: str) -> str:
    if not _PREFIX.fullmatch(value):
        raise ValueError("must be 1–4 capital letters, e.g. 'TY'")
    return value


def _validate_locale(value: str) -> str:
    if not _LOCALE.fullmatch(value):
        raise ValueError("must be a BCP 47 language tag such as 'zh-CN'")
    return value


def _validate_city_code(value: str) -> str:
    if not value.endswith("00"):
        raise ValueError(t("profile.not_a_city_code", "en"))
    return value


def _validate_country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError(t("profile.bad_country", "en", value=repr(value)))
    return value


class PublicSettings(_Model):
    """The citizen page and the satisfaction follow-up (公众上报与回访).

    ``dissatisfied``: what a 不满意 rating does to a case closed as fixed — ``"review"`` puts it in the
    shift leader's queue (reopen or confirm the closure), ``"reopen"`` reopens it at once (the shift
    leader sees it back in the loop). ``max_photos``: photos a citizen may attach to one report.
    """

    dissatisfied: Literal["review", "reopen"] = "review"
    max_photos: int = Field(default=6, ge=0, le=12)


class GeocodingSettings(_Model):
    """Address geocoding (地址匹配) of reports without coordinates.

    ``min_confidence``: at or above it a geocoded report is located (grid, area routing, duplicate
    check); below it the case waits in the 待定位 queue with the geocoder's guess as a hint.
    ``provider``: ``local`` (the city's own gazetteer) or ``tianditu`` (the external service; its key
    comes from the environment variable named by ``key_env``, never from the profile).
    """

    enabled: bool = True
    min_confidence: float = Field(0.8, ge=0.0, le=1.0)
    provider: Literal["local", "tianditu"] = "local"
    url: str = "http://api.tianditu.gov.cn/geocoder"
    key_env: str = "CIVICLOOP_TIANDITU_KEY"
    timeout_s: float = Field(3.0, gt=0, le=30)


class CityProfile(_Model):
    """A city's configuration (城市配置). ``id`` is the jurisdiction id stored with every case.

    ``country`` (ISO 3166 alpha-2) defaults to CN for a Chinese-language profile; a Chinese city needs
    its ``division_code`` (GB/T 2260), a city elsewhere may leave it out. ``boundaries`` names a GeoJSON
    file of the city's districts (WGS84), relative to the profile file.
    """

    id: Slug
    name: Text
    name_en: str | None = None
    case_prefix: Annotated[str, AfterValidator(_validate_prefix)]
    country: Annotated[str, AfterValidator(_validate_country)] | None = None
    division_code: Annotated[DivisionCode, AfterValidator(_validate_city_code)] | None = None
    timezone: Annotated[str, AfterValidator(_validate_timezone)] = "Asia/Shanghai"
    default_locale: Annotated[str, AfterValidator(_validate_locale)] = "zh-CN"
    boundaries: Text | None = None
    calendar: CalendarSettings = CalendarSettings()
    step_limits: StepLimits = StepLimits()
    districts: tuple[District, ...] = ()
    departments: tuple[Department, ...] = Field(min_length=1)
    routing: RoutingSettings = RoutingSettings()
    categories: tuple[CategoryRule, ...] = Field(min_length=1)
    verification: VerificationPolicy = VerificationPolicy()
    safeguards: Safeguards = Safeguards()
    kpi: KpiSettings = KpiSettings()
    simulation: SimulationSettings = SimulationSettings()
    public: PublicSettings = PublicSettings()
    geocoding: GeocodingSettings = GeocodingSettings()

    _source_dir: str | None = PrivateAttr(default=None)
    _indexed: tuple[object, object] | None = PrivateAttr(default=None)
    _by_code: dict[str, CategoryRule] = PrivateAttr(default_factory=dict)
    _by_id: dict[str, Department] = PrivateAttr(default_factory=dict)
    _by_kind_district: dict[tuple[str, str], Department] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> CityProfile:
        if info.context and info.context.get(_LOADER_CONTEXT):
            return self
        issues = profile_issues(self)
        if issues:
            raise ValueError("; ".join(str(i) for i in issues))
        return self

    @property
    def country_code(self) -> str:
        """The country: ``country``, else CN for a Chinese-language profile, else "" (unknown)."""
        if self.country is not None:
            return self.country
        return "CN" if self.default_locale.lower().startswith("zh") else ""

    @property
    def is_chinese(self) -> bool:
        """A city in China: GB/T 2260 division codes and the national directory apply."""
        return self.country_code == "CN"

    @property
    def area_prefix(self) -> str:
        """The 4-digit prefix every district code shares (from the division code), "" when there is none."""
        return self.division_code[:4] if self.division_code else ""

    def boundaries_path(self) -> str | None:
        """The boundary file as a path (relative to the profile's directory when the loader knew it)."""
        if self.boundaries is None:
            return None
        if self._source_dir is None:
            return self.boundaries
        return os.path.join(self._source_dir, self.boundaries)

    def _index(self) -> None:
        # Built lazily and rebuilt if the tuples changed (model_copy does not re-run model_post_init).
        built = self._indexed
        if built is not None and built[0] is self.categories and built[1] is self.departments:
            return
        self._by_code = {c.code: c for c in self.categories}
        self._by_id = {d.id: d for d in self.departments}
        self._by_kind_district = {(d.kind, d.district_code): d for d in self.departments if d.district_code}
        self._indexed = (self.categories, self.departments)

    def category(self, code: str) -> CategoryRule:
        """The category rule for a matter code; KeyError says the city has no such category."""
        self._index()
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(
                f"city profile {self.id!r} has no category {code!r} "
                f"({len(self._by_code)} categories configured)"
            ) from None

    def department(self, department_id: str) -> Department:
        """The department with that id; KeyError if unknown."""
        self._index()
        try:
            return self._by_id[department_id]
        except KeyError:
            raise KeyError(f"city profile {self.id!r} has no department {department_id!r}") from None

    def district(self, code: str) -> District:
        """The district with that GB/T 2260 code; KeyError if unknown."""
        for d in self.districts:
            if d.code == code:
                return d
        raise KeyError(f"city profile {self.id!r} has no district {code!r}")

    def condition(self, code: str, no: int) -> FilingCondition:
        """Filing condition ``no`` (立案条件) of category ``code``."""
        return self.category(code).condition(no)

    def handling_limit(self, code: str, condition_no: int = 1, urgency: Urgency = "normal") -> TimeLimit:
        """The handling limit (处置时限) of a category's condition; urgent falls back to normal."""
        return self.condition(code, condition_no).limit(urgency)

    def responsible_department(
        self, code: str, condition_no: int = 1, district_code: str | None = None
    ) -> Department:
        """The unit a case of this category and condition is dispatched to (责任单位).

        The condition's department, else the category's; for ``district_departments`` categories the
        district-level unit of the same kind in the case's district when there is one.
        """
        rule = self.category(code)
        dept = self.department(rule.condition(condition_no).department or rule.department)
        if rule.district_departments and district_code is not None:
            local = self._by_kind_district.get((dept.kind, district_code))
            if local is not None:
                return local
        return dept

    def service_categories(self) -> tuple[CategoryRule, ...]:
        """Categories published as Open311 services (``service = true``), in profile order."""
        return tuple(c for c in self.categories if c.service)

    def simulated_categories(self) -> tuple[CategoryRule, ...]:
        """Categories the simulator generates (those with a ``sim`` table)."""
        return tuple(c for c in self.categories if c.sim is not None)


def _duplicates(keys: Iterable[tuple[str, str]], what: str) -> list[ProfileIssue]:
    """Issues for repeated values: each key is (key path, value); the first occurrence wins."""
    first: dict[str, str] = {}
    issues: list[ProfileIssue] = []
    for path, value in keys:
        if value in first:
            issues.append(ProfileIssue(path, f"duplicate {what} {value!r} (first at {first[value]})"))
        else:
            first[value] = path
    return issues


def profile_issues(profile: CityProfile) -> list[ProfileIssue]:
    """Checks across the profile: references, duplicates, consistency. Empty when the profile is sound."""
    issues: list[ProfileIssue] = []
    city4 = profile.area_prefix
    if profile.is_chinese and profile.division_code is None:
        issues.append(ProfileIssue("division_code", t("profile.division_code_required", "en")))

    districts = profile.districts
    issues += _duplicates(((f"districts[{i}].code", d.code) for i, d in enumerate(districts)), "district")
    district_codes = {d.code for d in districts}
    for i, district in enumerate(districts):
        if city4 and district.code[:4] != city4:
            reason = f"{district.code} lies outside city {profile.division_code}"
            issues.append(ProfileIssue(f"districts[{i}].code", reason))

    departments = profile.departments
    issues += _duplicates(((f"departments[{i}].id", d.id) for i, d in enumerate(departments)), "id")
    dept_by_id = {d.id: d for d in departments}
    for i, dept in enumerate(departments):
        if dept.district_code is not None and dept.district_code not in district_codes:
            issues.append(
                ProfileIssue(f"departments[{i}].district_code", f"unknown district {dept.district_code!r}")
            )
    issues += _duplicates(
        (
            (f"departments[{i}].district_code", f"{d.kind} in {d.district_code}")
            for i, d in enumerate(profile.departments)
            if d.district_code is not None
        ),
        "district-level unit",
    )

    def unknown_dept(path: str, dept_id: str) -> None:
        if dept_id not in dept_by_id:
            reason = f"unknown department id {dept_id!r}; declare it under [[departments]]"
            issues.append(ProfileIssue(path, reason))

    if profile.routing.fallback_department is not None:
        unknown_dept("routing.fallback_department", profile.routing.fallback_department)
    issues += _routing_rule_issues(profile, dept_by_id, district_codes)

    categories = profile.categories
    issues += _duplicates(((f"categories[{i}].code", c.code) for i, c in enumerate(categories)), "code")
    district_kinds = {d.kind for d in profile.departments if d.district_code is not None}
    for i, cat in enumerate(categories):
        path = f"categories[{i}]"
        unknown_dept(f"{path}.department", cat.department)
        if cat.district_departments:
            # Routing looks for a district unit of the responsible department's kind; if no department
            # of this category has district units at all, the flag can never take effect.
            ids = [cat.department, *(c.department for c in cat.conditions if c.department)]
            kinds = sorted({dept_by_id[i].kind for i in ids if i in dept_by_id})
            if kinds and not district_kinds.intersection(kinds):
                issues.append(
                    ProfileIssue(
                        f"{path}.district_departments",
                        f"no district-level department of kind {' or '.join(kinds)} exists to route to",
                    )
                )
        issues += _duplicates(
            ((f"{path}.conditions[{j}].no", str(c.no)) for j, c in enumerate(cat.conditions)),
            "condition number",
        )
        for j, cond in enumerate(cat.conditions):
            if cond.department is not None:
                unknown_dept(f"{path}.conditions[{j}].department", cond.department)
            urgent = cond.limits.get("urgent")
            normal = cond.limits["normal"]
            # Only comparable without a calendar when both use the same unit.
            if urgent is not None and urgent.unit == normal.unit and urgent.amount > normal.amount:
                issues.append(
                    ProfileIssue(
                        f"{path}.conditions[{j}].limits.urgent",
                        f"urgent limit ({_fmt_limit(urgent)}) is longer than "
                        f"the normal one ({_fmt_limit(normal)})",
                    )
                )

    for i, code in enumerate(profile.simulation.districts):
        if code not in district_codes:
            issues.append(ProfileIssue(f"simulation.districts[{i}]", f"unknown district {code!r}"))
    return issues


def _routing_rule_issues(
    profile: CityProfile, dept_by_id: dict[str, Department], district_codes: set[str]
) -> list[ProfileIssue]:
    """Cross-checks of ``[[routing.rules]]``: references, and no two rules that could tie."""
    issues: list[ProfileIssue] = []
    rules = profile.routing.rules
    issues += _duplicates(
        ((f"routing.rules[{i}].id", r.id) for i, r in enumerate(rules) if r.id is not None), "rule id"
    )
    codes = {c.code for c in profile.categories}
    majors = {c.major_code for c in profile.categories}
    city4 = profile.area_prefix
    for i, rule in enumerate(rules):
        path = f"routing.rules[{i}]"
        if rule.department not in dept_by_id:
            issues.append(
                ProfileIssue(
                    f"{path}.department",
                    f"unknown department id {rule.department!r}; declare it under [[departments]]",
                )
            )
        if rule.category is not None:
            if len(rule.category) == 5 and rule.category not in codes:
                issues.append(
                    ProfileIssue(f"{path}.category", f"{rule.category} is not a category of this profile")
                )
            elif len(rule.category) == 2 and rule.category not in majors:
                issues.append(
                    ProfileIssue(
                        f"{path}.category", f"no category of this profile is in major {rule.category}"
                    )
                )
        if rule.area is not None:
            district = rule.area[:6]
            if district_codes and district not in district_codes:
                issues.append(
                    ProfileIssue(f"{path}.area", f"unknown district {district!r} in area {rule.area}")
                )
            elif not district_codes and city4 and district[:4] != city4:
                issues.append(
                    ProfileIssue(f"{path}.area", f"{rule.area} lies outside city {profile.division_code}")
                )
    as_domain = [
        ResponsibilityRule(f"routing.rules[{i}]", r.department, category=r.category, area=r.area,
                           owner=r.owner, valid_from=r.valid_from, valid_to=r.valid_to)
        for i, r in enumerate(rules)
    ]  # fmt: skip
    for i, j in find_overlaps(as_domain):
        issues.append(
            ProfileIssue(
                f"routing.rules[{j}]",
                f"overlaps routing.rules[{i}]: same category, area and owner with overlapping validity; "
                "give them disjoint valid_from/valid_to or merge them",
            )
        )
    return issues
