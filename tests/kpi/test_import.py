"""Replaying another system's history: a NYC-311-shaped export, checked against pandas on the same file."""

from __future__ import annotations

import csv
import warnings
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.kpi.core import parse_period
from civicloop.kpi.engine import KpiEngine
from civicloop.kpi.importer import ImportFailed, import_cases, load_mapping
from civicloop.store.tables import events

DATA = Path(__file__).parent / "data"
CSV = DATA / "nyc311_sample.csv"
MAPPING = DATA / "nyc311_mapping.toml"
AGENCY = {"NYPD": "ty-traffic-police", "DSNY": "ty-sanitation", "DOT": "ty-roads", "DEP": "ty-drainage"}
YEAR = parse_period("2026")


def _city(backend: tuple[str, Engine], city_id: str) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return init_city("taiyuan", engine=backend[1], city_id=city_id, today=date(2026, 11, 26))


def _events(city: City) -> int:
    with city.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(events.c.city_id == city.id)).scalar_one())


def _pandas_on_time_rate(path: Path) -> dict[str, float]:
    """按期结案率 per agency, as the docs define it, computed independently with pandas."""
    df = pd.read_csv(path, dtype=str)
    fmt = "%m/%d/%Y %I:%M:%S %p"
    created = pd.to_datetime(df["Created Date"], format=fmt).dt.tz_localize("America/New_York")
    due = pd.to_datetime(df["Due Date"], format=fmt).dt.tz_localize("America/New_York")
    closed_at = pd.to_datetime(df["Closed Date"], format=fmt).dt.tz_localize("America/New_York")
    assert (created.dt.year == 2026).all()
    end = pd.Timestamp(YEAR.end)
    is_closed = df["Status"] == "Closed"
    on_time = is_closed & (closed_at <= due)
    overdue_open = ~is_closed & (due < end)
    frame = pd.DataFrame({"agency": df["Agency"], "on_time": on_time, "due": is_closed | overdue_open})
    sums = frame.groupby("agency")[["on_time", "due"]].sum()
    return {agency: float(r.on_time) / float(r.due) for agency, r in sums.iterrows()}


def test_a_311_export_imports_and_its_on_time_rate_per_agency_matches_pandas(
    backend: tuple[str, Engine], city_id: str
) -> None:
    city = _city(backend, city_id)
    report = import_cases(city, CSV, MAPPING)
    rows = sum(1 for _ in csv.DictReader(CSV.open()))
    assert report.imported == rows == 72 and not report.bad
    closed = sum(1 for r in csv.DictReader(CSV.open()) if r["Status"] == "Closed")
    assert report.events == 8 * closed + 4 * (rows - closed)
    expected = _pandas_on_time_rate(CSV)
    engine = KpiEngine.for_city(city)
    try:
        dep = engine.evaluate(YEAR, ["department"], previous=False)["department"]
        got = {agency: dep.row(dept).rates["on_time_closure_rate"] for agency, dept in AGENCY.items()}
    finally:
        engine.close()
    assert got == pytest.approx(expected)
    assert len(set(expected.values())) > 1  # the agencies really differ
    # the imported cases carry the source's id and the import channel
    state = city.cases.get(report.case_ids[0])
    assert state.channel.value == "import" and state.external_id is not None


def _with_bad_rows(tmp_path: Path) -> tuple[Path, list[int]]:
    lines = CSV.read_text().splitlines()
    header, body = lines[0], lines[1:]
    cols = next(csv.reader([header]))
    bad: list[int] = []
    out_rows = []
    for i, line in enumerate(body):
        row = next(csv.reader([line]))
        if i == 3:
            row[cols.index("Created Date")] = ""
        elif i == 10:
            row[cols.index("Agency")] = "HPD"  # not in the mapping
        elif i == 20 and row[cols.index("Closed Date")]:
            row[cols.index("Closed Date")] = "01/01/2020 10:00:00 AM"  # closed before created
        elif i == 30:
            row[cols.index("Created Date")] = "31/31/2026 99:00:00 PM"
        else:
            out_rows.append(row)
            continue
        bad.append(i + 2)  # line numbers: the header is line 1
        out_rows.append(row)
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows(out_rows)
    return path, bad


def test_bad_rows_are_reported_by_line_and_nothing_is_half_imported(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = _city(backend, city_id)
    path, bad_lines = _with_bad_rows(tmp_path)
    with pytest.raises(ImportFailed) as info:
        import_cases(city, path, MAPPING)
    assert [b.line for b in info.value.bad] == bad_lines
    reasons = " | ".join(b.reason for b in info.value.bad)
    assert "created" in reasons and "HPD" in reasons and "closed before created" in reasons
    assert _events(city) == 0  # nothing written
    report = import_cases(city, path, MAPPING, skip_bad=True)
    assert report.imported == 72 - len(bad_lines) and [b.line for b in report.bad] == bad_lines
    assert _events(city) == report.events > 0


def test_a_refusal_inside_the_batch_rolls_everything_back(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    """A row the domain refuses (a latitude beyond the pole) is caught in staging, before anything is
    written. (A row without any location is no refusal: it is imported unlocated, see
    test_import_exports.py.)"""
    city = _city(backend, city_id)
    rows = list(csv.DictReader(CSV.open()))
    rows[5]["Latitude"] = "95.0"
    path = tmp_path / "noloc.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ImportFailed) as info:
        import_cases(city, path, MAPPING)
    assert [b.line for b in info.value.bad] == [7] and "lat" in info.value.bad[0].reason
    assert _events(city) == 0


def test_mapping_files_can_be_yaml(tmp_path: Path) -> None:
    yaml_path = tmp_path / "map.yaml"
    yaml_path.write_text(
        "columns: {created: c, category: t, department: a, status: s}\n"
        "formats: {created: iso, timezone: Asia/Shanghai}\nstatus: {done: closed}\n",
        encoding="utf-8",
    )
    m = load_mapping(yaml_path)
    assert m.columns["created"] == "c" and m.status == {"done": "closed"} and m.timezone == "Asia/Shanghai"
