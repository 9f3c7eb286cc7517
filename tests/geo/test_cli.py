"""The geo / grid / patrol commands against a real (SQLite) database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from civicloop.bootstrap import init_city, open_city
from civicloop.cli.main import app
from civicloop.geo.boundaries import AreaLevel, areas_to_geojson
from civicloop.geo.service import stored_areas, stored_grids
from civicloop.store.database import make_engine

EXTENT = "112.545,37.835,112.57,37.86"


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_load_demo_generate_import_patrol_and_coverage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = ("--database", url)
    init_city("taiyuan", engine=make_engine(url))
    code, out, err = run("geo", "load-demo", "--extent", EXTENT, "--json", *db)
    assert code == 0, err
    loaded = json.loads(out)
    assert loaded["districts"] == 10 and loaded["grids"] > 500 and loaded["components"] > 1000
    code, out, _ = run("geo", "load-demo", *db)
    assert code == 0 and "nothing done" in out
    city = open_city(None, url)

    # Re-grid one community with larger cells: stored, replacing its grids; stats and slivers printed.
    community = stored_areas(city, AreaLevel.COMMUNITY)[0].code
    before = [g for g in stored_grids(city) if g.community_code == community]
    code, out, err = run("grid", "generate", "--cell-m2", "40000", "--community", community, *db)
    assert code == 0, err
    assert "slivers" in out and "median_m2" in out
    after = [g for g in stored_grids(city) if g.community_code == community]
    assert 0 < len(after) < len(before) / 2

    # Import a community layer: stored (replacing the same codes).
    comms = stored_areas(city, AreaLevel.COMMUNITY)[:2]
    renamed = [type(a)(a.code, a.name + "（导入）", a.level, a.parent_code, a.geometry) for a in comms]
    path = tmp_path / "communities.geojson"
    path.write_text(json.dumps(areas_to_geojson(renamed), ensure_ascii=False), encoding="utf-8")
    code, out, err = run("geo", "import", str(path), "--level", "community", *db)
    assert code == 0, err
    assert "stored 2 community" in out
    assert {a.name for a in stored_areas(city, AreaLevel.COMMUNITY)[:2]} == {a.name for a in renamed}

    # A night lighting patrol, then coverage for that night.
    code, out, err = run(
        "patrol",
        "lights",
        "--district",
        "140106",
        "--unlit-rate",
        "0.05",
        "--seed",
        "1",
        "--at",
        "2026-06-01T20:30:00+08:00",
        "--max-lights",
        "200",
        "--json",
        *db,
    )
    assert code == 0, err
    lights = json.loads(out)
    assert lights["checked"] == 200 and lights["cases_created"] == lights["unlit"] > 0
    code, out, err = run("patrol", "coverage", "--from", "2026-06-01", "--to", "2026-06-01", "--json", *db)
    assert code == 0, err
    cov = json.loads(out)
    assert cov["covered_by_any_patrol"] > 0 and 0 < cov["coverage_any"] <= 1
    ins = next(i for i in cov["inspectors"] if i["patrols"])
    assert ins["inspector_id"] == "ins-140106-01"

    # The cases it opened are near their lights; the routing explanation names the rule.
    state = city.cases.list_cases(limit=1)[0]
    case_id = state.case_id
    code, out, _ = run(
        "geo",
        "nearby",
        "--category",
        "01037",
        "--lon",
        str(state.lon),
        "--lat",
        str(state.lat),
        "--radius",
        "1",
        "--json",
        *db,
    )
    assert code == 0 and json.loads(out)[0]["case_id"] == case_id
    code, out, _ = run("geo", "route", case_id, "--locale", "en", *db)
    assert code == 0 and out.startswith("→ ty-")


def test_commands_that_need_a_database_say_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    code, _, err = run("grid", "generate", "--database", url)
    assert code == 2 and "civicloop init" in err
    assert not (tmp_path / "missing.db").exists()  # nothing created by asking
    init_city("taiyuan", engine=make_engine(url))
    code, _, err = run("grid", "generate", "--database", url)
    assert code == 2 and "no communities stored" in err
    code, _, err = run("patrol", "lights", "--district", "140105", "--database", url)
    assert code == 2 and "no street lights" in err


def test_locate_does_not_guess_between_several_cities(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'two.db'}"
    engine = make_engine(url)
    init_city("taiyuan", engine=engine)
    init_city("taiyuan", engine=engine, city_id="other")
    code, _, err = run("geo", "locate", "--lon", "112.55", "--lat", "37.85", "--database", url)
    assert code == 2 and "--city" in err
