"""回访 KPIs: 满意率 (satisfaction_rate) and 回访率 (callback_rate) over the cases closed in the period."""

from __future__ import annotations

import warnings
from datetime import date

import pytest
from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor
from civicloop.kernel.vocabulary import Role
from civicloop.kpi.core import composite_score, grade_of, parse_period, rates
from civicloop.kpi.engine import KpiEngine
from tests.kpi.history import DP1, INS_A, OP1, SL1, A, History, S, dept

NOV, DEC = parse_period("2026-11"), parse_period("2026-12")
TRACKING = Actor("tracking:x", Role.SYSTEM)


def test_the_formulas_and_an_empty_denominator() -> None:
    r = rates({"satisfied_closures": 2, "rated_closures": 3, "contact_callbacks": 1, "contact_closures": 4})
    assert r["satisfaction_rate"] == pytest.approx(2 / 3) and r["callback_rate"] == 0.25
    empty = rates(
        {"satisfied_closures": 0, "rated_closures": 0, "contact_callbacks": 0, "contact_closures": 0}
    )
    assert empty["satisfaction_rate"] is None and empty["callback_rate"] is None  # nothing rated: no data
    figures = {"closure_rate": 1.0, "satisfaction_rate": 0.5}
    weights = {"close_rate": 50.0, "satisfaction_rate": 50.0}
    assert composite_score("department", figures, weights, None, grade_of).score == 75.0
    weights["satisfaction_rate"] = 0.0  # the default: the rate is shown, not scored
    assert composite_score("department", figures, weights, None, grade_of).score == 100.0


@pytest.fixture
def history(backend: tuple[str, Engine], city_id: str) -> History:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city = init_city("taiyuan", engine=backend[1], city_id=city_id, today=date(2026, 11, 26))
    h = History(city)
    for name, day, contact in (
        ("CA", "2026-11-10", True),
        ("CB", "2026-11-10", True),
        ("CC", "2026-11-10", True),
        ("CD", "2026-11-10", False),
        ("CE", "2026-11-30", True),
    ):
        h.report(
            name, OP1, f"{day} 09:00", 1, channel="hotline", **({"contactable": True} if contact else {})
        )
        h.loop(name, [
            (A.ACCEPT, OP1, f"{day} 09:05", {"verify": False}),
            (A.FILE, SL1, f"{day} 09:10", {}),
            (A.DISPATCH, DP1, f"{day} 09:15", {"department_id": S}),
            (A.HANDLE, dept(S), f"{day} 10:00", {"note": "已清运", "photos": ["after.jpg"]}),
            (A.SEND_CHECK, OP1, f"{day} 10:05", {}),
            (A.CHECK, INS_A, f"{day} 10:20", {"passed": True, "photos": ["check.jpg"]}),
            (A.CLOSE, SL1, f"{day} 10:30", {}),
        ])  # fmt: skip
    h.act("CA", A.FEEDBACK, TRACKING, "2026-11-11 09:00", rating="satisfied")
    h.act("CB", A.FEEDBACK, TRACKING, "2026-11-11 09:00", rating="dissatisfied")
    h.act("CD", A.FEEDBACK, OP1, "2026-11-11 09:00", rating="basically_satisfied")
    h.act("CE", A.FEEDBACK, TRACKING, "2026-12-01 09:00", rating="satisfied")  # after November's end
    return h


def test_satisfaction_and_callback_rates_per_period_and_department(history: History) -> None:
    engine = KpiEngine.for_city(history.city)
    try:
        nov = engine.evaluate(NOV, ["city", "department", "district"], previous=False)
        dec = engine.evaluate(DEC, ["city"], previous=False)
        c = nov["city"].row("city")
        counters = [c.counters[k] for k in ("rated_closures", "satisfied_closures")]
        assert counters == [3, 2]  # CA CB CD rated; CB dissatisfied
        assert [c.counters[k] for k in ("contact_closures", "contact_callbacks")] == [4, 2]  # CE: December
        assert c.rates["satisfaction_rate"] == pytest.approx(2 / 3) and c.rates["callback_rate"] == 0.5
        assert nov["department"].row(S).rates["satisfaction_rate"] == pytest.approx(2 / 3)
        assert nov["district"].row("140105").rates["callback_rate"] == 0.5
        assert engine.cases_behind(NOV, "satisfied_closures", "city", None) == sorted(
            history.ids[k] for k in ("CA", "CD")
        )
        d = dec["city"].row("city")  # nothing closed in December: no data, not 0 %
        assert d.rates["satisfaction_rate"] is None and d.rates["callback_rate"] is None
    finally:
        engine.close()
