"""Responsibility routing (权责清单): precedence, validity, exclusions, explanations, profile checks,
and the dispatch suggestion on real cases (component owner override, re-routing after 回退)."""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources

import pytest
from sqlalchemy import and_, select

from civicloop.city.service import City
from civicloop.dispatch.service import return_counts, suggest_department
from civicloop.geo.store import components
from civicloop.kernel.vocabulary import Action
from civicloop.profile import ProfileError, load_profile_text
from civicloop.routing.core import (
    CandidateStatus,
    ComponentFacts,
    ResponsibilityRule,
    RoutingFacts,
    RuleOrigin,
    route,
)
from tests.support.domain import as_role, at

GRID = "140105001002003"
DAY = date(2026, 6, 1)


def facts(category: str = "01037", **kw: object) -> RoutingFacts:
    base: dict[str, object] = {
        "category_code": category,
        "on": DAY,
        "grid_code": GRID,
        "community_code": GRID[:12],
        "street_code": GRID[:9],
        "district_code": GRID[:6],
        "category_component_code": category if category[:2] <= "05" else None,
    }
    base.update(kw)
    return RoutingFacts(**base)  # type: ignore[arg-type]


def rule(dept: str, category: str | None = None, area: str | None = None, **kw: object) -> ResponsibilityRule:
    return ResponsibilityRule(f"rule:{dept}", dept, RuleOrigin.RULE, category, area, **kw)  # type: ignore[arg-type]


# A ladder: one rule per area level and category level, each to its own department.
LADDER = [
    rule("city-any"),
    rule("city-major", "01"),
    rule("city-exact", "01037"),
    rule("district-any", None, GRID[:6]),
    rule("district-exact", "01037", GRID[:6]),
    rule("street-major", "01", GRID[:9]),
    rule("community-any", None, GRID[:12]),
    rule("grid-any", None, GRID),
    rule("grid-major", "01", GRID),
    rule("grid-exact", "01037", GRID),
    rule("other-grid", "01037", "140105001002004"),  # another grid: not a candidate at all
    rule("other-category", "06010", GRID),
]


def test_most_specific_area_wins_then_the_most_specific_category() -> None:
    pool = list(LADDER)
    order: list[str] = []
    while pool:
        d = route(facts(), pool)
        assert d.department_id is not None
        order.append(d.department_id)
        pool = [r for r in pool if r.department_id != d.department_id]
        if d.department_id == "city-any":
            break
    assert order == [
        "grid-exact",
        "grid-major",
        "grid-any",
        "community-any",
        "street-major",
        "district-exact",
        "district-any",
        "city-exact",
        "city-major",
        "city-any",
    ]


def test_the_explanation_names_the_rule_and_why_every_other_candidate_lost() -> None:
    d = route(facts(), LADDER)
    assert d.department_id == "grid-exact" and d.decided_by is not None
    assert d.decided_by.rule.source == "rule:grid-exact"
    lost = {c.department_id: c for c in d.losers}
    assert set(lost) == {r.department_id for r in LADDER} - {"grid-exact", "other-grid", "other-category"}
    assert "exact category > major" in lost["grid-major"].reason_en
    assert "grid rule > district rule" in lost["district-exact"].reason_en
    assert "网格规则 > 全市规则" in lost["city-exact"].reason_zh
    text = d.explain("en")
    assert text.startswith("→ grid-exact, decided by rule:grid-exact (category 01037 · grid 140105001002003)")
    assert "× community-any" in text
    assert d.as_dict()["decided_by"]["area_level"] == "grid"


def test_a_components_units_override_area_rules_and_an_owner_rule_overrides_them() -> None:
    light = ComponentFacts(
        "14010501037000123", "01037", maintainer="maint", owner="power", competent="lighting"
    )
    d = route(facts(component=light), LADDER)
    assert d.department_id == "maint"  # the component's 养护 unit beats even the grid rule
    lost = {c.department_id: c for c in d.losers}
    assert "maintainer > owner > competent" in lost["power"].reason_en
    assert "component unit > grid rule" in lost["grid-exact"].reason_en
    with_owner_rule = [*LADDER, rule("power-dispatch", "01037", owner="power")]
    d2 = route(facts(component=light), with_owner_rule)
    assert d2.department_id == "power-dispatch"
    assert d2.decided_by is not None and "component owner power" in d2.explain("en").splitlines()[0]
    # An owner rule for another owner does not apply; a component of another type is not relevant.
    other = ComponentFacts("14010503005000001", "03005", maintainer="bins")
    assert route(facts(component=other), LADDER).department_id == "grid-exact"
    assert route(facts(component=light), [rule("x", "01037", owner="someone-else")]).department_id == "maint"


def test_units_that_cannot_receive_cases_are_skipped_with_a_reason() -> None:
    light = ComponentFacts("14010501037000123", "01037", maintainer="property-co", owner="lighting")
    d = route(facts(component=light), LADDER, known_departments={"lighting", "grid-exact"})
    assert d.department_id == "lighting"
    skipped = next(c for c in d.candidates if c.department_id == "property-co")
    assert skipped.status is CandidateStatus.UNKNOWN_DEPARTMENT


def test_validity_is_inclusive_from_and_exclusive_to() -> None:
    winter = rule("winter", "01037", GRID, valid_from=date(2026, 11, 1), valid_to=date(2027, 4, 1))
    pool = [winter, rule("default", "01037")]
    assert route(facts(on=date(2026, 10, 31)), pool).department_id == "default"
    assert route(facts(on=date(2026, 11, 1)), pool).department_id == "winter"
    assert route(facts(on=date(2027, 3, 31)), pool).department_id == "winter"
    d = route(facts(on=date(2027, 4, 1)), pool)
    assert d.department_id == "default"
    assert next(c for c in d.candidates if c.department_id == "winter").status is CandidateStatus.NOT_IN_FORCE


def test_a_returning_department_is_excluded_and_its_suggestion_is_considered() -> None:
    pool = [
        rule("a", "01037", GRID),
        rule("b", "01037"),
        ResponsibilityRule("fallback", "bureau", RuleOrigin.FALLBACK),
    ]
    d = route(facts(excluded={"a": "回退 returned the case 2026-06-01 10:00"}), pool)
    assert d.department_id == "b"
    assert next(c for c in d.candidates if c.department_id == "a").status is CandidateStatus.EXCLUDED
    d2 = route(facts(excluded={"a": "x", "b": "y"}, suggested_department="c"), pool)
    assert d2.department_id == "c"  # above the fallback once the rules are exhausted
    assert route(facts(excluded={"a": "x", "b": "y"}), pool).department_id == "bureau"
    assert route(facts(excluded={"a": "x", "b": "y", "bureau": "z"}), pool).department_id is None


def test_an_explicit_rule_beats_the_category_default_at_the_same_level() -> None:
    pool = [
        ResponsibilityRule("categories[7].department", "lighting", RuleOrigin.CATEGORY, "01037"),
        rule("override", "01037"),
    ]
    d = route(facts(), pool)
    assert d.department_id == "override"
    assert "explicit rule beats the category default" in d.losers[0].reason_en


# --------------------------------------------------------------------------- profile validation


def _profile_with(rule_toml: str) -> str:
    text = (
        resources.files("civicloop.profiles").joinpath("taiyuan", "profile.toml").read_text(encoding="utf-8")
    )
    return text + "\n[[routing.rules]]\n" + rule_toml


@pytest.mark.parametrize(
    ("rule_toml", "key", "reason"),
    [
        (
            'department = "ty-nobody"\ncategory = "01037"\n',
            "routing.rules[4].department",
            "unknown department",
        ),
        (
            'department = "ty-roads"\ncategory = "0103"\n',
            "routing.rules[4].category",
            "5-digit category code",
        ),
        (
            'department = "ty-roads"\ncategory = "01999"\n',
            "routing.rules[4].category",
            "not a category of this",
        ),
        ('department = "ty-roads"\narea = "14010"\n', "routing.rules[4].area", "district (6 digits)"),
        (
            'department = "ty-roads"\narea = "150105001"\n',
            "routing.rules[4].area",
            "unknown district '150105'",
        ),
        (
            'department = "ty-roads"\nvalid_from = 2026-05-01\nvalid_to = 2026-05-01\n',
            "routing.rules[4]",
            "must be before valid_to",
        ),
        (
            'department = "ty-roads"\ncategory = "10001"\narea = "140105"\nvalid_from = 2027-01-01\n',
            "routing.rules[4]",
            "overlaps routing.rules[3]",
        ),
        ('department = "ty-roads"\nowner = "Not A Unit"\n', "routing.rules[4].owner", "department id"),
        ('department = "ty-roads"\ncolour = "red"\n', "routing.rules[4].colour", "unknown key"),
    ],
)
def test_invalid_rules_fail_at_profile_load_with_file_key_and_reason(
    rule_toml: str, key: str, reason: str
) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile_text(_profile_with(rule_toml), file="taiyuan/profile.toml")
    issues = {str(i) for i in err.value.issues}
    assert any(i.startswith(key) and reason in i for i in issues), issues
    assert str(err.value).startswith("taiyuan/profile.toml")


def test_the_demo_profile_rules_load() -> None:
    text = _profile_with(
        'department = "ty-roads"\ncategory = "10001"\narea = "140105"\nvalid_from = 2027-04-01\n'
    )
    profile = load_profile_text(text)  # adjacent validity periods do not overlap
    assert len(profile.routing.rules) == 5


# --------------------------------------------------------------------------- on real cases


def _file(city: City, fields: dict[str, object], when: str = "2026-06-01 09:00") -> str:
    t = at(when)
    s = city.cases.report(as_role("inspector", "ins-1"), {"channel": "inspector", **fields}, at=t)
    city.cases.act(s.case_id, Action.ACCEPT, as_role("operator"), at=t + timedelta(minutes=1))
    city.cases.act(s.case_id, Action.FILE, as_role("shift_leader"), at=t + timedelta(minutes=2))
    return s.case_id


def _light(city: City, owner: str) -> tuple[str, float, float, str]:
    with city.engine.connect() as conn:
        r = conn.execute(
            select(components.c.component_id, components.c.lon, components.c.lat, components.c.grid_code)
            .where(
                and_(
                    components.c.city_id == city.id,
                    components.c.type_code == "01037",
                    components.c.owner_department_id == owner,
                )
            )
            .order_by(components.c.component_id)
            .limit(1)
        ).one()
    return r.component_id, r.lon, r.lat, r.grid_code


def test_dispatch_suggestion_follows_the_component_owner_and_reroutes_after_a_return(city: City) -> None:
    # A light owned by the power company (代管): the profile's power-owned-lights rule decides.
    cid, lon, lat, grid = _light(city, "ty-power")
    case_id = _file(
        city,
        {
            "category_code": "01037",
            "component_id": cid,
            "lon": lon,
            "lat": lat,
            "grid_code": grid,
            "district_code": grid[:6],
        },
    )
    state = city.cases.get(case_id)
    d = suggest_department(city, state)
    assert d.department_id == "ty-power"
    assert d.decided_by is not None and d.decided_by.rule.source == "routing.rules[0] (power-owned-lights)"
    lost = {c.rule.source: c for c in d.losers}
    assert lost["categories[7].department"].department_id == "ty-lighting"
    # Dispatched there, returned (回退) with a suggestion, approved: the next suggestion excludes it.
    t = at("2026-06-01 09:10")
    city.cases.act(case_id, Action.DISPATCH, as_role("dispatcher"), {"department_id": "ty-power"}, at=t)
    handler = as_role("department", "p-1", department="ty-power")
    city.cases.act(
        case_id,
        Action.REQUEST_RETURN,
        handler,
        {"note": "非我单位维护", "suggested_department_id": "ty-roads"},
        at=t + timedelta(minutes=20),
    )
    city.cases.act(case_id, Action.APPROVE_RETURN, as_role("dispatcher"), at=t + timedelta(minutes=30))
    again = city.cases.get(case_id)
    assert again.wrong_dispatch_count == 1
    d2 = suggest_department(city, again)
    assert d2.department_id == "ty-lighting"  # the light's 主管 unit, next after its owner and maintainer
    excluded = [c for c in d2.candidates if c.status is CandidateStatus.EXCLUDED]
    assert {c.department_id for c in excluded} == {"ty-power"} and len(
        excluded
    ) == 3  # rule, maintainer, owner
    assert "回退" in excluded[0].reason_zh and "2026-06-01 09:40" in excluded[0].reason_zh  # local time
    assert any(
        c.rule.origin is RuleOrigin.RETURN_SUGGESTION and c.department_id == "ty-roads" for c in d2.losers
    )
    assert return_counts(city) == {"ty-power": 1}


def test_an_ordinary_light_goes_to_its_maintainer_and_a_street_rule_beats_the_district_unit(
    city: City,
) -> None:
    cid, lon, lat, grid = _light(city, "ty-lighting")
    d = suggest_department(
        city,
        city.cases.get(
            _file(
                city,
                {"category_code": "01037", "component_id": cid, "lon": lon, "lat": lat, "grid_code": grid},
            )
        ),
    )
    assert d.department_id == "ty-lighting" and d.decided_by is not None
    assert (
        d.decided_by.rule.origin is RuleOrigin.COMPONENT and d.decided_by.rule.component_role == "maintainer"
    )
    # Public toilets in 坞城街道 (140105001): the street rule beats the district sanitation unit.
    toilet = _file(
        city,
        {
            "category_code": "03001",
            "lon": 112.56,
            "lat": 37.82,
            "grid_code": "140105001001001",
            "street_code": "140105001",
            "district_code": "140105",
        },
    )
    d2 = suggest_department(city, city.cases.get(toilet))
    assert d2.department_id == "ty-sanitation"
    unit = next(c for c in d2.losers if c.department_id == "ty-xiaodian-sanitation")
    assert "street rule > district rule" in unit.reason_en
    # Elsewhere in 小店区 the district unit receives them.
    other = _file(
        city,
        {
            "category_code": "03001",
            "lon": 112.56,
            "lat": 37.82,
            "district_code": "140105",
            "street_code": "140105002",
        },
    )
    assert suggest_department(city, city.cases.get(other)).department_id == "ty-xiaodian-sanitation"
