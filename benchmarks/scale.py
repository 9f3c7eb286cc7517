"""Scale curves: the loop, intake, nearby and KPI benchmarks at three sizes each, plotted.

    make bench BENCH_ARGS=--scale          (or: python -m benchmarks --scale)
    env BENCH_SCALE=small|default          (small: a quick check of the machinery, not for the docs)

Each size is measured with its same-run baseline (the raw insert of the same event rows for the loop and
intake, a primary-key lookup for nearby, the hand-written SQL for the KPI), so the growth of the cost
can be told apart from the machine's mood. The sizes are chosen to finish in minutes on a shared 2-core
machine (stated in the JSON and on each plot); the load average is recorded before and after each size.
Results: ``benchmarks/results/scale.json``; plots: ``docs/img/scale-{loop,intake,nearby,kpi}.png``.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.common import write

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"

SIZES: dict[str, dict[str, list[int]]] = {
    "default": {
        "loop": [10_000, 30_000, 100_000],
        "intake": [10_000, 30_000, 100_000],
        "nearby": [10_000, 100_000, 1_000_000],
        "kpi": [10_000, 100_000, 1_000_000],
    },
    "small": {
        "loop": [200, 400, 800],
        "intake": [100, 200, 400],
        "nearby": [2_000, 4_000, 8_000],
        "kpi": [2_000, 4_000, 8_000],
    },
}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def scale_loop(sizes: list[int]) -> list[dict[str, Any]]:
    from benchmarks.bench_loop import raw_insert, run_loop
    from civicloop.bootstrap import init_city
    from civicloop.store.database import make_engine

    out = []
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='civicloop-scale-loop-')}/loop.db")
    warm = init_city("taiyuan", engine=engine, city_id="scalewarm")
    run_loop(warm, 200, 200)
    for i, n in enumerate(sizes):
        row: dict[str, Any] = {"cases": n, "load_before": _load()}
        for mode in ("live", "import"):
            city = init_city("taiyuan", engine=engine, city_id=f"scale{i}{mode[0]}")
            ours, _ = run_loop(city, n, min(1000, n), mode)
            raw, _ = raw_insert(city, min(1000, n))
            row[mode] = {
                "seconds": round(ours, 3),
                "cases_per_s": round(n / ours),
                "raw_insert_s": round(raw, 3),
                "ratio_to_raw_insert": round(ours / raw, 2),
            }
        row["load_after"] = _load()
        out.append(row)
        print("loop", row, flush=True)
    engine.dispose()
    return out


def scale_intake(sizes: list[int]) -> list[dict[str, Any]]:
    from benchmarks.bench_intake import bulk_intake
    from civicloop.bootstrap import init_city
    from civicloop.demo.geography import load_demo_geography
    from civicloop.store.database import make_engine

    out = []
    tmp = Path(tempfile.mkdtemp(prefix="civicloop-scale-intake-"))
    engine = make_engine(f"sqlite:///{tmp / 'intake.db'}")
    for i, n in enumerate(sizes):
        city = init_city("taiyuan", engine=engine, city_id=f"scaleintake{i}")
        load_demo_geography(city, with_components=False, with_duty_grids=False)
        load_before = _load()
        figures = bulk_intake(city, tmp, n)
        row = {"reports": n, "load_before": load_before, "load_after": _load(), **figures}
        out.append(row)
        print("intake", {k: v for k, v in row.items() if k != "outcomes"}, flush=True)
    engine.dispose()
    return out


def scale_nearby(sizes: list[int], queries: int = 500) -> list[dict[str, Any]]:
    from benchmarks.bench_nearby import Mixture, load, measure
    from civicloop.bootstrap import init_city
    from civicloop.store.database import make_engine

    out = []
    for i, n in enumerate(sizes):
        engine = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='civicloop-scale-nearby-')}/nearby.db")
        city = init_city("taiyuan", engine=engine, city_id=f"scalenearby{i}")
        mixture = Mixture(city)
        loaded = load(city, n, mixture)
        load_before = _load()
        figures = measure(city, mixture, queries, n, n_rounds=1)
        figures.pop("rounds", None)
        row = {"cases": n, "open_rows": loaded["open_rows"], "load_before": load_before}
        row.update(load_after=_load(), **figures)
        out.append(row)
        print("nearby", row, flush=True)
        engine.dispose()
        Path(str(engine.url.database)).unlink(missing_ok=True)
    return out


def scale_kpi(sizes: list[int]) -> list[dict[str, Any]]:
    from benchmarks.bench_kpi import CITY, PERIOD, _city, baseline, generate
    from civicloop.kpi.core import parse_period
    from civicloop.kpi.engine import GROUPINGS, KpiEngine, city_labels
    from civicloop.kpi.source import open_parquet

    out = []
    root = Path(tempfile.mkdtemp(prefix="civicloop-scale-kpi-"))
    city = _city(root)
    period = parse_period(PERIOD)
    start, end = period.start.replace(tzinfo=None), period.end.replace(tzinfo=None)
    for n in sizes:
        folder = root / f"parquet-{n}"
        info = generate(folder, n)
        load_before = _load()
        base = [baseline(folder, start, end, flat=True)[0] for _ in range(3)]
        runs = []
        for _ in range(3):
            e = KpiEngine(open_parquet(folder), CITY, city.calendar, city.profile.kpi, city_labels(city))
            t = time.perf_counter()
            e.evaluate(period, GROUPINGS, previous=False)
            runs.append(time.perf_counter() - t)
            e.close()
        row = {
            "cases": n,
            "events": info["events"],
            "load_before": load_before,
            "load_after": _load(),
            "baseline_flat_s": [round(b, 3) for b in base],
            "evaluation_from_events_s": [round(r, 3) for r in runs],
            "ratio_to_baseline": round(sum(runs) / sum(base), 2),
        }
        out.append(row)
        print("kpi", row, flush=True)
    return out


def plot(results: dict[str, Any], folder: Path = DOCS_IMG) -> list[Path]:
    """One PNG per benchmark: cost per unit against the size (log x), ours beside the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    specs: dict[str, tuple[str, str, list[tuple[str, Any]]]] = {
        "loop": ("cases", "µs per event (SQLite)", [
            ("live shape", lambda r: r["live"]["seconds"] / (10 * r["cases"]) * 1e6),
            ("import shape", lambda r: r["import"]["seconds"] / (10 * r["cases"]) * 1e6),
            ("raw insert of the same rows", lambda r: r["live"]["raw_insert_s"] / (10 * r["cases"]) * 1e6),
        ]),
        "intake": ("reports", "ms per report (SQLite)", [
            ("bulk intake", lambda r: r["seconds"] / r["reports"] * 1e3),
            ("raw insert of its events", lambda r: r["raw_insert_seconds"] / r["reports"] * 1e3),
        ]),
        "nearby": ("stored cases", "ms per call (SQLite)", [
            ("250 m, 30 days: p50", lambda r: r["r250_30d"]["per_call"]["p50_ms"]),
            ("250 m, 30 days: p99", lambda r: r["r250_30d"]["per_call"]["p99_ms"]),
            ("1 km, any age: p99", lambda r: r["r1000_all"]["per_call"]["p99_ms"]),
            ("primary-key lookup: p50", lambda r: r["baseline_pk_lookup"]["per_call"]["p50_ms"]),
            ("primary-key lookup: p99", lambda r: r["baseline_pk_lookup"]["per_call"]["p99_ms"]),
        ]),
        "kpi": ("cases (a year, ≈10 events each)", "seconds, one month (mean of 3)", [
            ("evaluation from the events, 11 groupings",
             lambda r: sum(r["evaluation_from_events_s"]) / len(r["evaluation_from_events_s"])),
            ("hand-written SQL, one KPI",
             lambda r: sum(r["baseline_flat_s"]) / len(r["baseline_flat_s"])),
        ]),
    }  # fmt: skip
    for name, (xlabel, ylabel, series) in specs.items():
        rows = results.get(name)
        if not rows:
            continue
        xs = [r.get("cases", r.get("reports")) for r in rows]
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        for label, fn in series:
            ax.plot(xs, [fn(r) for r in rows], marker="o", label=label)
        loads = ", ".join(f"{r['load_before']:g}→{r['load_after']:g}" for r in rows)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{name}: cost against size (load average {loads})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / f"scale-{name}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def main(only: list[str] | None = None) -> None:
    warnings.simplefilter("ignore")
    preset = os.environ.get("BENCH_SCALE", "default")
    sizes = SIZES[preset]
    runners = {"loop": scale_loop, "intake": scale_intake, "nearby": scale_nearby, "kpi": scale_kpi}
    results: dict[str, Any] = {"preset": preset, "sizes": sizes}
    for name, runner in runners.items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        results[name] = runner(sizes[name])
        results[f"{name}_seconds"] = round(time.perf_counter() - started, 1)
    path = write("scale", results)
    for png in plot(results, DOCS_IMG if preset == "default" else path.parent):
        print("wrote", png)


if __name__ == "__main__":
    main()
