"""Point → unit grid: civicloop's lattice locator vs a bare shapely STRtree, side by side.

    .venv/bin/python benchmarks/bench_locate.py [--points 1000000] [--repeat 3] [--seed 1]

1,000,000 points (90 % uniform in the demo extent, 9 % in a margin around it, 1 % exactly on grid
vertices and edges, where the tie-break matters) are located over the demo's unit grids with

* ``GridLocator.locate_many`` (civicloop.geo.index.PolygonLattice), and
* ``STRtree.query(points, predicate="intersects")`` + lowest polygon index per point (the reference).

Both run on one core in the same process; the answers must be identical (asserted). Every one of
``--repeat`` runs is reported and the headline is their mean (never the best). The same comparison is
made on the **real district boundaries** (the city's districts, irregular polygons, hundreds of
vertices: civicloop's lattice over them against a bare STRtree, the same points). Results go to
benchmarks/results/locate.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import shapely  # noqa: E402

from civicloop.geo.demo import build_demo_geography  # noqa: E402
from civicloop.geo.grids import generate_grids, grid_stats  # noqa: E402
from civicloop.geo.index import strtree_lowest_index  # noqa: E402
from civicloop.geo.locator import GridLocator  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "locate.json"


def _points(geo_extent: tuple[float, float, float, float], polys: Any, n: int, seed: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geo_extent
    n_edge = n // 100
    n_margin = (n * 9) // 100
    n_in = n - n_edge - n_margin
    x_in = rng.uniform(minx, maxx, n_in)
    y_in = rng.uniform(miny, maxy, n_in)
    pad = 0.02
    x_m = rng.uniform(minx - pad, maxx + pad, n_margin)
    y_m = rng.uniform(miny - pad, maxy + pad, n_margin)
    coords = shapely.get_coordinates(polys)
    pick = rng.integers(0, coords.shape[0] - 1, n_edge)
    a = coords[pick]
    b = coords[pick + 1]
    vertical = a[:, 0] == b[:, 0]
    t = rng.uniform(0, 1, n_edge)
    # half on vertices, half on edges (exactly on axis-aligned edges: one coordinate is the edge's)
    on_vertex = rng.uniform(0, 1, n_edge) < 0.5
    x_e = np.where(on_vertex | vertical, a[:, 0], a[:, 0] + t * (b[:, 0] - a[:, 0]))
    y_e = np.where(on_vertex | ~vertical, a[:, 1], a[:, 1] + t * (b[:, 1] - a[:, 1]))
    x = np.concatenate([x_in, x_m, x_e])
    y = np.concatenate([y_in, y_m, y_e])
    order = rng.permutation(n)
    return np.ascontiguousarray(x[order]), np.ascontiguousarray(y[order])


def _mean(fn: Any, repeat: int) -> tuple[float, Any, list[float]]:
    """Mean seconds over *repeat* runs (each one listed), and the answer."""
    runs: list[float] = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t0)
    return sum(runs) / len(runs), out, runs


def _compare(locate: Any, tree: Any, x: Any, y: Any, repeat: int) -> list[tuple[float, list[float]]]:
    """(mean, runs) of our locator, the bare STRtree query and the STRtree with the tie-break, after a
    warm-up (page faults, lazy preparation); the answers must be identical."""
    pts = shapely.points(x, y)
    locate(x[:10_000], y[:10_000])
    tree.query(pts[:10_000], predicate="intersects")
    t_loc, ours, loc_runs = _mean(lambda: locate(x, y), repeat)
    t_query, _, query_runs = _mean(lambda: tree.query(pts, predicate="intersects"), repeat)
    t_ref, ref, ref_runs = _mean(lambda: strtree_lowest_index(tree, x, y), repeat)
    mismatches = int((ours != ref).sum())
    assert mismatches == 0, f"{mismatches} points differ from the STRtree answer"
    return [(t_loc, loc_runs), (t_query, query_runs), (t_ref, ref_runs)]


def _timings(n: int, *timed: tuple[float, list[float]]) -> dict[str, Any]:
    """The result fields of one comparison (mean and runs of ours, the bare STRtree, with the tie-break)."""
    (t_loc, loc_runs), (t_query, query_runs), (t_ref, ref_runs) = timed
    return {
        "locator_s": t_loc,
        "locator_runs_s": loc_runs,
        "locator_points_per_s": n / t_loc,
        "strtree_query_only_s": t_query,
        "strtree_query_only_runs_s": query_runs,
        "strtree_query_only_points_per_s": n / t_query,
        "strtree_with_tiebreak_s": t_ref,
        "strtree_with_tiebreak_runs_s": ref_runs,
        "strtree_with_tiebreak_points_per_s": n / t_ref,
        "speedup_vs_strtree_query_only": t_query / t_loc,
        "speedup_vs_strtree_with_tiebreak": t_ref / t_loc,
    }


def _districts(geo: Any, x: Any, y: Any, repeat: int) -> dict[str, Any]:
    """The lattice against a bare STRtree on the real district boundaries, same points."""
    from civicloop.geo.index import PolygonLattice

    polys = np.asarray([d.geometry for d in geo.districts], dtype=object)
    vertices = int(shapely.get_num_coordinates(polys).sum())
    t0 = time.perf_counter()
    lattice = PolygonLattice(polys)
    build_s = time.perf_counter() - t0
    tree = shapely.STRtree(polys)
    (t_loc, loc_runs), (t_query, query_runs), (t_ref, ref_runs) = _compare(lattice.locate, tree, x, y, repeat)
    n = len(x)
    print(
        f"districts ({len(polys)}, {vertices:,} vertices): lattice {n / t_loc:,.0f}/s, bare STRtree "
        f"{n / t_query:,.0f}/s (x{t_query / t_loc:.1f}), STRtree + lowest index {n / t_ref:,.0f}/s"
    )
    return {
        "polygons": len(polys),
        "vertices": vertices,
        "lattice_build_s": build_s,
        **_timings(n, (t_loc, loc_runs), (t_query, query_runs), (t_ref, ref_runs)),
        "identical_answers": True,
    }


def _machine() -> dict[str, Any]:
    """The shared machine description of the benchmark suite, when importable (package or script)."""
    try:
        from benchmarks.common import machine
    except ImportError:
        try:
            from common import machine  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return {}
    result: dict[str, Any] = machine()
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``python -m benchmarks locate`` calls this with no arguments (defaults)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-polygons", type=int, default=18_000, help="densify the lattice below this")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args([] if argv is None else argv)

    t0 = time.perf_counter()
    geo = build_demo_geography()
    demo_build_s = time.perf_counter() - t0
    grids = geo.grids
    cell_m2 = geo.cell_m2
    locator = geo.locator
    if len(grids) < args.min_polygons:  # make the bench's polygon count ~20,000 whatever the demo is
        cell_m2 = cell_m2 * len(grids) / 20_000
        grids = generate_grids(geo.communities, cell_m2=cell_m2)
        locator = GridLocator(grids, geo.areas)
    polys = np.asarray([g.geometry for g in grids], dtype=object)
    st = grid_stats(grids, cell_m2=cell_m2)

    t0 = time.perf_counter()
    tree = shapely.STRtree(polys)
    tree_build_s = time.perf_counter() - t0
    x, y = _points(geo.extent, polys, args.points, args.seed)

    (t_loc, loc_runs), (t_query, query_runs), (t_ref, ref_runs) = _compare(
        locator.locate_many, tree, x, y, args.repeat
    )
    ref = strtree_lowest_index(tree, x, y)
    ix = locator.index
    n = args.points
    result = {
        "machine": _machine(),
        "points": n,
        "polygons": len(grids),
        "grid_cell_m2": cell_m2,
        "grid_stats": st.as_dict(),
        "points_in_a_grid": int((ref >= 0).sum()),
        "points_on_shared_edges_or_vertices": n // 100,
        "identical_answers": True,
        "load_average": os.getloadavg(),
        "headline": "mean of all runs; the honest baseline is the bare STRtree query (no tie-break)",
        **_timings(n, (t_loc, loc_runs), (t_query, query_runs), (t_ref, ref_runs)),
        "index": ix.stats.as_dict(),
        "strtree_build_s": tree_build_s,
        "demo_build_s": demo_build_s,
        "repeat": args.repeat,
        "districts": _districts(geo, x, y, args.repeat),
        "env": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "shapely": shapely.__version__,
            "geos": shapely.geos_version_string,
            "machine": platform.machine(),
            "cpus_visible": os.cpu_count(),
        },
    }
    print(f"polygons                  {len(grids):,} (unit grids, median {st.median_m2:,.0f} m²)")
    inside = result["points_in_a_grid"]
    print(f"points                    {n:,} ({inside:,} in a grid, 1 % on edges/vertices)")
    print(f"index build               {ix.stats.build_s:.2f} s  ({ix.stats.cells:,} lattice cells)")
    print(f"locator                   {t_loc:.3f} s  {n / t_loc:>12,.0f} points/s")
    print(f"STRtree query only        {t_query:.3f} s  {n / t_query:>12,.0f} points/s")
    print(f"STRtree + lowest index    {t_ref:.3f} s  {n / t_ref:>12,.0f} points/s")
    print(
        f"speed-up                  x{t_query / t_loc:.1f} against the bare STRtree "
        f"(x{t_ref / t_loc:.1f} with the tie-break)"
    )
    print("answers                   identical")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
