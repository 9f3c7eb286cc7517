"""Memory stays flat under a steady stream of requests: nothing on the request path keeps what it saw.

The one thing that grows with the number of cases written is ``CaseService``'s state cache, and it is
bounded (``StateCache.size``, 100,000 states by default — about 2 KiB each, so up to ≈ 210 MiB). With
the bound set low, 1,200 mixed requests (Open311 reports and reads, workflow actions, staff reads)
through the whole HTTP stack must leave the Python heap where it was (``tracemalloc``, after a warm-up).

The bound is half of what a leak of ``LEAK_BYTES`` (100) per request would add over the requests made,
so such a leak fails the test whatever the request count; the heap's own noise after the warm-up is
about a sixth of the bound (8–12 KiB measured over the 1,200 requests). Checked by injecting that leak:
the HTTP app's outermost middleware keeping one 100-byte object per request grew the heap 136.8 KiB
over the 1,200 requests, against a bound of 58.6 KiB, and failed the test.
This is the machine-independent half of the soak's "memory flat" (docs/reliability.md); the soak
reports the server's RSS over ten minutes.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicloop.city.service import City

XIAODIAN = {"lat": "37.723", "long": "112.593"}
REPORTS = 200  # each with up to four actions and three reads: 1,200 requests
LEAK_BYTES = 100  # the smallest leak per request that the bound must catch
CHAIN = [
    ("accept", "operator", {"verify": False}),
    ("file", "shift_leader", {}),
    ("dispatch", "dispatcher", {"department_id": "ty-sanitation"}),
    ("handle", "department", {"note": "已清运", "photos": ["https://photos.example.org/after.jpg"]}),
]


def traffic(client: TestClient, api_key: str, headers: dict[str, dict[str, str]], start: int, n: int) -> int:
    """*n* reports with their follow-ups; returns the number of requests made."""
    requests = 0
    for i in range(start, start + n):
        r = client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": api_key,
                "service_code": "06010",
                "attribute[condition]": "1",
                "description": f"路口垃圾成堆 #{i}",
                "phone": "13912345678",
                **XIAODIAN,
            },
            headers={"Idempotency-Key": f"k{i}"},
        )
        assert r.status_code == 200, r.text
        case_id = r.json()[0]["service_request_id"]
        for action, role, body in CHAIN[: i % (len(CHAIN) + 1)]:
            done = client.post(f"/api/v1/cases/{case_id}/actions/{action}", json=body, headers=headers[role])
            assert done.status_code == 200, done.text
        assert client.get(f"/open311/v2/requests/{case_id}.json").status_code == 200
        assert client.get("/open311/v2/requests.json?status=open&page_size=20").status_code == 200
        assert client.get(f"/api/v1/cases/{case_id}", headers=headers["leader"]).status_code == 200
        requests += 1 + len(CHAIN[: i % (len(CHAIN) + 1)]) + 3
    return requests


@pytest.fixture(autouse=True)
def _no_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steady traffic from one test client is not an abuser: measure memory, not the limiter."""
    monkeypatch.setenv("CIVICLOOP_RATE_LIMIT", "0")


def test_the_heap_is_flat_under_steady_traffic(
    client: TestClient,
    sqlite_city: City,
    api_key: str,
    headers: dict[str, dict[str, str]],
    record_property: Any,
) -> None:
    # The cache's bound reached at once; and small, so that the entries made before tracing started
    # (invisible to tracemalloc) are all replaced before the first measurement.
    sqlite_city.cases.cache.size = 10
    traffic(client, api_key, headers, 0, 120)  # warm-up: imports, caches of profiles, pools, SQL
    gc.collect()
    tracemalloc.start()
    try:
        traffic(client, api_key, headers, 120, 30)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        requests = traffic(client, api_key, headers, 150, REPORTS)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    grown = after - before
    bound = requests * LEAK_BYTES // 2  # a leak of LEAK_BYTES a request adds twice this
    record_property("heap_growth_bytes", grown)
    record_property("requests", requests)
    print(f"\nheap growth over {requests} requests: {grown / 1024:.1f} KiB (bound {bound / 1024:.1f} KiB)")
    assert requests >= 1000
    assert grown < bound, f"the heap grew {grown / 1024:.1f} KiB over {requests} requests"
