"""Onboarding a city: ``civicloop city new/check/taxonomy``, bad input named by file, row/key and reason
with nothing written, and the bundled English sample city end to end (init, a short simulation, KPIs)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civicloop.cli.main import app
from civicloop.profile import load_profile
from civicloop.store.database import make_engine

runner = CliRunner()

SQUARE = [[-76.40, 38.95], [-76.38, 38.95], [-76.38, 38.97], [-76.40, 38.97], [-76.40, 38.95]]


def _geojson(
    path: Path, ring: list[list[float]] = SQUARE, crs: str | None = None, code: str | None = None
) -> Path:
    props = {"name": "Downtown"} | ({"code": code} if code else {})
    doc: dict[str, object] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        ],
    }
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


SERVICES = """service_code,service_name,group,keywords,gbt_code,department,limit_hours
POTHOLE,Pothole,Streets,"pothole, hole",06013,Public Works,16
GRAFFITI,Graffiti,Sanitation,graffiti,,Sanitation,
"""


def _new(tmp_path: Path, *extra: str, boundaries: Path | None = None) -> tuple[int, str, Path]:
    out = tmp_path / "harbor"
    where = boundaries or _geojson(tmp_path / "b.geojson")
    res = runner.invoke(
        app,
        ["city", "new", "harbor", "--name", "Harbor", "--boundaries", str(where),
         "--timezone", "America/New_York", "--calendar", "holidays:US-MD", "--locale", "en",
         "--output", str(out), *extra],
    )  # fmt: skip
    return res.exit_code, res.output, out


def test_city_new_drafts_a_valid_profile_from_a_service_list_and_says_what_is_left(tmp_path: Path) -> None:
    services = tmp_path / "services.csv"
    services.write_text(SERVICES, encoding="utf-8")
    code, output, out = _new(tmp_path, "--taxonomy", str(services), "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["districts"] == 1 and any("departments" in line for line in report["to_decide"])
    profile = load_profile(out / "profile.toml")
    assert (
        profile.country == "US"
        and profile.division_code is None
        and profile.calendar.source == "holidays:US-MD"
    )
    pothole, graffiti = profile.categories
    assert (pothole.code, pothole.source_code, pothole.national_code, pothole.local) == (
        "11001",
        "POTHOLE",
        "06013",
        True,
    )
    assert graffiti.code == "12001" and graffiti.reporting_code is None
    assert pothole.conditions[0].limits["normal"].amount == 16
    assert {d.name for d in profile.departments} >= {"Public Works", "Sanitation"}
    assert profile.districts[0].code == "100101"  # numbered: the file has no codes
    stored = json.loads((out / "boundaries.geojson").read_text("utf-8"))
    assert stored["features"][0]["properties"]["code"] == "100101"

    check = runner.invoke(app, ["city", "check", str(out), "--json"])
    assert check.exit_code == 0, check.output
    assert json.loads(check.output)["summary"]["unmapped_local_categories"] == 1


def test_city_new_without_a_taxonomy_lists_the_national_directory(tmp_path: Path) -> None:
    b = _geojson(tmp_path / "d.geojson", code="610102")
    res = runner.invoke(app, ["city", "new", "xian", "--name", "西安市", "--boundaries", str(b), "--timezone",
                              "Asia/Shanghai", "--calendar", "cn", "--division-code", "610100",
                              "--output", str(tmp_path / "xian")])  # fmt: skip
    assert res.exit_code == 0, res.output
    profile = load_profile(tmp_path / "xian" / "profile.toml")
    assert profile.is_chinese and len(profile.categories) == 250 and profile.districts[0].code == "610102"
    assert all(d.standard is not None for d in profile.departments)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--calendar", "holidays:XX"], "--calendar"),
        (["--timezone", "Mars/Olympus"], "--timezone"),
        (["--locale", "fr"], "--locale"),
        (["--calendar", "cn", "--locale", "zh-CN"], "--division-code"),
    ],
)
def test_city_new_refuses_bad_options_by_name_and_writes_nothing(
    tmp_path: Path, args: list[str], words: str
) -> None:
    b = _geojson(tmp_path / "b.geojson")
    out = str(tmp_path / "out")
    base = ["city", "new", "harbor", "--name", "Harbor", "--boundaries", str(b),
            "--timezone", "America/New_York", "--calendar", "holidays:US", "--output", out]  # fmt: skip
    res = runner.invoke(app, [*base, *args])
    assert res.exit_code == 2 and words in res.output
    assert not (tmp_path / "out").exists()


def test_a_boundary_file_in_an_undeclared_projected_crs_is_refused_naming_the_file(tmp_path: Path) -> None:
    utm = [[360000.0, 4312000.0], [362000.0, 4312000.0], [362000.0, 4314000.0], [360000.0, 4312000.0]]
    bad = _geojson(tmp_path / "utm.geojson", ring=utm)
    code, output, out = _new(tmp_path, boundaries=bad)
    assert (
        code == 2
        and "utm.geojson" in output
        and "declares no coordinate system" in output
        and "EPSG:4326" in output
    )
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["utm.geojson"]
    # Declared, the same coordinates are converted (UTM zone 18N on WGS84).
    declared = _geojson(tmp_path / "utm18.geojson", ring=utm, crs="EPSG:32618")
    code, output, out = _new(tmp_path, boundaries=declared)
    assert code == 0, output
    lon = json.loads((out / "boundaries.geojson").read_text("utf-8"))["features"][0]["geometry"][
        "coordinates"
    ]
    assert -76.7 < lon[0][0][0] < -76.5


def test_a_taxonomy_with_duplicate_codes_is_refused_with_file_row_and_code(tmp_path: Path) -> None:
    dup = tmp_path / "services.json"
    dup.write_text(json.dumps([
        {"service_code": "001", "service_name": "Pothole", "group": "Streets"},
        {"service_code": "002", "service_name": "Graffiti", "group": "Sanitation"},
        {"service_code": "001", "service_name": "Potholes again", "group": "Streets"},
    ]), encoding="utf-8")  # fmt: skip
    res = runner.invoke(app, ["city", "taxonomy", str(dup)])
    assert res.exit_code == 2
    assert "services.json: row 3: service_code: duplicate service code 001 (first at row 1)" in res.output
    code, output, out = _new(tmp_path, "--taxonomy", str(dup))
    assert code == 2 and "row 3" in output and not out.exists()


def test_city_taxonomy_previews_an_open311_services_xml(tmp_path: Path) -> None:
    xml = tmp_path / "services.xml"
    xml.write_text(
        "<services><service><service_code>SL</service_code><service_name>Streetlight out</service_name>"
        "<keywords>light, dark</keywords><group>Streets</group><gbt_code>01037</gbt_code></service>"
        "<service><service_code>06010</service_code><service_name>Trash</service_name></service></services>",
        encoding="utf-8",
    )
    res = runner.invoke(app, ["city", "taxonomy", str(xml), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["services"]
    assert [(r["code"], r["local"], r["national_code"]) for r in rows] == [
        ("11001", True, "01037"),
        ("06010", False, "06010"),
    ]


def test_city_check_names_file_key_and_reason(tmp_path: Path) -> None:
    text = (Path(load_profile("sample-en")._source_dir or "") / "profile.toml").read_text("utf-8")
    bad = tmp_path / "profile.toml"
    bad.write_text(text.replace('source = "holidays:US"', 'source = "julian"'), encoding="utf-8")
    res = runner.invoke(app, ["city", "check", str(bad), "--json"])
    assert res.exit_code == 2
    problems = {p["key"]: p for p in json.loads(res.output)["problems"]}
    assert "unknown calendar source 'julian'" in problems["calendar.source"]["reason"]
    assert problems["calendar.source"]["file"] == str(bad)
    plain = runner.invoke(app, ["city", "check", str(bad)])
    assert plain.exit_code == 2 and f"{bad}: calendar.source: unknown calendar source" in plain.output
    # A city in China needs its division code; elsewhere it may be left out.
    bad.write_text(text.replace('country = "US"', 'country = "CN"'), encoding="utf-8")
    res = runner.invoke(app, ["city", "check", str(bad), "--json"])
    assert res.exit_code == 2 and [p["key"] for p in json.loads(res.output)["problems"]] == ["division_code"]


def test_the_english_sample_city_initialises_simulates_and_reports(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'harbor.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = runner.invoke(app, ["init", "--profile", "sample-en", "--database", db])
        assert res.exit_code == 0, res.output
        assert "'grids': " in res.output and "'districts': 3" in res.output
        sim = runner.invoke(app, ["simulate", "--days", "1", "--seed", "3", "--database", db, "--json"])
        assert sim.exit_code == 0, sim.output
        assert json.loads(sim.output)["cases"] > 20
        kpi = runner.invoke(app, ["kpi", "--from", "2026-06-01", "--to", "2026-06-02", "--by", "category",
                                  "--json", "--database", db])  # fmt: skip
    assert kpi.exit_code == 0, kpi.output
    rows = json.loads(kpi.output)
    names = {r["name"] for r in rows}
    assert {"Pothole", "Missed trash pickup"} <= names and all(
        not any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names
    )
    for row in rows:
        for key, value in row.items():
            if key.endswith("_rate") and value is not None:
                assert 0 <= value <= 1, (key, value)

    # The command center opens in the city's language; Open311 lists its own services.
    from fastapi.testclient import TestClient

    from civicloop.bootstrap import open_city
    from civicloop.http import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        city = open_city(None, db)
    with TestClient(create_app(city)) as client:
        page = client.get("/screen")
        assert page.status_code == 200 and '<html lang="en">' in page.text
        services = client.get("/open311/v2/services.json").json()
        assert [s["service_name"] for s in services][:3] == ["Pothole", "Damaged sidewalk", "Streetlight out"]


def test_open311_takes_the_citys_own_service_code_too() -> None:
    from civicloop.open311.service import service_category

    profile = load_profile("sample-en")
    assert service_category(profile, "POTHOLE") is service_category(profile, "11001")
    assert service_category(profile, "POTHOLE").national_code == "06013"


def test_init_registers_a_profile_under_another_city_id_and_refuses_a_bad_one(tmp_path: Path) -> None:
    """One database, two jurisdictions from the same bundled profile (`init --city`); a city id that
    is not a slug of at most 32 characters is refused naming --city, and nothing is written."""
    db = f"sqlite:///{tmp_path / 'two.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        first = runner.invoke(app, ["init", "--no-geography", "--database", db])
        second = runner.invoke(app, ["init", "--no-geography", "--city", "yangquan", "--database", db])
        bad = runner.invoke(
            app, ["init", "--city", "Bad City!", "--database", f"sqlite:///{tmp_path / 'x.db'}"]
        )
        long = runner.invoke(
            app, ["init", "--city", "a" * 33, "--database", f"sqlite:///{tmp_path / 'x.db'}"]
        )
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            ids = {r[0] for r in conn.exec_driver_sql("SELECT city_id FROM cities")}
    finally:
        engine.dispose()
    assert ids == {"taiyuan", "yangquan"}
    for res in (bad, long):
        assert res.exit_code == 2 and "--city" in res.output
    assert not (tmp_path / "x.db").exists()
