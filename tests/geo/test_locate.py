"""Locating against the stored geography: the CLI contract and the intake's locate_report_fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from civicloop.city.service import City
from civicloop.cli.main import app
from civicloop.geo.boundaries import AreaLevel
from civicloop.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from civicloop.geo.projection import haversine_m
from civicloop.geo.service import geography_for, invalidate_geography, stored_areas, stored_grids
from civicloop.intake.locate import locate_report_fields
from civicloop.kernel.errors import InvalidField
from civicloop.store.database import make_engine
from tests.geo.conftest import a_city_with_geography

# Inside 迎泽区 in the small demo extent, away from any line.
POINT = (112.5551, 37.8452)


@pytest.fixture
def sqlite_city(tmp_path: Path) -> tuple[City, str]:
    url = f"sqlite:///{tmp_path / 'geo.db'}"
    return a_city_with_geography(make_engine(url), "taiyuan", components=False), url


def test_cli_locate_uses_the_stored_geography_and_gcj02_lands_in_the_same_grid(
    sqlite_city: tuple[City, str],
) -> None:
    city, url = sqlite_city
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["geo", "locate", "--lon", str(POINT[0]), "--lat", str(POINT[1]), "--json", "--database", url],
    )
    assert res.exit_code == 0, res.output
    wgs = json.loads(res.stdout)
    assert {"grid", "community", "street", "district"} <= wgs.keys()
    assert wgs["grid"] in {g.code for g in stored_grids(city)}  # the stored (small-extent) grids
    assert wgs["grid"].startswith(wgs["community"]) and wgs["community"].startswith(wgs["street"])
    glon, glat = wgs84_to_gcj02(*POINT)
    res = runner.invoke(
        app,
        [
            "geo",
            "locate",
            "--lon",
            repr(glon),
            "--lat",
            repr(glat),
            "--crs",
            "gcj02",
            "--json",
            "--database",
            url,
        ],
    )
    assert res.exit_code == 0, res.output
    gcj = json.loads(res.stdout)
    assert gcj["grid"] == wgs["grid"] and gcj["lon_wgs84"] == pytest.approx(POINT[0], abs=1e-6)
    # Treated as WGS84 the GCJ-02 pair is ~560 m away: a different grid (the reason for --crs).
    res = runner.invoke(
        app, ["geo", "locate", "--lon", repr(glon), "--lat", repr(glat), "--json", "--database", url]
    )
    assert json.loads(res.stdout)["grid"] != wgs["grid"]


def test_cli_locate_outside_the_city_exits_2(sqlite_city: tuple[City, str]) -> None:
    _, url = sqlite_city
    res = CliRunner().invoke(app, ["geo", "locate", "--lon", "116.404", "--lat", "39.915", "--database", url])
    assert res.exit_code == 2
    assert "outside the city" in res.stderr and "116.404000" in res.stderr


def test_locate_report_fields_fills_the_area_codes(city: City) -> None:
    fields = locate_report_fields(city, {"channel": "citizen", "lon": POINT[0], "lat": POINT[1]})
    loc = geography_for(city)
    assert loc is not None
    expected = loc.locate(*POINT)
    assert fields["grid_code"] == expected.grid_code
    assert fields["community_code"] == expected.community.code  # type: ignore[union-attr]
    assert fields["street_code"] == expected.street.code  # type: ignore[union-attr]
    assert fields["district_code"] == "140106"
    assert fields["near_boundary"] is False and fields["boundary_distance_m"] > 30
    assert fields["channel"] == "citizen"


def test_locate_report_fields_converts_gcj02_and_bd09_to_wgs84(city: City) -> None:
    base = locate_report_fields(city, {"lon": POINT[0], "lat": POINT[1]})
    for crs, convert in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        lon, lat = convert(*POINT)
        out = locate_report_fields(city, {"lon": lon, "lat": lat, "crs": crs})
        assert "crs" not in out  # everything stored is WGS84
        assert out["lon"] == pytest.approx(POINT[0], abs=1e-6) and out["lat"] == pytest.approx(
            POINT[1], abs=1e-6
        )
        assert out["grid_code"] == base["grid_code"]


def test_locate_report_fields_flags_points_near_a_line(city: City) -> None:
    community = stored_areas(city, AreaLevel.COMMUNITY)[0]
    geom = community.geometry
    ring = (geom if geom.geom_type == "Polygon" else max(geom.geoms, key=lambda g: g.area)).exterior
    edge = ring.interpolate(0.37, normalized=True)
    inside = geom.representative_point()
    f = 5.0 / haversine_m(edge.x, edge.y, inside.x, inside.y)  # 5 m from the line, inwards
    out = locate_report_fields(
        city, {"lon": edge.x + f * (inside.x - edge.x), "lat": edge.y + f * (inside.y - edge.y)}
    )
    assert out["near_boundary"] is True and out["boundary_distance_m"] <= 6
    far = locate_report_fields(city, {"lon": inside.x, "lat": inside.y})
    assert far["boundary_distance_m"] > 6


def test_outside_the_city_is_refused_naming_lon(city: City) -> None:
    with pytest.raises(InvalidField) as err:
        locate_report_fields(city, {"lon": 116.404, "lat": 39.915})
    assert err.value.field == "lon"
    assert "lon/lat" in str(err.value) and "116.404000" in str(err.value)
    with pytest.raises(InvalidField) as err2:
        locate_report_fields(city, {"lon": 112.55, "lat": 37.85, "crs": "mercator"})
    assert err2.value.field == "crs"
    with pytest.raises(InvalidField) as err3:
        locate_report_fields(city, {"lon": "east", "lat": 37.85})
    assert err3.value.field == "lon"


def test_address_only_reports_are_geocoded_or_pass_through(city: City) -> None:
    fields = {"channel": "hotline", "address": "某某胡同 12 号"}  # no such place: unlocated (待定位)
    assert locate_report_fields(city, fields) == fields
    located = locate_report_fields(city, {"channel": "hotline", "address": "长风街与并州路交叉口"})
    assert located["grid_code"] and located["district_code"] == "140105"  # see tests/geo/test_geocoding.py


def test_a_component_report_takes_the_components_position(city: City) -> None:
    from civicloop.assets.service import nearest_component

    hit = nearest_component(city, "01037", *POINT, 500)
    assert hit is not None
    light = hit.component
    out = locate_report_fields(city, {"category_code": "01037", "component_id": light.component_id})
    assert (out["lon"], out["lat"], out["grid_code"]) == (light.lon, light.lat, light.grid_code)
    with pytest.raises(InvalidField) as err:
        locate_report_fields(city, {"component_id": "14010601037999999", "lon": 112.55, "lat": 37.85})
    assert err.value.field == "component_id"
    picked = locate_report_fields(
        city, {"category_code": "01037", "lon": light.lon + 0.00005, "lat": light.lat}, component_radius_m=30
    )
    assert picked["component_id"] == light.component_id and picked["component_distance_m"] < 10


def test_the_cached_locator_is_rebuilt_after_another_process_changes_the_geography(
    backend: tuple[str, Engine], city: City
) -> None:
    first = geography_for(city)
    assert first is not None and first.source == "database"
    # Another process (same database, its own engine and cache) imports grids: the version moves on.
    from civicloop.geo.service import store_grids

    grids = stored_grids(city)
    store_grids(city, grids[:10])
    second = geography_for(city)
    assert second is not None and second is not first and second.version > first.version
    invalidate_geography(city)
    assert geography_for(city) is not second


def test_without_stored_geography_intake_only_converts(backend: tuple[str, Engine], city_id: str) -> None:
    from civicloop.bootstrap import init_city

    bare = init_city("taiyuan", engine=backend[1], city_id=city_id)
    glon, glat = wgs84_to_gcj02(*POINT)
    out = locate_report_fields(bare, {"lon": glon, "lat": glat, "crs": "gcj02"})
    assert out["lon"] == pytest.approx(POINT[0], abs=1e-6) and "grid_code" not in out
