"""Command line for geography and assets: ``geo``, ``grid`` and ``patrol`` (mounted by ``civicloop``).

* ``geo import FILE --level …`` validates a boundary file and stores it in the city's database;
  ``geo load-demo`` stores the demo geography and components; ``geo locate`` answers from the stored
  geography (the in-memory demo only when there is none); ``geo nearby`` lists open cases around a
  point; ``geo components import|nearest|show``; ``geo route CASE`` explains a routing suggestion.
* ``grid generate`` cuts grids out of the stored communities and stores them; ``grid stats``.
* ``patrol lights`` runs a simulated night lighting patrol; ``patrol coverage`` reports coverage;
  ``patrol duty`` lists duty grids.

``locate`` goes through a *geography provider* (a zero-argument callable returning anything with
``locate(lon, lat, crs) -> Location``), see :func:`locate_command` and :func:`database_geography_provider`.

Run as ``civicloop geo locate --lon 112.55 --lat 37.87 --json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from civicloop.city.service import City
from civicloop.city.store import registered_city_ids
from civicloop.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    CityOpt,
    CommandGroup,
    DatabaseOpt,
    JsonOpt,
    LocaleOpt,
    fail,
    open_city,
    parse_day,
    parse_moment,
)
from civicloop.geo.boundaries import AreaLevel, BoundaryImportError, areas_to_geojson, import_areas
from civicloop.geo.crs import Crs
from civicloop.geo.grids import (
    GridCoverage,
    generate_grids,
    grid_coverage,
    grid_stats,
    grids_to_geojson,
    import_grids,
    write_geojson,
)
from civicloop.geo.locator import Location, OutsideCityError
from civicloop.geo.projection import area_m2
from civicloop.kernel.i18n import both
from civicloop.store.database import database_exists, database_url, make_engine

__all__ = [
    "GeographyProvider",
    "Locating",
    "components_app",
    "database_geography_provider",
    "demo_geography_provider",
    "geo_app",
    "grid_app",
    "locate_command",
    "patrol_app",
]

geo_app = CommandGroup(help=both("cli.geo.help"), no_args_is_help=True)
grid_app = CommandGroup(help=both("cli.geo.help_grid"), no_args_is_help=True)
components_app = CommandGroup(help=both("cli.geo.help_components"), no_args_is_help=True)
patrol_app = CommandGroup(help=both("cli.geo.help_patrol"), no_args_is_help=True)
geo_app.add_typer(components_app, name="components")


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


def _city_or_none(database: str | None, city: str | None) -> City | None:
    """The initialised city of that database, or None when there is no initialised database. A
    database with cities where the choice is ambiguous or wrong (several cities, unknown --city) is an
    error (exit 2), not a reason to answer from somewhere else."""
    url = database or database_url()
    if not database_exists(url):
        return None
    engine = make_engine(url)
    try:
        registered = registered_city_ids(engine)
    finally:
        engine.dispose()
    return open_city(url, city) if registered else None


def database_geography_provider(database: str | None = None, city: str | None = None) -> GeographyProvider:
    """The stored geography of the city (built once per process and geography version); the in-memory
    demo when there is no initialised database or it holds no geography."""

    def provide() -> Locating:
        from civicloop.geo.service import geography_for

        c = _city_or_none(database, city)
        if c is not None:
            geo = geography_for(c, demo_fallback=False)
            if geo is not None:
                return geo
        return _demo_locator()

    return provide


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
        return EXIT_BAD_INPUT
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
        echo(both("cli.geo.generated_note"))
    return 0


def _parse_crs(value: str) -> Crs:
    try:
        return Crs.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--crs'") from None


@geo_app.command("locate")
def locate_cli(
    lon: Annotated[float, typer.Option("--lon", help="longitude")],
    lat: Annotated[float, typer.Option("--lat", help="latitude")],
    crs: Annotated[str, typer.Option("--crs", help="wgs84 | gcj02 | bd09 (cgcs2000 = wgs84)")] = "wgs84",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Point → grid, community, street, district (the stored geography; the demo if none is stored)."""
    provider = database_geography_provider(database, city)
    code = locate_command(provider, lon, lat, _parse_crs(crs), as_json=as_json)
    raise typer.Exit(code)


@geo_app.command("import")
def import_cli(
    path: Annotated[Path, typer.Argument(help="a .geojson/.json, .gpkg, .shp (or .zip of one) file")],
    level: Annotated[str, typer.Option("--level", help="district | street | community | grid")],
    crs: Annotated[
        str | None, typer.Option("--crs", help="override the file's CRS: EPSG:xxxx, wgs84, gcj02, bd09")
    ] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="GeoPackage layer")] = None,
    repair: Annotated[
        bool, typer.Option("--repair/--no-repair", help="repair invalid geometries or refuse them")
    ] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write normalised WGS84 GeoJSON here")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate only; store nothing")] = False,
    allow_overlaps: Annotated[
        bool, typer.Option("--allow-overlaps", help="store grids that overlap (reported, not refused)")
    ] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Validate a boundary file (any CRS it declares) and store it, in WGS84, in the city's database.

    Without an initialised database the file is only validated (and written with --output).
    """
    lvl = level.strip().lower()
    if lvl not in ("district", "street", "community", "grid"):
        raise typer.BadParameter(both("cli.geo.bad_level"), param_hint="'--level'")
    try:
        if lvl == "grid":
            grids = import_grids(path, crs=crs, layer=layer, repair=repair)
            st = grid_stats(grids)
            _echo(f"{path}: {st.count} grids in {st.communities} communities, {st.total_km2:.2f} km²")
            _print_stats(st.as_dict())
            coverage = grid_coverage(grids)
            _print_coverage(coverage)
            if coverage.overlaps and not allow_overlaps:
                raise BoundaryImportError(coverage.overlap_problems(), source=str(path))
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
        fail(str(exc))
    if output is not None:
        write_geojson(doc, output)
        _echo(f"wrote {output}")
    if dry_run:
        return
    c = _city_or_none(database, city)
    if c is None:
        _echo("not stored: no initialised database (run `civicloop init`, or pass --database)", err=True)
        return
    from civicloop.geo.service import import_boundaries

    try:
        report = import_boundaries(
            c, path, level=lvl, crs=crs, layer=layer, repair=repair, allow_overlaps=allow_overlaps
        )
    except BoundaryImportError as exc:
        fail(str(exc))
    if report.coverage is not None:
        _echo(both("migrate.grid_gap_communities", m2=report.coverage.gap_m2))
    _echo(f"stored {report.count} {lvl} record(s) for {c.id} in {c.engine.url.render_as_string()}")
    if report.missing_parents:
        shown = ", ".join(report.missing_parents[:10])
        _echo(f"warning: parent area(s) not stored yet: {shown}", err=True)


def _print_coverage(coverage: GridCoverage) -> None:
    """Overlaps (each pair) and gaps (area, parts) of a grid layer, on stderr."""
    _echo(both("migrate.grid_overlaps", n=len(coverage.overlaps), m2=coverage.overlap_m2))
    for problem in coverage.overlap_problems()[:50]:
        _echo(f"  {problem}", err=True)
    _echo(both("migrate.grid_gaps", m2=coverage.gap_m2, parts=coverage.gap_parts))


def _print_stats(d: dict[str, float | int]) -> None:
    for k, v in d.items():
        _echo(f"  {k:<20} {v:,.1f}" if isinstance(v, float) else f"  {k:<20} {v:,}")


@grid_app.command("generate")
def grid_generate_cli(
    cell_m2: Annotated[float, typer.Option("--cell-m2", help="target grid area in m²")] = 10_000.0,
    sliver_fraction: Annotated[
        float, typer.Option("--sliver-fraction", help="merge pieces below this × cell")
    ] = 0.3,
    community: Annotated[
        str | None, typer.Option("--community", help="only communities under this code prefix")
    ] = None,
    replace_imported: Annotated[
        bool, typer.Option("--replace-imported", help="also replace imported (official) grids")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="compute and print; store nothing")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="the in-memory demo instead of the database")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="demo seed (with --demo)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the grids as GeoJSON")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Generate unit grids for the stored communities, store them, print the area distribution and slivers."""
    if demo:
        from civicloop.geo.demo import DEFAULT_SEED, load_taiyuan_districts
        from civicloop.geo.subdivisions import generate_demo_subdivisions

        districts = load_taiyuan_districts()
        streets, communities = generate_demo_subdivisions(
            districts, seed=DEFAULT_SEED if seed is None else seed
        )
        grids = generate_grids(communities, cell_m2=cell_m2, sliver_fraction=sliver_fraction)
        st = grid_stats(grids, cell_m2=cell_m2, sliver_fraction=sliver_fraction)
        _echo(f"demo grids: {st.count} in {len(communities)} communities, {len(streets)} streets (generated)")
        _print_stats(st.as_dict())
        if output is not None:
            write_geojson(grids_to_geojson(grids), output)
            _echo(f"wrote {output}")
        return
    from civicloop.geo.service import generate_city_grids

    c = open_city(database, city)
    try:
        rep = generate_city_grids(
            c, cell_m2=cell_m2, sliver_fraction=sliver_fraction, community_prefix=community,
            replace_imported=replace_imported, dry_run=dry_run,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    verb = "would store" if dry_run else "stored"
    _echo(
        f"{verb} {rep.stats.count} grids in {rep.communities} communities of {c.id} "
        f"(replacing {rep.replaced}); cell {cell_m2:g} m²"
    )
    _print_stats(rep.stats.as_dict())
    if rep.slivers:
        _echo(f"slivers (< {rep.stats.sliver_threshold_m2:,.0f} m², no neighbour to merge into):")
        for g in rep.slivers[:20]:
            _echo(f"  {g.code}  {g.area_m2:,.0f} m²")
        if len(rep.slivers) > 20:
            _echo(f"  … {len(rep.slivers) - 20} more")
    else:
        _echo("slivers: none")
    if output is not None:
        write_geojson(grids_to_geojson(rep.grids), output)
        _echo(f"wrote {output}")


@grid_app.command("stats")
def grid_stats_cli(
    path: Annotated[
        Path | None, typer.Argument(help="a grid GeoJSON/GPKG file (default: the stored grids)")
    ] = None,
    cell_m2: Annotated[
        float, typer.Option("--cell-m2", help="target grid area, for the sliver count")
    ] = 10_000.0,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Area distribution of a grid layer: a file, the stored grids, or (neither) the demo grids."""
    if path is None:
        c = _city_or_none(database, city)
        grids = []
        if c is not None:
            from civicloop.geo.service import stored_grids

            grids = stored_grids(c)
        if not grids:
            from civicloop.geo.demo import DEFAULT_SEED, load_taiyuan_districts
            from civicloop.geo.subdivisions import generate_demo_subdivisions

            _, communities = generate_demo_subdivisions(load_taiyuan_districts(), seed=DEFAULT_SEED)
            grids = generate_grids(communities, cell_m2=cell_m2)
    else:
        try:
            grids = import_grids(path)
        except BoundaryImportError as exc:
            fail(str(exc))
    _print_stats(grid_stats(grids, cell_m2=cell_m2).as_dict())


def _print_json(value: Any) -> None:
    # str() for anything else: this group has always printed component history times that way
    _echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _parse_extent(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        w, s_, e, n = (float(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(both("cli.geo.bad_extent")) from None
    return (w, s_, e, n)


@geo_app.command("load-demo")
def load_demo_cli(
    replace: Annotated[bool, typer.Option("--replace", help="replace the stored geography")] = False,
    components: Annotated[
        bool, typer.Option("--components/--no-components", help="store the demo components")
    ] = True,
    seed: Annotated[int | None, typer.Option("--seed", help="demo seed (default: the demo's)")] = None,
    extent: Annotated[str | None, typer.Option("--extent", help="W,S,E,N: a smaller demo extent")] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Store the demo geography: districts, streets, communities, grids, components, duty grids."""
    from civicloop.demo.geography import load_demo_geography

    c = open_city(database, city)
    try:
        rep = load_demo_geography(
            c, seed=seed, extent=_parse_extent(extent), with_components=components, replace=replace
        )
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        _print_json(rep.as_dict())
    elif rep.skipped:
        _echo(f"{c.id} already has stored geography; nothing done (use --replace to reload)")
    else:
        _echo(
            f"stored for {c.id}: {rep.districts} districts, {rep.streets} streets, {rep.communities} "
            f"communities, {rep.grids} grids, {rep.components} components, {rep.duty_grids} duty grids "
            f"of {rep.inspectors} inspectors ({rep.seconds:.1f} s)"
        )


@geo_app.command("nearby")
def nearby_cli(
    category: Annotated[str, typer.Option("--category", help="category code, e.g. 06010")],
    lon: Annotated[float, typer.Option("--lon")],
    lat: Annotated[float, typer.Option("--lat")],
    radius: Annotated[float, typer.Option("--radius", help="metres")] = 250.0,
    days: Annotated[
        float | None, typer.Option("--days", help="only cases reported in the last N days")
    ] = None,
    crs: Annotated[str, typer.Option("--crs", help="wgs84 | gcj02 | bd09")] = "wgs84",
    limit: Annotated[int, typer.Option("--limit")] = 20,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Open cases of a category near a point (duplicate check): case id and distance."""
    from civicloop.geo.service import nearby_open_cases

    c = open_city(database, city)
    since = datetime.now().astimezone() - timedelta(days=days) if days is not None else None
    hits = nearby_open_cases(c, category, lon, lat, radius, since, crs=_parse_crs(crs), limit=limit)
    if as_json:
        _print_json([{"case_id": k, "distance_m": round(d, 1)} for k, d in hits])
        return
    if not hits:
        _echo(f"no open {category} case within {radius:g} m")
    for k, d in hits:
        _echo(f"{k}  {d:7.1f} m")


@geo_app.command("route")
def route_cli(
    case_id: Annotated[str, typer.Argument(help=both("cli.geo.help_case_id"))],
    as_json: JsonOpt = False,
    locale: LocaleOpt = "zh-CN",
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """The department dispatch should choose for a case (权责清单), and why."""
    from civicloop.dispatch.service import suggest_department

    c = open_city(database, city)
    state = c.cases.get(case_id)
    decision = suggest_department(c, state)
    if as_json:
        _print_json(decision.as_dict())
    else:
        _echo(decision.explain(locale))


@components_app.command("import")
def components_import_cli(
    path: Annotated[Path, typer.Argument(help="a .csv or .geojson file")],
    crs: Annotated[
        str | None, typer.Option("--crs", help="CSV lon/lat system (wgs84, gcj02, bd09, EPSG:x)")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="update components already registered")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate only")] = False,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Import components (17-digit ids, national component codes); all rows or none."""
    from civicloop.assets.service import ComponentImportError, import_components

    c = open_city(database, city)
    try:
        res = import_components(c, path, crs=crs, replace_existing=replace, dry_run=dry_run)
    except ComponentImportError as exc:
        problems = "".join(f"\n  {problem}" for problem in exc.problems[:200])
        fail(f"{exc}{problems}")
    for w in res.warnings:
        _echo(f"warning: {w}", err=True)
    if as_json:
        _print_json({"count": res.count, "inserted": res.inserted, "replaced": res.replaced,
                     "state_changes": res.state_changes, "by_type": dict(res.by_type),
                     "warnings": [str(w) for w in res.warnings], "dry_run": dry_run})  # fmt: skip
        return
    verb = "valid" if dry_run else "imported"
    types = ", ".join(f"{k}×{v}" for k, v in sorted(res.by_type.items()))
    _echo(f"{verb}: {res.count} components ({types}); new {res.inserted}, updated {res.replaced}")


@components_app.command("nearest")
def components_nearest_cli(
    category: Annotated[str, typer.Option("--category", help="component or category code, e.g. 01037")],
    lon: Annotated[float, typer.Option("--lon")],
    lat: Annotated[float, typer.Option("--lat")],
    radius: Annotated[float, typer.Option("--radius", help="metres")] = 30.0,
    crs: Annotated[str, typer.Option("--crs", help="wgs84 | gcj02 | bd09")] = "wgs84",
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """The nearest component of a type within a radius (exit 1 if none)."""
    from civicloop.assets.service import nearest_component

    c = open_city(database, city)
    hit = nearest_component(c, category, lon, lat, radius, crs=_parse_crs(crs))
    if hit is None:
        _echo(f"no {category} component within {radius:g} m", err=True)
        raise typer.Exit(EXIT_CHECK_FAILED)
    _print_json({**hit.component.as_dict(), "distance_m": round(hit.distance_m, 1)})


@components_app.command("show")
def components_show_cli(
    component_id: Annotated[str, typer.Argument(help="17-digit component id")],
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """A component and its state history."""
    from civicloop.assets.service import component_history, get_component

    c = open_city(database, city)
    comp = get_component(c, component_id)
    if comp is None:
        fail(both("cli.geo.component_unknown", component=component_id))
    _print_json({**comp.as_dict(), "history": component_history(c, component_id)})


@patrol_app.command("lights")
def patrol_lights_cli(
    district: Annotated[str, typer.Option("--district", help="district code, e.g. 140105")],
    unlit_rate: Annotated[
        float, typer.Option("--unlit-rate", min=0.0, max=1.0, help="share of unlit lights")
    ] = 0.03,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    at: Annotated[str | None, typer.Option("--at", help="start, ISO time with zone (default now)")] = None,
    inspector: Annotated[
        str | None, typer.Option("--inspector", help="inspector id (default ins-<district>-01)")
    ] = None,
    max_lights: Annotated[
        int | None, typer.Option("--max-lights", help="stop after this many lights")
    ] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Simulated night lighting patrol (夜间亮灯巡查): unlit street lights become cases (no duplicates)."""
    from civicloop.assets.patrols import road_class_targets, simulate_lighting_patrol

    c = open_city(database, city)
    try:
        res = simulate_lighting_patrol(
            c, district_code=district, unlit_rate=unlit_rate, seed=seed, at=parse_moment(at),
            inspector_id=inspector, max_lights=max_lights,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    out = res.as_dict()
    if as_json:
        out.pop("cases")
        out.pop("duplicates")
        _print_json(out)
        return
    _echo(
        f"patrol {out['patrol_id']} by {out['inspector_id']}: {out['checked']} lights on "
        f"{out['distance_km']} km, {out['grids_passed']} grids passed"
    )
    _echo(both("cli.geo.lit_unlit", lit=out["lit"], unlit=out["unlit"], rate=out["light_on_rate"]))
    targets = road_class_targets(c.profile)
    for cls, v in out["by_road_class"].items():
        target = targets.get(cls)
        flag = (
            ""
            if target is None or v["rate"] is None
            else ("  ✓" if v["rate"] >= target else "  below target")
        )
        tgt = f" (target {target:.0%})" if target is not None else ""
        _echo(f"  {cls:<10} {v['lit']}/{v['checked']} = {v['rate']}{tgt}{flag}")
    _echo(f"cases opened {out['cases_created']}, already open (not duplicated) {out['already_open']}")
    for r in out["refused"]:
        _echo(f"refused {r['component_id']}: {r['reason']}", err=True)


@patrol_app.command("coverage")
def patrol_coverage_cli(
    start: Annotated[str, typer.Option("--from", help="first day YYYY-MM-DD (local)")],
    end: Annotated[str, typer.Option("--to", help="last day YYYY-MM-DD (inclusive)")],
    inspector: Annotated[str | None, typer.Option("--inspector", help="one inspector")] = None,
    district: Annotated[str | None, typer.Option("--district", help="duty grids of one district")] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Patrol coverage (巡查覆盖率): share of duty grids the tracks passed through, per inspector."""
    from civicloop.assets.patrols import patrol_coverage

    c = open_city(database, city)
    try:
        rep = patrol_coverage(
            c, parse_day(start, "--from"), parse_day(end, "--to"), inspector_id=inspector,
            district_code=district,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        _print_json(rep.as_dict())
        return
    _echo(
        f"{start} – {end}: {rep.covered_by_own}/{rep.duty_grids} duty grids patrolled by their inspector "
        f"({rep.share}); by anyone {rep.covered_by_any} ({rep.share_any})"
    )
    for i in rep.inspectors:
        if i.patrols or inspector:
            _echo(f"  {i.inspector_id:<20} {i.covered:>5}/{i.duty_grids:<5} {i.share}  ({i.patrols} patrols)")
    idle = sum(1 for i in rep.inspectors if not i.patrols)
    if idle and not inspector:
        _echo(f"  … {idle} inspector(s) without patrols in the period")


@patrol_app.command("duty")
def patrol_duty_cli(
    inspector: Annotated[
        str | None, typer.Option("--inspector", help="one inspector (lists the grids)")
    ] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Duty grids (责任网格) per inspector."""
    from civicloop.assets.patrols import duty_grids_of

    c = open_city(database, city)
    duty = duty_grids_of(c, inspector)
    if as_json:
        _print_json(duty)
        return
    for ins, grids in duty.items():
        _echo(f"{ins:<20} {len(grids)} grids" + (": " + " ".join(grids) if inspector else ""))


# --------------------------------------------------------------------------- address geocoding


@geo_app.command("geocode")
def geocode_cli(
    address: Annotated[str, typer.Option("--address", help="the address text")],
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=20, help="candidates to list (text output)")
    ] = 3,
    as_json: JsonOpt = False,
    locale: LocaleOpt = "zh-CN",
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """地址匹配 / Address → point or area, grid/community/street/district, matched name, confidence.

    With --json one object: lon, lat, district, street, community, grid, matched, confidence (and kind,
    label, the area names). Exit 2 when nothing matches. Without an initialised database the demo
    city's gazetteer answers."""
    from civicloop.geo.geocoding import demo_geocode, geocode, match_json

    if not address.strip():
        fail(both("geocode.address_empty"))
    c = _city_or_none(database, city)
    if c is None:
        matches, rows = demo_geocode(address, limit)
    else:
        matches = geocode(c, address, limit)
        rows = [match_json(c, m, locale) for m in matches]
    if not matches:
        fail(both("geocode.no_match", address=address[:80]))
    if as_json:
        _print_json(rows[0])
        return
    for row in rows:
        _echo(
            f"{row['confidence']:.2f}  {row['matched']}  ({row['kind']})  "
            f"{row['lon']:.6f}, {row['lat']:.6f}  "
            f"{row['district'] or '-'} {row['street'] or '-'} {row['community'] or '-'} {row['grid'] or '-'}"
        )


@geo_app.command("import-places")
def import_places_cli(
    path: Annotated[Path, typer.Argument(help="GeoJSON (Point/LineString features) or CSV of places")],
    fmt: Annotated[str | None, typer.Option("--format", help="geojson | csv (default: by extension)")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="delete every stored place first (else same ids are replaced)")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate only; store nothing")] = False,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """地名导入 / Store the city's roads and named places (name, kind, aliases, point or line) for the
    geocoder. Properties/columns: name, kind (road, compound, school, market, hospital, park, landmark,
    place), aliases (list, or ``|``-separated), numbers (a road's highest house number), id."""
    from civicloop.geo.geocoding import import_places
    from civicloop.geo.places_data import PlacesFileError

    if not path.is_file():
        fail(both("geocode.no_such_file", file=path))
    if fmt is not None and fmt not in ("geojson", "csv"):
        raise typer.BadParameter(both("geocode.bad_format"), param_hint="'--format'")
    c = open_city(database, city)
    try:
        report = import_places(c, path, fmt=fmt, replace=replace, dry_run=dry_run)
    except (PlacesFileError, UnicodeDecodeError) as exc:
        fail(f"{path}: {exc}")
    if as_json:
        _print_json({"count": report.count, "kinds": report.kinds, "stored": not dry_run})
        return
    _echo(
        both(
            "geocode.imported",
            count=report.count,
            kinds=", ".join(f"{k} {n}" for k, n in report.kinds.items()),
        )
    )
