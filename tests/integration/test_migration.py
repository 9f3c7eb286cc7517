"""Moving a city in from an existing 数字城管 system (docs/migration.md): grids, users, the example files.

Every refused file names the file, the row/feature (or key) and the reason, exits 2, and leaves the
database as it was (row counts checked before and after).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import pyproj
import pytest
import shapely
from argon2 import PasswordHasher
from shapely.geometry import mapping
from typer.testing import CliRunner

from civicloop.accounts.service import accounts_for
from civicloop.bootstrap import init_city, open_city
from civicloop.cli.main import app
from civicloop.geo.service import stored_grids
from civicloop.store.database import make_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "migration"
COMMUNITY = "140105001001"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout + res.stderr


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    init_city("taiyuan", engine=make_engine(url))
    return "--database", url


def squares(cells: list[tuple[int, int]], size: float = 0.002) -> list[Any]:
    """Unit squares at (row, col) of a lattice near 112.56E 37.85N, numbered in the given order."""
    return [
        shapely.box(112.56 + c * size, 37.85 - (r + 1) * size, 112.56 + (c + 1) * size, 37.85 - r * size)
        for r, c in cells
    ]


def geojson(path: Path, geoms: list[Any], crs: str | None = "EPSG:4490") -> Path:
    feats = [
        {
            "type": "Feature",
            "properties": {"wgbm": f"{COMMUNITY}{i + 1:03d}"},
            "geometry": mapping(g),
        }
        for i, g in enumerate(geoms)
    ]
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_overlapping_grids_are_refused_naming_both_and_nothing_is_stored(
    tmp_path: Path, db: tuple[str, str]
) -> None:
    city = open_city(None, db[1])
    before = len(stored_grids(city))
    geoms = [*squares([(0, 0), (0, 1)]), shapely.box(112.5615, 37.8485, 112.5635, 37.8495)]  # 3rd overlaps
    path = geojson(tmp_path / "grids.geojson", geoms)
    code, out = run("geo", "import", str(path), "--level", "grid", *db)
    assert code == 2, out
    assert str(path) in out and "feature #2" in out and f"{COMMUNITY}003" in out
    assert f"overlaps grid {COMMUNITY}001" in out and f"overlaps grid {COMMUNITY}002" in out
    assert len(stored_grids(city)) == before
    code, out = run("geo", "import", str(path), "--level", "grid", "--allow-overlaps", *db)
    assert code == 0, out
    assert "overlaps: 2 pair(s)" in out
    assert len(stored_grids(city)) == before + 3


def test_gaps_are_reported_as_area_and_codes_are_kept(tmp_path: Path, db: tuple[str, str]) -> None:
    ring = [(r, c) for r in range(3) for c in range(3) if (r, c) != (1, 1)]  # a 3×3 block without its centre
    path = geojson(tmp_path / "ring.geojson", squares(ring))
    code, out = run("geo", "import", str(path), "--level", "grid", *db)
    assert code == 0, out
    gap = float(out.split("gaps: ", 1)[1].split(" m²", 1)[0].replace(",", ""))
    assert 38_000 < gap < 40_000 and "(1 piece(s))" in out  # one 0.002° square at 37.85°N ≈ 39,050 m²
    codes = {g.code for g in stored_grids(open_city(None, db[1]))}
    assert {f"{COMMUNITY}{i:03d}" for i in range(1, 9)} <= codes


def shapefile(path: Path, geoms: list[Any], crs: str | None) -> Path:
    codes = np.array([f"{COMMUNITY}{i + 1:03d}" for i in range(len(geoms))], dtype=object)
    pyogrio.raw.write(
        path,
        geometry=shapely.to_wkb(np.array(geoms, dtype=object)),
        field_data=[codes],
        fields=["wgbm"],
        geometry_type="Polygon",
        crs=crs,
        driver="ESRI Shapefile",
    )
    return path


def test_shapefile_with_its_prj_is_reprojected_and_undeclared_crs_is_refused(
    tmp_path: Path, db: tuple[str, str]
) -> None:
    city = open_city(None, db[1])
    to_gk = pyproj.Transformer.from_crs(4490, 4547, always_xy=True)  # CGCS2000 3° Gauss-Kruger CM 114E
    projected = [
        shapely.transform(g, lambda c: np.column_stack(to_gk.transform(c[:, 0], c[:, 1])))
        for g in squares([(0, 0), (0, 1)])
    ]
    # A GeoJSON export of projected metres without its crs member: refused as a whole, naming the file.
    loose = geojson(tmp_path / "projected.geojson", projected, crs=None)
    code, out = run("geo", "import", str(loose), "--level", "grid", *db)
    assert code == 2 and str(loose) in out and "feature #0" in out
    assert "declares no coordinate system" in out and "--crs" in out
    # A Shapefile without its .prj: refused unless --crs says what it is.
    bare = shapefile(tmp_path / "bare.shp", projected, crs=None)
    code, out = run("geo", "import", str(bare), "--level", "grid", *db)
    assert code == 2 and str(bare) in out and ".prj" in out
    assert stored_grids(city) == []
    code, out = run("geo", "import", str(bare), "--level", "grid", "--crs", "EPSG:4547", *db)
    assert code == 0, out
    # With its .prj: read, unprojected to lon/lat, the 15-digit codes kept.
    declared = shapefile(tmp_path / "declared.shp", projected, crs="EPSG:4547")
    code, out = run("geo", "import", str(declared), "--level", "grid", *db)
    assert code == 0, out
    grids = {g.code: g for g in stored_grids(city)}
    assert set(grids) == {f"{COMMUNITY}001", f"{COMMUNITY}002"}
    assert grids[f"{COMMUNITY}001"].geometry.centroid.distance(squares([(0, 0)])[0].centroid) < 1e-6


def write_users(path: Path, *rows: str) -> Path:
    header = "username,role,department_id,district_codes,grid_codes,display_name,password_hash"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_users_csv_is_all_or_nothing_with_row_column_and_reason(tmp_path: Path, db: tuple[str, str]) -> None:
    city = open_city(None, db[1])
    before = len(accounts_for(city).list_users())
    bad = write_users(tmp_path / "bad.csv", "ok.user,operator,,,,,", "wang.fang,department,no-such-dept,,,,")
    pw = tmp_path / "pw.csv"
    code, out = run("user", "import", str(bad), "--passwords", str(pw), *db)
    assert code == 2, out
    assert str(bad) in out and "line 3" in out and "department_id" in out and "no-such-dept" in out
    assert len(accounts_for(city).list_users()) == before and not pw.exists()
    clear = tmp_path / "clear.csv"
    clear.write_text("username,role,password\nli.na,operator,secret123\n", encoding="utf-8")
    code, out = run("user", "import", str(clear), "--passwords", str(pw), *db)
    assert code == 2 and "password" in out and "never imported in clear" in out
    # A kept argon2 hash logs in with the old password; the others get initial passwords in a 0600 file.
    old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("old-system-pw")
    good = write_users(tmp_path / "good.csv", f'kept.hash,viewer,,,,,"{old}"', "li.na,operator,,,,李娜,")
    code, out = run("user", "import", str(good), *db)
    assert code == 2 and "--passwords" in out  # where would the generated password go?
    code, out = run("user", "import", str(good), "--passwords", str(pw), *db)
    assert code == 0, out
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    generated = dict(line.split(",") for line in pw.read_text().splitlines()[1:])
    assert set(generated) == {"li.na"}
    accounts = accounts_for(city)
    assert accounts.login("kept.hash", "old-system-pw").token
    assert accounts.login("li.na", generated["li.na"]).token
    # The same file again: every username taken, nothing written twice.
    code, out = run("user", "import", str(good), "--passwords", str(tmp_path / "pw2.csv"), *db)
    assert code == 2 and "line 2" in out and "already taken" in out
    assert len(accounts_for(city).list_users()) == before + 2


def test_the_documented_example_files_import_in_order(db: tuple[str, str], tmp_path: Path) -> None:
    """docs/migration.md's steps on its example files: grids → components → users → history → kpi."""
    steps = [
        ("geo", "import", str(EXAMPLES / "grids.geojson"), "--level", "grid"),
        ("geo", "components", "import", str(EXAMPLES / "components.csv")),
        ("user", "import", str(EXAMPLES / "users.csv"), "--passwords", str(tmp_path / "pw.csv")),
        ("import-cases", str(EXAMPLES / "cases.csv"), "--mapping", str(EXAMPLES / "cases-mapping.toml")),
    ]
    for step in steps:
        code, out = run(*step, *db)
        assert code == 0, (step, out)
    # An owner outside the profile's departments (a utility company) is kept, with a warning saying so.
    other = tmp_path / "owned.csv"
    header, row = (EXAMPLES / "components.csv").read_text(encoding="utf-8").splitlines()[:2]
    owned = row.replace("000001", "000002").replace(
        "intact,ty-lighting,ty-lighting", "intact,ty-lighting,grid-co"
    )
    other.write_text(f"{header}\n{owned}\n", encoding="utf-8")
    code, out = run("geo", "components", "import", str(other), *db)
    assert code == 0 and "owner grid-co is not a department of the profile" in " ".join(out.split()), out
    code, out = run("kpi", "--period", "2025-11", "--by", "city", "--json", *db)
    assert code == 0, out
    [row] = json.loads(out)
    assert row["reports"] == 2 and row["filed"] == 2 and row["closed"] == 1
