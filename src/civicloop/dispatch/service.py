"""Routing service: the responsibility list (权责清单) of the profile applied to a case.

:func:`suggest_department` is what dispatch (派遣) asks: it gathers the case's facts — category and
filing condition, area codes, the component and its 养护/权属/主管 units, the departments that returned
the case (回退) and what they suggested — and calls the pure :func:`civicloop.routing.core.route`,
which returns the department with the full explanation. A re-routing after a return is logged; the
domain already counts the wrong dispatch (``wrong_dispatch_count``) when the return is approved, and
:func:`return_counts` counts approved returns per department from the event log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.assets.service import get_component
from civicloop.cases.core import CaseState
from civicloop.city.service import City
from civicloop.kernel.i18n import t
from civicloop.kernel.vocabulary import Action
from civicloop.profile.models import CityProfile
from civicloop.routing.core import (
    ComponentFacts,
    ResponsibilityRule,
    RoutingDecision,
    RoutingFacts,
    RuleOrigin,
    route,
)

__all__ = [
    "Return",
    "explicit_rules",
    "implicit_rules",
    "return_counts",
    "returns_of",
    "route_report",
    "suggest_department",
    "suggestion_words",
]

log = logging.getLogger("civicloop.routing")


def explicit_rules(profile: CityProfile) -> list[ResponsibilityRule]:
    """The profile's ``[[routing.rules]]`` as domain rules (``source`` names the entry)."""
    out = []
    for i, r in enumerate(profile.routing.rules):
        source = f"routing.rules[{i}]" + (f" ({r.id})" if r.id else "")
        out.append(
            ResponsibilityRule(
                source, r.department, RuleOrigin.RULE, r.category, r.area, r.owner, r.valid_from, r.valid_to
            )
        )
    return out


def implicit_rules(
    profile: CityProfile, category_code: str | None, condition_no: int | None, district_code: str | None
) -> list[ResponsibilityRule]:
    """The category's default department (or its filing condition's), its district unit for
    ``district_departments`` categories, and the profile's fallback department."""
    out: list[ResponsibilityRule] = []
    index = {c.code: i for i, c in enumerate(profile.categories)}
    if category_code is not None and category_code in index:
        i = index[category_code]
        rule = profile.categories[i]
        source, dept_id = f"categories[{i}].department", rule.department
        for j, cond in enumerate(rule.conditions):
            if cond.no == (condition_no or 1) and cond.department:
                source, dept_id = f"categories[{i}].conditions[{j}].department", cond.department
        out.append(ResponsibilityRule(source, dept_id, RuleOrigin.CATEGORY, category_code))
        if rule.district_departments and district_code:
            kind = profile.department(dept_id).kind
            local = next(
                (d for d in profile.departments if d.kind == kind and d.district_code == district_code), None
            )
            if local is not None:
                out.append(
                    ResponsibilityRule(
                        f"categories[{i}].district_departments", local.id, RuleOrigin.DISTRICT_UNIT,
                        category_code, district_code[:6],
                    )
                )  # fmt: skip
    if profile.routing.fallback_department:
        out.append(
            ResponsibilityRule("routing.fallback_department", profile.routing.fallback_department,
                               RuleOrigin.FALLBACK)
        )  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class Return:
    """One approved 回退: who returned the case, when, and what they suggested."""

    department_id: str
    at: datetime
    suggested_department_id: str | None


def returns_of(city: City, case_id: str) -> list[Return]:
    """The case's approved returns, oldest first (from its events)."""
    with city.store.read() as conn:
        evs = city.store.events(conn, city.id, case_id)
    out: list[Return] = []
    suggested: str | None = None
    for e in evs:
        if e.action is Action.REQUEST_RETURN:
            pending = e.data.get("pending") or {}
            suggested = pending.get("suggested_department_id")
        elif e.action is Action.APPROVE_RETURN and e.data.get("returned_from"):
            out.append(Return(str(e.data["returned_from"]), e.at, suggested))
            suggested = None
    return out


def _local(city: City, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(city.profile.timezone))


def _component_facts(city: City, component_id: str | None) -> ComponentFacts | None:
    if not component_id:
        return None
    comp = get_component(city, component_id)
    if comp is None:
        return None
    return ComponentFacts(comp.component_id, comp.type_code, comp.maintainer, comp.owner, comp.competent)


def route_report(
    city: City,
    fields: Mapping[str, Any],
    *,
    on: date,
    condition_no: int | None = None,
    excluded: Mapping[str, str] | None = None,
    suggested_department: str | None = None,
) -> RoutingDecision:
    """Route from report-like fields (category_code, area codes, component_id): e.g. to show the
    likely department on the report form, before a case exists."""
    code = fields.get("category_code")
    comp_code = None
    if code:
        try:
            comp_code = city.profile.category(str(code)).component_code
        except KeyError:
            comp_code = None
    facts = RoutingFacts(
        category_code=str(code) if code else None,
        on=on,
        grid_code=fields.get("grid_code"),
        community_code=fields.get("community_code"),
        street_code=fields.get("street_code"),
        district_code=fields.get("district_code"),
        component=_component_facts(city, fields.get("component_id")),
        category_component_code=comp_code,
        excluded=dict(excluded or {}),
        suggested_department=suggested_department,
    )
    rules = explicit_rules(city.profile) + implicit_rules(
        city.profile, facts.category_code, condition_no, facts.district_code
    )
    return route(facts, rules, known_departments=(d.id for d in city.profile.departments))


def suggest_department(
    city: City, state: CaseState, *, on: date | None = None, exclude: Iterable[str] = ()
) -> RoutingDecision:
    """The department dispatch should send the case to, with the explanation (``decision.explain()``).

    Departments that returned the case (approved 回退) are excluded, as are those in ``exclude``; the
    suggestion of the last returning department is a candidate just above the fallback. ``on``: the
    day whose rules apply (default: the local date of the case's last event).
    """
    returns = returns_of(city, state.case_id) if state.wrong_dispatch_count or state.dispatch_count else []
    excluded: dict[str, str] = {}
    for r in returns:
        returned = f"{t('routing.excluded_returned', 'zh-CN')} {t('routing.excluded_returned', 'en')}"
        excluded[r.department_id] = f"{returned} {_local(city, r.at):%Y-%m-%d %H:%M}"
    for dept in exclude:
        excluded.setdefault(
            dept,
            f"{t('routing.excluded_by_dispatcher', 'zh-CN')} {t('routing.excluded_by_dispatcher', 'en')}",
        )
    day = on or _local(city, state.updated_at).date()
    decision = route_report(
        city,
        {
            "category_code": state.category_code,
            "grid_code": state.grid_code,
            "community_code": state.community_code,
            "street_code": state.street_code,
            "district_code": state.district_code,
            "component_id": state.component_id,
        },
        on=day,
        condition_no=state.condition_no,
        excluded=excluded,
        suggested_department=returns[-1].suggested_department_id if returns else None,
    )
    if returns:
        log.info(
            "re-routing %s after %d return(s) from %s → %s",
            state.case_id, len(returns), ", ".join(r.department_id for r in returns), decision.department_id,
        )  # fmt: skip
    return decision


def return_counts(city: City, since: datetime | None = None, until: datetime | None = None) -> dict[str, int]:
    """Approved returns (回退, i.e. wrong dispatches) per returning department, from the event log."""
    counts: Counter[str] = Counter()
    with city.store.read() as conn:
        for data in city.store.event_data(conn, city.id, Action.APPROVE_RETURN.value, since, until):
            dept = data.get("returned_from")
            if dept:
                counts[dept] += 1
    return dict(sorted(counts.items()))


def suggestion_words(decision: RoutingDecision, profile: CityProfile, locale: str = "zh-CN") -> str:
    """The suggestion in words a dispatcher reads ("建议派往 小店区环境卫生服务中心：该类别由案发地所在区的
    区级单位承办（小店区）"), not the profile's rule paths; :meth:`RoutingDecision.explain` keeps those."""
    d = decision.decided_by
    if d is None or decision.department_id is None:
        return t("dispatch.words.none", locale)
    en = locale.startswith("en")

    def dept(dept_id: str) -> str:
        try:
            x = profile.department(dept_id)
        except KeyError:
            return dept_id
        return (x.name_en or x.name) if en else x.name

    rule = d.rule
    category = ""
    if rule.category and len(rule.category) == 5:
        try:
            c = profile.category(rule.category)
            category = f"{c.code} {(c.name_en or c.name) if en else c.name}"
        except KeyError:
            category = rule.category
    district = ""
    if rule.area:
        found = next((x for x in profile.districts if x.code == rule.area[:6]), None)
        district = ((found.name_en or found.name) if en else found.name) if found else rule.area
    why = t(f"dispatch.words.{rule.origin.value}", locale, category=category or "—", district=district or "—",
            role=rule.component_role or "", rule=rule.source)  # fmt: skip
    return t("dispatch.words.head", locale, department=dept(decision.department_id), why=why)
