"""Stored facts of closed months: the same figures as the events give, used only while they are current."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from civicloop.city.service import City
from civicloop.cli.main import app
from civicloop.kernel.clock import WorkCalendar
from civicloop.kpi import engine as kpi_engine
from civicloop.kpi.core import parse_period, period_between
from civicloop.kpi.engine import GROUPINGS, Evaluation, KpiEngine, city_labels
from civicloop.kpi.export import export_parquet
from civicloop.kpi.source import open_parquet
from tests.kpi.history import History

NOV = parse_period("2026-11")
OCT = parse_period("2026-10")


def _figures(ev: Evaluation) -> dict[str, list[tuple[object, ...]]]:
    return {
        by: [
            (r.key, r.counters, r.rates, r.score, r.rank, r.previous_rank, r.rank_change) for r in ev[by].rows
        ]
        for by in GROUPINGS
    }


def _engine(city: City, folder: Path, calendar: WorkCalendar | None = None) -> KpiEngine:
    cal = calendar or city.calendar
    return KpiEngine(open_parquet(folder), city.id, cal, city.profile.kpi, city_labels(city))


@pytest.fixture()
def export(sqlite_month: tuple[History, str], tmp_path: Path) -> Path:
    city = sqlite_month[0].city
    folder = tmp_path / "export"
    manifest = export_parquet(city, folder, parse_period("2026-12").start)
    # history.py starts in October: both months are closed by 1 December, December is not
    assert [f["period"] for f in manifest["facts"]] == ["2026-10", "2026-11"]
    return folder


def test_figures_from_stored_facts_equal_the_events(sqlite_month: tuple[History, str], export: Path) -> None:
    city = sqlite_month[0].city
    live = KpiEngine.for_city(city)
    expected = live.evaluate(NOV, GROUPINGS, previous=True)
    live.close()
    engine = _engine(city, export)
    assert engine.stored_facts(NOV) is not None and engine.stored_facts(OCT) is not None
    got = engine.evaluate(NOV, GROUPINGS, previous=True)
    assert engine._prepared is None  # nothing was read from the events
    assert _figures(got) == _figures(expected)
    # the same month asked as a date range finds the same facts
    assert (
        engine.stored_facts(period_between(date(2026, 11, 1), date(2026, 11, 30), NOV.timezone)) is not None
    )
    assert engine.stored_facts(period_between(date(2026, 11, 1), date(2026, 11, 29), NOV.timezone)) is None
    engine.close()
    # the facts alone carry the evaluation: with the events emptied the figures stay the same …
    events = export / "events" / "events.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{events}') LIMIT 0) TO '{export / 'empty.parquet'}'")
    con.close()
    (export / "empty.parquet").replace(events)
    engine = _engine(city, export)
    assert _figures(engine.evaluate(NOV, GROUPINGS, previous=True)) == _figures(expected)
    # … while an explanation goes back to the (here emptied) events
    assert engine.explain(NOV, "closed", "city", None)["counter"]["count"] == 0
    engine.close()


def test_facts_of_another_spec_or_calendar_are_ignored(
    sqlite_month: tuple[History, str], export: Path
) -> None:
    city = sqlite_month[0].city
    live = KpiEngine.for_city(city)
    expected = live.evaluate(NOV, GROUPINGS, previous=False)
    live.close()
    # stale facts (another engine version) with wrong numbers in them: not used
    manifest_path = export / "facts" / "2026-11" / "facts.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["spec"] = "0" * 20
    manifest_path.write_text(json.dumps(manifest))
    engine = _engine(city, export)
    assert engine.stored_facts(NOV) is None
    assert _figures(engine.evaluate(NOV, GROUPINGS, previous=False)) == _figures(expected)
    assert engine._prepared == NOV  # computed from the events
    engine.close()
    # another working calendar (a day off added) changes the spec: October's facts are not used either
    cal = city.calendar
    other = WorkCalendar(replace(cal.spec, day_kinds={**cal.spec.day_kinds, NOV.first_day: False}))
    engine = _engine(city, export, other)
    assert engine.stored_facts(OCT) is None
    engine.close()
    # rebuilt by the command
    result = CliRunner().invoke(
        app, ["kpi", "facts", "--parquet", str(export), "--period", "2026-11", "--database", sqlite_month[1]]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["period"] == "2026-11"
    engine = _engine(city, export)
    assert engine.stored_facts(NOV) is not None
    assert _figures(engine.evaluate(NOV, GROUPINGS, previous=False)) == _figures(expected)
    engine.close()


def test_an_open_period_has_no_facts(sqlite_month: tuple[History, str], export: Path) -> None:
    city = sqlite_month[0].city
    engine = _engine(city, export)
    december = parse_period("2026-12")
    assert engine.stored_facts(december) is None
    with pytest.raises(ValueError, match="watermark"):
        engine.build_facts(december)
    engine.close()
    assert not (export / "facts" / "2026-12").exists()
    assert not [p for p in (export / "facts").iterdir() if p.name.startswith(".")]  # no staging left
    result = CliRunner().invoke(
        app, ["kpi", "facts", "--parquet", str(export), "--period", "2026-12", "--database", sqlite_month[1]]
    )
    assert result.exit_code == 2
    assert "--period" in result.output and "watermark" in result.output
    result = CliRunner().invoke(
        app, ["kpi", "facts", "--parquet", str(export), "--period", "2026-13", "--database", sqlite_month[1]]
    )
    assert result.exit_code == 2 and "--period" in result.output


def test_a_closed_months_ranks_are_kept_with_its_facts_per_settings(
    sqlite_month: tuple[History, str], export: Path
) -> None:
    city = sqlite_month[0].city
    live = KpiEngine.for_city(city)
    expected = live.evaluate(NOV, GROUPINGS, previous=True)
    live.close()
    engine = _engine(city, export)
    assert _figures(engine.evaluate(NOV, GROUPINGS, previous=True)) == _figures(expected)
    engine.close()
    kept = list((export / "facts" / "2026-10").glob("ranks-*.json"))
    assert len(kept) == 1  # October's ranks, kept by the first evaluation of November
    ranks = json.loads(kept[0].read_text())
    assert ranks["department"] == {
        r.key: r.previous_rank for r in expected["department"].rows if r.previous_rank is not None
    }
    # the next evaluation reads them (a planted rank shows) instead of grouping October again
    planted = next(iter(ranks["department"]))
    ranks["department"][planted] = 99
    kept[0].write_text(json.dumps(ranks))
    engine = _engine(city, export)
    got = engine.evaluate(NOV, GROUPINGS, previous=True)
    engine.close()
    assert {r.key: r.previous_rank for r in got["department"].rows}[planted] == 99
    # other settings rank otherwise: their own file, October evaluated again
    other = city.profile.kpi.model_copy(update={"rework_rate_denominator": "due_to_close"})
    engine = KpiEngine(open_parquet(export), city.id, city.calendar, other, city_labels(city))
    got = engine.evaluate(NOV, GROUPINGS, previous=True)
    engine.close()
    assert 99 not in {r.previous_rank for r in got["department"].rows}
    assert len(list((export / "facts" / "2026-10").glob("ranks-*.json"))) == 2


def test_a_closed_months_ranks_files_are_pruned_least_recently_used_first(
    sqlite_month: tuple[History, str], export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kpi_engine, "KEEP_RANKS", 2)
    city = sqlite_month[0].city
    folder = export / "facts" / "2026-10"

    def evaluate(**update: str) -> set[Path]:
        settings = city.profile.kpi.model_copy(update=update)
        engine = KpiEngine(open_parquet(export), city.id, city.calendar, settings, city_labels(city))
        engine.evaluate(NOV, GROUPINGS, previous=True)
        engine.close()
        return set(folder.glob("ranks-*.json"))

    first = evaluate()
    second = evaluate(rework_rate_denominator="due_to_close") - first
    assert len(first) == 1 and len(second) == 1
    old = time.time() - 3600
    for p in first | second:  # both written an hour ago: the next use decides, not the clock's grain
        os.utime(p, (old, old))
    assert evaluate() == first | second  # read again: used now, nothing written or removed
    third = evaluate(dispatch_accuracy_variant="activiti")
    assert len(third) == 2 and first <= third and not (second & third)  # the least recently used went
