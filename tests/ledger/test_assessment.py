"""Assessment of a hand-built unit: the automatic figure really comes from the case loop, ledgers and
entered values count as stated, no data is shown as such and never scored as zero."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from civicloop.kernel.i18n import use_locale
from civicloop.ledger.assessment import assess
from civicloop.ledger.models import LedgerError, TargetKey
from civicloop.ledger.report import write_xlsx

from .helpers import a_city, a_closed_case, a_dispatched_case, at, with_units

CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e]")


def test_a_units_score_rests_on_the_case_loop_its_ledgers_and_approved_entries(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    # the case loop: two road-damage cases (06013) repaired by ty-roads; a garbage case it also closed and an
    # open road-damage case must not count as repaired road sections
    repaired = [
        a_closed_case(city, "06013", "ty-roads", at("2026-06-02 09:00")),
        a_closed_case(city, "06013", "ty-roads", at("2026-06-03 10:00")),
    ]
    a_closed_case(city, "06010", "ty-roads", at("2026-06-04 09:00"))
    a_dispatched_case(city, "06013", "ty-roads", at("2026-06-05 09:00"))
    # ledgers of the unit (5 outreach events) and of a unit elsewhere (does not count for u-roads)
    service.add(
        "campaigns",
        {
            "held_on": "2026-05-10",
            "theme": "文明交通",
            "place": "并州路口",
            "target_group": "public",
            "unit_id": "u-roads",
            "events": 5,
        },
        by="clerk",
    )
    service.add(
        "campaigns",
        {
            "held_on": "2026-05-11",
            "theme": "文明交通",
            "place": "坞城路口",
            "target_group": "public",
            "unit_id": "u-xiaodian-squad",
            "events": 50,
        },
        by="clerk",
    )
    service.add(
        "volunteering",
        {
            "held_on": "2026-03-05",
            "theme": "学雷锋",
            "place": "太原站",
            "unit_id": "u-roads",
            "participants": 25,
            "hours": 75,
        },
        by="clerk",
    )
    year = "2026"
    targets = [  # indicator, filter, target, weight, tolerance
        ("closed_cases", "06013", 2, 40, None),  # met: 2 repaired → 40 points
        ("outreach_events", "", 10, 30, None),  # missed: 5 < floor 8 → 0
        ("volunteer_hours", "", 100, 20, 0.5),  # partial: floor 50, (75 − 50) / 50 = 0.5 → 10
        ("light_on_rate", "", "98%", 10, None),  # no data: no asset inventory
    ]
    for ind, flt, value, weight, tol in targets:
        service.set_target(
            TargetKey(year, "u-roads", ind, flt), target_value=value, weight=weight, tolerance=tol, by="a"
        )

    result = assess(city, year)
    unit = result.unit("u-roads")
    by = {t.key.indicator: t for t in unit.targets}
    assert [t.key.indicator for t in unit.targets] == [
        "closed_cases",
        "outreach_events",
        "volunteer_hours",
        "light_on_rate",
    ]
    repaired_fig = by["closed_cases"].figure
    assert repaired_fig.value == 2 and sorted(repaired_fig.records) == sorted(repaired)
    assert "KPI" in repaired_fig.source
    assert (by["closed_cases"].score.status, by["closed_cases"].score.points) == ("met", 40)
    assert (by["outreach_events"].figure.value, by["outreach_events"].score.points) == (5, 0)
    assert by["volunteer_hours"].score.points == pytest.approx(10)
    light = by["light_on_rate"]
    assert (light.figure.value, light.score.status, light.score.points) == (None, "no_data", None)
    assert light.actual_text() == "无数据"
    # 100 × (40 + 0 + 10) / 90: the no-data weight is left out, not scored as zero (which would give 50)
    assert unit.score.score == pytest.approx(55.56)
    assert unit.score.coverage == pytest.approx(0.9)

    # the assessor's inspection note deducts points; the bureau (no targets) is not listed
    service.inspect(year, "u-roads", "抽查两处修补不平整", by="assessor", deduction=5.56)
    again = assess(city, year).unit("u-roads")
    assert again.score.score == pytest.approx(50.0) and again.score.raw == pytest.approx(55.56)
    assert [u.unit.unit_id for u in assess(city, year).units] == ["u-roads"]

    # a rate from the engine comes with its numerator, denominator and the cases behind the numerator
    service.set_target(
        TargetKey(year, "u-roads", "on_time_closure_rate"), target_value="95%", weight=10, by="a"
    )
    rate = {t.key.indicator: t for t in assess(city, year).unit("u-roads").targets}["on_time_closure_rate"]
    assert rate.figure.denominator is not None and rate.figure.numerator is not None
    assert rate.figure.value == pytest.approx(rate.figure.numerator / rate.figure.denominator)
    assert rate.figure.records_total == rate.figure.numerator

    # the same assessment as a report in English: headings, labels and figures follow the locale
    a = assess(city, year)
    write_xlsx(a, tmp_path / "en.xlsx", locale="en")
    write_xlsx(a, tmp_path / "zh.xlsx")
    en, zh = load_workbook(tmp_path / "en.xlsx"), load_workbook(tmp_path / "zh.xlsx")
    assert en.sheetnames == ["Ranking", "Targets", "Inspection notes", "Scoring rules"]
    assert zh.sheetnames == ["排名", "指标明细", "检查记录", "计分规则"]
    ranking = [r for r in en["Ranking"].iter_rows(values_only=True)]
    assert "target-responsibility assessment" in str(ranking[0][0])
    assert ranking[2][:4] == ("unit kind", "rank", "unit", "score") and ranking[3][0] == "department"
    details = {r[1]: r for r in en["Targets"].iter_rows(min_row=2, values_only=True)}
    assert details["light-on rate"][4] == "no data" and details["light-on rate"][5] == "no data"
    assert not any(CJK.search(str(c)) for c in en["Targets"][1] if c.value)
    with use_locale("en"):
        assert light.actual_text() == "no data" and by["volunteer_hours"].actual_text() == "75.0 hours"


def test_entered_values_count_once_someone_else_approved_them(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    key = TargetKey("2026", "u-bureau", "cadre_appointments")
    service.set_target(key, target_value=400, weight=30, by="assessor")
    service.set_target(
        TargetKey("2026", "u-bureau", "safety_incidents"), target_value=0, weight=70, by="assessor"
    )
    with pytest.raises(LedgerError, match="evidence file not found"):
        service.enter(key, 428, str(tmp_path / "missing.pdf"), by="clerk")
    proof = tmp_path / "ganbu.pdf"
    proof.write_bytes(b"%PDF-1.4 demo")
    entry = service.enter(key, 428, str(proof), by="clerk")
    assert entry.status == "pending" and "sha256:" in entry.evidence

    pending = assess(city, "2026").unit("u-bureau")
    assert {t.key.indicator: t.score.status for t in pending.targets} == {
        "cadre_appointments": "no_data",
        "safety_incidents": "no_data",
    }
    assert pending.score.score is None and pending.rank is None  # no data at all: not scored, not ranked

    with pytest.raises(LedgerError, match="cannot also approve"):
        service.review(key, by="clerk")
    approved = service.review(key, by="assessor", note="资料齐全")
    assert (approved.status, approved.reviewed_by) == ("approved", "assessor")
    with pytest.raises(LedgerError, match="no target"):
        service.enter(TargetKey("2026", "u-bureau", "nothing"), 1, "https://x.example/a", by="clerk")
    service.set_target(
        TargetKey("2026", "u-roads", "volunteer_hours"), target_value=10, weight=1, by="assessor"
    )
    with pytest.raises(LedgerError, match="not entered"):  # a ledger figure cannot be typed in instead
        service.enter(TargetKey("2026", "u-roads", "volunteer_hours"), 99, "https://x.example/a", by="clerk")

    unit = assess(city, "2026").unit("u-bureau")
    cadres = next(t for t in unit.targets if t.key.indicator == "cadre_appointments")
    assert cadres.figure.value == 428 and cadres.entry is not None and cadres.entry.reviewed_by == "assessor"
    assert str(proof.resolve()) in cadres.evidence_text()
    assert unit.score.score == 100.0 and unit.score.coverage == pytest.approx(0.3)


def test_a_quarter_inherits_the_years_targets_pro_rated(backend: tuple[str, Engine], city_id: str) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    service.add(
        "volunteering",
        {
            "held_on": "2026-08-05",
            "theme": "学雷锋",
            "place": "太原站",
            "unit_id": "u-roads",
            "participants": 10,
            "hours": 30,
        },
        by="clerk",
    )
    service.set_target(TargetKey("2026", "u-roads", "volunteer_hours"), target_value=365, weight=10, by="a")
    q3 = assess(city, "2026-Q3").unit("u-roads").targets[0]
    assert q3.inherited_from == "2026"
    assert q3.target == pytest.approx(92.0)  # 365 × 92 / 365 days
    assert q3.figure.value == 30
    assert assess(city, "2026-Q1").unit("u-roads").targets[0].figure.value == 0
    with pytest.raises(LedgerError, match="period"):
        assess(city, "sometime")
