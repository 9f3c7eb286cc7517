"""Profiles of cities outside China and of cities with their own service lists: the division code only
where the country needs it, free-text department kinds with a standard kind, local categories mapped to
national codes, and the service-list parser's refusals (file, row, reason)."""

from __future__ import annotations

import pytest

from civicloop.profile import ProfileError, load_profile, parse_profile
from civicloop.profile.taxonomy import TaxonomyError, local_codes, parse_taxonomy


def _data(**changes: object) -> dict[str, object]:
    base = load_profile("sample-en").model_dump(mode="json", exclude_none=True)
    base.update(changes)
    return base


def test_the_division_code_is_required_only_for_a_city_in_china() -> None:
    assert parse_profile(_data()).division_code is None
    with pytest.raises(ProfileError) as info:
        parse_profile(_data(country="CN"))
    assert [i.key for i in info.value.issues] == ["division_code"]
    data = _data()
    del data["country"]
    data["default_locale"] = "zh-CN"  # no country: a Chinese-language profile is a Chinese city's
    with pytest.raises(ProfileError, match="division_code"):
        parse_profile(data)


def test_department_kinds_are_free_text_with_an_optional_standard_kind() -> None:
    profile = load_profile("sample-en")
    works = profile.department("sample-en-pw")
    assert (works.kind, works.standard) == ("public_works", "roads_bridges")
    assert profile.department("sample-en-sa").standard == "sanitation"  # a standard kind is its own
    depts = [
        d | {"standard_kind": "bakery"} if d["id"] == "sample-en-pw" else d for d in _data()["departments"]
    ]  # type: ignore[attr-defined]
    with pytest.raises(ProfileError) as info:
        parse_profile(_data(departments=depts))
    assert info.value.key == "departments[1].standard_kind"


def test_a_national_code_maps_only_local_categories_to_national_matters() -> None:
    profile = load_profile("sample-en")
    assert profile.category("11001").reporting_code == "06013"
    assert profile.category("12001").reporting_code is None  # graffiti: no national matter given
    cats = _data()["categories"]
    bad = [cats[0] | {"national_code": "99999"}, *cats[1:]]  # type: ignore[index]
    with pytest.raises(ProfileError) as info:
        parse_profile(_data(categories=bad))
    assert info.value.key == "categories[0].national_code" and "99999" in info.value.reason


@pytest.mark.parametrize(
    ("text", "file", "row", "words"),
    [
        ("service_code,service_name\nA,x\n,y\n", "s.csv", 3, "service_code: is missing"),
        ("service_code,service_name,gbt_code\nA,x,12345\n", "s.csv", 2, "gbt_code: 12345 is not"),
        ("service_code,service_name,limit_hours\nA,x,-3\n", "s.csv", 2, "limit_hours: must be"),
        ('[{"service_code": "A"}]', "s.json", 1, "service_name: is missing"),
        ("<services><service><service_code>A</service_code><service_name>x</service_name></service>"
         "<service><service_code>A</service_code><service_name>y</service_name></service></services>",
         "s.xml", 2, "duplicate service code A (first at row 1)"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><services/>', "s.xml", 0, "DOCTYPE"),
        ("{}", "s.json", 0, "not a service list"),
        ("a;b", "s.txt", 0, "unknown service list format .txt"),
    ],
)  # fmt: skip
def test_a_bad_service_list_names_file_row_and_reason(text: str, file: str, row: int, words: str) -> None:
    with pytest.raises(TaxonomyError) as info:
        parse_taxonomy(text, file)
    assert info.value.file == file and info.value.row == row and words in str(info.value)


def test_services_get_local_codes_by_group_and_national_codes_stay() -> None:
    services = parse_taxonomy(
        "service_code,service_name,group\nP,Pothole,Streets\nT,Trash,Sanitation\nS,Sidewalk,Streets\n"
        "06010,Exposed trash,Sanitation\n",
        "s.csv",
    )
    assert local_codes(services) == {"P": "11001", "T": "12001", "S": "11002", "06010": "06010"}
