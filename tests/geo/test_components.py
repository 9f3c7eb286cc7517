"""Component registry: imports are validated row by row (line numbers, reasons) and all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from civicloop.assets.core import ComponentState, RoadClass
from civicloop.assets.service import (
    ComponentImportError,
    component_history,
    get_component,
    import_components,
    nearest_component,
)
from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.cli.main import app
from civicloop.geo.crs import Crs, wgs84_to_gcj02
from civicloop.geo.store import components
from civicloop.store.database import make_engine
from tests.geo.conftest import a_city_with_geography

HEADER = "component_id,type_code,name,lon,lat,state,owner,maintainer,road_class,start_date\n"
GOOD = [
    "14010601037900001,01037,路灯,112.5551,37.8452,完好,ty-lighting,ty-lighting,主干路,2015-05-01",
    "14010601001900001,01001,供水井盖,112.5560,37.8455,damaged,ty-water,ty-water,,2018-01-01",
]


def _count(city: City) -> int:
    with city.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(components).where(components.c.city_id == city.id)
            ).scalar()
            or 0
        )


@pytest.fixture
def bare(backend: tuple[str, Engine], city_id: str) -> City:
    """The demo city with geography but no components."""
    return a_city_with_geography(backend[1], city_id, components=False)


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_imported(bare: City, tmp_path: Path) -> None:
    rows = [
        GOOD[0],  # line 2: fine
        "1401060103790000,01037,路灯,112.5551,37.8452,,,,,",  # 3: 16 digits
        "14010606010900001,06010,暴露垃圾,112.5551,37.8452,,,,,",  # 4: a matter, not a component
        "14010601037900002,01001,路灯,112.5551,37.8452,,,,,",  # 5: id type part ≠ type code
        "11010101037900001,01037,路灯,112.5551,37.8452,,,,,",  # 6: a Beijing district
        "14010601037900001,01037,路灯,112.5552,37.8452,,,,,",  # 7: duplicate of line 2
        "14010601037900003,01037,路灯,116.404,39.915,,,,,",  # 8: outside the city
        "14010601037900004,01037,路灯,112.5551,37.8452,broken,,,,",  # 9: unknown state
        "14010601037900005,01037,路灯,112.5551,37.8452,,,,,2015-13-01",  # 10: bad date
        "14010601037000000,01037,路灯,112.5551,37.8452,,,,,",  # 11: serial 000000
        "14010601037900006,01037,路灯,east,37.8452,,,,,",  # 12: not a number
        GOOD[1],  # 13: fine
    ]
    path = tmp_path / "components.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ComponentImportError) as err:
        import_components(bare, path)
    problems = {p.line or 0: p.reason for p in err.value.problems}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert "17 digits" in problems[3]
    assert "is a matter" in problems[4]
    assert "must be the type code 01001" in problems[5]
    assert "not a district of 太原市" in problems[6]
    assert "duplicate id (also line 2)" in problems[7]
    assert "outside the city" in problems[8]
    assert "unknown state 'broken'" in problems[9]
    assert "YYYY-MM-DD" in problems[10]
    assert "000000" in problems[11]
    assert "numbers" in problems[12]
    assert "line 3 (1401060103790000)" in str(err.value)
    assert _count(bare) == 0  # nothing half-imported


def test_a_valid_file_imports_and_a_second_import_needs_replace(bare: City, tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + "\n".join(GOOD) + "\n", encoding="utf-8")
    res = import_components(bare, path)
    assert (res.count, res.inserted, dict(res.by_type)) == (2, 2, {"01037": 1, "01001": 1})
    light = get_component(bare, "14010601037900001")
    assert light is not None
    assert light.grid_code is not None and light.grid_code.startswith("140106")  # located, not trusted
    assert (light.state, light.road_class, light.owner) == (
        ComponentState.INTACT,
        RoadClass.MAIN,
        "ty-lighting",
    )
    with pytest.raises(ComponentImportError, match=r"line 2 \(14010601037900001\): already registered"):
        import_components(bare, path)
    path.write_text(HEADER + GOOD[0].replace("完好", "破损") + "\n", encoding="utf-8")
    res = import_components(bare, path, replace_existing=True)
    assert (res.replaced, res.state_changes) == (1, 1)
    assert [(h["from"], h["to"], h["source"]) for h in component_history(bare, "14010601037900001")] == [
        ("intact", "damaged", "import")
    ]
    assert _count(bare) == 2


def test_geojson_and_gcj02_csv_imports(bare: City, tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "14010603005900001", "category_code": "03005"},
                "geometry": {"type": "Point", "coordinates": [112.556, 37.846]},
            },
            {
                "type": "Feature",
                "properties": {"id": "14010603005900002"},
                "geometry": {"type": "LineString", "coordinates": [[112.55, 37.84], [112.56, 37.85]]},
            },
        ],
    }
    path = tmp_path / "bins.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ComponentImportError) as err:
        import_components(bare, path)
    assert [(p.where, p.component_id) for p in err.value.problems] == [("feature #1", "14010603005900002")]
    assert "must be a Point" in err.value.problems[0].reason
    doc["features"] = doc["features"][:1]
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert import_components(bare, path).inserted == 1
    glon, glat = wgs84_to_gcj02(112.5551, 37.8452)
    csv_path = tmp_path / "gcj.csv"
    csv_path.write_text(f"id,lon,lat\n14010601037900009,{glon!r},{glat!r}\n", encoding="utf-8")
    assert import_components(bare, csv_path, crs="gcj02").inserted == 1
    stored = get_component(bare, "14010601037900009")
    assert stored is not None and stored.lon == pytest.approx(112.5551, abs=1e-6) and stored.name == "路灯"


def test_nearest_component_by_category_within_a_radius(city: City) -> None:
    hit = nearest_component(city, "01037", 112.5551, 37.8452, 200)
    assert hit is not None and hit.component.type_code == "01037" and hit.distance_m <= 200
    # Reporting right next to it finds it; a tiny radius elsewhere finds nothing.
    again = nearest_component(city, "01037", hit.component.lon, hit.component.lat + 0.00002, 10)
    assert again is not None and again.component.component_id == hit.component.component_id
    assert again.distance_m == pytest.approx(2.2, abs=0.2)
    assert nearest_component(city, "01037", hit.component.lon, hit.component.lat + 0.001, 1.0) is None
    assert nearest_component(city, "03001", hit.component.lon, hit.component.lat, 1.0) is None  # other type
    glon, glat = wgs84_to_gcj02(hit.component.lon, hit.component.lat)
    gcj = nearest_component(city, "01037", glon, glat, 5, crs=Crs.GCJ02)
    assert gcj is not None and gcj.component.component_id == hit.component.component_id


def test_cli_import_refuses_with_exit_2_and_lists_the_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    init_city("taiyuan", engine=make_engine(url))
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "14010606010900001,06010,x,112.5551,37.8452,,,,,\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["geo", "components", "import", str(path), "--database", url])
    assert res.exit_code == 2
    assert "line 2 (14010606010900001)" in res.stderr and "is a matter" in res.stderr
