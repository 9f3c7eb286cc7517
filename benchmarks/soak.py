"""Soak: ten minutes of mixed load at the highest rate the machine holds with p99 ≤ 200 ms, no errors.

    make soak                                    # or: .venv/bin/python -m benchmarks.soak
    env: SOAK_SECONDS (hold, default 600), SOAK_RATE (skip the ramp, hold this rate),
         SOAK_RAMP_STEP_SECONDS (default 10), SOAK_CONFIRM_SECONDS (default 120),
         SOAK_P99_MS (default 200), SOAK_DATABASE_URL (default: a fresh SQLite file), SOAK_TRIAGE (0),
         SOAK_STATE_CACHE (the server's CIVICLOOP_STATE_CACHE, default 5000),
         SOAK_BASELINE_SECONDS (the bare-endpoint baseline, default min(SOAK_SECONDS, 120))

``civicloop serve`` runs in its own process on a fresh database (SQLite WAL ``synchronous=FULL`` unless
``SOAK_DATABASE_URL`` names another); this process is the load: an open-loop generator over loopback
keep-alive connections (benchmarks/bench_open311.py's minimal HTTP/1.1 client), each request sent at its
scheduled moment whether or not earlier ones have answered, latency measured from that moment (no
coordinated omission). The mix, drawn per request:

* **70 % Open311 reads** — 35 % ``GET requests/{id}.json`` (a case created earlier), 15 %
  ``GET requests.json?service_request_id=`` (five ids), 10 % ``GET requests.json?status=open&page_size=20``,
  10 % ``GET services.json``;
* **20 % Open311 submissions** — ``POST requests.json`` with ``api_key`` and an ``Idempotency-Key``,
  each a distinct report with reporter details (FixMyStreet-shaped);
* **10 % workflow actions** — ``POST /api/v1/cases/{id}/actions/{action}`` with the bearer token of the
  role the step needs: accept → file → dispatch → handle → send check → check → close on the
  submitted cases.

Phases: a warm-up (10 s at 50/s); a **ramp** (steps of ``SOAK_RAMP_STEP_SECONDS`` from 100/s up by
50/s; a step passes with p99 ≤ ``SOAK_P99_MS`` and no error; a failing step is tried once more, as the
machines are shared); a **confirmation** of the highest passing rate for ``SOAK_CONFIRM_SECONDS``, 50/s
lower while it fails (past its capacity the server does not slow down gently: it falls behind within a
minute or two and never catches up, so a few seconds at a rate prove nothing); then the **hold** at the
confirmed rate for ``SOAK_SECONDS``. The server's resident memory (and SQLite's WAL file) is sampled
every 5 s. Afterwards every submission that was answered is looked up in the database. Rate limiting
stays on, with limits above the offered load (the limiter's cost is measured, its refusals would count
as errors). The server's state cache (the one in-memory store that grows with the cases written, up to
its bound) is set to ``SOAK_STATE_CACHE`` entries so that it is full before the hold: the RSS at the
hold's start and end then measure leaks, not the cache filling. Before every confirmation and the hold
the server is given time to work off what an overloaded phase left queued. Automatic triage is off
(``SOAK_TRIAGE=1`` turns it on): the workflow share is then exactly the scripted actions.

**Baseline, same run, same server**: the server is ``civicloop serve`` plus one route, ``POST /bench/bare``
(benchmarks/bare_server.py: read the form, insert it as one row in its own transaction, answer). After
the hold, the same open-loop rate is sent for ``SOAK_BASELINE_SECONDS`` with every request a POST of a
submission's form to that route; the result gives the hold's p50/p99 as a ratio to it (what civicloop's
mix costs over "accept a POST and store it" on this machine at this moment). Results:
``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import select

from benchmarks.bare_server import BARE_PATH
from benchmarks.bench_open311 import _free_port, _Loopback, _percentile, _wait_healthy
from benchmarks.common import write
from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import accounts_for, seed_demo_users
from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.store.tables import cases

HOLD = float(os.environ.get("SOAK_SECONDS", "600"))
FIXED_RATE = float(os.environ["SOAK_RATE"]) if os.environ.get("SOAK_RATE") else None
STEP_SECONDS = float(os.environ.get("SOAK_RAMP_STEP_SECONDS", "10"))
CONFIRM = float(os.environ.get("SOAK_CONFIRM_SECONDS", "120"))
P99_MS = float(os.environ.get("SOAK_P99_MS", "200"))
TRIAGE = os.environ.get("SOAK_TRIAGE", "0")
STATE_CACHE = os.environ.get("SOAK_STATE_CACHE", "5000")
BASELINE = float(os.environ.get("SOAK_BASELINE_SECONDS", str(min(HOLD, 120.0))))
ROOT = Path(__file__).resolve().parent.parent
CHAIN: list[tuple[str, str, dict[str, Any]]] = [
    ("accept", "operator", {"verify": False}),
    ("file", "shift_leader", {}),
    ("dispatch", "dispatcher", {"department_id": "{dept}"}),
    ("handle", "department", {"note": "已清运完毕", "photos": ["https://photos.example.org/after.jpg"]}),
    ("send_check", "operator", {}),
    (
        "check",
        "inspector",
        {"passed": True, "note": "现场核查通过", "photos": ["https://photos.example.org/check.jpg"]},
    ),
    ("close", "shift_leader", {}),
]
MIX = [("one", 0.35), ("ids", 0.15), ("open", 0.10), ("services", 0.10), ("post", 0.20), ("action", 0.10)]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Load:
    """What the generator sends, and what it knows (case ids, where each case is in the loop)."""

    def __init__(
        self, port: int, api_key: str, tokens: dict[str, str], department: str, seed: int = 1
    ) -> None:
        self.host = f"127.0.0.1:{port}"
        self.api_key = api_key
        self.tokens = tokens
        self.department = department
        self.rng = random.Random(seed)
        self.ids: list[str] = []
        self.steps: list[deque[str]] = [deque() for _ in CHAIN]
        self.posted: list[str] = []
        self.n = 0
        kinds, weights = zip(*MIX, strict=True)
        self.kinds, self.weights = list(kinds), list(weights)

    def _get(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()

    def _post(self, path: str, body: bytes, ctype: str, extra: str = "") -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {ctype}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def next(self) -> tuple[str, bytes, Any]:
        """(kind, request bytes, what to do with a 2xx answer's body)."""
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind in ("one", "ids") and not self.ids:
            kind = "services"
        if kind == "action":
            ready = [s for s, q in enumerate(self.steps) if q]
            if not ready:
                kind = "services"
            else:
                step = self.rng.choice(ready)
                case_id = self.steps[step].popleft()
                action, role, body = CHAIN[step]
                fields = {k: (self.department if v == "{dept}" else v) for k, v in body.items()}
                raw = self._post(
                    f"/api/v1/cases/{case_id}/actions/{action}",
                    orjson.dumps(fields),
                    "application/json",
                    f"Authorization: Bearer {self.tokens[role]}\r\n",
                )

                def advanced(_: bytes, case_id: str = case_id, step: int = step) -> None:
                    if step + 1 < len(CHAIN):
                        self.steps[step + 1].append(case_id)

                return kind, raw, advanced
        if kind == "one":
            return kind, self._get(f"/open311/v2/requests/{self.rng.choice(self.ids)}.json"), None
        if kind == "ids":
            chosen = ",".join(self.rng.choice(self.ids) for _ in range(5))
            return kind, self._get(f"/open311/v2/requests.json?service_request_id={chosen}"), None
        if kind == "open":
            return kind, self._get("/open311/v2/requests.json?status=open&page_size=20"), None
        if kind == "services":
            return kind, self._get("/open311/v2/services.json"), None
        raw = self._post(
            "/open311/v2/requests.json",
            urlencode(self.submission(), doseq=True).encode(),
            "application/x-www-form-urlencoded",
            f"Idempotency-Key: {uuid.uuid4().hex}\r\n",
        )

        def created(body: bytes) -> None:
            case_id = orjson.loads(body)[0]["service_request_id"]
            self.ids.append(case_id)
            self.posted.append(case_id)
            self.steps[0].append(case_id)

        return "post", raw, created

    def submission(self) -> dict[str, Any]:
        """The form of the next Open311 submission (a distinct report each time)."""
        self.n += 1
        n = self.n
        return {
            "api_key": self.api_key,
            "service_code": "06010",
            "lat": f"{37.718 + self.rng.random() * 0.008:.6f}",  # 小店区, the demo inspector's district
            "long": f"{112.588 + self.rng.random() * 0.008:.6f}",
            "address_string": f"坞城路 {n % 500 + 1} 号",
            "description": f"路口垃圾成堆，影响通行 #{n}",
            "attribute[condition]": "1",
            "attribute[situation]": ["blocking"],
            "email": f"reporter{n}@example.org",
            "first_name": "三",
            "last_name": "张",
            "phone": "13912345678",
        }


class BareLoad(Load):
    """The baseline's load: every request a submission's form posted to the bare route."""

    def next(self) -> tuple[str, bytes, Any]:
        body = urlencode(self.submission(), doseq=True).encode()
        return "bare", self._post(BARE_PATH, body, "application/x-www-form-urlencoded"), None


async def run_phase(
    load: Load, port: int, rate: float, seconds: float, pid: int | None = None, wal: Path | None = None
) -> dict[str, Any]:
    """Send rate × seconds requests at fixed intervals; latency from each request's scheduled moment."""
    total = int(rate * seconds)
    interval = 1.0 / rate
    client = _Loopback("127.0.0.1", port, max_connections=2000)
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    windows: list[list[float]] = [[] for _ in range(max(1, int(seconds // 60) + 1))]
    rss: list[tuple[float, int]] = []
    wal_bytes: list[tuple[float, int]] = []

    async def one(kind: str, raw: bytes, then: Any, scheduled: float) -> None:
        try:
            status, body = await asyncio.wait_for(client.request(raw), timeout=30)
        except (OSError, RuntimeError, TimeoutError, asyncio.IncompleteReadError) as exc:
            errors[f"{kind}:{type(exc).__name__}"] = errors.get(f"{kind}:{type(exc).__name__}", 0) + 1
            return
        done = time.perf_counter()
        if not 200 <= status < 300:
            key = f"{kind}:{status}"
            errors[key] = errors.get(key, 0) + 1
            if errors[key] <= 3:
                print(f"  error {key}: {body[:300]!r}", flush=True)
            return
        ms = (done - scheduled) * 1000
        latencies.append(ms)
        by_kind.setdefault(kind, []).append(ms)
        windows[min(len(windows) - 1, int((scheduled - start) // 60))].append(ms)
        if then is not None:
            then(body)

    async def sample_rss() -> None:
        while pid is not None:
            rss.append((time.perf_counter() - start, _rss_kib(pid)))
            if wal is not None:
                wal_bytes.append((time.perf_counter() - start, wal.stat().st_size if wal.exists() else 0))
            await asyncio.sleep(5.0)

    start = time.perf_counter() + 0.05
    sampler = asyncio.create_task(sample_rss())
    tasks = set()
    for i in range(total):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        kind, raw, then = load.next()
        task = asyncio.create_task(one(kind, raw, then, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sending_done = time.perf_counter()
    if tasks:
        await asyncio.gather(*tasks)
    finished = time.perf_counter()
    sampler.cancel()
    client.close()
    if pid is not None:
        rss.append((finished - start, _rss_kib(pid)))

    def pct(values: list[float]) -> dict[str, float]:
        return {
            "count": len(values),
            "p50": round(_percentile(values, 0.50), 2),
            "p90": round(_percentile(values, 0.90), 2),
            "p99": round(_percentile(values, 0.99), 2),
            "max": round(max(values, default=float("nan")), 2),
        }

    return {
        "rate": rate,
        "seconds": seconds,
        "requests": total,
        "ok": len(latencies),
        "errors": errors,
        "offered_rate": round(total / max(sending_done - start, 1e-9), 1),
        "achieved_rate": round(len(latencies) / max(finished - start, 1e-9), 1),
        "connections": client.opened,
        "latency_ms": pct(latencies),
        "by_kind_ms": {k: pct(v) for k, v in sorted(by_kind.items())},
        "per_minute_ms": [pct(w) for w in windows if w],
        "rss_kib": rss,
        "wal_mib": [(round(t), round(b / 2**20, 1)) for t, b in wal_bytes],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def passes(phase: dict[str, Any]) -> bool:
    return not phase["errors"] and phase["latency_ms"]["p99"] <= P99_MS and phase["ok"] == phase["requests"]


def _stored(city: City, ids: list[str]) -> int:
    found = 0
    with city.engine.connect() as conn:
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            found += len(
                conn.execute(
                    select(cases.c.case_id).where(cases.c.city_id == city.id, cases.c.case_id.in_(part))
                ).all()
            )
    return found


def _wait_drained(port: int, limit_s: float = 120.0) -> float:
    """Wait until the server has worked off what an overloaded phase left queued (requests the client
    gave up on are still processed): three health checks in a row answered within 50 ms. Without it,
    the phase after a failed one starts behind and fails too. Returns the seconds waited."""
    import urllib.request

    started = time.perf_counter()
    fast = 0
    while fast < 3 and time.perf_counter() - started < limit_s:
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as r:
                r.read()
            fast = fast + 1 if time.perf_counter() - t < 0.05 else 0
        except OSError:
            fast = 0
        time.sleep(0.5)
    return round(time.perf_counter() - started, 1)


def _ratio(phase: dict[str, Any], baseline: dict[str, Any], key: str) -> float | None:
    ours, theirs = phase.get("latency_ms", {}).get(key), baseline.get("latency_ms", {}).get(key)
    return round(ours / theirs, 2) if ours and theirs else None


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="civicloop-soak-"))
    url = os.environ.get("SOAK_DATABASE_URL") or f"sqlite:///{tmp / 'soak.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city = init_city("taiyuan", url)
    accounts = accounts_for(city, hasher=fast_hasher())
    _, api_key = accounts.create_api_key("soak")
    users = {role: (u, p) for u, p, role in seed_demo_users(city, accounts=accounts)}
    tokens = {role: accounts.login(u, p).token for role, (u, p) in users.items()}
    department = accounts.find_user(users["department"][0]).department_id  # type: ignore[union-attr]
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bare_server",
        "--database",
        url,
        "--port",
        str(port),
        "--photos",
        str(tmp / "photos"),
    ]  # civicloop serve + the bare route of the baseline (access log off, log level warning); fmt: skip
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "CIVICLOOP_TRIAGE": TRIAGE,
        # The limiter stays on, above the offered load: its cost is in the figures, not its refusals.
        "CIVICLOOP_RATE_IP": "20000",
        "CIVICLOOP_RATE_IP_BURST": "40000",
        "CIVICLOOP_RATE_KEY": "5000",
        "CIVICLOOP_RATE_KEY_BURST": "10000",
        # The one store that grows with the cases written is the bounded state cache; sized so that it
        # is full before the hold starts, the hold's RSS compares like with like.
        "CIVICLOOP_STATE_CACHE": STATE_CACHE,
    }
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    load = Load(port, api_key, tokens, str(department))
    ramp: list[dict[str, Any]] = []
    confirm: list[dict[str, Any]] = []
    hold: dict[str, Any] = {}
    bare: dict[str, Any] = {}
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        rss_start_kib = _rss_kib(proc.pid)
        print("warm-up: 50/s for 10 s", flush=True)
        warm = asyncio.run(run_phase(load, port, 50.0, 10.0))
        chosen = FIXED_RATE
        if chosen is None:
            rate, best = 100.0, 50.0
            while True:
                step = asyncio.run(run_phase(load, port, rate, STEP_SECONDS))
                if not passes(step):
                    _wait_drained(port)
                    time.sleep(5.0)
                    step = asyncio.run(run_phase(load, port, rate, STEP_SECONDS))  # one more try
                ramp.append({k: v for k, v in step.items() if k not in ("rss_kib", "per_minute_ms")})
                print(
                    f"ramp {rate:g}/s: p99 {step['latency_ms']['p99']} ms, errors {step['errors']}, "
                    f"achieved {step['achieved_rate']}/s",
                    flush=True,
                )
                if not passes(step):
                    break
                best = rate
                rate += 50.0
            chosen = best
            # A few seconds at a rate is not ten minutes at it: confirm, one step lower if it fails.
            for _ in range(4):
                drained = _wait_drained(port)
                time.sleep(5.0)
                check = asyncio.run(run_phase(load, port, chosen, CONFIRM))
                confirm.append(
                    {k: check[k] for k in ("rate", "ok", "errors", "latency_ms", "load_average_after")}
                    | {"waited_for_drain_s": drained}
                )
                print(f"confirm {chosen:g}/s: p99 {check['latency_ms']['p99']} ms, errors {check['errors']}")
                if passes(check) or chosen <= 50.0:
                    break
                chosen -= 50.0
        print(f"hold: {chosen:g}/s for {HOLD:g} s", flush=True)
        _wait_drained(port)
        time.sleep(5.0)
        wal = Path(url.split("///", 1)[1] + "-wal") if url.startswith("sqlite") else None
        hold = asyncio.run(run_phase(load, port, chosen, HOLD, proc.pid, wal))
        rss_end_kib = _rss_kib(proc.pid)
        print(f"baseline: {chosen:g}/s for {BASELINE:g} s against {BARE_PATH}", flush=True)
        _wait_drained(port)
        time.sleep(5.0)
        baseline_load = BareLoad(port, api_key, tokens, str(department))
        bare = asyncio.run(run_phase(baseline_load, port, chosen, BASELINE))
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
    stored = _stored(city, load.posted)
    samples = hold.get("rss_kib", [])
    half = [kib for t, kib in samples if t >= HOLD / 2]
    result: dict[str, Any] = {
        "store": url.split(":", 1)[0] + (" (WAL, synchronous=FULL)" if url.startswith("sqlite") else ""),
        "server": "civicloop serve: uvicorn (httptools, uvloop), 1 worker, access log off, rate limits on",
        "triage": TRIAGE == "1",
        "state_cache": int(STATE_CACHE),
        "mix": dict(MIX),
        "p99_target_ms": P99_MS,
        "warmup": {k: warm[k] for k in ("rate", "seconds", "ok", "errors", "latency_ms")},
        "ramp": ramp,
        "confirm": confirm,
        "chosen_rate": chosen,
        "hold": {k: v for k, v in hold.items() if k != "rss_kib"},
        "rss_mib": {
            "server_start": round(rss_start_kib / 1024, 1),
            "hold_start": round(samples[0][1] / 1024, 1) if samples else None,
            "hold_end": round(rss_end_kib / 1024, 1),
            "hold_max": round(max((k for _, k in samples), default=0) / 1024, 1),
            "second_half_min": round(min(half, default=0) / 1024, 1),
            "second_half_max": round(max(half, default=0) / 1024, 1),
            "samples": [(round(t), round(k / 1024, 1)) for t, k in samples],
        },
        "bare_endpoint": {k: v for k, v in bare.items() if k not in ("rss_kib", "wal_mib", "per_minute_ms")},
        "ratio_p50_to_bare_endpoint": _ratio(hold, bare, "p50"),
        "ratio_p99_to_bare_endpoint": _ratio(hold, bare, "p99"),
        "submissions_answered": len(load.posted),
        "submissions_stored": stored,
        "verdict": {
            "p99_within_target": hold.get("latency_ms", {}).get("p99", float("inf")) <= P99_MS,
            "zero_errors": not hold.get("errors") and hold.get("ok") == hold.get("requests"),
            "every_answered_submission_stored": stored == len(load.posted),
        },
    }
    if proc.returncode not in (0, -15) and stderr:
        result["server_stderr_tail"] = stderr.decode(errors="replace")[-2000:]
    write("soak", result)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
