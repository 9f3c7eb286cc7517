"""The big screen with 100,000 open cases in Chromium: first render (cold and warm) and live-update latency.

    python -m benchmarks screen        (env BENCH_SCREEN_CASES, default 100,000)

Runs the browser measurement of ``tests/web/test_performance.py`` (the same page, the same marks) at
full size and keeps its figures in benchmarks/results/screen.json; the targets (first render ≤ 2 s,
live ≤ 1 s) are compared in docs/benchmarks.md, not asserted: timing belongs to benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    out = ROOT / "benchmarks" / "results" / "screen.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CIVICLOOP_WEB_PERF_CASES": os.environ.get("BENCH_SCREEN_CASES", "100000"),
        "CIVICLOOP_WEB_PERF_OUT": str(out),
    }
    test = "tests/web/test_performance.py"
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test], cwd=ROOT, env=env
    )
    print(out.read_text(encoding="utf-8") if out.exists() else "no figures written")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
