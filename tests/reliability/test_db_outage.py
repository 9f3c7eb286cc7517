"""Database faults: PostgreSQL stopped and started under load, on a throwaway cluster of its own.

The test starts its own cluster with ``scripts/pg-test-server`` and PostgreSQL's durable defaults
(``PGTEST_DURABLE=1``: fsync and synchronous commit on; the shared test server is never touched), runs
``civicloop serve`` on it, and keeps Open311 reports (each with an ``Idempotency-Key``), staff reads and
health checks coming from several threads. Twice, PostgreSQL goes away under that load — once a clean
shutdown (``pg_ctl stop -m fast``), once a crash (``-m immediate``: no checkpoint, recovery from the WAL
at the next start) — and comes back two seconds later. It checks that

* while the database is away every answer is a 503 that says so, in the caller's error shape (Open311's
  ``[{"code": 503, …}]``, the workflow API's ``{"error": {"code": "database_unavailable", …}}``,
  ``/healthz``'s ``"database": "unreachable"``) with ``Retry-After`` — never a 500, never a hang;
* the service recovers by itself (no restart): the time from PostgreSQL accepting connections again to
  the first stored report is measured and bounded;
* nothing acknowledged is lost: every report answered 200 is in the database exactly once, every report
  refused with 503 is stored exactly once when its client sends it again with the same key, and
  ``civicloop rebuild --check`` and ``civicloop audit verify`` pass.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from civicloop.store.database import make_engine
from civicloop.store.tables import cases
from tests.reliability.harness import (
    ROOT,
    XIAODIAN,
    Server,
    assert_consistent,
    login_all,
    make_world,
    need_postgres,
    pg_bin,
)

RECOVERY_LIMIT_S = 10.0  # from PostgreSQL accepting connections to the first stored report


class Cluster:
    """A PostgreSQL cluster of this test only (scripts/pg-test-server start/stop), stopped and started
    in between with pg_ctl as the script runs it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="civicloop-outage-"))  # short: a unix socket path
        env = {**os.environ, "PGTEST_DURABLE": "1"}
        self.url = subprocess.run(
            [str(ROOT / "scripts" / "pg-test-server"), "start", str(self.dir)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        ).stdout.strip()

    def _pg_ctl(self, *args: str) -> None:
        cmd = [str(pg_bin() / "pg_ctl"), "-D", str(self.dir / "data"), *args]
        if os.geteuid() == 0:  # the cluster belongs to the postgres user (initdb refuses root)
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def stop(self, mode: str) -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def start(self) -> None:
        opts = f"-k {self.dir} -c listen_addresses='' -c max_connections=200"
        self._pg_ctl("-l", str(self.dir / "server.log"), "-w", "-t", "120", "-o", opts, "start")

    def remove(self) -> None:
        subprocess.run(
            [str(ROOT / "scripts" / "pg-test-server"), "stop", str(self.dir)], check=False, timeout=120
        )


@dataclass
class Observed:
    acked: dict[str, str] = field(default_factory=dict)  # Idempotency-Key → case id answered 200
    refused: dict[str, str] = field(default_factory=dict)  # key → marker, answered 503
    markers: dict[str, str] = field(default_factory=dict)  # key → marker
    answers: list[tuple[float, str, int]] = field(default_factory=list)  # (when, what, status)
    bad: list[str] = field(default_factory=list)
    slowest_503_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def check_503(what: str, r: httpx.Response) -> str | None:
    """What is wrong with a 503 answer, or None when it is the clear refusal promised."""
    if "retry-after" not in r.headers:
        return f"{what}: 503 without Retry-After"
    if what == "open311":
        body = r.json()
        ok = isinstance(body, list) and body[0]["code"] == 503 and "database" in body[0]["description"]
    elif what == "staff":
        error = r.json()["error"]
        ok = error["code"] == "database_unavailable" and "database" in error["message_en"]
    else:
        ok = r.json()["database"] == "unreachable"
    return None if ok else f"{what}: unclear 503 body {r.text[:300]}"


def load(
    base: str, api_key: str, headers: dict[str, str], seen: Observed, stop: threading.Event, n: int
) -> None:
    with httpx.Client(base_url=base, timeout=httpx.Timeout(20.0)) as client:
        i = 0
        while not stop.is_set():
            i += 1
            kind = ("open311", "open311", "staff", "health")[i % 4]
            started = time.monotonic()
            key = uuid.uuid4().hex
            try:
                if kind == "open311":
                    marker = f"outage-{n}-{i}-{key[:8]}"
                    with seen.lock:
                        seen.markers[key] = marker
                    r = client.post(
                        "/open311/v2/requests.json",
                        data={
                            "api_key": api_key,
                            "service_code": "06010",
                            "attribute[condition]": "1",
                            "description": marker,
                            **XIAODIAN,
                        },
                        headers={"Idempotency-Key": key},
                    )
                elif kind == "staff":
                    r = client.get("/api/v1/cases?page_size=5", headers=headers)
                else:
                    r = client.get("/healthz")
            except httpx.HTTPError as exc:
                with seen.lock:
                    seen.bad.append(f"{kind}: {type(exc).__name__}: {exc}")
                continue
            took = time.monotonic() - started
            with seen.lock:
                seen.answers.append((time.monotonic(), kind, r.status_code))
                if r.status_code == 200:
                    if kind == "open311":
                        seen.acked[key] = str(r.json()[0]["service_request_id"])
                elif r.status_code == 503:
                    seen.slowest_503_s = max(seen.slowest_503_s, took)
                    problem = check_503(kind, r)
                    if problem:
                        seen.bad.append(problem)
                    if kind == "open311":
                        seen.refused[key] = seen.markers[key]
                else:
                    seen.bad.append(f"{kind}: {r.status_code} {r.text[:300]}")
            if r.status_code == 503:
                time.sleep(0.05)


def test_postgres_goes_away_and_comes_back_under_load(tmp_path: Path, record_property: Any) -> None:
    need_postgres()
    cluster = Cluster()
    server: Server | None = None
    figures: dict[str, Any] = {"outages": []}
    try:
        world = make_world(cluster.url)
        server = Server(cluster.url, tmp_path)
        server.start()
        server.wait_healthy()
        headers = login_all(server.base, world, ("leader",))["leader"]
        seen = Observed()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=load, args=(server.base, world.api_key, headers, seen, stop, n), daemon=True
            )
            for n in range(4)
        ]
        for t in threads:
            t.start()
        try:
            for mode in ("fast", "immediate"):
                time.sleep(1.5)
                with seen.lock:
                    before = len(seen.acked)
                cluster.stop(mode)
                down_at = time.monotonic()
                time.sleep(2.0)
                starting_at = time.monotonic()
                cluster.start()
                up_at = time.monotonic()
                while True:  # the first report stored after PostgreSQL is back
                    with seen.lock:
                        ok_after = [
                            w for w, k, s in seen.answers if w > up_at and k == "open311" and s == 200
                        ]
                    if ok_after or time.monotonic() - up_at > RECOVERY_LIMIT_S:
                        break
                    time.sleep(0.02)
                with seen.lock:
                    during = [(k, s) for w, k, s in seen.answers if down_at + 0.2 < w < starting_at]
                assert ok_after, f"no report stored {RECOVERY_LIMIT_S} s after PostgreSQL came back"
                assert during and all(s == 503 for _, s in during), [d for d in during if d[1] != 503]
                assert {k for k, _ in during} == {"open311", "staff", "health"}, during[:20]
                figures["outages"].append(
                    {
                        "mode": mode,
                        "down_s": round(up_at - down_at, 2),
                        "start_s": round(up_at - starting_at, 2),
                        "answers_while_down": len(during),
                        "all_503": True,
                        "recovery_s": round(min(ok_after) - up_at, 3),
                        "acked_before": before,
                    }
                )
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert not seen.bad, seen.bad[:10]

        # The refused reports, sent again with the same key, are stored once each.
        with httpx.Client(base_url=server.base, timeout=30.0) as client:
            for key, marker in seen.refused.items():
                r = client.post(
                    "/open311/v2/requests.json",
                    data={
                        "api_key": world.api_key,
                        "service_code": "06010",
                        "attribute[condition]": "1",
                        "description": marker,
                        **XIAODIAN,
                    },
                    headers={"Idempotency-Key": key},
                )
                assert r.status_code == 200, r.text
                first = seen.acked.setdefault(key, str(r.json()[0]["service_request_id"]))
                assert first == str(r.json()[0]["service_request_id"])
        server.stop()

        engine = make_engine(cluster.url)
        with engine.connect() as conn:
            rows = conn.execute(select(cases.c.case_id, cases.c.doc).where(cases.c.city_id == world.city_id))
            stored = [(r.case_id, orjson.loads(r.doc)["description"]) for r in rows]
        engine.dispose()
        by_marker: dict[str, list[str]] = {}
        for case_id, description in stored:
            by_marker.setdefault(description, []).append(case_id)
        for key, case_id in seen.acked.items():
            assert by_marker.get(seen.markers[key]) == [case_id], (key, by_marker.get(seen.markers[key]))
        assert len(stored) == len(seen.acked), "a case nobody was answered with"
        assert_consistent(cluster.url, world.city_id)
        figures.update(
            reports_acknowledged=len(seen.acked),
            refused_503_then_stored=len(seen.refused),
            slowest_503_s=round(seen.slowest_503_s, 3),
        )
    finally:
        if server is not None:
            server.stop()
        cluster.remove()
    record_property("outage", figures)
    print(f"\noutage figures: {figures}")
