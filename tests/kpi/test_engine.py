"""Every KPI of the hand-built month (history.py), with the expected figures worked out by hand there."""

from __future__ import annotations

from datetime import date

import pytest

from civicloop.kpi.core import parse_period
from civicloop.kpi.engine import GROUPINGS, KpiEngine
from civicloop.kpi.source import open_source
from tests.kpi.history import D1, D2, G1, History, R, S

NOV = parse_period("2026-11")
OCT = parse_period("2026-10")

# City-wide counters for November 2026, counted by hand from history.py.
CITY_NOV = {
    "reports": 12,  # C1–C8, C10–C13 (C9 was reported in October)
    "public_reports": 3,  # C3, C11, C12
    "accepted": 10,  # all but C9 (October), C12 (rejected) and C13 (self-handled)
    "rejected": 1,  # C12
    "filed": 9,  # C1–C8, C10
    "missed_reports": 1,  # C3: a public report that was filed
    "supervision_reports": 8,  # C1, C2, C4–C8, C10
    "not_filed": 1,  # C11
    "voided": 1,  # C10
    "self_fixed": 1,  # C13
    "dispatches": 10,  # C1, C2 ×2, C3 ×2, C4, C5, C6, C7, C8
    "dispatch_on_time": 9,  # all but C4
    "wrong_dispatches": 1,  # C3 returned by ty-roads
    "rework": 1,  # C2
    "extensions": 1,  # C3
    "suspensions": 2,  # C4, C5
    "closed": 5,  # C1, C2, C3, C5, C9
    "closed_on_time": 3,  # C1, C3, C5 (C2 had a late round, C9 was late)
    "verify_due": 2,  # C3, C11
    "verify_on_time": 1,  # C3
    "check_due": 6,  # C1, C2 ×2, C3, C5, C9
    "check_on_time": 5,  # all but C1
    "verify_dispatch_due": 2,  # C3, C11
    "verify_dispatch_on_time": 2,
    "check_dispatch_due": 6,
    "check_dispatch_on_time": 6,
    "file_on_time": 8,  # all but C2
    "close_steps": 5,
    "close_on_time": 4,  # all but C5
    "handling_count": 6,  # C1, C2 ×2, C3, C5, C9
    "handling_minutes": 1610,  # 95 + 190 + 270 + 350 + 180 + 525
    "valid_reports": 8,  # C1–C8 (C10 voided, C11 not filed, C12 rejected, C13 self-handled)
    "handled": 5,  # C1, C2, C3, C5, C9 (each case once)
    "handled_on_time": 3,  # C1, C3, C5
    "overdue_unhandled": 1,  # C6 (C4 is suspended, C7 and C8 are not due yet)
    "due_to_close": 6,
    "due_to_handle": 6,
    "suspended_open": 1,  # C4
    "open_green": 1,  # C8: 60 of 240 minutes
    "open_yellow": 1,  # C7: 225 of 240
    "open_red": 1,  # C6: 405 of 240
}

CITY_NOV_RATES = {
    "valid_report_rate": 8 / 12,
    "missed_report_rate": 1 / 9,
    "supervision_report_rate": 8 / 9,
    "closure_rate": 5 / 6,
    "on_time_closure_rate": 3 / 6,
    "handling_rate": 5 / 6,
    "on_time_handling_rate": 3 / 6,
    "problem_handling_rate": 5 / 6,
    "rework_rate": 1 / 5,
    "dispatch_accuracy_rate": 9 / 10,
    "on_time_verify_rate": 1 / 2,
    "on_time_check_rate": 5 / 6,
    "on_time_filing_rate": 8 / 9,
    "filing_accuracy_rate": 8 / 9,
    "on_time_dispatch_rate": 9 / 10,
    "on_time_verify_dispatch_rate": 1.0,
    "on_time_check_dispatch_rate": 1.0,
    "on_time_closing_rate": 4 / 5,
    "extension_rate": 1 / 10,
    "avg_handling_hours": 1610 / 6 / 60,
}


@pytest.fixture(scope="module")
def engine(month: History) -> KpiEngine:
    return KpiEngine.for_city(month.city)


def test_the_calendar_facts_the_expectations_rely_on(month: History) -> None:
    cal = month.city.calendar
    assert [cal.is_workday(date(2026, 11, d)) for d in (1, 2, 7, 30)] == [False, True, False, True]
    assert cal.is_workday(date(2026, 10, 30)) and not cal.is_workday(date(2026, 10, 31))


def test_city_counters_and_rates_of_the_month(engine: KpiEngine) -> None:
    city = engine.evaluate(NOV, ["city"], previous=False)["city"].row("city")
    assert {k: city.counters[k] for k in CITY_NOV} == pytest.approx(CITY_NOV)
    assert {k: city.rates[k] for k in CITY_NOV_RATES} == pytest.approx(CITY_NOV_RATES)


def test_a_case_spanning_two_periods_is_counted_in_each_for_what_happened_in_it(engine: KpiEngine) -> None:
    oct_ = engine.evaluate(OCT, ["city"], previous=False)["city"].row("city").counters
    # C9: reported, filed and dispatched in October; at the end of October open and overdue (red).
    assert oct_["reports"] == 1 and oct_["filed"] == 1 and oct_["dispatches"] == 1
    assert oct_["handled"] == 0 and oct_["overdue_unhandled"] == 1 and oct_["due_to_close"] == 1
    assert oct_["open_red"] == 1 and oct_["closed"] == 0
    nov = engine.evaluate(NOV, ["city"], previous=False)["city"].row("city").counters
    assert nov["handled"] == 5 and nov["reports"] == 12


def test_department_figures(engine: KpiEngine, month: History) -> None:
    dep = engine.evaluate(NOV, ["department"], previous=False)["department"]
    roads = dep.row(R)
    assert roads.name == "太原市市政公用设施管理中心"  # named from the profile, not its id
    # ty-roads only received C3's wrong dispatch and returned it.
    assert roads.counters["dispatches"] == 1 and roads.counters["wrong_dispatches"] == 1
    assert roads.counters["handled"] == 0 and roads.counters["due_to_close"] == 0
    assert roads.score is not None and roads.score.score is None  # nothing to evaluate it on
    san = dep.row(S).counters
    assert san["reports"] == 8 and san["filed"] == 8  # C1–C8 before their first dispatch
    assert san["dispatches"] == 9 and san["dispatch_on_time"] == 8
    assert san["wrong_dispatches"] == 0 and san["rework"] == 1 and san["extensions"] == 1
    assert san["handled"] == 5 and san["handled_on_time"] == 3 and san["due_to_close"] == 6
    assert san["closed"] == 5 and san["closed_on_time"] == 3 and san["suspended_open"] == 1
    undispatched = dep.row(None).counters  # C10–C13 never reached a department
    assert undispatched["reports"] == 4 and undispatched["voided"] == 1 and undispatched["not_filed"] == 1
    # Composite (defaults): volume(8 filed ≤ 50) 100 × 10 + 结案率 5/6 × 30 + 按期处置率 3/6 × 30 +
    # (1 − 返工率 1/5) × 30, over 100.
    expected = (100 * 10 + 100 * 5 / 6 * 30 + 100 * 0.5 * 30 + 100 * 0.8 * 30) / 100
    sanitation = dep.row(S)
    assert sanitation.score is not None and sanitation.score.score == pytest.approx(expected, abs=0.01)
    assert sanitation.score.grade == "C" and sanitation.rank == 1  # 74.0


def test_area_groupings(engine: KpiEngine) -> None:
    ev = engine.evaluate(NOV, ["district", "grid", "street", "community", "category"], previous=False)
    d1, d2 = ev["district"].row(D1).counters, ev["district"].row(D2).counters
    # D1: C1, C3, C4, C6, C8, C11, C13 reported; D2: C2, C5, C7, C10, C12.
    assert (d1["reports"], d2["reports"]) == (7, 5)
    assert (d1["handled"], d2["handled"]) == (3, 2)  # C1, C3, C9 | C2, C5
    assert (d1["overdue_unhandled"], d1["open_green"], d2["open_yellow"]) == (1, 1, 1)
    assert ev["district"].row(D1).name == "小店区"
    assert ev["grid"].row(G1).counters == d1
    assert ev["category"].row("06010").counters["reports"] == 12
    region = ev["district"].row(D1)
    # Region composite (profile weights 10 / 20 / 30 / 40): 监督举报率 4 of 5 filed (C3 came from the
    # public) → 80; 5 filed in one grid → volume band "at most 6" → 60; 结案率 3 of 4 due → 75;
    # 按期结案率 2 of 4 → 50.
    expected = (10 * 80 + 20 * 60 + 30 * 75 + 40 * 50) / 100
    assert region.score is not None and region.score.score == pytest.approx(expected, abs=0.01)
    assert region.score.grade == "C"  # 62.5: 60 ≤ C < 75


def test_role_groupings(engine: KpiEngine) -> None:
    ev = engine.evaluate(NOV, ["dispatcher", "shift_leader", "inspector", "operator"], previous=False)
    dp1 = ev["dispatcher"].row("dp-1")
    assert dp1.counters["dispatches"] == 6 and dp1.counters["dispatch_on_time"] == 5
    assert dp1.counters["wrong_dispatches"] == 1
    assert dp1.rates["dispatch_accuracy_rate"] == pytest.approx(5 / 6)
    dp2 = ev["dispatcher"].row("dp-2").counters
    assert (dp2["dispatches"], dp2["dispatch_on_time"], dp2["rework"]) == (4, 4, 1)
    sl1, sl2 = ev["shift_leader"].row("sl-1").counters, ev["shift_leader"].row("sl-2").counters
    assert (sl1["filed"], sl1["file_on_time"], sl1["close_steps"], sl1["close_on_time"]) == (5, 5, 3, 3)
    assert (sl2["filed"], sl2["file_on_time"], sl2["voided"], sl2["close_steps"], sl2["close_on_time"]) == (
        4,
        3,
        1,
        2,
        1,
    )
    ins_a = ev["inspector"].row("ins-a")
    a = ins_a.counters
    assert (a["reports"], a["valid_reports"], a["verify_due"], a["verify_on_time"]) == (5, 4, 2, 1)
    assert (a["check_due"], a["check_on_time"], a["missed_reports"], a["filed"]) == (3, 2, 1, 5)
    # 有效上报率 4/5 × 40 + (1 − 漏报率 1/5) × 20 + 按时核实率 1/2 × 20 + 按时核查率 2/3 × 20
    expected = (80 * 40 + 80 * 20 + 50 * 20 + 200 / 3 * 20) / 100
    assert ins_a.score is not None and ins_a.score.score == pytest.approx(expected, abs=0.01)
    op1 = ev["operator"].row("op-1").counters
    assert (op1["accepted"], op1["verify_dispatch_due"], op1["check_dispatch_due"]) == (6, 2, 3)
    op2 = ev["operator"].row("op-2").counters
    assert (op2["accepted"], op2["rejected"], op2["check_dispatch_due"]) == (4, 1, 3)


def test_every_grouping_runs_and_ranks_carry_the_previous_period(engine: KpiEngine) -> None:
    ev = engine.evaluate(NOV, GROUPINGS, previous=True)
    assert set(ev.groupings) == set(GROUPINGS)
    san = ev["department"].row(S)
    assert san.rank == 1 and san.previous_rank == 1 and san.rank_change == 0  # C9 was its only case
    assert "due_to_close" in ev.rules and "fixed_only" in ev.rules


def test_explain_lists_the_cases_behind_a_figure(engine: KpiEngine, month: History) -> None:
    ids = month.ids
    out = engine.explain(NOV, "on_time_closure_rate", "department", S)
    assert out["numerator"]["cases"] == sorted([ids["C1"], ids["C3"], ids["C5"]])
    assert out["denominator"]["cases"] == sorted([ids[c] for c in ("C1", "C2", "C3", "C5", "C6", "C9")])
    assert engine.cases_behind(NOV, "wrong_dispatches", "dispatcher", "dp-1") == [ids["C3"]]
    assert engine.cases_behind(NOV, "voided", "city", None) == [ids["C10"]]
    assert engine.cases_behind(NOV, "open_yellow", "district", D2) == [ids["C7"]]
    with pytest.raises(ValueError):
        engine.explain(NOV, "no_such_kpi", "city", None)


def test_the_arrow_source_gives_the_same_figures(month: History) -> None:
    arrow = KpiEngine.for_city(month.city, open_source(month.city.engine, mode="arrow"))
    try:
        city = arrow.evaluate(NOV, ["city"], previous=False)["city"].row("city")
        assert arrow.source.kind == "arrow"
        assert {k: city.counters[k] for k in CITY_NOV} == pytest.approx(CITY_NOV)
    finally:
        arrow.close()
