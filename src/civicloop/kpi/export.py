"""Parquet export of closed periods (the analytics copy of the event log).

``export_parquet(city, folder, until)`` writes every event of the city before *until* to
``folder/events/events.parquet`` (sorted by case and sequence, so DuckDB's row-group statistics skip
most of the file for a recent period; with the ``kpi_data`` column — the fields of ``data`` the KPI
engine reads, parsed once here, so evaluations of exported periods never parse JSON), a snapshot of
the case projection's dates to ``folder/cases.parquet`` and ``folder/manifest.json`` with the
watermark (and the ``kpi_data`` spec). ``open_parquet(folder)`` then evaluates periods ending by the
watermark from Parquet alone; ``open_parquet(folder, engine=…)`` (a *hybrid* source) adds the live
store's events from the watermark on, for the open period.

Events are immutable, so an exported period never changes — except through a history import that
writes events with old timestamps: export again after an import.

With ``facts=True`` (the default; ``civicloop kpi export --no-facts`` skips it) every calendar month
that ends by the watermark also gets its stored facts (:mod:`civicloop.kpi.facts`): the evaluation
of an exported month then sums pre-aggregated counters instead of re-reading its events.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.kpi.core import Period, parse_period
from civicloop.kpi.source import KPI_DATA_SPEC, MANIFEST, open_parquet, open_source


def export_parquet(city: Any, folder: Path, until: datetime, *, facts: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    folder = Path(folder)
    events_dir = folder / "events"
    if events_dir.exists():
        shutil.rmtree(events_dir)
    events_dir.mkdir(parents=True)
    src = open_source(city.engine)
    watermark = until.astimezone(UTC).replace(tzinfo=None)
    try:
        src.prepare(city.id, until)
        con = src.con
        target = str(events_dir / "events.parquet").replace("'", "''")
        con.execute(
            f'COPY (SELECT * FROM raw_events WHERE city_id = $city AND "at" < $until ORDER BY case_id, seq) '
            f"TO '{target}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
            {"city": city.id, "until": watermark},
        )
        cases_target = str(folder / "cases.parquet").replace("'", "''")
        con.execute(
            f"COPY (SELECT * FROM raw_cases WHERE city_id = $city ORDER BY case_id) TO '{cases_target}' "
            "(FORMAT parquet, COMPRESSION zstd)",
            {"city": city.id},
        )
        row = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()
        events = int(row[0]) if row else 0
    finally:
        src.close()
    manifest = {
        "city_id": city.id,
        "until": watermark.isoformat(sep=" "),
        "until_utc": until.astimezone(UTC).isoformat(),
        "events": events,
        "kpi_data_spec": KPI_DATA_SPEC,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": src.description,
        "seconds": round(time.perf_counter() - started, 3),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    if facts:
        manifest["facts"] = build_month_facts(city, folder)
    return manifest


def closed_months(city: Any, folder: Path) -> list[Period]:
    """The calendar months (city time) from the export's first event to the last one ending by its
    watermark."""
    src = open_parquet(folder)
    try:
        row = src.con.execute('SELECT min("at") FROM raw_events WHERE city_id = ?', [city.id]).fetchone()
        watermark = src.watermark
    finally:
        src.close()
    if row is None or row[0] is None or watermark is None:
        return []
    tz = city.profile.timezone
    first = row[0].replace(tzinfo=UTC).astimezone(ZoneInfo(tz))
    out: list[Period] = []
    p = parse_period(f"{first.year:04d}-{first.month:02d}", tz)
    while p.end.astimezone(UTC).replace(tzinfo=None) <= watermark:
        out.append(p)
        y, m = p.first_day.year, p.first_day.month
        p = parse_period(f"{y + m // 12:04d}-{m % 12 + 1:02d}", tz)
    return out


def build_month_facts(city: Any, folder: Path, periods: list[Period] | None = None) -> list[dict[str, Any]]:
    """Store the facts of *periods* (default: every closed month of the export)."""
    from civicloop.kpi.engine import KpiEngine, city_labels

    months = closed_months(city, folder) if periods is None else periods
    engine = KpiEngine(open_parquet(folder), city.id, city.calendar, city.profile.kpi, city_labels(city))
    try:
        return [engine.build_facts(p) for p in months]
    finally:
        engine.close()
