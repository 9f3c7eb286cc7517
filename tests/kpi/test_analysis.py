"""研判 on the hand-built month: hotspots, recurring places, time profiles, the forecast; Parquet export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from civicloop.kpi.analysis import Analyst
from civicloop.kpi.core import parse_period
from civicloop.kpi.engine import GROUPINGS, Evaluation, KpiEngine, city_labels
from civicloop.kpi.export import export_parquet
from civicloop.kpi.source import KPI_DATA_SPEC, SourceError, open_parquet, open_source
from tests.kpi.history import G1, G2, History

NOV = parse_period("2026-11")


@pytest.fixture(scope="module")
def analyst(sqlite_month: tuple[History, str]) -> Analyst:
    city = sqlite_month[0].city
    return Analyst(open_source(city.engine), city.id, city.profile.timezone, city.engine)


def test_hotspots_per_grid_with_the_change_against_last_month(analyst: Analyst) -> None:
    rows = analyst.hotspots(NOV, level="grid")
    assert [(r["area"], r["category_code"], r["cases"], r["previous"], r["change"]) for r in rows] == [
        (G1, "06010", 7, 1, 6),  # C1 C3 C4 C6 C8 C11 C13; October had C9
        (G2, "06010", 5, 0, 5),  # C2 C5 C7 C10 C12
    ]
    assert rows[0]["per_km2"] is None  # no grid geometry in this database


def test_recurring_places_and_time_profiles(analyst: Analyst, sqlite_month: tuple[History, str]) -> None:
    places = analyst.recurring_places(NOV, min_cases=5)
    assert [(p["district_code"], p["cases"]) for p in places] == [("140105", 7), ("140106", 5)]
    assert places[0]["address"] == "坞城路 12 号"
    prof = analyst.time_profiles(NOV)
    assert prof["peak_hour"]["06010"] == 9 and sum(prof["all_hours"]) == 12
    assert prof["weekdays"]["06010"][:4] == [5, 3, 3, 1]  # Mon: C1 C2 C6 C7 C8; Tue: C3 C10 C11; …


def test_forecast_next_week_with_its_backtest_error(analyst: Analyst) -> None:
    fc = analyst.forecast(datetime(2026, 12, 1, tzinfo=UTC), weeks=6)
    assert fc["week_starting"] == "2026-11-30"  # the week after the last full week before 1 December
    series = {(s["district_code"], s["category_code"]): s for s in fc["series"]}
    d1 = series[("140105", "06010")]
    # weeks from Mon 19 Oct: C9 (30 Oct); C1 C3 C4 C11 C13 (2–4 Nov); nothing until 29 Nov
    assert d1["history"] == [0.0, 1.0, 5.0, 0.0, 0.0, 0.0]
    assert d1["naive"] == 0.0 and d1["exp_smoothing"] == pytest.approx(0.34375, abs=1e-3)  # α = 0.5
    assert fc["method"] in ("naive", "exp_smoothing")
    assert fc["errors"]["naive"]["mae"] is not None and fc["errors"]["naive"]["n"] == 10


def test_a_parquet_export_gives_the_same_figures(sqlite_month: tuple[History, str], tmp_path: Path) -> None:
    city = sqlite_month[0].city
    live = KpiEngine.for_city(city)
    expected = live.evaluate(NOV, GROUPINGS, previous=False)
    live.close()
    manifest = export_parquet(city, tmp_path / "export", parse_period("2026-12").start)
    assert manifest["events"] == 83  # every event of history.py
    for src in (open_parquet(tmp_path / "export"), None):
        if src is None:  # hybrid: the export only up to mid-November, the rest from the store
            export_parquet(city, tmp_path / "half", parse_period("2026-11-16").start)
            src = open_parquet(tmp_path / "half", engine=city.engine)
            assert src.kind == "hybrid"
        engine = KpiEngine(src, city.id, city.calendar, city.profile.kpi, city_labels(city))
        got = engine.evaluate(NOV, GROUPINGS, previous=False)
        for by in GROUPINGS:
            assert {r.key: r.counters for r in got[by].rows} == {r.key: r.counters for r in expected[by].rows}
        engine.close()
    with pytest.raises(SourceError):
        open_parquet(tmp_path / "nothing")


def _figures(ev: Evaluation) -> dict[str, list[tuple[object, ...]]]:
    return {
        by: [(r.key, r.counters, r.rates, r.rank, r.previous_rank, r.rank_change) for r in ev[by].rows]
        for by in GROUPINGS
    }


def test_the_export_stores_the_kpi_fields_and_an_older_export_parses_the_json(
    sqlite_month: tuple[History, str], tmp_path: Path
) -> None:
    city = sqlite_month[0].city
    live = KpiEngine.for_city(city)
    expected = live.evaluate(NOV, GROUPINGS, previous=True)  # both months from one read of the store
    live.close()
    # the previous-period ranks are those of October evaluated on its own
    alone = KpiEngine.for_city(city)
    october = alone.evaluate(NOV.previous(), GROUPINGS, previous=False)
    alone.close()
    for by in GROUPINGS:
        ranks = {str(r.key): r.rank for r in october[by].rows if r.rank is not None and r.key is not None}
        for r in expected[by].rows:
            if r.key is not None and r.score is not None:
                assert r.previous_rank == ranks.get(str(r.key))
    folder = tmp_path / "export"
    manifest = export_parquet(city, folder, parse_period("2026-12").start)
    assert manifest["kpi_data_spec"] == KPI_DATA_SPEC
    src = open_parquet(folder)
    assert "JSON parsed" not in src.description
    row = src.con.execute(
        "SELECT count(kpi_data.department_id) FROM read_parquet($f) WHERE action = 'dispatch'",
        {"f": str(folder / "events" / "events.parquet")},
    ).fetchone()
    assert row is not None and row[0] > 0  # stored in the file, not parsed when read
    engine = KpiEngine(src, city.id, city.calendar, city.profile.kpi, city_labels(city))
    assert _figures(engine.evaluate(NOV, GROUPINGS, previous=True)) == _figures(expected)
    engine.close()
    # an export written before the column (no spec in its manifest) is read with the JSON parsed again
    del manifest["kpi_data_spec"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    src = open_parquet(folder)
    assert "JSON parsed" in src.description
    engine = KpiEngine(src, city.id, city.calendar, city.profile.kpi, city_labels(city))
    assert _figures(engine.evaluate(NOV, GROUPINGS, previous=True)) == _figures(expected)
    engine.close()
