"""The national category directory (管理部件和事项目录) and the city profile (城市配置)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from pydantic import ValidationError

from civicloop.kernel.clock import TimeLimit, TimeUnit
from civicloop.profile import (
    CityProfile,
    ProfileError,
    bundled_profiles,
    load_profile,
    load_profile_text,
)
from civicloop.profile.categories import national_directory

# What the seed article says the loop handles (see shared/seed/README.md).
SEED_CATEGORIES = {
    "06013": "道路破损",
    "06010": "暴露垃圾",
    "06041": "垃圾未分类",
    "07006": "违规牌匾标识",
    "08007": "施工工地围挡问题",
    "09006": "占道经营",
    "06029": "露天烧烤",
    "09011": "共享单车乱象",
    "03001": "公共厕所异常",
    "01037": "路灯异常",
}

MINIMAL = """\
id = "demo"
name = "演示市"
case_prefix = "DM"
division_code = "140100"

[[districts]]
code = "140105"
name = "小店区"

[[departments]]
id = "sanitation"
name = "市环卫中心"
kind = "sanitation"

[[departments]]
id = "xiaodian-sanitation"
name = "小店区环卫中心"
kind = "sanitation"
district_code = "140105"

[[categories]]
code = "06010"
department = "sanitation"
district_departments = true

  [[categories.conditions]]
  no = 1
  filing = "主次干道成堆垃圾"
  closing = "彻底清理"
  limits = { normal = { amount = 4, unit = "work_hour" } }
"""

SECOND_CATEGORY = """
[[categories]]
code = "06042"
department = "sanitation"

  [[categories.conditions]]
  no = 1
  filing = "垃圾满溢"
  closing = "清运完毕"
  limits = { normal = { amount = 2, unit = "work_hour" } }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ProfileError:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    return info.value


# --- the national directory -----------------------------------------------------------------------


def test_directory_has_153_components_and_250_matters() -> None:
    directory = national_directory()
    assert len(directory.components()) == 153
    assert len(directory.matters()) == 250
    assert len(directory) == 403


def test_component_and_matter_share_a_code_but_not_a_name() -> None:
    directory = national_directory()
    assert directory.get("component", "01001").name == "供水井盖"
    matter = directory.get("matter", "01001")
    assert (matter.name, matter.major_code, matter.major_name) == ("供水井盖异常", "01", "市政公用设施类")
    assert ("matter", "06010") in directory
    assert ("component", "06010") not in directory  # events have no component
    assert "01001" in directory
    assert [c.kind for c in directory.find("01037")] == ["component", "matter"]


def test_directory_keeps_leading_zeros_and_knows_its_gaps() -> None:
    directory = national_directory()
    assert all(len(c.code) == 5 and c.code.isdigit() for c in directory)
    with pytest.raises(KeyError, match="09007"):
        directory.get("matter", "09007")  # missing from the transcription
    assert [m.code for m in directory.majors("matter")] == [f"{n:02d}" for n in range(1, 11)]
    assert not directory.is_national_major("11")


# --- the shipped profile --------------------------------------------------------------------------


def test_shipped_profile_loads() -> None:
    assert "taiyuan" in bundled_profiles()
    profile = load_profile("taiyuan")
    assert (profile.id, profile.case_prefix, profile.division_code) == ("taiyuan", "TY", "140100")
    assert profile.timezone == "Asia/Shanghai"
    assert len(profile.categories) >= 45
    assert len(profile.departments) >= 20
    assert profile.calendar.minutes_per_workday == 480
    assert profile.step_limits.verify == TimeLimit(0.5, TimeUnit.WORK_HOUR)


def test_shipped_profile_has_the_seed_article_categories() -> None:
    profile = load_profile("taiyuan")
    for code, name in SEED_CATEGORIES.items():
        assert profile.category(code).name == name


def test_every_category_is_a_real_matter_or_a_declared_local_one() -> None:
    directory = national_directory()
    for rule in load_profile("taiyuan").categories:
        assert rule.kind == "matter"
        if rule.local:
            assert not directory.find(rule.code)
            assert not directory.is_national_major(rule.major_code)
        else:
            matter = directory.get("matter", rule.code)
            assert (rule.name, rule.major_code, rule.major_name) == (
                matter.name,
                matter.major_code,
                matter.major_name,
            )


def test_every_simulated_category_has_realistic_texts() -> None:
    sim = load_profile("taiyuan").simulated_categories()
    assert len(sim) >= 45
    for rule in sim:
        assert rule.sim is not None
        assert len(rule.sim.texts) >= 3, rule.code
        assert all(len(text) >= 8 for text in rule.sim.texts), rule.code


def test_shipped_calendar_overrides_agree_with_chinese_calendar() -> None:
    calendar = load_profile("taiyuan").calendar
    assert calendar.override_map()  # the example entries are there
    for day, workday in calendar.override_map().items():
        assert chinese_calendar.is_workday(day) is workday, day


def test_handling_limit_falls_back_to_normal() -> None:
    profile = load_profile("taiyuan")
    # 01001 condition 2 (loose cover) has no urgent limit; condition 1 (missing cover) has one.
    normal = profile.handling_limit("01001", 2, "normal")
    assert profile.handling_limit("01001", 2, "urgent") == normal == TimeLimit(3, TimeUnit.WORK_DAY)
    assert profile.handling_limit("01001", 1, "urgent") == TimeLimit(2, TimeUnit.NATURAL_HOUR)


def test_lookups_name_what_is_missing() -> None:
    profile = load_profile("taiyuan")
    with pytest.raises(KeyError, match="99999"):
        profile.category("99999")
    with pytest.raises(KeyError, match="no filing condition 9"):
        profile.condition("06010", 9)
    with pytest.raises(KeyError, match="nobody"):
        profile.department("nobody")


def test_district_categories_route_to_the_district_unit() -> None:
    profile = load_profile("taiyuan")
    assert profile.responsible_department("06010", 1, "140107").district_code == "140107"
    # No district unit in a county: the city-level default takes it.
    assert profile.responsible_department("06010", 1, "140121").id == "ty-sanitation"
    # A condition's own department wins over the category's (09009: roadway parking → traffic police).
    assert profile.responsible_department("09009", 1, "140105").kind == "traffic_police"
    assert profile.responsible_department("09009", 2, "140105").kind == "law_enforcement"


def test_service_categories_exclude_internal_ones() -> None:
    profile = load_profile("taiyuan")
    codes = {c.code for c in profile.service_categories()}
    assert "06010" in codes
    assert "08011" not in codes  # moving spoil trucks: inspectors and cameras only


def test_component_code_is_filled_for_facility_matters() -> None:
    profile = load_profile("taiyuan")
    assert profile.category("01037").component_code == "01037"
    assert profile.category("06010").component_code is None


def test_urgent_keywords_need_every_word() -> None:
    rule = load_profile("taiyuan").category("01001")
    assert rule.is_urgent_text("学府街供水井盖缺失，井口敞着")
    assert not rule.is_urgent_text("井盖有点松")


def test_kpi_defaults_fix_the_known_defects() -> None:
    kpi = load_profile("taiyuan").kpi
    assert kpi.weights.inspector.not_missed_rate == 20
    assert sum(kpi.weights.region.model_dump().values()) == 100
    assert [kpi.grades.grade(s) for s in (95, 80, 60, 40, 39.9)] == ["A", "B", "C", "D", "E"]
    assert kpi.volume_bands.department.score(50) == 100
    assert kpi.volume_bands.department.score(1001) == 0
    assert kpi.volume_bands.operator.score(600) == 75


# --- broken profiles ------------------------------------------------------------------------------


def test_minimal_profile_loads(tmp_path: Path) -> None:
    profile = load_profile(str(write(tmp_path, MINIMAL)))
    assert profile.category("06010").name == "暴露垃圾"
    assert load_profile(tmp_path).id == "demo"  # a directory holding profile.toml


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        pytest.param(
            'unit = "work_hour"',
            'unit = "hour"',
            "categories[0].conditions[0].limits.normal.unit",
            "must be one of work_hour, work_day, natural_hour",
            id="bad-unit",
        ),
        pytest.param(
            "{ normal = { amount = 4,",
            "{ urgent = { amount = 4,",
            "categories[0].conditions[0].limits",
            "needs a 'normal' limit",
            id="missing-normal",
        ),
        pytest.param(
            "amount = 4,",
            "amount = 0,",
            "categories[0].conditions[0].limits.normal",
            "> 0",
            id="zero-amount",
        ),
        pytest.param(
            'department = "sanitation"',
            'department = "roads"',
            "categories[0].department",
            "unknown department id 'roads'",
            id="unknown-department",
        ),
        pytest.param(
            'code = "06010"',
            'code = "06031"',
            "categories[0].code",
            "not a 管理事项 (matter) code",
            id="code-not-in-directory",
        ),
        pytest.param(
            'code = "06010"',
            'code = "06010"\nkind = "component"',
            "categories[0].kind",
            "must be 'matter'",
            id="component-kind",
        ),
        pytest.param(
            'code = "06010"',
            'code = "06010"\nname = "垃圾暴露"',
            "categories[0].name",
            "differs from the national directory's '暴露垃圾'",
            id="wrong-name",
        ),
        pytest.param(
            'code = "06010"',
            "code = 6010",
            "categories[0].code",
            "valid string",
            id="unquoted-code",
        ),
        pytest.param(
            'code = "06010"',
            'code = "06099"\nlocal = true\nname = "扩展"\nmajor_name = "扩展类"',
            "categories[0].code",
            "national major",
            id="local-code-in-national-major",
        ),
        pytest.param(
            'district_code = "140105"',
            'district_code = "140199"',
            "departments[1].district_code",
            "unknown district '140199'",
            id="unknown-district",
        ),
        pytest.param(
            "district_departments = true",
            "district_departments = true\ncolour = 1",
            "categories[0].colour",
            "unknown key",
            id="unknown-key",
        ),
        pytest.param(
            'case_prefix = "DM"',
            'case_prefix = "dm"',
            "case_prefix",
            "capital letters",
            id="bad-prefix",
        ),
    ],
)
def test_broken_profile_names_file_key_and_reason(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    assert old in MINIMAL
    error = load_error(tmp_path, MINIMAL.replace(old, new, 1))
    assert error.key == key
    assert reason in error.reason
    assert str(error).startswith(f"{tmp_path / 'profile.toml'}: {key}: ")
    assert reason in str(error)


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        pytest.param(
            SECOND_CATEGORY.replace("06042", "06010"), "categories[1].code", "duplicate", id="dup-code"
        ),
        pytest.param(
            SECOND_CATEGORY.replace('department = "sanitation"', 'department = "sanitation"\n', 1)
            + '\n  [[categories.conditions]]\n  no = 1\n  filing = "x"\n  closing = "y"\n'
            '  limits = { normal = { amount = 1, unit = "work_day" } }\n',
            "categories[1].conditions[1].no",
            "duplicate condition number '1'",
            id="dup-condition",
        ),
        pytest.param(
            SECOND_CATEGORY.replace(
                'limits = { normal = { amount = 2, unit = "work_hour" } }',
                'limits = { normal = { amount = 2, unit = "work_hour" } }\n  department = "police"',
            ),
            "categories[1].conditions[0].department",
            "unknown department id 'police'",
            id="condition-department",
        ),
        pytest.param(
            SECOND_CATEGORY.replace(
                '{ normal = { amount = 2, unit = "work_hour" } }',
                '{ normal = { amount = 2, unit = "work_hour" }, '
                'urgent = { amount = 3, unit = "work_hour" } }',
            ),
            "categories[1].conditions[0].limits.urgent",
            "longer than the normal one",
            id="urgent-longer",
        ),
        pytest.param(
            '\n[routing]\nfallback_department = "bureau"\n',
            "routing.fallback_department",
            "unknown department id 'bureau'",
            id="routing",
        ),
        pytest.param(
            '\n[calendar]\nwork_periods = [["08:00", "12:00"], ["11:00", "18:00"]]\n',
            "calendar.work_periods",
            "starts before period 0 ends",
            id="overlapping-periods",
        ),
        pytest.param(
            '\n[calendar]\nwork_periods = [["18:00", "08:00"]]\n',
            "calendar.work_periods",
            "must start before it ends",
            id="reversed-period",
        ),
        pytest.param(  # a time with a zone beside one without: refused by name, not a TypeError
            '\n[calendar]\nwork_periods = [["08:00Z", "12:00"]]\n',
            "calendar.work_periods",
            "has a time zone",
            id="zoned-period",
        ),
        pytest.param(
            '\n[calendar]\n[[calendar.overrides]]\ndate = "2026-02-30"\nworkday = true\nreason = "调休"\n',
            "calendar.overrides[0].date",
            "must be a date",
            id="bad-override-date",
        ),
        pytest.param(
            "\n[calendar]\noverride_years = [2027]\n",
            "calendar.override_years",
            "no override falls in 2027",
            id="override-year-empty",
        ),
        pytest.param(
            "\n[kpi.weights.region]\nsupervision_report_rate = 10\nfiling_volume = 20\nclose_rate = 30\n"
            "on_time_close_rate = 10\n",
            "kpi.weights.region",
            "must sum to 100 (got 70",
            id="weights-sum",
        ),
        pytest.param(
            '\n[verification]\nverify_channels = ["citizen", "pigeon"]\n',
            "verification.verify_channels[1]",
            "must be one of inspector",
            id="bad-channel",
        ),
    ],
)
def test_broken_profile_cross_checks(tmp_path: Path, extra: str, key: str, reason: str) -> None:
    error = load_error(tmp_path, MINIMAL + extra)
    assert (error.key, error.file) == (key, str(tmp_path / "profile.toml"))
    assert reason in error.reason, error.reason


def test_error_in_shipped_profile_points_at_the_category(tmp_path: Path) -> None:
    text = load_profile_resource_text()
    header = "[[categories]]"
    start = -1
    for _ in range(13):
        start = text.index(header, start + 1)
    unit_at = text.index('unit = "', start) + len('unit = "')
    broken = text[:unit_at] + "hour" + text[text.index('"', unit_at) :]
    error = load_error(tmp_path, broken)
    assert str(error).startswith(
        f"{tmp_path / 'profile.toml'}: categories[12].conditions[0].limits.normal.unit: "
        "must be one of work_hour, work_day, natural_hour"
    )


def load_profile_resource_text() -> str:
    from importlib import resources

    return resources.files("civicloop.profiles").joinpath("taiyuan", "profile.toml").read_text("utf-8")


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = MINIMAL.replace('case_prefix = "DM"', 'case_prefix = "dm"').replace(
        'unit = "work_hour"', 'unit = "hour"'
    )
    error = load_error(tmp_path, text)
    # Only the two real problems: no "conditions needs at least 1 item" echo of the bad limit.
    assert [issue.key for issue in error.issues] == [
        "case_prefix",
        "categories[0].conditions[0].limits.normal.unit",
    ]
    assert "categories[0].conditions[0].limits.normal.unit" in str(error)


def test_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace('name = "演示市"', "name = 演示市"))
    assert error.line == 2
    assert str(error).startswith(f"{tmp_path / 'profile.toml'}:2: invalid TOML")


def test_missing_file_and_unknown_bundled_name() -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile("/nonexistent/profile.toml")
    with pytest.raises(ProfileError, match="no bundled profile"):
        load_profile("atlantis")


def test_profile_built_in_code_runs_the_cross_checks() -> None:
    profile = load_profile_text(MINIMAL, file="memory.toml")
    data = profile.model_dump()
    data["categories"][0]["department"] = "nobody"
    with pytest.raises(ValidationError, match=r"categories\[0\]\.department: unknown department id"):
        CityProfile.model_validate(data)


def test_calendar_override_map() -> None:
    text = MINIMAL + (
        "\n[calendar]\noverride_years = [2027]\n[[calendar.overrides]]\ndate = 2027-01-01\nworkday = false\n"
        'reason = "元旦"\nsource = "假设"\n'
    )
    calendar = load_profile_text(text).calendar
    assert calendar.override_map() == {dt.date(2027, 1, 1): False}
    assert calendar.override_years == (2027,)
