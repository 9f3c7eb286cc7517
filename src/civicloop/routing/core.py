"""Responsibility routing (权责清单): which department a case goes to, and why.

Pure: the rules and the facts of the case are arguments, nothing is read. :func:`route` returns the
department together with an explanation — the rule that decided and every other candidate with the
reason it lost — so a dispatcher can see why the system suggests a unit and a 回退 (return) can be
traced to the rule that was wrong.

Precedence (most specific wins), compared in this order:

1. **Component owner override.** For a case about a component (部件) whose type is the category's
   component type: first the profile's rules that name the component's owner (``owner = …``), then
   the component's own units — 养护 maintainer, 权属 owner, 主管 competent department, in that order —
   when they are departments of the city.
2. **Area**: grid (15 characters) > community (12) > street (9) > district (6) > city-wide.
3. **Category** within the same area level: exact 5-digit code > 2-digit major > any category.
4. An explicit ``[[routing.rules]]`` entry beats the profile's category default at an equal level (the
   category's department is a city-wide exact-category rule, its district unit for
   ``district_departments`` categories a district-level one).
5. The returning department's suggestion (``suggested_department_id`` of a 回退 request), then the
   profile's ``routing.fallback_department``.

A rule is in force on day ``d`` when ``valid_from <= d < valid_to`` (``valid_to`` is exclusive; either
may be open). Departments that returned the case (回退) are excluded: the next candidate wins. Two
explicit rules with the same key and overlapping validity are refused when the profile is loaded, so a
tie cannot happen with a valid profile; should one happen anyway, profile order decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from civicloop.kernel.i18n import Msg, normalise_locale, t
from civicloop.kernel.i18n import has as i18n_has

__all__ = [
    "AREA_LEVELS",
    "Candidate",
    "CandidateStatus",
    "ComponentFacts",
    "ResponsibilityRule",
    "RoutingDecision",
    "RoutingFacts",
    "RuleOrigin",
    "route",
]

#: Length of an area code prefix → its level.
AREA_LEVELS: Mapping[int, str] = {0: "city", 6: "district", 9: "street", 12: "community", 15: "grid"}


class RuleOrigin(StrEnum):
    RULE = "rule"  # an explicit [[routing.rules]] entry
    COMPONENT = "component"  # the component's own unit (养护/权属/主管)
    CATEGORY = "category"  # the category's (or its filing condition's) department
    DISTRICT_UNIT = "district_unit"  # the district-level unit of a district_departments category
    RETURN_SUGGESTION = "return_suggestion"  # suggested by the department that returned the case
    FALLBACK = "fallback"  # routing.fallback_department


class CandidateStatus(StrEnum):
    CHOSEN = "chosen"
    OUTRANKED = "outranked"
    EXCLUDED = "excluded"  # the department returned this case (回退)
    NOT_IN_FORCE = "not_in_force"
    UNKNOWN_DEPARTMENT = "unknown_department"


@dataclass(frozen=True, slots=True)
class ResponsibilityRule:
    """One line of the responsibility list: (category, area, owner) → department, with a validity.

    ``category``: a 5-digit matter code, a 2-digit major, or None (any). ``area``: a code prefix of 6
    (district), 9 (street), 12 (community) or 15 (grid) characters, or None (city-wide). ``owner``: the
    rule applies only to cases about a component with that 权属 owner. ``source`` says where the rule
    comes from (``routing.rules[2]``, ``categories[7].department``) for the explanation.
    """

    source: str
    department_id: str
    origin: RuleOrigin = RuleOrigin.RULE
    category: str | None = None
    area: str | None = None
    owner: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    component_role: str | None = None  # maintainer | owner | competent, for RuleOrigin.COMPONENT

    @property
    def area_level(self) -> str:
        return AREA_LEVELS.get(len(self.area or ""), "city")

    @property
    def category_level(self) -> str:
        if self.category is None:
            return "any"
        return "major" if len(self.category) == 2 else "exact"

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on < self.valid_to
        )

    def applies_to(self, facts: RoutingFacts) -> bool:
        """Category, area and owner match the case (validity is judged separately)."""
        if self.category is not None:
            code = facts.category_code or ""
            if not code.startswith(self.category) or (len(self.category) == 5 and code != self.category):
                return False
        if self.area is not None and not facts.area_code.startswith(self.area):
            return False
        if self.owner is not None:
            comp = facts.relevant_component
            if comp is None or comp.owner != self.owner:
                return False
        return True


@dataclass(frozen=True, slots=True)
class ComponentFacts:
    """The component (部件) a case is about, with its responsible units (GB/T 47678.5 表2)."""

    component_id: str
    type_code: str
    maintainer: str | None = None  # 养护单位
    owner: str | None = None  # 权属单位
    competent: str | None = None  # 主管部门


@dataclass(frozen=True, slots=True)
class RoutingFacts:
    """What routing needs to know about a case.

    ``category_component_code`` is the component type the case's category is about (matter 01037 路灯异常
    → component 01037 路灯), None for matters that are not about a component. ``excluded`` maps a
    department to the reason it may not receive the case (it returned it). ``suggested_department`` is
    the suggestion of the department that returned it, if any.
    """

    category_code: str | None
    on: date
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None
    component: ComponentFacts | None = None
    category_component_code: str | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)
    suggested_department: str | None = None

    @property
    def area_code(self) -> str:
        """The most specific area code the case has ('' when it has none)."""
        for code in (self.grid_code, self.community_code, self.street_code, self.district_code):
            if code:
                return code
        return ""

    @property
    def relevant_component(self) -> ComponentFacts | None:
        """The component, if the case's category is about components of its type."""
        c = self.component
        if c is None or self.category_component_code is None:
            return None
        return c if c.type_code == self.category_component_code else None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A department that could receive the case, the rule that proposes it, and how it fared."""

    department_id: str
    rule: ResponsibilityRule
    rank: tuple[int, int, int, int]
    status: CandidateStatus
    reason_zh: str = ""
    reason_en: str = ""

    def describe(self, locale: str = "zh-CN") -> str:
        return describe_rule(self.rule, locale)

    def as_dict(self) -> dict[str, Any]:
        r = self.rule
        return {
            "department_id": self.department_id,
            "source": r.source,
            "origin": r.origin.value,
            "category": r.category,
            "area": r.area,
            "area_level": "component" if r.origin is RuleOrigin.COMPONENT or r.owner else r.area_level,
            "category_level": r.category_level,
            "owner": r.owner,
            "valid_from": r.valid_from.isoformat() if r.valid_from else None,
            "valid_to": r.valid_to.isoformat() if r.valid_to else None,
            "status": self.status.value,
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """The department (None when no candidate is left) and the explanation."""

    department_id: str | None
    decided_by: Candidate | None
    candidates: tuple[Candidate, ...]

    @property
    def losers(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.status is not CandidateStatus.CHOSEN)

    def explain(self, locale: str = "zh-CN") -> str:
        """One paragraph: the decision, then every losing candidate and why."""
        en = normalise_locale(locale) == "en"
        if self.decided_by is None:
            head = t("routing.explain.none", locale)
        else:
            d = self.decided_by
            rule = describe_rule(d.rule, locale)
            head = t(
                "routing.explain.decided", locale, department=d.department_id, source=d.rule.source, rule=rule
            )
        lines = [head]
        for c in self.losers:
            why = c.reason_en if en else c.reason_zh
            lines.append(f"  × {c.department_id}  {c.rule.source} ({describe_rule(c.rule, locale)}): {why}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "department_id": self.department_id,
            "decided_by": self.decided_by.as_dict() if self.decided_by else None,
            "candidates": [c.as_dict() for c in self.candidates],
            "explanation_zh": self.explain("zh-CN"),
            "explanation_en": self.explain("en"),
        }


_COMPONENT_ROLE = {"maintainer": 3, "owner": 2, "competent": 1}
_CATEGORY_RANK = {"exact": 2, "major": 1, "any": 0}


def _rank(rule: ResponsibilityRule) -> tuple[int, int, int, int]:
    """Comparable specificity: (tier, area length, category level, explicitness)."""
    cat = _CATEGORY_RANK[rule.category_level]
    area = len(rule.area or "")
    if rule.origin is RuleOrigin.RULE:
        return (3, area, cat, 1) if rule.owner is not None else (1, area, cat, 1)
    if rule.origin is RuleOrigin.COMPONENT:
        return (2, 0, 0, _COMPONENT_ROLE.get(rule.component_role or "", 0))
    if rule.origin in (RuleOrigin.CATEGORY, RuleOrigin.DISTRICT_UNIT):
        return (1, area, cat, 0)
    if rule.origin is RuleOrigin.RETURN_SUGGESTION:
        return (0, 0, 0, 1)
    return (0, 0, 0, 0)


def describe_rule(rule: ResponsibilityRule, locale: str = "zh-CN") -> str:
    """'部件权属 ty-power · 类别 01037 · 全市' / 'component owner ty-power · category 01037 · city-wide'."""
    if rule.origin is RuleOrigin.COMPONENT:
        role = rule.component_role or ""
        label = (
            t(f"routing.component_role.{role}", locale)
            if i18n_has(f"routing.component_role.{role}")
            else role
        )
        return t("routing.rule.component", locale, role=label)
    if rule.origin is RuleOrigin.RETURN_SUGGESTION:
        return t("routing.rule.return_suggestion", locale)
    if rule.origin is RuleOrigin.FALLBACK:
        return t("routing.rule.fallback", locale)
    parts: list[str] = []
    if rule.owner is not None:
        parts.append(t("routing.rule.owner", locale, owner=rule.owner))
    level = rule.category_level
    if level == "exact":
        parts.append(t("routing.rule.category", locale, category=rule.category))
    elif level == "major":
        parts.append(t("routing.rule.major", locale, category=rule.category))
    else:
        parts.append(t("routing.rule.any_category", locale))
    if rule.area:
        level_name = t(f"routing.area.{rule.area_level}", locale)
        parts.append(t("routing.area_value", locale, level=level_name, area=rule.area))
    else:
        parts.append(t("routing.area.city", locale))
    if rule.valid_from or rule.valid_to:
        a = rule.valid_from.isoformat() if rule.valid_from else "…"
        b = rule.valid_to.isoformat() if rule.valid_to else "…"
        parts.append(t("routing.rule.valid", locale, start=a, end=b))
    return " · ".join(parts)


def _tier_label(rank: tuple[int, int, int, int]) -> Msg:
    tier, area, _cat, explicit = rank
    if tier == 3:
        return Msg("routing.tier.component_owner_rule")
    if tier == 2:
        return Msg("routing.tier.component_unit")
    if tier == 1:
        return Msg("routing.tier.area_rule", level=Msg(f"routing.area.{AREA_LEVELS.get(area, 'city')}"))
    if explicit:
        return Msg("routing.tier.return_suggestion")
    return Msg("routing.tier.fallback")


_CATEGORY_LEVEL_NAMES = {2: "exact", 1: "major", 0: "any"}


def _why_outranked(loser: Candidate, winner: Candidate) -> Msg:
    a, b = winner.rank, loser.rank
    src = winner.rule.source
    why: Msg
    if a[0] != b[0] or (a[0] == 1 and a[1] != b[1]):
        why = Msg("routing.why.outranked", source=src, winner=_tier_label(a), loser=_tier_label(b))
    elif a[1] != b[1]:
        why = Msg("routing.why.more_specific_area", source=src)
    elif a[2] != b[2]:
        winner_level = Msg(f"routing.category_level.{_CATEGORY_LEVEL_NAMES[a[2]]}")
        loser_level = Msg(f"routing.category_level.{_CATEGORY_LEVEL_NAMES[b[2]]}")
        why = Msg("routing.why.outranked", source=src, winner=winner_level, loser=loser_level)
    elif a[3] != b[3]:
        why = Msg("routing.why.component_roles" if a[0] == 2 else "routing.why.explicit_rule", source=src)
    else:
        why = Msg("routing.why.tie", source=src)
    if loser.department_id == winner.department_id:
        why = Msg("routing.why.same_department", why=why)
    return why


def _texts(msg: Msg) -> tuple[str, str]:
    return msg.render("zh-CN"), msg.render("en")


def _component_rules(facts: RoutingFacts) -> list[ResponsibilityRule]:
    comp = facts.relevant_component
    if comp is None:
        return []
    out: list[ResponsibilityRule] = []
    for role in ("maintainer", "owner", "competent"):
        dept = getattr(comp, role)
        if dept:
            out.append(
                ResponsibilityRule(
                    f"component {comp.component_id}.{role}",
                    dept,
                    RuleOrigin.COMPONENT,
                    facts.category_code,
                    component_role=role,
                )
            )
    return out


def route(
    facts: RoutingFacts,
    rules: Iterable[ResponsibilityRule],
    *,
    known_departments: Iterable[str] | None = None,
) -> RoutingDecision:
    """The department for a case and why (see the module doc for the precedence).

    ``rules``: the profile's explicit rules and the implicit ones of the case's category (its
    department, its district unit) and the fallback; the component's units are added here from
    ``facts.component``. ``known_departments``: ids a case may be dispatched to (the component's units
    outside this set, e.g. a private property manager, cannot receive a case and are listed as such).
    """
    known = frozenset(known_departments) if known_departments is not None else None
    pool: list[ResponsibilityRule] = list(rules) + _component_rules(facts)
    if facts.suggested_department:
        pool.append(
            ResponsibilityRule("return request", facts.suggested_department, RuleOrigin.RETURN_SUGGESTION)
        )
    applicable = [(i, r) for i, r in enumerate(pool) if r.applies_to(facts)]
    # Highest rank first; equal ranks keep pool (profile) order.
    applicable.sort(key=lambda ir: (tuple(-x for x in _rank(ir[1])), ir[0]))
    candidates: list[Candidate] = []
    winner: Candidate | None = None
    for _, rule in applicable:
        rank = _rank(rule)
        dept = rule.department_id
        if not rule.in_force(facts.on):
            candidates.append(
                Candidate(
                    dept, rule, rank, CandidateStatus.NOT_IN_FORCE,
                    *_texts(Msg("routing.why.not_in_force", on=facts.on.isoformat())),
                )
            )  # fmt: skip
            continue
        if known is not None and dept not in known:
            candidates.append(
                Candidate(
                    dept, rule, rank, CandidateStatus.UNKNOWN_DEPARTMENT,
                    *_texts(Msg("routing.why.unknown_department")),
                )
            )  # fmt: skip
            continue
        if dept in facts.excluded:
            why = facts.excluded[dept]
            candidates.append(
                Candidate(
                    dept, rule, rank, CandidateStatus.EXCLUDED,
                    *_texts(Msg("routing.why.excluded", why=why)),
                )
            )  # fmt: skip
            continue
        if winner is None:
            winner = Candidate(dept, rule, rank, CandidateStatus.CHOSEN)
            candidates.append(winner)
            continue
        probe = Candidate(dept, rule, rank, CandidateStatus.OUTRANKED)
        zh, en = _texts(_why_outranked(probe, winner))
        candidates.append(Candidate(dept, rule, rank, CandidateStatus.OUTRANKED, zh, en))
    return RoutingDecision(winner.department_id if winner else None, winner, tuple(candidates))


def overlapping(a: ResponsibilityRule, b: ResponsibilityRule) -> bool:
    """Same key (category, area, owner) and overlapping validity: an ambiguous pair of rules."""
    if (a.category, a.area, a.owner) != (b.category, b.area, b.owner):
        return False
    a_end = a.valid_to or date.max
    b_end = b.valid_to or date.max
    a_start = a.valid_from or date.min
    b_start = b.valid_from or date.min
    return a_start < b_end and b_start < a_end


def find_overlaps(rules: Sequence[ResponsibilityRule]) -> list[tuple[int, int]]:
    """Index pairs (i < j) of rules that overlap (see :func:`overlapping`)."""
    by_key: dict[tuple[str | None, str | None, str | None], list[int]] = {}
    for i, r in enumerate(rules):
        by_key.setdefault((r.category, r.area, r.owner), []).append(i)
    out: list[tuple[int, int]] = []
    for idx in by_key.values():
        for x in range(len(idx)):
            for y in range(x + 1, len(idx)):
                if overlapping(rules[idx[x]], rules[idx[y]]):
                    out.append((idx[x], idx[y]))
    return out
