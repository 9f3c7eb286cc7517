"""The demo's asset rounds: night lighting patrols and component inspections give 着灯率 and 设施完好率
real figures from simulated history, and their cases go round the loop like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from civicloop.assets.rounds import INSPECTION, LIGHTING, AssetRounds
from civicloop.city.service import City
from civicloop.geo.store import component_states, patrol_checks, patrols
from civicloop.kernel.vocabulary import Channel, Stage
from civicloop.kpi.assets import asset_summary, facility_intact_rates, light_on_rates
from civicloop.kpi.core import period_between
from civicloop.simulator.placer import placer_for
from civicloop.simulator.simulate import Simulator, asset_rounds_for, simulate

START = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # Tuesday 1 December, 00:00 in Taiyuan


def test_rounds_are_planned_at_night_and_on_workdays_and_handed_out_once_settled(city: City) -> None:
    rounds = AssetRounds(city, seed=1, start=START)
    assert rounds.enabled and rounds.light_districts
    tz = rounds.tz
    got = rounds.due(START + timedelta(days=7))
    assert got == sorted(got)
    lighting = [r for r in got if r.kind == LIGHTING]
    inspection = [r for r in got if r.kind == INSPECTION]
    # every night, one patrol per district with lights, all between 19:30 and 05:00 local
    nights = {(r.at.astimezone(tz) - timedelta(hours=12)).date() for r in lighting}
    assert len(nights) >= 6
    assert all(r.at.astimezone(tz).hour >= 19 or r.at.astimezone(tz).hour < 5 for r in lighting)
    # inspections on workdays only (5–6 December 2026 is a weekend)
    days = {r.at.astimezone(tz).date() for r in inspection}
    assert days and all(city.calendar.is_workday(d) for d in days)
    assert all(r.at + rounds.settle <= START + timedelta(days=7) for r in got)
    assert rounds.due(START + timedelta(days=7)) == []  # handed out once
    # carried on by another handle (the demo's live loop takes the history's schedule over)
    carried = rounds.moved_to(city)
    later = carried.due(START + timedelta(days=9))
    assert later and min(r.at for r in later) > max(r.at for r in got)
    fresh = AssetRounds(city, seed=1, start=START).due(START + timedelta(days=9))
    assert sorted(got + later) == fresh  # nothing lost, nothing twice


def test_a_city_without_components_has_no_rounds(backend: tuple[str, Engine], city_id: str) -> None:
    from tests.geo.conftest import a_city_with_geography

    bare = a_city_with_geography(backend[1], city_id, components=False)
    assert asset_rounds_for(bare, 1, START) is None


def test_simulated_history_gives_both_asset_rates_a_figure(city: City) -> None:
    period = period_between(
        START.date() + timedelta(days=1), START.date() + timedelta(days=3), "Asia/Shanghai"
    )
    before = asset_summary(city.engine, city.id, period)
    assert before["light_on_rate"][0]["status"] == "no data"  # nothing checked yet: no figure, not 0 %
    sim = Simulator(city, seed=5, start=START, placer=placer_for(city), reports_per_day=200,
                    asset_rounds=asset_rounds_for(city, 5, START))  # fmt: skip
    sim.run_until(START + timedelta(days=3))
    assert sim.report.patrol_checks > 0
    lights = light_on_rates(city.engine, city.id, period)
    city_row = lights[0]
    assert city_row.denominator > 0 and city_row.rate is not None
    assert 0.0 < city_row.rate <= 1.0 and city_row.numerator <= city_row.denominator
    with city.engine.connect() as conn:
        kinds = dict(
            conn.execute(
                select(patrols.c.kind, func.count())
                .where(patrols.c.city_id == city.id)
                .group_by(patrols.c.kind)
            ).all()
        )
        checks = conn.execute(
            select(func.count()).select_from(patrol_checks).where(patrol_checks.c.city_id == city.id)
        ).scalar()
        changes = conn.execute(
            select(func.count())
            .select_from(component_states)
            .where(component_states.c.city_id == city.id, component_states.c.source == "patrol")
        ).scalar()
    assert kinds.get(LIGHTING, 0) >= 2 and kinds.get(INSPECTION, 0) >= 1
    assert checks == sim.report.patrol_checks
    assert changes and changes > 0  # inspections moved component states: 设施完好率 has a history
    facility = facility_intact_rates(city.engine, city.id, period)[0]
    assert facility.rate is not None and 0.0 < facility.rate <= 1.0
    # The rounds' cases go round the loop: some patrol cases got past being reported.
    patrol_cases = [
        s for s in sim.final.values() if s.channel in (Channel.PATROL, Channel.INSPECTOR) and s.component_id
    ]
    assert patrol_cases
    assert any(s.stage is not Stage.REPORTED for s in patrol_cases)


def test_simulate_with_and_without_rounds(city: City) -> None:
    report = simulate(city, days=1.5, seed=2, start=START.date() + timedelta(days=1), asset_rounds=False)
    assert report.patrol_checks == 0
    again = simulate(city, days=1.5, seed=2, start=START.date() + timedelta(days=3))
    assert again.patrol_checks > 0


def test_the_big_screen_shows_a_light_on_rate_after_the_history(city: City) -> None:
    """What `make demo` does on its first start (history with rounds up to now), then the screen's KPIs."""
    from civicloop.web.dashboard import KpiCache
    from civicloop.web.settings import WebSettings

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=2)
    rounds = AssetRounds(city, seed=1, start=start)
    sim = Simulator(
        city, seed=1, start=start, placer=placer_for(city), reports_per_day=100, asset_rounds=rounds
    )
    sim.run_until(now)
    tz = rounds.tz
    month = now.astimezone(tz).strftime("%Y-%m")
    patrolled_this_month = sim.report.patrol_checks > 0 and any(
        r.kind == LIGHTING and r.at.astimezone(tz).strftime("%Y-%m") == month
        for r in AssetRounds(city, seed=1, start=start).due(now)
    )
    snap = KpiCache(city, WebSettings()).refresh()
    assert snap.status == "ok", snap.problem
    if patrolled_this_month:  # always, except in the first hours of a month's first night
        light = snap.assets["light_on_rate"]
        assert light is not None and 0.0 < light <= 1.0
    facility = snap.assets["facility_intact_rate"]
    assert facility is not None and 0.0 < facility <= 1.0
