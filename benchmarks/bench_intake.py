"""Triage performance: the bulk intake path end to end, and duplicate search among many open cases.

1. **Bulk intake** (SQLite): ``BENCH_INTAKE_REPORTS`` (default 100,000) inspector and citizen reports,
   in batches of 1,000, through ``IntakeService.submit``: locate on the stored demo geography (23,643
   grids), classify (the city's trained category model), look for duplicates and recurrences, decide
   urgency, write the report and the automatic accept/file/dispatch or merge — all in one transaction
   per batch. Baseline in the same run and database: a raw DBAPI ``executemany`` of the same number of
   event rows (those the pipeline wrote) into a twin of the event table.
2. **Duplicate search**: p50/p99 of the intake's duplicate search (``IntakeService.duplicates_of``: open
   cases of the category, and without one, within the radius and window, and those sharing a text key) with
   ``BENCH_INTAKE_OPEN`` (default 1,000,000) open cases stored, against a primary-key lookup measured
   interleaved in the same run.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_loop import raw_insert
from benchmarks.common import store_states, write
from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor, CaseState
from civicloop.city.service import City
from civicloop.demo.geography import load_demo_geography
from civicloop.intake.service import IntakeReport, IntakeService
from civicloop.kernel.vocabulary import Channel, Role, Stage
from civicloop.simulator.placer import placer_for
from civicloop.store.database import make_engine
from civicloop.triage.service import load_category_model, train_category_model

N_REPORTS = int(os.environ.get("BENCH_INTAKE_REPORTS", "100000"))
N_OPEN = int(os.environ.get("BENCH_INTAKE_OPEN", "1000000"))
BATCH = 1000
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _reports(city: City, n: int, seed: int) -> list[IntakeReport]:
    rng = random.Random(seed)
    placer = placer_for(city)
    assert placer is not None
    cats = [c for c in city.profile.categories if c.sim is not None]
    weights = [c.sim.weight for c in cats if c.sim is not None]
    out = []
    for i in range(n):
        cat = rng.choices(cats, weights)[0]
        assert cat.sim is not None
        where = placer.place(rng, cat)
        inspector = rng.random() < 0.7
        fields: dict[str, Any] = {
            "channel": "inspector" if inspector else "citizen",
            "description": rng.choice(cat.sim.texts),
            "lon": where["lon"], "lat": where["lat"], "address": where.get("address"),
        }  # fmt: skip
        if inspector:
            fields["category_code"] = cat.code
        actor = Actor(f"ins-{i % 144}", Role.INSPECTOR) if inspector else Actor(f"c-{i}", Role.CITIZEN)
        out.append(IntakeReport(actor, fields, START + timedelta(seconds=i * 3)))
    return out


def bulk_intake(city: City, model_dir: Path, n: int = N_REPORTS) -> dict[str, Any]:
    path = model_dir / "category.model"
    if not path.exists():
        train_category_model(city, path=path)
    intake = IntakeService(city, classifier=load_category_model(city, path))
    reports = _reports(city, n, 1)
    outcomes: dict[str, int] = {}
    started = time.perf_counter()
    for first in range(0, len(reports), BATCH):
        for o in intake.submit(reports[first : first + BATCH]):
            outcomes[o.outcome] = outcomes.get(o.outcome, 0) + 1
    ours = time.perf_counter() - started
    raw, rows = raw_insert(city, BATCH)
    return {
        "reports": n,
        "seconds": round(ours, 2),
        "reports_per_s": round(n / ours),
        "events_written": rows,
        "raw_insert_seconds": round(raw, 3),
        "raw_insert_rows_per_s": round(rows / raw),
        "ratio_to_raw_insert_of_the_same_events": round(ours / raw, 2),
        "outcomes": outcomes,
    }


def duplicate_search(city: City) -> dict[str, Any]:
    """Store N_OPEN open cases straight into the projection (fast), then time the intake's search."""
    rng = random.Random(2)
    placer = placer_for(city)
    assert placer is not None
    cats = [c for c in city.profile.categories if c.sim is not None]
    weights = [c.sim.weight for c in cats if c.sim is not None]

    def states() -> Iterator[CaseState]:
        for i in range(N_OPEN):
            cat = rng.choices(cats, weights)[0]
            where = placer.place(rng, cat)
            at = START - timedelta(minutes=rng.randint(0, 60 * 24 * 6))
            yield CaseState(city.id, f"OPEN-{i:08d}", 1, Stage.DISPATCHED, Channel.INSPECTOR, at, at,
                            category_code=cat.code, lon=where["lon"], lat=where["lat"])  # fmt: skip

    store_states(city, states())
    intake = IntakeService(city)
    probes = _reports(city, 2000, 3)
    search_ms: list[float] = []
    pk_ms: list[float] = []
    with city.store.read() as conn:
        for p in probes:
            code = p.fields.get("category_code") or "06010"
            t = time.perf_counter()
            intake.duplicates_of(p, code)  # place, review queue and text keys (bench_dedupe: with texts)
            search_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            city.store.load(conn, city.id, f"OPEN-{rng.randrange(N_OPEN):08d}")
            pk_ms.append((time.perf_counter() - t) * 1000)

    def pct(v: list[float], q: float) -> float:
        return round(sorted(v)[min(len(v) - 1, int(q * len(v)))], 3)

    return {
        "open_cases": N_OPEN,
        "queries": len(probes),
        "search_p50_ms": pct(search_ms, 0.5),
        "search_p99_ms": pct(search_ms, 0.99),
        "pk_lookup_p50_ms": pct(pk_ms, 0.5),
        "pk_lookup_p99_ms": pct(pk_ms, 0.99),
    }


def main() -> None:
    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="civicloop-bench-intake-"))
    engine = make_engine(f"sqlite:///{tmp / 'intake.db'}")
    city = init_city("taiyuan", engine=engine, city_id="benchintake")
    load_demo_geography(city, with_components=False, with_duty_grids=False)
    result = {"store": "sqlite", "bulk_intake": bulk_intake(city, tmp)}
    other = init_city("taiyuan", engine=engine, city_id="benchdup")
    load_demo_geography(other, with_components=False, with_duty_grids=False)
    result["duplicate_search"] = duplicate_search(other)
    write("intake", result)


if __name__ == "__main__":
    main()
