"""The open period (this month, this week, today): its closed days' stored facts plus the cases the open
day touched equal the evaluation straight from the events, for every KPI of every grouping.

Random event logs (random_log.py, hypothesis) over October–December 2026, cut at a random moment of
November: the month, the week and the day around that moment are evaluated both ways.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Role
from civicloop.kpi.core import Period, parse_period, period_between
from civicloop.kpi.engine import GROUPINGS, Evaluation, KpiEngine
from civicloop.store.database import make_engine
from tests.kpi.history import History
from tests.kpi.random_log import draw_log

EXAMPLES = int(os.environ.get("KPI_OPEN_FACTS_EXAMPLES", "4"))
NOV = parse_period("2026-11")
_ids = count(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('kpi-open') / 'civicloop.db'}")
    yield engine
    engine.dispose()


def _city(engine: Engine) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return init_city(
            "taiyuan", engine=engine, city_id=f"o{os.getpid()}x{next(_ids)}", today=date(2026, 9, 30)
        )


def _figures(ev: Evaluation) -> dict[str, list[tuple[object, ...]]]:
    return {
        by: [(r.key, r.counters, r.rates, r.score, r.rank, r.previous_rank) for r in ev[by].rows]
        for by in ev.groupings
    }


def _periods(now: datetime, tz: str) -> list[Period]:
    """The month, the week and the day that *now* lies in."""
    today = now.astimezone(ZoneInfo(tz)).date()
    monday = today - timedelta(days=today.weekday())
    return [
        NOV,
        period_between(monday, monday + timedelta(days=6), tz),
        period_between(today, today, tz),
    ]


def _engines(city: City, now: datetime) -> tuple[KpiEngine, KpiEngine]:
    opened = KpiEngine.for_city(city)
    opened.open_facts = True
    opened.now = lambda: now
    plain = KpiEngine.for_city(city)
    plain.open_facts = False
    return opened, plain


def _from_events(city: City, period: Period) -> Evaluation:
    """A fresh engine's evaluation straight from the events (an engine keeps a prepared period)."""
    plain = KpiEngine.for_city(city)
    plain.open_facts = False
    try:
        return plain.evaluate(period, GROUPINGS, previous=False)
    finally:
        plain.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_open_period_from_closed_days_equals_the_events(store: Engine, data: st.DataObject) -> None:
    city = _city(store)
    draw_log(city, data, max_cases=10)
    minute = data.draw(st.integers(0, 30 * 24 * 60 - 1), label="now")
    now = NOV.start + timedelta(minutes=minute)
    opened, plain = _engines(city, now)
    try:
        for period in _periods(now, NOV.timezone):
            expected = plain.evaluate(period, GROUPINGS, previous=True)
            got = opened.evaluate(period, GROUPINGS, previous=True)
            assert _figures(got) == _figures(expected), period.label
            cut = opened._open_cut(period)
            assert cut is not None and opened.open_facts_of(period, cut) is not None
            # an explanation still goes to the events of the whole period
            assert opened.explain(period, "closed", "city", None) == plain.explain(
                period, "closed", "city", None
            )
    finally:
        opened.close()
        plain.close()


def test_stored_days_are_reused_and_made_again_after_a_back_dated_event(store: Engine) -> None:
    city = _city(store)
    inspector = Actor("ins-1", Role.INSPECTOR)
    fields = {
        "channel": "inspector",
        "category_code": "06010",
        "description": "垃圾",
        "lon": 112.55,
        "lat": 37.85,
    }
    for day in range(1, 12):
        city.cases.report(inspector, fields, at=datetime(2026, 11, day, 2, 0, tzinfo=UTC))
    now = datetime(2026, 11, 12, 6, 0, tzinfo=UTC)  # 14:00 in Taiyuan: the cut is 12 November 00:00 local
    opened, plain = _engines(city, now)
    try:
        first = opened.evaluate(NOV, GROUPINGS, previous=False)
        cut = opened._open_cut(NOV)
        assert cut == datetime(2026, 11, 11, 16, 0, tzinfo=UTC)
        stored = opened.open_facts_of(NOV, cut)
        assert stored is not None and stored.manifest["rows"]["case_cp"] == 11
        folder: Path = stored.folder
        built = folder.stat().st_mtime_ns
        # the open day's new report is read from the events, the stored days are reused
        city.cases.report(inspector, fields, at=datetime(2026, 11, 12, 3, 0, tzinfo=UTC))
        again = opened.evaluate(NOV, GROUPINGS, previous=False)
        assert (
            again["city"].row("city").counters["reports"] == first["city"].row("city").counters["reports"] + 1
        )
        assert folder.stat().st_mtime_ns == built
        assert _figures(again) == _figures(_from_events(city, NOV))
        # an event written now with an earlier time changes the closed days: their facts are made again
        city.cases.report(inspector, fields, at=datetime(2026, 11, 3, 3, 0, tzinfo=UTC))
        assert opened.open_facts_of(NOV, cut) is None
        late = opened.evaluate(NOV, GROUPINGS, previous=False)
        assert _figures(late) == _figures(_from_events(city, NOV))
        assert late["city"].row("city").counters["reports"] == 13
        # a period that has not begun, or has ended, is not an open one
        assert opened._open_cut(parse_period("2026-12")) is None
        assert opened._open_cut(parse_period("2026-10")) is None
    finally:
        opened.close()
        plain.close()


def test_cases_with_a_department_at_the_cut_take_their_light_at_the_period_end(month: History) -> None:
    """C6–C8 of the hand-built month were dispatched on 30 November and nothing happened to them since:
    on 1 December their flat rows at the cut are re-clocked, not recomputed; C7 (due 08:15) and C8 (due
    11:00) were not overdue at the cut and are red by the end of the day and of the week."""
    city = month.city
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Taiyuan
    opened, plain = _engines(city, now)
    names = {month.ids[n]: n for n in ("C6", "C7", "C8")}
    try:
        for period in _periods(now, NOV.timezone)[1:]:  # the week and the day (November has ended)
            got = opened.evaluate(period, GROUPINGS, previous=True)
            assert _figures(got) == _figures(plain.evaluate(period, GROUPINGS, previous=True)), period.label
            cut = opened._open_cut(period)
            assert cut is not None
            stored = opened.open_facts_of(period, cut)
            assert stored is not None
            at_cut = dict(
                opened.con.execute(
                    f"SELECT case_id, overdue FROM read_parquet('{stored.table('case_flat')}')"
                ).fetchall()
            )
            now_rows = opened.con.execute(
                "SELECT case_id, overdue, light FROM kpi_cp "
                "WHERE case_id IN (SELECT case_id FROM kpi_reclocked)"
            ).fetchall()
            assert {names[c] for c, _, _ in now_rows if c in names} == {"C6", "C7", "C8"}
            assert {names[c]: (o, light) for c, o, light in now_rows if c in names} == {
                n: (True, "red") for n in ("C6", "C7", "C8")
            }
            assert {names[c] for c, o in at_cut.items() if c in names and not o} == {"C7", "C8"}
            assert got["city"].row("city").counters["open_red"] >= 3
    finally:
        opened.close()
        plain.close()


def test_the_city_is_a_group_at_the_first_minute_of_the_month_without_any_case(store: Engine) -> None:
    """Nothing reported yet and the cut at the month's start: the stored closed days are empty and no case
    is touched, yet the city is a group with zeros — as on the events path (found by the property test)."""
    city = _city(store)
    opened, plain = _engines(city, NOV.start + timedelta(minutes=1))
    try:
        got = opened.evaluate(NOV, GROUPINGS, previous=True)
        assert _figures(got) == _figures(plain.evaluate(NOV, GROUPINGS, previous=True))
        assert [r.key for r in got["city"].rows] == ["city"]
    finally:
        opened.close()
        plain.close()
