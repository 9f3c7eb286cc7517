"""Helpers shared by the benchmarks: machine description, result files, database URLs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()  # fmt: skip
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        # the machine is shared: every result file says how busy it was when written (1, 5, 15 min)
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"machine": machine(), **result}
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return path


def backends() -> list[tuple[str, str]]:
    """(name, url) of the stores to measure: a fresh SQLite file, and PostgreSQL if make bench started it."""
    tmp = Path(tempfile.mkdtemp(prefix="civicloop-bench-"))
    out = [("sqlite", f"sqlite:///{tmp / 'bench.db'}")]
    pg = os.environ.get("CIVICLOOP_BENCH_PG_URL")
    if pg:
        out.append(("postgresql", pg))
    return out


def store_states(city: Any, states: Iterable[Any], batch: int = 20_000) -> None:
    """Write case states straight into *city*'s projection (no events), in batches: the read-side
    benchmarks' way to millions of cases."""
    from civicloop.cases.store import projection_row
    from civicloop.store.tables import cases

    rows: list[dict[str, Any]] = []
    for s in states:
        rows.append(projection_row(s, "0" * 64))
        if len(rows) == batch:
            with city.engine.begin() as conn:
                conn.execute(cases.insert(), rows)
            rows = []
    if rows:
        with city.engine.begin() as conn:
            conn.execute(cases.insert(), rows)
