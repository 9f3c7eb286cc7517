"""The screen's light schedules agree with ``CaseState.light`` (the domain's rule) at any moment."""

from __future__ import annotations

import random
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.kernel.clock import TimeLimit, TimeUnit
from civicloop.kernel.vocabulary import Stage
from civicloop.simulator.simulate import Simulator
from civicloop.web.index import OpenCaseIndex, build, load_rows
from civicloop.web.lights import DOC_KEYS, LIGHT_NAMES, LightInputs, inputs_from_values, schedule

START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)  # a Monday (local 08:00)


@pytest.fixture
def simulated(backend: tuple[str, Engine], city_id: str) -> City:
    """Three simulated days: cases in every stage, with extensions, suspensions and returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city = init_city("taiyuan", engine=backend[1], city_id=city_id)
    Simulator(city, seed=3, start=START, reports_per_day=300).run_until(START + timedelta(days=3))
    return city


def test_schedules_match_the_domain_light_at_many_moments(simulated: City) -> None:
    city = simulated
    cal = city.calendar
    states = [s for s in city.cases.list_cases(public_status="open", limit=5000)]
    assert len(states) > 50
    assert {s.stage for s in states} >= {Stage.DISPATCHED, Stage.VERIFYING}
    rng = random.Random(7)
    checked = 0
    for s in states:
        doc = s.to_doc()
        sched = schedule(inputs_from_values(s.stage.value, [doc.get(k) for k in DOC_KEYS]), cal)
        base = s.updated_at
        moments = [base + timedelta(minutes=rng.uniform(0, 60 * 24 * 6)) for _ in range(12)]
        moments += [base + timedelta(seconds=1), base + timedelta(days=9, minutes=17)]
        for now in moments:
            want = s.light(cal, now)
            got = LIGHT_NAMES[sched.light(now.timestamp())]
            assert got == (want.value if want else None), (s.case_id, s.stage, now, got, want)
            checked += 1
    assert checked > 500


def test_the_index_built_from_the_table_counts_the_same_lights(simulated: City) -> None:
    city = simulated
    now = datetime.now(UTC)
    index = OpenCaseIndex()
    with city.store.read() as conn:
        n = build(index, conn, city.id, city.calendar)
    states = city.cases.list_cases(public_status="open", limit=5000)
    assert n == len(states) == len(index)
    want = {"green": 0, "yellow": 0, "red": 0, "none": 0}
    for s in states:
        light = s.light(city.calendar, now)
        want[light.value if light else "none"] += 1
    got = index.counts(None, now.timestamp())
    assert got["lights"] == want
    assert got["open"] == len(states)
    # one case reloaded after a change: the index follows it
    with city.store.read() as conn:
        rows = load_rows(conn, city.id, city.calendar, [states[0].case_id])
    assert index.upsert(rows) == [states[0].case_id]


def test_a_stopped_clock_keeps_its_light() -> None:
    from civicloop.city.service import make_calendar
    from civicloop.profile import load_profile

    cal = make_calendar(load_profile("taiyuan"), strict=False)
    x = LightInputs(Stage.SUSPENDED, None, None, TimeLimit(4, TimeUnit.WORK_HOUR), 0.0, 200.0, None)
    sched = schedule(x, cal)
    assert LIGHT_NAMES[sched.light(0)] == LIGHT_NAMES[sched.light(4e9)] == "yellow"  # 200/240 ≥ 80 %
