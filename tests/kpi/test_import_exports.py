"""Real exports import: rows without a due date, due when created, without a location, without a status.

Two synthetic exports are generated here, shaped like the public 311 open-data exports (no real data):
a service-request export (CreatedDate, DueDate, CloseDate, SRStatus, Agency, SRType, Address, Latitude,
Longitude, with the gaps real exports have) and a complaints export with no due and no status columns.
Every row with a created time must import; what each gap becomes is checked case by case.
"""

from __future__ import annotations

import csv
import json
import random
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.cli.main import app
from civicloop.intake.locating import locate_by_address, locate_case, unlocated_cases
from civicloop.kernel.clock import TimeLimit, TimeUnit
from civicloop.kernel.errors import InvalidField
from civicloop.kernel.vocabulary import Action, Role, Stage, Urgency
from civicloop.kpi.core import parse_period
from civicloop.kpi.engine import KpiEngine
from civicloop.kpi.importer import PROFILE_LIMIT_NOTE, ImportFailed, import_cases, load_mapping, refused_path

DATA = Path(__file__).parent / "data"
REQUESTS_MAP = DATA / "us311_requests_mapping.toml"
COMPLAINTS_MAP = DATA / "us311_complaints_mapping.toml"
LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")
US_FMT = "%m/%d/%Y %I:%M:%S %p"
YEAR = parse_period("2026")
AGENCIES = {"Street Services": "ty-roads", "Street Lighting": "ty-lighting", "Sanitation": "ty-sanitation"}
SR_TYPES = {"Pothole": "06013", "Street Light Out": "01037", "Illegal Dumping": "06011", "Litter": "06012"}
OPERATOR = Actor("op-1", Role.OPERATOR)


def _city(backend: tuple[str, Engine], city_id: str) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return init_city("taiyuan", engine=backend[1], city_id=city_id, today=date(2026, 11, 26))


@dataclass
class Sr:
    """One generated row and what it is meant to exercise."""

    row: dict[str, str]
    kind: str  # normal | no_due | zero | zero_closed | no_location | address_only
    created: datetime
    closed: datetime | None


def _requests_export(path: Path, n: int, seed: int) -> list[Sr]:
    rng = random.Random(seed)
    out: list[Sr] = []
    kinds = (
        ["normal"] * 10 + ["no_due"] * 3 + ["zero", "zero_closed"] + ["no_location"] * 2 + ["address_only"]
    )
    for i in range(n):
        kind = kinds[i % len(kinds)] if i >= len(kinds) else kinds[i]
        created = datetime(2026, 3, 1, 8, tzinfo=LA) + timedelta(minutes=rng.randint(0, 200_000))
        agency = rng.choice(list(AGENCIES))
        sr_type = rng.choice(list(SR_TYPES))
        due: datetime | None = created + timedelta(hours=rng.choice([24, 72, 120]))
        closed: datetime | None = (
            created + timedelta(hours=rng.uniform(1, 150)) if rng.random() < 0.7 else None
        )
        status = "Closed" if closed else rng.choice(["Open", "In Progress", "Pending"])
        if kind == "no_due":
            due = None
        elif kind == "zero":
            due = created
        elif kind == "zero_closed":
            due = closed = created  # closed in the same second: on time at the source
            status = "Closed"
        lat, lon = 37.78 + rng.random() * 0.1, 112.50 + rng.random() * 0.1
        row = {
            "SRNumber": f"1-{100000000 + i}",
            "CreatedDate": created.strftime(US_FMT),
            "DueDate": due.strftime(US_FMT) if due else "",
            "CloseDate": closed.strftime(US_FMT) if closed else "",
            "SRStatus": status,
            "Agency": agency,
            "SRType": sr_type,
            "Priority": rng.choice(["High", "Normal", "Low", ""]),
            "Address": f"{rng.randint(1, 9999)} {rng.choice(['MAIN ST', 'OAK AVE', '5TH ST'])}",
            "Latitude": f"{lat:.6f}",
            "Longitude": f"{lon:.6f}",
        }
        if kind == "no_location":
            row["Address"] = row["Latitude"] = row["Longitude"] = ""
        elif kind == "address_only":
            row["Latitude"] = row["Longitude"] = ""
        out.append(Sr(row, kind, created.astimezone(UTC), closed.astimezone(UTC) if closed else None))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(out[0].row))
        w.writeheader()
        w.writerows(sr.row for sr in out)
    return out


def _iso(moment: datetime) -> str:
    """Local time without an offset, as the open-data portals write it: 2026-04-01T10:15:00.000."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds")


def _complaints_export(path: Path, n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    types = ["Noise - Street/Sidewalk", "Illegal Parking", "Dirty Condition", "Street Condition"]
    for i in range(n):
        created = datetime(2026, 4, 1, tzinfo=NY) + timedelta(seconds=rng.randint(0, 20_000_000))
        closed = created + timedelta(hours=rng.uniform(0.2, 200)) if rng.random() < 0.8 else None
        located = rng.random() > 0.1
        rows.append(
            {
                "unique_key": str(60000000 + i),
                "created_date": _iso(created),
                "closed_date": closed.replace(tzinfo=None).isoformat(timespec="milliseconds")
                if closed
                else "",
                "agency": rng.choice(["NYPD", "DSNY", "DOT"]),
                "complaint_type": rng.choice(types),
                "descriptor": rng.choice(["Loud Music/Party", "Blocked Hydrant", "Trash", "Pothole"]),
                "latitude": f"{37.8 + rng.random() * 0.05:.9f}" if located else "",
                "longitude": f"{112.52 + rng.random() * 0.05:.9f}" if located else "",
            }
        )
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def _by_external_id(city: City, case_ids: list[str]) -> dict[str, str]:
    return {city.cases.get(c).external_id or "": c for c in case_ids}


def test_a_service_request_export_with_the_gaps_of_real_ones_imports_every_row(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = _city(backend, city_id)
    path = tmp_path / "requests.csv"
    rows = _requests_export(path, 180, seed=11)
    report = import_cases(city, path, REQUESTS_MAP)
    assert report.imported == report.rows == len(rows) and not report.bad
    kinds = [sr.kind for sr in rows]
    assert report.profile_limits == kinds.count("no_due")
    assert report.zero_limits == kinds.count("zero") + kinds.count("zero_closed")
    assert report.unlocated == kinds.count("no_location") + kinds.count("address_only")
    ids = _by_external_id(city, report.case_ids)
    cal = city.calendar
    now = datetime(2026, 11, 26, tzinfo=UTC)
    for sr in rows:
        state = city.cases.get(ids[sr.row["SRNumber"]])
        urgency = Urgency.URGENT if sr.row["Priority"] == "High" else Urgency.NORMAL
        assert state.urgency is urgency
        assert state.department_id == AGENCIES[sr.row["Agency"]]
        assert state.stage is (Stage.CLOSED if sr.closed else Stage.DISPATCHED)
        file_event = next(e for e in city.cases.timeline(state.case_id) if e.action is Action.FILE)
        if sr.kind == "no_due":
            # the profile's limit for the category and urgency, and the case says so
            assert state.handling_limit == city.rules.handling_limit(SR_TYPES[sr.row["SRType"]], 1, urgency)
            assert file_event.note == PROFILE_LIMIT_NOTE
        else:
            assert state.handling_limit is not None and state.handling_limit.unit is TimeUnit.NATURAL_HOUR
            assert file_event.note != PROFILE_LIMIT_NOTE
        if sr.kind in ("zero", "zero_closed"):
            assert state.handling_limit == TimeLimit(0, TimeUnit.NATURAL_HOUR)
            assert state.deadline == sr.created
            if sr.kind == "zero_closed":
                assert state.handled_on_time is True  # closed in the same second: on time, as at the source
            elif sr.closed is None:
                assert state.overdue(cal, now) and state.light(cal, now) is not None
        if sr.kind in ("no_location", "address_only"):
            assert state.lon is None and state.lat is None
            assert (state.address is None) is (sr.kind == "no_location")
        else:
            assert state.lon is not None
    # 待定位: the cases without coordinates are listed, newest first …
    queue, total = unlocated_cases(city, limit=500)
    assert total == report.unlocated == len(queue)
    assert {s.case_id for s in queue} == {
        ids[sr.row["SRNumber"]] for sr in rows if sr.kind in ("no_location", "address_only")
    }
    assert [s.created_at for s in queue] == sorted((s.created_at for s in queue), reverse=True)
    # … and they count in the department figures like any other case.
    engine = KpiEngine.for_city(city)
    try:
        dep = engine.evaluate(YEAR, ["department"], previous=False)["department"]
    finally:
        engine.close()
    for agency, dept in AGENCIES.items():
        handled = sum(1 for sr in rows if sr.closed and sr.row["Agency"] == agency)
        assert dep.row(dept).counters["handled"] == handled


def test_unlocated_cases_are_located_later_when_their_address_geocodes(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = _city(backend, city_id)
    path = tmp_path / "requests.csv"
    rows = _requests_export(path, 36, seed=3)
    report = import_cases(city, path, REQUESTS_MAP)
    ids = _by_external_id(city, report.case_ids)
    with_address = [sr for sr in rows if sr.kind == "address_only"]
    without = [sr for sr in rows if sr.kind == "no_location"]
    assert with_address and without
    known = {with_address[0].row["Address"]: (112.55, 37.85)}  # one address resolves, others do not
    result = locate_by_address(city, known.get)
    first = ids[with_address[0].row["SRNumber"]]
    assert result.located == [first] and result.tried == len(with_address)
    state = city.cases.get(first)
    assert (state.lon, state.lat) == (112.55, 37.85) and state.address == with_address[0].row["Address"]
    timeline = city.cases.timeline(first)
    assert timeline[-1].action is Action.LOCATE and timeline[-1].actor_role is Role.SYSTEM
    _, total = unlocated_cases(city)
    assert total == report.unlocated - 1
    # an operator places one by hand; a case with a position is never moved this way
    other = ids[without[0].row["SRNumber"]]
    locate_case(city, other, lon=112.56, lat=37.84, actor=OPERATOR, address="迎泽大街 1 号")
    with pytest.raises(InvalidField) as refused:
        locate_case(city, other, lon=112.57, lat=37.83, actor=OPERATOR)
    assert refused.value.field == "lon"
    assert city.cases.get(other).lon == 112.56


def test_a_complaints_export_without_due_or_status_columns_imports_every_row(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = _city(backend, city_id)
    path = tmp_path / "complaints.csv"
    rows = _complaints_export(path, 120, seed=5)
    m = load_mapping(COMPLAINTS_MAP)
    assert "status" not in m.columns and "due" not in m.columns
    report = import_cases(city, path, m)
    assert report.imported == len(rows) and not report.bad
    assert report.profile_limits == len(rows)
    assert report.unlocated == sum(1 for r in rows if not r["latitude"])
    stages = [city.cases.get(c).stage for c in report.case_ids]
    closed = [r for r in rows if r["closed_date"]]
    assert stages.count(Stage.CLOSED) == len(closed)  # a closed date and no status: closed
    assert stages.count(Stage.DISPATCHED) == len(rows) - len(closed)


def test_refusals_name_the_row_and_the_column_and_skip_bad_writes_them_beside_the_input(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = _city(backend, city_id)
    path = tmp_path / "requests.csv"
    rows = _requests_export(path, 20, seed=7)
    lines = path.read_text(encoding="utf-8").splitlines()
    reader = list(csv.DictReader(lines))
    reader[2]["DueDate"] = "13/45/2026 99:00:00 XM"  # line 4
    reader[5]["Agency"] = "Parks"  # line 7: no mapping
    reader[8]["CreatedDate"] = ""  # line 10: nothing to import
    reader[9]["Latitude"] = "north"  # line 11
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(reader[0]))
        w.writeheader()
        w.writerows(reader)
    with pytest.raises(ImportFailed) as failed:
        import_cases(city, path, REQUESTS_MAP)
    bad = {b.line: b for b in failed.value.bad}
    assert sorted(bad) == [4, 7, 10, 11]
    assert {line: b.column for line, b in bad.items()} == {
        4: "DueDate",
        7: "Agency",
        10: "CreatedDate",
        11: "Latitude",
    }
    assert bad[4].text().startswith('line 4, column "DueDate": ') and "13/45/2026" in bad[4].text()
    assert "Parks" in bad[7].reason
    report = import_cases(city, path, REQUESTS_MAP, skip_bad=True)
    assert report.imported == len(rows) - 4
    assert report.refused_csv == refused_path(path) == tmp_path / "requests.refused.csv"
    with report.refused_csv.open(encoding="utf-8-sig", newline="") as fh:
        refused = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in refused] == [4, 7, 10, 11]
    assert [r["column"] for r in refused] == ["DueDate", "Agency", "CreatedDate", "Latitude"]
    assert all(r["reason"] for r in refused)
    assert refused[1]["Agency"] == "Parks" and refused[1]["SRNumber"] == reader[5]["SRNumber"]


def test_the_cli_prints_refusals_as_plain_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--no-geography", "--database", url]).exit_code == 0
    path = tmp_path / "complaints.csv"
    _complaints_export(path, 5, seed=1)
    broken = tmp_path / "broken.toml"
    broken.write_text(COMPLAINTS_MAP.read_text().replace('department = "agency"\n', ""), encoding="utf-8")
    res = runner.invoke(app, ["import-cases", str(path), "--mapping", str(broken), "--database", url])
    assert res.exit_code == 2
    assert "[columns] table needs department" in res.output  # the name is not eaten as markup
    res = runner.invoke(
        app, ["import-cases", str(path), "--mapping", str(COMPLAINTS_MAP), "--json", "--database", url]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["imported"] == 5 and out["deadline_from_profile"] == 5 and out["refused_csv"] is None


def test_locate_cases_locates_imported_rows_whose_address_is_in_the_gazetteer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--no-geography", "--database", url]).exit_code == 0
    path = tmp_path / "requests.csv"
    rows = _requests_export(path, 36, seed=9)
    res = runner.invoke(
        app, ["import-cases", str(path), "--mapping", str(REQUESTS_MAP), "--json", "--database", url]
    )
    assert res.exit_code == 0, res.output
    unlocated = json.loads(res.stdout)["unlocated"]
    with_address = [sr.row["Address"] for sr in rows if sr.kind == "address_only"]
    assert unlocated > len(with_address) >= 2
    gazetteer = tmp_path / "addresses.csv"
    gazetteer.write_text(f"address,lon,lat\n  {with_address[0].lower()} ,112.55,37.85\n", encoding="utf-8")
    res = runner.invoke(app, ["locate-cases", "--gazetteer", str(gazetteer), "--json", "--database", url])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (
        out["located"] == 1
        and out["tried"] == len(with_address)
        and out["unresolved"] == len(with_address) - 1
    )
    gazetteer.write_text("address,lon,lat\nsomewhere,east,37.8\n", encoding="utf-8")
    res = runner.invoke(app, ["locate-cases", "--gazetteer", str(gazetteer), "--database", url])
    assert res.exit_code == 2 and "line 2" in res.output
