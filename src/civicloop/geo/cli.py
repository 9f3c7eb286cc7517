"""Command line for the geography layer: ``geo import|locate`` and ``grid generate|stats``.

``locate`` works against a *geography provider* (a zero-argument callable returning anything with
``locate(lon, lat, crs) -> Location``): for now the demo geography built in memory; the database-backed
geography plugs in through :func:`locate_command` without touching the command itself.

Run as ``python -m civicloop.geo.cli geo locate --lon 112.55 --lat 37.87 --json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import typer

from civicloop.geo.boundaries import AreaLevel, BoundaryImportError, areas_to_geojson, import_areas
from civicloop.geo.crs import Crs
from civicloop.geo.grids import generate_grids, grid_stats, grids_to_geojson, import_grids, write_geojson
from civicloop.geo.locator import Location, OutsideCityError
from civicloop.geo.projection import area_m2

__all__ = [
    "EXIT_INVALID_INPUT",
    "EXIT_OUTSIDE",
    "GeographyProvider",
    "Locating",
    "app",
    "demo_geography_provider",
    "geo_app",
    "grid_app",
    "locate_command",
]

EXIT_INVALID_INPUT = 1
EXIT_OUTSIDE = 2

geo_app = typer.Typer(
    help="Geography: import boundaries, locate points (地理: 边界导入, 坐标定位).", no_args_is_help=True
)
grid_app = typer.Typer(help="Unit grids (单元网格): generate, statistics.", no_args_is_help=True)


class Locating(Protocol):
    def locate(self, lon: float, lat: float, crs: Crs = ...) -> Location: ...


GeographyProvider = Callable[[], Locating]


@lru_cache(maxsize=1)
def _demo_locator() -> Locating:
    from civicloop.geo.demo import build_demo_geography

    return build_demo_geography().locator


def demo_geography_provider() -> Locating:
    """The demo geography (real Taiyuan districts, generated streets/communities/grids), built once."""
    return _demo_locator()


def _echo(text: str, *, err: bool = False) -> None:
    typer.echo(text, err=err)


def locate_command(
    geography_provider: GeographyProvider,
    lon: float,
    lat: float,
    crs: Crs = Crs.WGS84,
    *,
    as_json: bool = False,
    echo: Callable[..., None] = _echo,
) -> int:
    """Locate one point and print it; returns the exit code (0, or 2 outside the city)."""
    try:
        loc = geography_provider().locate(lon, lat, crs)
    except OutsideCityError as exc:
        echo(str(exc), err=True)
        return EXIT_OUTSIDE
    d = loc.as_dict()
    if as_json:
        echo(json.dumps(d, ensure_ascii=False))
        return 0

    def line(label: str, code: str | None, name: str | None) -> str:
        return f"{label:<10} {code or '-'}" + (f"  {name}" if name else "")

    echo(line("grid", d["grid"], None))
    echo(line("community", d["community"], d["community_name"]))
    echo(line("street", d["street"], d["street_name"]))
    echo(line("district", d["district"], d["district_name"]))
    echo(f"{'wgs84':<10} {d['lon_wgs84']:.7f}, {d['lat_wgs84']:.7f}")
    dist = d["boundary_distance_m"]
    echo(
        f"{'boundary':<10} {'-' if dist is None else f'{dist:.1f} m'}"
        + ("  (near boundary)" if d["near_boundary"] else "")
    )
    if d["generated"]:
        echo("note       demo geography: street/community/grid boundaries are generated, not real")
    return 0


def _parse_crs(value: str) -> Crs:
    try:
        return Crs.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@geo_app.command("locate")
def locate_cli(
    lon: float = typer.Option(..., "--lon", help="longitude"),
    lat: float = typer.Option(..., "--lat", help="latitude"),
    crs: str = typer.Option("wgs84", "--crs", help="wgs84 | gcj02 | bd09 (cgcs2000 = wgs84)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Point → grid, community, street, district (against the demo geography for now)."""
    code = locate_command(demo_geography_provider, lon, lat, _parse_crs(crs), as_json=as_json)
    raise typer.Exit(code)


@geo_app.command("import")
def import_cli(
    path: Path = typer.Argument(..., help="a .geojson/.json or .gpkg file"),
    level: str = typer.Option(..., "--level", help="district | street | community | grid"),
    crs: str | None = typer.Option(
        None, "--crs", help="override the file's CRS: EPSG:xxxx, wgs84, gcj02, bd09"
    ),
    layer: str | None = typer.Option(None, "--layer", help="GeoPackage layer"),
    repair: bool = typer.Option(
        True, "--repair/--no-repair", help="repair invalid geometries or refuse them"
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="write normalised WGS84 GeoJSON here"),
) -> None:
    """Validate a boundary file and print a summary."""
    lvl = level.strip().lower()
    if lvl not in ("district", "street", "community", "grid"):
        raise typer.BadParameter("--level must be district, street, community or grid")
    try:
        if lvl == "grid":
            grids = import_grids(path, crs=crs, layer=layer, repair=repair)
            st = grid_stats(grids)
            _echo(f"{path}: {st.count} grids in {st.communities} communities, {st.total_km2:.2f} km²")
            _print_stats(st.as_dict())
            doc: dict[str, Any] = grids_to_geojson(grids)
        else:
            res = import_areas(path, level=AreaLevel(lvl), crs=crs, layer=layer, repair=repair)
            total = sum(float(area_m2(a.geometry)) for a in res.areas) / 1e6
            _echo(f"{path}: {len(res.areas)} {lvl} area(s), source CRS {res.crs.label}, {total:.2f} km²")
            for a in res.areas[:50]:
                _echo(f"  {a.code}  {a.name}  {float(area_m2(a.geometry)) / 1e6:.2f} km²")
            if len(res.areas) > 50:
                _echo(f"  … {len(res.areas) - 50} more")
            for w in res.warnings:
                _echo(f"warning: {w}", err=True)
            doc = areas_to_geojson(res.areas)
    except BoundaryImportError as exc:
        _echo(f"refused: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID_INPUT) from None
    if output is not None:
        write_geojson(doc, output)
        _echo(f"wrote {output}")


def _print_stats(d: dict[str, float | int]) -> None:
    for k, v in d.items():
        _echo(f"  {k:<20} {v:,.1f}" if isinstance(v, float) else f"  {k:<20} {v:,}")


@grid_app.command("generate")
def grid_generate_cli(
    cell_m2: float = typer.Option(10_000.0, "--cell-m2", help="target grid area in m²"),
    seed: int | None = typer.Option(None, "--seed", help="demo seed"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the grids as GeoJSON"),
) -> None:
    """Generate the demo grids (generated streets/communities inside the demo extent) and print stats."""
    from civicloop.geo.demo import DEFAULT_SEED, load_taiyuan_districts
    from civicloop.geo.subdivisions import generate_demo_subdivisions

    districts = load_taiyuan_districts()
    streets, communities = generate_demo_subdivisions(districts, seed=DEFAULT_SEED if seed is None else seed)
    grids = generate_grids(communities, cell_m2=cell_m2)
    st = grid_stats(grids, cell_m2=cell_m2)
    _echo(f"demo grids: {st.count} in {len(communities)} communities, {len(streets)} streets (all generated)")
    _print_stats(st.as_dict())
    if output is not None:
        write_geojson(grids_to_geojson(grids), output)
        _echo(f"wrote {output}")


@grid_app.command("stats")
def grid_stats_cli(
    path: Path | None = typer.Argument(None, help="a grid GeoJSON/GPKG file (default: the demo grids)"),
    cell_m2: float = typer.Option(10_000.0, "--cell-m2", help="target grid area, for the sliver count"),
) -> None:
    """Area distribution of a grid layer."""
    if path is None:
        from civicloop.geo.demo import DEFAULT_SEED, load_taiyuan_districts
        from civicloop.geo.subdivisions import generate_demo_subdivisions

        _, communities = generate_demo_subdivisions(load_taiyuan_districts(), seed=DEFAULT_SEED)
        grids = generate_grids(communities, cell_m2=cell_m2)
    else:
        try:
            grids = import_grids(path)
        except BoundaryImportError as exc:
            _echo(f"refused: {exc}", err=True)
            raise typer.Exit(EXIT_INVALID_INPUT) from None
    _print_stats(grid_stats(grids, cell_m2=cell_m2).as_dict())


app = typer.Typer(help="civicloop geography tools", no_args_is_help=True)
app.add_typer(geo_app, name="geo")
app.add_typer(grid_app, name="grid")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
