"""Run every benchmark module (``benchmarks/bench_*.py``) that has a ``main()``; each writes its JSON.

``python -m benchmarks`` runs all; ``python -m benchmarks loop locate`` runs the named ones;
``python -m benchmarks --scale [loop intake nearby kpi]`` runs the scale curves (benchmarks/scale.py).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if "--scale" in argv:
        from benchmarks import scale

        scale.main([a for a in argv if a != "--scale"] or None)
        return 0
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [f"bench_{a}" if not a.startswith("bench_") else a for a in argv]
    failures = 0
    for name in names:
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            module.main()
        except Exception as exc:  # keep going: one broken benchmark should not hide the others
            failures += 1
            print(f"!! {name} failed: {exc!r}", flush=True)
        print(f"== {name} done in {time.perf_counter() - started:.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
