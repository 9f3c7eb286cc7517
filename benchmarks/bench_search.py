"""The case search (``GET /api/v1/cases/search``) at scale: one page and its total for the workspace's
typical filters over N synthetic cases (env ``BENCH_SEARCH_CASES``, default 200,000), and the CSV export of
a filtered result. Cases are written straight into the projection (the search reads only that). SQLite, and
PostgreSQL too when ``CIVICLOOP_BENCH_PG_URL`` is set (``make bench`` starts one).

Baseline: a primary-key read of one case in the same database (what the case page does), so that a noisy
machine shows in both figures.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import backends, store_states, write
from civicloop.bootstrap import init_city
from civicloop.cases.core import CaseState
from civicloop.cases.service import CaseQuery
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Channel, Stage
from civicloop.store.database import make_engine
from civicloop.store.tables import cases
from civicloop.web import search as rows

N = int(os.environ.get("BENCH_SEARCH_CASES", "200000"))
NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)
DISTRICTS = ["140105", "140106", "140107", "140108", "140109", "140110"]
WORDS = ["垃圾成堆", "井盖缺失", "占道经营", "路灯不亮", "违章停车", "广告牌破损", "绿地损坏", "污水外溢"]
STAGES = [Stage.CLOSED] * 7 + [Stage.DISPATCHED, Stage.REPORTED, Stage.FILED, Stage.CHECKING]


def load(city: City) -> None:
    rng = random.Random(7)
    cats = [c.code for c in city.profile.categories][:60]
    depts = [d.id for d in city.profile.departments]

    def states() -> Iterator[CaseState]:
        yield from (one(i) for i in range(N))

    def one(i: int) -> CaseState:
        at = NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        d = rng.choice(DISTRICTS)
        street = f"{d}{rng.randint(1, 12):03d}"
        community = f"{street}{rng.randint(1, 20):03d}"
        stage = rng.choice(STAGES)
        handling = stage is Stage.DISPATCHED
        s = CaseState(
            city.id, f"TY-2026-{i:07d}", 5, stage, rng.choice(list(Channel)), at, at + timedelta(hours=3),
            category_code=rng.choice(cats), description=f"{rng.choice(WORDS)} {i}",
            address=f"某路{i % 997}号",
            district_code=d, street_code=street, community_code=community,
            grid_code=f"{community}{rng.randint(1, 30):03d}", lon=112.5, lat=37.8,
            department_id=rng.choice(depts) if stage is not Stage.REPORTED else None,
            deadline=at + timedelta(days=3) if stage in (Stage.DISPATCHED, Stage.CLOSED, Stage.CHECKING)
            else None,
            step_deadline=None if handling else at + timedelta(hours=4),
            rework_count=1 if rng.random() < 0.04 else 0,
            closed_at=at + timedelta(days=2) if stage is Stage.CLOSED else None,
        )  # fmt: skip
        return s

    store_states(city, states())
    with city.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE" if city.engine.dialect.name == "sqlite" else "ANALYZE cases")


def timed(fn: Any, runs: int = 7) -> dict[str, float]:
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2)}


def main() -> None:
    warnings.simplefilter("ignore")
    results: dict[str, Any] = {"cases": N, "backends": {}}
    stamp = int(time.time())
    for name, url in backends():
        engine = make_engine(url)
        city = init_city("taiyuan", engine=engine, city_id=f"benchsearch{stamp}")
        results["backends"][name] = measure(city)
        print(name, results["backends"][name], flush=True)
        if name != "sqlite":  # a shared server: leave it as we found it
            with engine.begin() as conn:
                conn.execute(cases.delete().where(cases.c.city_id == city.id))
        engine.dispose()
    write("search", results)


def measure(city: City) -> dict[str, Any]:
    started = time.perf_counter()
    load(city)
    loaded = time.perf_counter() - started
    svc = city.cases
    cat = city.profile.categories[3].code
    searches: dict[str, CaseQuery] = {
        "newest_page": CaseQuery(),
        "case_no_start": CaseQuery(case_no="TY-2026-012345"),  # the start of a number: a PK range
        "case_no_serial": CaseQuery(ids=[f"TY-{y}-0123456" for y in range(2017, 2027)]),  # "123456"
        "case_no_part": CaseQuery(case_no="23456"),  # any other part: a scan
        "text": CaseQuery(text="井盖缺失"),  # one case in eight
        "text_address": CaseQuery(text="某路123号"),  # one case in a thousand
        "text_two_characters": CaseQuery(text="井盖"),  # too short for trigrams: a scan on every store
        "district_stage": CaseQuery(district_codes=["140105"], stages=["dispatched"]),
        "street_created_range": CaseQuery(
            street_codes=["140106003"], created_from=NOW - timedelta(days=30), created_to=NOW
        ),
        "grid": CaseQuery(grid_codes=["140107005010012"]),
        "category_channel_deadline_sort": CaseQuery(
            category_codes=[cat], channels=["hotline"], order="deadline_desc"
        ),
        "overdue_by_urgency": CaseQuery(due_before=NOW, order="light_desc"),
        "rework": CaseQuery(rework=True, order="updated_desc"),
    }
    result: dict[str, Any] = {"load_seconds": round(loaded, 1), "searches": {}}
    for name, q in searches.items():
        _, total = svc.find(q, now=NOW)
        result["searches"][name] = {"total": total, **timed(lambda q=q: svc.find(q, now=NOW))}
    result["searches"]["light_yellow"] = {
        "total": svc.find(CaseQuery(), light="yellow", now=NOW)[1],
        **timed(lambda: svc.find(CaseQuery(), light="yellow", now=NOW), runs=3),
    }
    with city.store.read() as conn:
        result["baseline_pk_read"] = timed(lambda: city.store.load(conn, city.id, "TY-2026-0100000"), runs=50)
    export = CaseQuery(district_codes=["140105"], created_from=NOW - timedelta(days=90), limit=200_000)
    names = rows.Names(city, "zh-CN")
    t = time.perf_counter()
    found = [rows.row(city, s, NOW, names) for s in svc.find_all(export, now=NOW)]
    body = rows.to_csv(found, "zh-CN", svc.tz)
    result["export_csv"] = {
        "rows": len(found),
        "bytes": len(body),
        "seconds": round(time.perf_counter() - t, 2),
    }
    return result


if __name__ == "__main__":
    main()
