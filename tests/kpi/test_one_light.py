"""The KPI engine's period-end lights agree with the case's own light: after the deadline, red.

A case due at 18:00 on the period's last day has used its whole limit by the period end (midnight) and the
working clock says nothing more until the next workday; the engine counts it overdue and red, exactly as
the case page and the big screen show it (``judge_light``).
"""

from __future__ import annotations

import warnings
from datetime import UTC, date

from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.kpi.core import parse_period
from civicloop.kpi.engine import KpiEngine
from tests.kpi.history import DP1, INS_A, OP1, SL1, A, History, at


def test_a_case_past_its_deadline_in_the_evening_is_red_in_the_kpis(
    backend: tuple[str, Engine], city_id: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city: City = init_city("taiyuan", engine=backend[1], city_id=city_id, today=date(2026, 11, 26))
    h = History(city)
    # Monday 30 November 14:00 + 4 working hours (06010, condition 1): due 18:00 that day.
    h.report("late", INS_A, "2026-11-30 13:40", 1)
    h.loop("late", [
        (A.ACCEPT, OP1, "2026-11-30 13:45", {}),
        (A.FILE, SL1, "2026-11-30 13:50", {"condition_no": 1}),
        (A.DISPATCH, DP1, "2026-11-30 14:00", {"department_id": "ty-sanitation"}),
    ])  # fmt: skip
    # … and one dispatched at 17:00, due the next morning: yellow at most at the period end.
    h.report("early", INS_A, "2026-11-30 16:40", 2)
    h.loop("early", [
        (A.ACCEPT, OP1, "2026-11-30 16:45", {}),
        (A.FILE, SL1, "2026-11-30 16:50", {"condition_no": 1}),
        (A.DISPATCH, DP1, "2026-11-30 17:00", {"department_id": "ty-sanitation"}),
    ])  # fmt: skip
    late = city.cases.get(h.ids["late"])
    assert late.deadline == at("2026-11-30 18:00").astimezone(UTC)
    period = parse_period("2026-11", "Asia/Shanghai")
    end = period.end
    assert late.handling_used(city.calendar, end) == late.handling_limit_minutes(city.calendar)
    engine = KpiEngine.for_city(city)
    try:
        row = engine.evaluate(period, ["city"], previous=False)["city"].rows[0]
    finally:
        engine.close()
    lights = {s: city.cases.get(h.ids[s]).light(city.calendar, end) for s in ("late", "early")}
    assert lights["late"] is not None and lights["late"].value == "red"
    assert row.counters["open_red"] == 1 and row.counters["overdue_unhandled"] == 1
    early = lights["early"]
    assert early is not None and row.counters[f"open_{early.value}"] >= 1
