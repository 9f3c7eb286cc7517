"""Cases that cross a period end: each rate's numerator and denominator are counted over the same cases.

The issue's case: handled in November, closed in December. Before, December counted the closure in
结案数 but not the case in 应结案数 (handled in November), so 结案率 could exceed 1. Now both months
count it over the same cohort. Likewise a dispatch returned in the next month, a filing voided in the
next month, and a case closed twice in one month (reopened).
"""

from __future__ import annotations

import warnings
from datetime import date

import pytest
from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.kpi.core import parse_period
from civicloop.kpi.engine import KpiEngine
from tests.kpi.history import DP1, INS_A, OP1, SL1, A, History, R, S, dept

NOV, DEC = parse_period("2026-11"), parse_period("2026-12")


@pytest.fixture
def history(backend: tuple[str, Engine], city_id: str) -> History:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city = init_city("taiyuan", engine=backend[1], city_id=city_id, today=date(2026, 11, 26))
    h = History(city)
    front = [
        (A.ACCEPT, OP1, "{d} 09:05", {}),
        (A.FILE, SL1, "{d} 09:10", {}),
    ]

    def start(name: str, day: str) -> None:
        h.report(name, INS_A, f"{day} 09:00", 1)
        h.loop(name, [(a, who, when.format(d=day), f) for a, who, when, f in front])

    # CA: handled and checked on 30 November, closed on 1 December
    start("CA", "2026-11-30")
    h.loop("CA", [
        (A.DISPATCH, DP1, "2026-11-30 09:15", {"department_id": S}),
        (A.HANDLE, dept(S), "2026-11-30 10:00", {"note": "已清运", "photos": ["p/after.jpg"]}),
        (A.SEND_CHECK, OP1, "2026-11-30 10:05", {}),
        (A.CHECK, INS_A, "2026-11-30 10:20", {"passed": True, "photos": ["p/check.jpg"]}),
        (A.CLOSE, SL1, "2026-12-01 09:00", {}),
    ])  # fmt: skip
    # CB: dispatched to ty-roads on 30 November, returned on 1 December, dispatched to sanitation
    start("CB", "2026-11-30")
    h.loop("CB", [
        (A.DISPATCH, DP1, "2026-11-30 16:00", {"department_id": R}),  # due 1 December 12:00
        (A.REQUEST_RETURN, dept(R), "2026-12-01 08:30", {"note": "非本单位职责"}),
        (A.APPROVE_RETURN, DP1, "2026-12-01 08:40", {}),
        (A.DISPATCH, DP1, "2026-12-01 08:50", {"department_id": S}),
    ])  # fmt: skip
    # CC: dispatched to ty-roads in December and kept
    start("CC", "2026-12-02")
    h.act("CC", A.DISPATCH, DP1, "2026-12-02 09:15", department_id=R)
    # CD: filed on 30 November, voided on 1 December
    start("CD", "2026-11-30")
    h.act("CD", A.VOID, SL1, "2026-12-01 09:30", reason="misfiled", note="误报")
    # CE: closed, reopened and closed again within November
    start("CE", "2026-11-02")
    round_ = [
        (A.DISPATCH, DP1, "{d} 09:15", {"department_id": S}),
        (A.HANDLE, dept(S), "{d} 10:00", {"note": "已清运", "photos": ["p/after.jpg"]}),
        (A.SEND_CHECK, OP1, "{d} 10:05", {}),
        (A.CHECK, INS_A, "{d} 10:20", {"passed": True, "photos": ["p/check.jpg"]}),
        (A.CLOSE, SL1, "{d} 10:30", {}),
    ]
    h.loop("CE", [(a, who, when.format(d="2026-11-02"), f) for a, who, when, f in round_])
    h.act("CE", A.REOPEN, SL1, "2026-11-03 09:00", note="复查仍有问题")
    h.loop("CE", [(a, who, when.format(d="2026-11-03"), f) for a, who, when, f in round_])
    return h


def test_a_case_closed_in_the_month_after_its_handling(history: History) -> None:
    engine = KpiEngine.for_city(history.city)
    try:
        nov = engine.evaluate(NOV, ["city", "department"], previous=False)
        dec = engine.evaluate(DEC, ["city", "department"], previous=False)
        n, d = nov["city"].row("city"), dec["city"].row("city")
        # November: CA and CE handled (CE twice, counted once), CE closed (twice, counted once)
        assert (n.counters["handled"], n.counters["closed"], n.counters["due_to_close"]) == (2, 1, 2)
        assert n.counters["close_steps"] == 2  # the shift leader's closing steps stay events
        assert n.rates["closure_rate"] == pytest.approx(1 / 2)
        # December: CA is closed, and therefore due; CB and CC are overdue and unhandled at its end
        c = d.counters
        assert (c["handled"], c["closed"], c["overdue_unhandled"], c["due_to_close"]) == (0, 1, 2, 3)
        ids = history.ids
        assert engine.cases_behind(DEC, "due_to_close", "city", None) == sorted(
            ids[k] for k in ("CA", "CB", "CC")
        )
        assert d.rates["closure_rate"] == pytest.approx(1 / 3) and d.rates["handling_rate"] == 0.0
        san = dec["department"].row(S)  # CA closed, CB overdue
        assert san.counters["closed"] == 1 and san.counters["due_to_close"] == 2
        assert san.score is not None and san.score.score is not None and san.score.score <= 100
        roads = dec["department"].row(R)  # CC overdue, nothing closed or handled
        assert roads.rates["closure_rate"] == 0.0 and roads.rates["rework_rate"] is None
    finally:
        engine.close()


def test_returns_and_voids_are_charged_to_the_dispatches_and_filings_they_undo(history: History) -> None:
    engine = KpiEngine.for_city(history.city)
    try:
        nov = engine.evaluate(NOV, ["city", "department", "dispatcher"], previous=False)
        dec = engine.evaluate(DEC, ["city", "department", "dispatcher"], previous=False)
        # November's dispatch of CB to ty-roads was returned only in December: accurate as of November's end
        roads_nov = nov["department"].row(R).counters
        assert (roads_nov["dispatches"], roads_nov["accurate_dispatches"]) == (1, 1)
        # December: the return is counted as a flow (回退数), but December's own dispatch to ty-roads (CC)
        # was not returned: 准确派遣率 is 1, not (1 − 1) / 1 = 0 as when November's return was charged to it
        roads_dec = dec["department"].row(R)
        assert roads_dec.counters["wrong_dispatches"] == 1 and roads_dec.counters["dispatches"] == 1
        assert roads_dec.rates["dispatch_accuracy_rate"] == 1.0
        # CD was filed in November and voided in December: November's filing accuracy sees the filing as
        # accurate at its end; December's void is a flow (作废数) against no filing of December
        city_dec = dec["city"].row("city")
        assert city_dec.counters["voided"] == 1
        assert city_dec.counters["accurate_filings"] == city_dec.counters["filed"] == 1  # CC
        assert city_dec.rates["filing_accuracy_rate"] == 1.0
        city_nov = nov["city"].row("city")
        assert city_nov.counters["filed"] == 4 and city_nov.counters["accurate_filings"] == 4  # CA CB CD CE
        dp = dec["dispatcher"].row("dp-1").counters
        assert dp["accurate_dispatches"] <= dp["dispatches"]
    finally:
        engine.close()
