"""Properties of the evaluation over random event logs (random_log.py), on SQLite and on PostgreSQL.

For every log hypothesis draws — random actions by random roles over October–December 2026, several
departments, districts and channels — and for every month and every grouping:

* every rate (``*_rate``) lies in [0, 1] or is no data, under every variant of the profile, because its
  numerator is a subset of its denominator; a rate without a denominator is None, never 0 or 1;
* every composite score lies in [0, 100] or is None;
* for every additive counter the groups of each area grouping sum to the city total;
* the evaluation from the stored facts of a closed month equals the one from the events;
* a period cut in two adds up to the whole for the flow counters (city, areas, operators, dispatchers).

``KPI_PROPERTY_EXAMPLES`` sets the number of logs per store (default 12; the examples are slow-ish: each
writes a city and evaluates it a dozen times).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.kpi.core import (
    CATALOGUE,
    COUNTER_KEYS,
    RATES,
    Period,
    parse_period,
    period_between,
    rate_parts,
    rates,
)
from civicloop.kpi.engine import AREA_GROUPINGS, GROUPINGS, Evaluation, GroupRow, KpiEngine, city_labels
from civicloop.kpi.export import build_month_facts, export_parquet
from civicloop.kpi.source import open_parquet
from civicloop.simulator.simulate import Simulator, local_midnight
from civicloop.store.database import make_engine
from tests.conftest import PG_URL, REQUIRE_PG, _postgres_engine
from tests.kpi.random_log import draw_log

EXAMPLES = int(os.environ.get("KPI_PROPERTY_EXAMPLES", "12"))
MONTHS = [parse_period(m) for m in ("2026-10", "2026-11", "2026-12")]
NOV = MONTHS[1]
HALVES = [
    period_between(date(2026, 11, 1), date(2026, 11, 13), NOV.timezone),
    period_between(date(2026, 11, 14), date(2026, 11, 30), NOV.timezone),
]
FLOW = [k for k in COUNTER_KEYS if CATALOGUE[k].nature == "flow"]
#: Every counter of the area groupings but the distinct count of grids (a count of distinct values).
ADDITIVE = list(COUNTER_KEYS)
#: Groupings whose key of an event does not depend on the period end (a case's department before its
#: first dispatch, its category and its filer/verifier are taken as of the period end).
SPLIT_GROUPINGS = ["city", "district", "street", "community", "grid", "operator", "dispatcher"]
VARIANTS = [(v, d) for v in ("egova", "activiti") for d in ("handled", "due_to_close")]
_ids = count(1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('kpi-prop') / 'civicloop.db'}")
        yield engine
        engine.dispose()
        return
    if PG_URL is None:
        if REQUIRE_PG:
            pytest.fail("CIVICLOOP_TEST_PG_URL is not set but CIVICLOOP_REQUIRE_PG=1")
        pytest.skip("PostgreSQL not configured: run `make test` to start one")
    yield _postgres_engine()


def _city(engine: Engine) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return init_city(
            "taiyuan", engine=engine, city_id=f"p{os.getpid()}x{next(_ids)}", today=date(2026, 9, 30)
        )


def _check_rates_and_scores(ev: Evaluation) -> None:
    for by, grouping in ev.groupings.items():
        for row in grouping.rows:
            where = f"{ev.period.label} {by}={row.key}"
            for key, value in row.rates.items():
                if key.endswith("_rate") and value is not None:
                    assert 0.0 <= value <= 1.0, (where, key, value, _parts(row, key))
            for variant, base in VARIANTS:
                others = rates(row.counters, dispatch_accuracy_variant=variant, rework_rate_denominator=base)
                for d in RATES:
                    num, den = rate_parts(
                        d.key, dispatch_accuracy_variant=variant, rework_rate_denominator=base
                    )
                    n, m = row.counters.get(num), row.counters.get(den)
                    if n is not None and m is not None:
                        assert 0 <= n <= m, (where, variant, base, d.key, num, n, den, m)
                    value = others[d.key]
                    # no denominator → no data, never a made-up 0 or 1
                    assert (value is None) == (m is None or m == 0 or n is None), (where, d.key, n, m)
            if row.score is not None and row.score.score is not None:
                assert 0.0 <= row.score.score <= 100.0, (where, row.score)
                for term, v in row.score.terms.items():
                    assert v is None or 0.0 <= v <= 100.0, (where, term, v)


def _parts(row: GroupRow, key: str) -> dict[str, float | None]:
    num, den = rate_parts(key)
    return {num: row.counters.get(num), den: row.counters.get(den)}


def _check_groups_sum_to_the_city(ev: Evaluation) -> None:
    city = ev["city"].row("city").counters
    for by in AREA_GROUPINGS:
        if by == "city":
            continue
        for key in ADDITIVE:
            total = sum(r.counters.get(key, 0.0) for r in ev[by].rows)
            assert total == pytest.approx(city[key]), (ev.period.label, by, key, total, city[key])


def _figures(ev: Evaluation) -> dict[str, list[tuple[object, ...]]]:
    return {by: [(r.key, r.counters, r.rates, r.score, r.rank) for r in ev[by].rows] for by in ev.groupings}


def _flow(ev: Evaluation, by: str) -> dict[str | None, dict[str, float]]:
    return {r.key: {k: r.counters.get(k, 0.0) for k in FLOW} for r in ev[by].rows}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_kpis_of_random_event_logs(
    store: Engine, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    city = _city(store)
    draw_log(city, data)
    engine = KpiEngine.for_city(city)
    try:
        by_month: dict[str, Evaluation] = {}
        for month in MONTHS:
            ev = engine.evaluate(month, GROUPINGS, previous=False)
            _check_rates_and_scores(ev)
            _check_groups_sum_to_the_city(ev)
            by_month[month.label] = ev
        # a period cut in two adds up to the whole for the flow counters
        halves = [engine.evaluate(p, SPLIT_GROUPINGS, previous=False) for p in HALVES]
        for by in SPLIT_GROUPINGS:
            whole = _flow(by_month[NOV.label], by)
            parts = [_flow(h, by) for h in halves]
            for key in set(whole) | set(parts[0]) | set(parts[1]):
                for k in FLOW:
                    got = sum(p.get(key, {}).get(k, 0.0) for p in parts)
                    assert got == pytest.approx(whole.get(key, {}).get(k, 0.0)), (by, key, k)
        for half in halves:
            _check_rates_and_scores(half)
        expected = engine.evaluate(NOV, GROUPINGS, previous=True)
    finally:
        engine.close()
    # the stored facts of the closed months give the same figures as the events
    folder: Path = tmp_path_factory.mktemp("kpi-prop-export")
    export_parquet(city, folder, MONTHS[2].start, facts=False)
    build_month_facts(city, folder, MONTHS[:2])
    stored = KpiEngine(open_parquet(folder), city.id, city.calendar, city.profile.kpi, city_labels(city))
    try:
        assert stored.stored_facts(NOV) is not None
        got = stored.evaluate(NOV, GROUPINGS, previous=True)
        assert stored._prepared is None  # read from the facts, not the events
    finally:
        stored.close()
    assert _figures(got) == _figures(expected)


def test_period_helpers_cover_the_month() -> None:
    assert HALVES[0].start == NOV.start and HALVES[1].end == NOV.end and HALVES[0].end == HALVES[1].start
    assert isinstance(NOV, Period)


def test_a_simulated_week_shows_no_impossible_figure(store: Engine) -> None:
    """The demo's loop (the simulator) for seven days: no rate above 1, no score above 100, any day or
    week, any grouping (the issue: 国网太原供电公司 closed 2 of 1 due, 结案率 2.0, score 130)."""
    city = _city(store)
    first = date(2026, 11, 26)
    begin = local_midnight(first, city.profile.timezone)
    Simulator(city, seed=7, start=begin, reports_per_day=300).run_until(begin + timedelta(days=7))
    tz = city.profile.timezone
    days = [period_between(first + timedelta(days=i), first + timedelta(days=i), tz) for i in range(7)]
    engine = KpiEngine.for_city(city)
    try:
        closed = 0.0
        for period in [*days, period_between(first, first + timedelta(days=6), tz), MONTHS[2]]:
            ev = engine.evaluate(period, GROUPINGS, previous=False)
            _check_rates_and_scores(ev)
            _check_groups_sum_to_the_city(ev)
            closed = max(closed, ev["city"].row("city").counters["closed"])
    finally:
        engine.close()
    assert closed > 0  # the week did close cases: the check above was not vacuous
