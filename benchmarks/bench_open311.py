"""Open311 intake under sustained load: ``POST /open311/v2/requests.json`` at a fixed arrival rate.

    .venv/bin/python -m benchmarks open311        # or: .venv/bin/python benchmarks/bench_open311.py
    env: BENCH_OPEN311_RATE (default 300 requests/s), BENCH_OPEN311_SECONDS (default 20),
         BENCH_OPEN311_RUNS (default 3), BENCH_OPEN311_WARMUP (default 3 s)

The server is ``civicloop serve`` in its own process (uvicorn, one worker, the SQLite store, access log
off); the load comes from this process: an open-loop asyncio generator that sends each request at its
scheduled moment whether or not earlier ones have answered, so a slow server cannot slow the load down.
Latency is measured from the scheduled moment (no coordinated omission). The generator speaks HTTP/1.1
over keep-alive connections with requests encoded before the clock starts: on a 2-core machine a
general-purpose client (httpx costs ~2 ms of CPU a request) would compete with the server it measures.
Everything stays on 127.0.0.1 and stops after a bounded number of requests.

Every request is a distinct report (its own device id and text) with the attributes a FixMyStreet-style
client sends. Afterwards every service_request_id that was answered is looked up in the database: an
accepted request that is not stored counts as an error.

Baselines in the same run, same server: **the same open-loop load against a bare endpoint**
(``POST /bench/bare``, benchmarks/bare_server.py: read the form, insert it as one row in its own
transaction) right after each run, the headline being the ratio of the mean p50/p99 over all runs; the
rate of ``GET /healthz`` (one database round trip, no write) with 16 requests in flight; and
one-row-per-transaction inserts into the same SQLite file (fsync each).
Targets: 300 requests/s sustained, p99 ≤ 50 ms, zero errors, every accepted request stored. The
measured run is repeated (``BENCH_OPEN311_RUNS``) on the same server: the machines are shared and a
neighbour's burst shows up as a latency spike, so every run is reported with the load average after it;
the headline is the mean over all runs (the best run is kept for the record only).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from sqlalchemy import select

from benchmarks.bare_server import BARE_PATH
from benchmarks.common import write
from civicloop.accounts.service import AccountService
from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.store.tables import cases

RATE = float(os.environ.get("BENCH_OPEN311_RATE", "300"))
SECONDS = float(os.environ.get("BENCH_OPEN311_SECONDS", "20"))
WARMUP = float(os.environ.get("BENCH_OPEN311_WARMUP", "3"))
RUNS = int(os.environ.get("BENCH_OPEN311_RUNS", "3"))
TARGET_P99_MS = 50.0
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def _body(api_key: str, city_id: str, n: int) -> dict[str, Any]:
    return {
        "api_key": api_key,
        "jurisdiction_id": city_id,
        "service_code": "06010",
        "lat": f"{37.80 + (n % 97) / 1000:.6f}",
        "long": f"{112.52 + (n % 89) / 1000:.6f}",
        "address_string": f"迎泽大街 {n % 500 + 1} 号",
        "description": f"路口垃圾成堆 #{n}",
        "attribute[condition]": "1",
        "attribute[situation]": ["blocking", "smell"],
        "media_url": f"https://fms.example.org/photo/{n}.jpeg",
        "email": f"reporter{n}@example.org",
        "first_name": "三",
        "last_name": "张",
        "deviceid": f"bench-device-{n}",
    }


class _Loopback:
    """A minimal HTTP/1.1 keep-alive client for loopback load: pre-encoded requests, Content-Length bodies."""

    #: uvicorn closes a keep-alive connection idle for 5 s; like any client, do not reuse one that old.
    KEEPALIVE_EXPIRY = 4.0

    def __init__(self, host: str, port: int, max_connections: int = 400) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0
        self.max_connections = max_connections

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        while self.idle and now - self.idle[0][2] > self.KEEPALIVE_EXPIRY:
            self.idle.pop(0)[1].close()
            self.opened -= 1
        if self.idle:
            reader, writer, _ = self.idle.pop()
        else:
            if self.opened >= self.max_connections:
                raise RuntimeError("connection limit reached")
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.opened -= 1
            raise
        self.idle.append((reader, writer, time.monotonic()))
        return status, body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()


def _post_bytes(host: str, port: int, form: dict[str, Any], path: str = "/open311/v2/requests.json") -> bytes:
    body = urlencode(form, doseq=True).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _open_loop(
    port: int,
    api_key: str,
    city_id: str,
    rate: float,
    seconds: float,
    first: int,
    path: str = "/open311/v2/requests.json",
) -> dict[str, Any]:
    """Send rate × seconds POSTs at fixed intervals; latency from each request's scheduled moment."""
    total = int(rate * seconds)
    interval = 1.0 / rate
    requests = [
        _post_bytes("127.0.0.1", port, _body(api_key, city_id, first + i), path) for i in range(total)
    ]
    client = _Loopback("127.0.0.1", port)
    latencies: list[float] = []
    service: list[float] = []
    ids: list[str] = []
    errors: dict[str, int] = {}

    async def one(raw: bytes, scheduled: float) -> None:
        sent = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(client.request(raw), timeout=30)
        except (OSError, RuntimeError, TimeoutError, asyncio.IncompleteReadError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        done = time.perf_counter()
        if status != 200:
            errors[str(status)] = errors.get(str(status), 0) + 1
            return
        latencies.append((done - scheduled) * 1000)
        service.append((done - sent) * 1000)
        ids.append(orjson.loads(body)[0]["service_request_id"])

    start = time.perf_counter() + 0.05
    tasks = []
    for i, raw in enumerate(requests):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(raw, scheduled)))
    sending_done = time.perf_counter()
    await asyncio.gather(*tasks)
    finished = time.perf_counter()
    client.close()
    return {
        "requests": total,
        "ok": len(ids),
        "errors": errors,
        "offered_rate": round(total / max(sending_done - start, 1e-9), 1),
        "achieved_rate": round(len(ids) / max(finished - start, 1e-9), 1),
        "connections": client.opened,
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50), 2),
            "p90": round(_percentile(latencies, 0.90), 2),
            "p99": round(_percentile(latencies, 0.99), 2),
            "max": round(max(latencies, default=float("nan")), 2),
        },
        "service_time_ms": {
            "p50": round(_percentile(service, 0.50), 2),
            "p99": round(_percentile(service, 0.99), 2),
        },
        "ids": ids,
    }


async def _health_rate(port: int, seconds: float = 3.0, in_flight: int = 16) -> dict[str, Any]:
    """Closed loop: how many GET /healthz the same server answers per second (one DB read each)."""
    raw = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    client = _Loopback("127.0.0.1", port)
    count = 0
    failures = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count, failures
        while time.perf_counter() < deadline:
            status, _ = await client.request(raw)
            if status == 200:
                count += 1
            else:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    client.close()
    return {"requests_per_s": round(count / elapsed, 1), "failures": failures, "in_flight": in_flight}


def _bare_inserts(path: Path, n: int = 300) -> dict[str, Any]:
    """One row per transaction with fsync (WAL, synchronous=FULL): the floor of a durable write."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY, body TEXT)")
    started = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_bare (body) VALUES (?)", ("x" * 400 + str(i),))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE bench_bare")
    conn.close()
    return {"transactions_per_s": round(n / elapsed, 1), "ms_per_transaction": round(elapsed / n * 1000, 3)}


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"civicloop serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("civicloop serve did not become healthy")


def _stored(city: City, ids: list[str]) -> set[str]:
    with city.engine.connect() as conn:
        return {
            r.case_id
            for chunk in range(0, len(ids), 500)
            for r in conn.execute(
                select(cases.c.case_id).where(
                    cases.c.city_id == city.id, cases.c.case_id.in_(ids[chunk : chunk + 500])
                )
            )
        }


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="civicloop-bench-open311-"))
    url = f"sqlite:///{tmp / 'open311.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city = init_city("taiyuan", url)
    _, api_key = AccountService(city.engine, city.id).create_api_key("benchmark")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # civicloop serve plus the bare route (benchmarks/bare_server.py): the baseline in the same server
    cmd = [sys.executable, "-m", "benchmarks.bare_server", "--database", url, "--port", str(port),
           "--photos", str(tmp / "photos")]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        # The limiter stays on, above the offered load (one API key sends everything): its cost is in the
        # figures, not its refusals — with the defaults (20/s a key) every run measured mostly 429s.
        "CIVICLOOP_RATE_IP": str(max(20_000, int(RATE * 20))),
        "CIVICLOOP_RATE_IP_BURST": str(max(40_000, int(RATE * 40))),
        "CIVICLOOP_RATE_KEY": str(max(5_000, int(RATE * 10))),
        "CIVICLOOP_RATE_KEY_BURST": str(max(10_000, int(RATE * 20))),
    }
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    try:
        _wait_healthy(base, proc)
        health = asyncio.run(_health_rate(port))
        if WARMUP > 0:
            asyncio.run(_open_loop(port, api_key, city.id, min(RATE, 100.0), WARMUP, 10_000_000))
        for n in range(RUNS):
            run = asyncio.run(_open_loop(port, api_key, city.id, RATE, SECONDS, n * 1_000_000))
            run["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            runs.append(run)
            # the same load against the bare route, right after, same server
            bare_run = asyncio.run(
                _open_loop(port, api_key, city.id, RATE, SECONDS, 50_000_000 + n * 1_000_000, BARE_PATH)
            )
            bare_run.pop("ids")
            bare_run["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            bare_runs.append(bare_run)
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
    for run in runs:
        ids = run.pop("ids")
        stored = _stored(city, ids)
        run["stored"] = len(stored)
        run["missing_from_database"] = len(set(ids) - stored)
    bare = _bare_inserts(tmp / "bare.db")
    best = min(runs, key=lambda r: r["latency_ms"]["p99"])
    errors = sum(sum(r["errors"].values()) + r["missing_from_database"] for r in runs)
    result = {
        "store": "sqlite (WAL, synchronous=FULL)",
        "server": "civicloop serve: uvicorn (httptools, uvloop), 1 worker, access log off",
        "load": f"open loop, {RATE:g} POST/s for {SECONDS:g} s x {RUNS} runs after {WARMUP:g} s warm-up, "
        "separate process",
        "rate_target": RATE,
        "p99_target_ms": TARGET_P99_MS,
        "runs": runs,
        "bare_endpoint_runs": bare_runs,
        "mean_p50_ms": round(sum(r["latency_ms"]["p50"] for r in runs) / len(runs), 2),
        "mean_p99_ms": round(sum(r["latency_ms"]["p99"] for r in runs) / len(runs), 2),
        "bare_mean_p50_ms": round(sum(r["latency_ms"]["p50"] for r in bare_runs) / len(bare_runs), 2),
        "bare_mean_p99_ms": round(sum(r["latency_ms"]["p99"] for r in bare_runs) / len(bare_runs), 2),
        "ratio_p50_to_bare_endpoint": round(
            sum(r["latency_ms"]["p50"] for r in runs) / sum(r["latency_ms"]["p50"] for r in bare_runs), 2
        ),
        "ratio_p99_to_bare_endpoint": round(
            sum(r["latency_ms"]["p99"] for r in runs) / sum(r["latency_ms"]["p99"] for r in bare_runs), 2
        ),
        "best_run_for_the_record": best,
        "baseline": {"healthz": health, "sqlite_bare_insert": bare, "bare_endpoint": BARE_PATH},
        "ratio_post_to_healthz": round(best["achieved_rate"] / health["requests_per_s"], 3),
        "verdict": {
            "sustained_rate": all(r["achieved_rate"] >= 0.97 * RATE for r in runs),
            "p99_within_target_best_run": best["latency_ms"]["p99"] <= TARGET_P99_MS,
            "p99_within_target_every_run": all(r["latency_ms"]["p99"] <= TARGET_P99_MS for r in runs),
            "zero_errors": errors == 0,
            "all_stored": all(r["missing_from_database"] == 0 and r["stored"] == r["ok"] for r in runs),
        },
    }
    if proc.returncode not in (0, -15) and stderr:
        result["server_stderr_tail"] = stderr.decode(errors="replace")[-2000:]
    write("open311", result)
    shutil.rmtree(tmp, ignore_errors=True)
    if errors:  # a latency measured over refusals is no figure: say so where the run is watched
        refused: dict[str, int] = {}
        for r in runs:
            for k, v in r["errors"].items():
                refused[k] = refused.get(k, 0) + v
        print(f"bench_open311: {errors} requests failed or were not stored ({refused})", file=sys.stderr)


if __name__ == "__main__":
    main()
