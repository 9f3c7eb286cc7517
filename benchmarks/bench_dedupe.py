"""Text duplicates: quality on real and generated messages, batch throughput, intake lookup latency.

    .venv/bin/python -m benchmarks dedupe                      (1,000,000 open cases, 2,000 lookups)
    BENCH_DEDUPE_CASES=50000 BENCH_DEDUPE_QUERIES=500 .venv/bin/python benchmarks/bench_dedupe.py
    BENCH_DEDUPE_PARTS=lookup .venv/bin/python -m benchmarks dedupe   (some parts: quality,batch,lookup)
    BENCH_DEDUPE_DB=/tmp/dedupe.db …   (keep the lookup's database there; a later run reuses it: the
                                        million is loaded once for several lookup runs)

**Quality** (:mod:`benchmarks.dedupe_eval`, through ``civicloop triage dedupe --json``): exact/whitespace
duplicate recall and the share of merged pairs that are clearly different (character-bigram Jaccard
< 0.5) on ``../shared/data/complaints_teddy2020_dev.csv`` (text only) and
``gov_message_replies_teddy2020.csv`` (text only, and text + time with the 7-day window) when present —
read at run time, never copied — and on 20,000 generated hotline messages with planted exact,
whitespace, punctuation/width/greeting and small-edit variants.

**Batch** (``BENCH_DEDUPE_BATCH`` generated messages, default 50,000, with times): :func:`cluster_rows`
(normalise, shingle, MinHash, LSH keys, verify, decide) against a same-run **baseline** doing the
cheapest comparable job — grouping the whitespace-free texts in a dict (exact duplicates only).

**Lookup** (``BENCH_DEDUPE_CASES`` open cases, default 1,000,000, in a fresh SQLite city): generated
texts, positions and categories of the nearby benchmark's mixture, reported over the 6 days before the
queries, their LSH keys in ``case_text_keys`` (bulk-loaded: secondary indexes dropped during the load
and rebuilt after, then ``ANALYZE``). Each query is :meth:`IntakeService.duplicates_of` — the whole
duplicate search of intake: same-category place search, review-queue place search, text-key probe,
loading the candidates and scoring them. Queries: 30 % exact copies of a stored case's text (text only),
20 % whitespace/punctuation variants (text only), 25 % new messages with a position and category, 25 %
new text-only messages. **Baseline**, same run, interleaved: the text's signature plus a bare in-memory
dict probe of its keys in a dict of the million exact keys. 200 warm-up calls; per-call p50/p90/p99/max
in ms and the load average before and after.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_nearby import Mixture, _secondary_indexes, _stats
from benchmarks.common import write
from benchmarks.dedupe_eval import (
    _format_variant,
    _message,
    _whitespace_variant,
    evaluate_csv,
    evaluate_generated,
    generate,
)
from civicloop.bootstrap import init_city, open_city
from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.intake.dedupe import (
    THRESHOLD,
    BatchRow,
    cluster_rows,
    exact_key,
    normalise,
    signature,
    signatures,
)
from civicloop.intake.service import IntakeReport, IntakeService, KeywordClassifier
from civicloop.kernel.vocabulary import Role

N_CASES = int(os.environ.get("BENCH_DEDUPE_CASES", "1000000"))
N_QUERIES = int(os.environ.get("BENCH_DEDUPE_QUERIES", "2000"))
N_BATCH = int(os.environ.get("BENCH_DEDUPE_BATCH", "50000"))
PARTS = set(os.environ.get("BENCH_DEDUPE_PARTS", "quality,batch,lookup").split(","))
KEEP = os.environ.get("BENCH_DEDUPE_DB", "")  # keep the lookup's database there; reuse it when present
CHUNK = 50_000
REF = datetime(2026, 6, 1, tzinfo=UTC)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


# ---- quality --------------------------------------------------------------------------------------


def quality() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    complaints = SHARED / "complaints_teddy2020_dev.csv"
    gov = SHARED / "gov_message_replies_teddy2020.csv"
    if complaints.is_file():
        out.append(evaluate_csv(complaints, "tokens"))
    if gov.is_file():
        out.append(evaluate_csv(gov, "留言详情"))
        out.append(evaluate_csv(gov, "留言详情", "留言时间", 7.0))
    out.append(evaluate_generated(20_000))
    return out


# ---- batch ----------------------------------------------------------------------------------------


def batch(n: int) -> dict[str, Any]:
    rows = generate(n, seed=5)
    batch_rows = [BatchRow(r["text"], r["time"]) for r in rows]
    texts = [r["text"] for r in rows]
    runs: dict[str, list[float]] = defaultdict(list)
    clusters: list[list[int]] = []
    groups = 0

    def keep(name: str, wall: float, cpu: float) -> None:
        runs[name].append(wall)
        runs[name + "_cpu"].append(cpu)

    for _ in range(3):  # interleaved; every run counts (the mean is the headline, never the best)
        t0, c0 = time.perf_counter(), time.process_time()
        clusters = cluster_rows(batch_rows)
        keep("dedupe", time.perf_counter() - t0, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        by_text: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(texts):
            by_text["".join(t.split())].append(i)
        groups = sum(1 for g in by_text.values() if len(g) > 1)
        keep("baseline", time.perf_counter() - t0, time.process_time() - c0)
    mean = {k: sum(v) / len(v) for k, v in runs.items()}
    return {
        "messages": n,
        "runs_wall_seconds": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "dedupe_wall_seconds": round(mean["dedupe"], 3),
        "dedupe_messages_per_s": round(n / mean["dedupe"]),
        "dedupe_messages_per_cpu_s": round(n / mean["dedupe_cpu"]),
        "baseline_exact_grouping_wall_seconds": round(mean["baseline"], 3),
        "baseline_exact_grouping_messages_per_s": round(n / mean["baseline"]),
        "baseline_exact_grouping_messages_per_cpu_s": round(n / max(mean["baseline_cpu"], 1e-6)),
        "clusters": len(clusters),
        "baseline_groups": groups,
        "uptime": _uptime(),
    }


# ---- lookup among a million open cases -------------------------------------------------------------


def _template_doc(city: City) -> dict[str, Any]:
    fields = {
        "channel": "inspector",
        "category_code": "06010",
        "lon": 112.56,
        "lat": 37.86,
        "description": "x",
    }
    case_id = city.cases.report(Actor("bench", Role.INSPECTOR), fields, at=REF - timedelta(days=6)).case_id
    with city.store.read() as conn:
        loaded = city.store.load(conn, city.id, case_id)
    assert loaded is not None
    return {k: v for k, v in loaded.state.to_doc().items() if v not in (None, [], {}, 0, False, "")}


def load(city: City, n: int, mixture: Mixture, seed: int = 3) -> tuple[dict[str, Any], list[str], list[Any]]:
    """*n* open cases with generated texts and their text keys, in bulk; returns timings, the texts and
    (lon, lat, category) of each case."""
    engine = city.engine
    template = _template_doc(city)
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    columns = ("city_id", "case_id", "version", "stage", "public_status", "closure_reason", "channel",
               "category_code", "urgency", "district_code", "grid_code", "lon", "lat", "created_at",
               "updated_at", "closed_at", "doc", "last_hash", "search_text")  # fmt: skip
    with engine.begin() as conn:
        indexes = _secondary_indexes(conn, "sqlite")
        key_indexes = [
            (r[0], r[1])
            for r in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'case_text_keys' "
                "AND sql IS NOT NULL"
            ).all()
        ]
        for name, _ in indexes + key_indexes:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    texts: list[str] = []
    places: list[Any] = []
    sig_seconds = 0.0
    started = time.perf_counter()
    span_us = 6 * 86_400 * 1_000_000
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        dbapi.execute("PRAGMA synchronous=OFF")  # the load only
        for first in range(0, n, CHUNK):
            m = min(CHUNK, n - first)
            lon, lat = mixture.points(rng, m)
            cats = mixture.categories(rng, m)
            ages = rng.integers(0, span_us, m)
            chunk_texts = [_message(pyrng) for _ in range(m)]
            t0 = time.process_time()
            sigs = signatures(chunk_texts)
            sig_seconds += time.process_time() - t0
            rows: list[tuple[Any, ...]] = []
            keys: list[tuple[Any, ...]] = []
            for i in range(m):
                case_id = f"D-{first + i:09d}"
                text = chunk_texts[i]
                created = (REF - timedelta(microseconds=int(ages[i]))).replace(tzinfo=None)
                stamp = created.isoformat(" ")
                zoned = created.isoformat() + "+00:00"
                doc = dict(template, case_id=case_id, description=text, lon=float(lon[i]), lat=float(lat[i]),
                           category_code=str(cats[i]), stage="dispatched", created_at=zoned,
                           updated_at=zoned)  # fmt: skip
                rows.append((city.id, case_id, 3, "dispatched", "open", None, "inspector", str(cats[i]),
                             "normal", None, None, float(lon[i]), float(lat[i]), stamp, stamp, None,
                             orjson.dumps(doc).decode(), "0" * 64, text))  # fmt: skip
                keys.extend((city.id, k, case_id) for k in dict.fromkeys(sigs[i].keys))
                texts.append(text)
                places.append((float(lon[i]), float(lat[i]), str(cats[i])))
            dbapi.execute("BEGIN")
            dbapi.executemany(
                f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
            )
            dbapi.executemany("INSERT INTO case_text_keys (city_id, key, case_id) VALUES (?, ?, ?)", keys)
            dbapi.execute("COMMIT")
    finally:
        raw.close()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        for _, ddl in indexes + key_indexes:
            conn.exec_driver_sql(ddl)
        conn.exec_driver_sql("ANALYZE")
    return (
        {
            "open_cases": n,
            "load_seconds": round(loaded, 1),
            "signature_cpu_seconds": round(sig_seconds, 1),
            "signatures_per_cpu_s": round(n / sig_seconds),
            "index_rebuild_seconds": round(time.perf_counter() - started, 1),
        },
        texts,
        places,
    )


def lookup(
    city: City, texts: list[str], places: list[Any], mixture: Mixture, n_queries: int
) -> dict[str, Any]:
    intake = IntakeService(city, classifier=KeywordClassifier(city), locate=lambda _c, f: f)
    exact = {exact_key(normalise(t)): i for i, t in enumerate(texts)}
    rng = random.Random(11)
    nprng = np.random.default_rng(11)
    actor = Actor("hotline", Role.OPERATOR)
    warm = 200
    lon, lat = mixture.points(nprng, n_queries + warm)
    cats = mixture.categories(nprng, n_queries + warm)
    names = ("duplicates_of", "baseline_signature_dict_probe")
    samples: dict[str, list[float]] = {k + s: [] for k in names for s in ("", "_cpu")}
    by_kind: dict[str, list[float]] = defaultdict(list)
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    load_before = _uptime()
    for q in range(n_queries + warm):
        r = rng.random()
        fields: dict[str, Any] = {"channel": "hotline"}
        source = None
        category = None
        if r < 0.30:
            kind, source = "exact_copy", rng.randrange(len(texts))
            fields["description"] = texts[source]
        elif r < 0.50:
            kind, source = "variant", rng.randrange(len(texts))
            v = _whitespace_variant if rng.random() < 0.5 else _format_variant
            fields["description"] = v(rng, texts[source])
        elif r < 0.75:
            kind = "new_with_place"
            fields.update(description=_message(rng), lon=float(lon[q]), lat=float(lat[q]))
            category = str(cats[q])
        else:
            kind = "new_text_only"
            fields["description"] = _message(rng)
        report = IntakeReport(actor, fields, REF)
        t0, c0 = time.perf_counter(), time.thread_time()
        result = intake.duplicates_of(report, category)
        took, took_cpu = time.perf_counter() - t0, time.thread_time() - c0
        t0, c0 = time.perf_counter(), time.thread_time()
        keys = signature(fields["description"]).keys
        probe = [exact.get(k) for k in keys]
        base, base_cpu = time.perf_counter() - t0, time.thread_time() - c0
        if q < warm:
            continue
        samples["duplicates_of"].append(took)
        samples["baseline_signature_dict_probe"].append(base)
        samples["duplicates_of_cpu"].append(took_cpu)
        samples["baseline_signature_dict_probe_cpu"].append(base_cpu)
        by_kind[kind].append(took)
        if source is not None:
            best = result[0] if result and result[0].score >= THRESHOLD else None
            found[kind][0] += best is not None and best.case_id == f"D-{source:09d}"
            found[kind][1] += 1
        del probe
    return {
        **{k: _stats(v) for k, v in samples.items()},
        "by_kind_p99_ms": {k: _stats(v)["p99_ms"] for k, v in by_kind.items()},
        "copies_found": {k: round(a / b, 4) for k, (a, b) in found.items()},
        "uptime_before": load_before,
        "uptime_after": _uptime(),
    }


def main() -> None:
    warnings.simplefilter("ignore")
    results: dict[str, Any] = {"uptime_start": _uptime()}
    if "quality" in PARTS:
        results["quality"] = quality()
        print(orjson.dumps(results["quality"], option=orjson.OPT_INDENT_2).decode(), flush=True)
    if "batch" in PARTS:
        results["batch"] = batch(N_BATCH)
        print(results["batch"], flush=True)
    if "lookup" not in PARTS:
        write("dedupe", results)
        return
    kept = Path(KEEP) if KEEP else None
    tmp = kept.parent if kept else Path(tempfile.mkdtemp(prefix="civicloop-bench-dedupe-"))
    db = kept or tmp / "bench.db"
    url = f"sqlite:///{db}"
    if kept and kept.exists():  # the same load() with the same seed, built by an earlier run
        city = open_city("dedupe", url)
        mixture = Mixture(city)
        texts, places = stored_cases(city)
        figures: dict[str, Any] = {"open_cases": len(texts), "reused_database": str(kept)}
    else:
        city = init_city("taiyuan", url, city_id="dedupe")
        mixture = Mixture(city)
        figures, texts, places = load(city, N_CASES, mixture)
    print(figures, flush=True)
    figures.update(lookup(city, texts, places, mixture, N_QUERIES))
    figures["db_megabytes"] = round(db.stat().st_size / 1e6)
    results["lookup"] = figures
    city.engine.dispose()
    if not kept:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        tmp.rmdir()
    write("dedupe", results)


def stored_cases(city: City) -> tuple[list[str], list[Any]]:
    """The texts and (lon, lat, category) of a kept database's cases in load order (``D-`` + row)."""
    with city.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT search_text, lon, lat, category_code FROM cases WHERE city_id = 'dedupe' "
            "AND case_id LIKE 'D-%' ORDER BY case_id"
        ).all()
    return [r[0] for r in rows], [(r[1], r[2], r[3]) for r in rows]


if __name__ == "__main__":
    main()
