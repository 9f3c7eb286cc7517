"""Address geocoding (地址匹配): precision and recall by level, and throughput, with a same-run baseline.

    .venv/bin/python -m benchmarks geocode        (or: .venv/bin/python benchmarks/bench_geocode.py
                                                    [--addresses 5000] [--seed 16])

The address set is generated from the demo geography and its roads and places
(tests/support/addresses.py: places with and without district/street, ``XX小区门口``, 对面/附近, aliases,
one-character typos, roads with house numbers in digits, full-width digits and Chinese numerals,
crossings, communities, a road within a street). For each address the truth is the district, street
and grid (None for an area) of what it names.

Figures, for every answer and for the answers at the profile's ``min_confidence`` (what intake
locates automatically):

* precision at level L = answers with the right L / answers that give an L, over the addresses whose
  truth has an L (an address naming a community has no true grid: its answer's grid is not judged);
* recall at level L = addresses whose L is answered right / addresses whose truth has an L;
* throughput: addresses per second of wall-clock time and of the process's CPU time (the machine is
  shared: CPU time is what one core spends), per-call p50/p99, after the gazetteer is built.

Baselines in the same run over the same addresses: a plain exact-name dictionary (the whole address
looked up as a name) and a naive scan testing every gazetteer name as a substring. Results go to
benchmarks/results/geocode.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.addresses import (  # noqa: E402
    KINDS,
    LEVELS,
    Item,
    address_set,
    score,
)

from benchmarks.common import machine, write  # noqa: E402
from civicloop.geo.gazetteer import Codes, Gazetteer, Match  # noqa: E402
from civicloop.geo.geocoding import _demo_gazetteer  # noqa: E402
from civicloop.profile import load_profile  # noqa: E402


def run_geocoder(gaz: Gazetteer, items: list[Item]) -> tuple[list[Match | None], list[float], float]:
    best: list[Match | None] = []
    per_call: list[float] = []
    cpu0 = time.process_time()
    for item in items:
        t0 = time.perf_counter()
        got = gaz.geocode(item.address, 1)
        per_call.append(time.perf_counter() - t0)
        best.append(got[0] if got else None)
    return best, per_call, time.process_time() - cpu0


def baselines(gaz: Gazetteer, items: list[Item]) -> dict[str, Any]:
    exact = {e.name: e.codes for e in gaz.entries}
    t0 = time.process_time()
    exact_answers = [exact.get(i.address.strip()) for i in items]
    exact_s = time.process_time() - t0
    names = sorted({e.name: e for e in gaz.entries if e.kind != "grid"}.items(), key=lambda kv: -len(kv[0]))
    sample = items[: min(len(items), 300)]
    t0 = time.process_time()
    naive: list[Codes | None] = []
    for i in sample:
        hit = next((e.codes for name, e in names if name in i.address), None)
        naive.append(hit)
    naive_s = time.process_time() - t0
    return {
        "exact_dict": {
            "addresses_per_cpu_s": round(len(items) / exact_s) if exact_s else None,
            "figures": score(items, exact_answers, [1.0] * len(items), 0.0)["all"],
        },
        "naive_substring_scan": {
            "addresses": len(sample),
            "addresses_per_cpu_s": round(len(sample) / naive_s, 1) if naive_s else None,
            "figures": score(sample, naive, [1.0] * len(sample), 0.0)["all"],
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addresses", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args(argv if argv is not None else [])
    floor = load_profile("taiyuan").geocoding.min_confidence
    t0 = time.perf_counter()
    _geo, gaz = _demo_gazetteer()
    build_s = time.perf_counter() - t0
    items = address_set(gaz, args.addresses, args.seed)
    run_geocoder(gaz, items)  # warm: regex and clip caches
    best, per_call, cpu_s = run_geocoder(gaz, items)
    total = sum(per_call)
    answers: list[Codes | None] = [m.codes if m else None for m in best]
    confs = [m.confidence if m else 0.0 for m in best]
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_kind[item.kind].append(i)
    kinds = {
        k: score([items[i] for i in ix], [answers[i] for i in ix], [confs[i] for i in ix], floor)
        for k, ix in sorted(by_kind.items())
    }
    lat = np.asarray(per_call) * 1000
    result: dict[str, Any] = {
        "machine": machine(),
        "addresses": len(items),
        "seed": args.seed,
        "kinds": list(KINDS),
        "min_confidence": floor,
        "gazetteer_entries": len(gaz.entries),
        "gazetteer_build_s": round(build_s, 2),
        "addresses_per_s": round(len(items) / total),
        "addresses_per_cpu_s": round(len(items) / cpu_s) if cpu_s else None,
        "load_average": list(os.getloadavg()),
        "per_call_ms": {
            "p50": round(float(np.percentile(lat, 50)), 3),
            "p99": round(float(np.percentile(lat, 99)), 3),
        },
        "figures": score(items, answers, confs, floor),
        "by_kind": {
            k: {"all": v["all"], "at_min_confidence": v["at_min_confidence"]} for k, v in kinds.items()
        },
        "baselines": baselines(gaz, items),
    }
    path = write("geocode", result)
    f = result["figures"]
    print(f"{len(items)} addresses, {result['addresses_per_s']:,}/s wall, "
          f"{result['addresses_per_cpu_s']:,}/s CPU (p50 {result['per_call_ms']['p50']} ms, "
          f"p99 {result['per_call_ms']['p99']} ms); "
          f"gazetteer {len(gaz.entries):,} entries in {build_s:.1f} s")  # fmt: skip
    for label in ("all", "at_min_confidence"):
        line = "  ".join(f"{lv} P {f[label][lv]['precision']} R {f[label][lv]['recall']}" for lv in LEVELS)
        print(f"{label:<18} {line}  answered {f[label]['answered_share']}")
    b = result["baselines"]
    print(f"baseline exact dict: {b['exact_dict']['addresses_per_cpu_s']:,}/s CPU, district recall "
          f"{b['exact_dict']['figures']['district']['recall']}; naive scan: "
          f"{b['naive_substring_scan']['addresses_per_cpu_s']}/s CPU, district recall "
          f"{b['naive_substring_scan']['figures']['district']['recall']}")  # fmt: skip
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
