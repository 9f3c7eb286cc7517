"""A retried POST creates one case and answers the same id — durably (in the case's own transaction)."""

from __future__ import annotations

from concurrent.futures import wait
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from civicloop.accounts.service import AccountService
from civicloop.accounts.store import idempotency_keys
from civicloop.bootstrap import open_city
from civicloop.city.service import City
from civicloop.http import create_app
from civicloop.open311 import group_commit
from civicloop.open311.group_commit import Reply, ReportJob, ReportWriter
from civicloop.open311.service import header_key, open311_actor
from civicloop.photos.store import LocalPhotoStore
from civicloop.store.tables import cases
from tests.api.helpers import form


def case_count(city: City) -> int:
    with city.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(cases).where(cases.c.city_id == city.id)
            ).scalar_one()
        )


def test_the_same_idempotency_key_gives_the_same_case(
    client: TestClient, api_key: str, city: City, accounts: AccountService
) -> None:
    headers = {"Idempotency-Key": "fms-report-4711"}
    first = client.post("/open311/v2/requests.json", data=form(api_key, city), headers=headers)
    again = client.post("/open311/v2/requests.json", data=form(api_key, city), headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert case_count(city) == 1
    # The key is scoped to the client: another client's identical header is another report.
    _, other_key = accounts.create_api_key("other client")
    other = client.post("/open311/v2/requests.json", data=form(other_key, city), headers=headers)
    assert other.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]
    assert case_count(city) == 2


def test_the_same_device_place_and_text_within_ten_minutes_is_one_case(
    client: TestClient, api_key: str, city: City
) -> None:
    body = form(api_key, city, device_id="phone-1")
    a = client.post("/open311/v2/requests.json", data=body).json()[0]["service_request_id"]
    b = client.post("/open311/v2/requests.json", data=body).json()[0]["service_request_id"]
    assert a == b
    c = client.post("/open311/v2/requests.json", data={**body, "description": "另一处垃圾"}).json()
    assert c[0]["service_request_id"] != a
    no_device = form(api_key, city)
    d = client.post("/open311/v2/requests.json", data=no_device).json()[0]["service_request_id"]
    e = client.post("/open311/v2/requests.json", data=no_device).json()[0]["service_request_id"]
    assert d != e  # without a device id two people may well send the same words
    assert case_count(city) == 4


def test_the_fingerprint_window_expires(city: City, api_key: str, accounts: AccountService) -> None:
    now = [datetime.now(UTC)]
    writer = ReportWriter(city.cases, clock=lambda: now[0])
    fields = {"channel": "open311", "category_code": "06010", "lon": 112.56, "lat": 37.84}
    job = lambda: ReportJob(open311_actor("k1"), fields, idempotency=[("f:abc", timedelta(minutes=10))])  # noqa: E731
    first = writer.report(job())
    assert writer.report(job()).case_id == first.case_id
    now[0] += timedelta(minutes=11)
    assert writer.report(job()).case_id != first.case_id
    writer.close()


def test_it_survives_a_restart(
    city: City, api_key: str, accounts: AccountService, photos: LocalPhotoStore
) -> None:
    headers = {"Idempotency-Key": "retry-after-crash"}
    with TestClient(create_app(city, accounts=accounts, photos=photos)) as client:
        first = client.post("/open311/v2/requests.json", data=form(api_key, city), headers=headers).json()
    # A new process: a fresh City (no caches), a fresh app, the same database.
    reopened = City(city.profile, city.engine, city.calendar)
    with TestClient(create_app(reopened, accounts=accounts, photos=photos)) as client:
        again = client.post("/open311/v2/requests.json", data=form(api_key, city), headers=headers).json()
    assert again == first
    assert case_count(city) == 1
    with city.engine.connect() as conn:
        row = conn.execute(select(idempotency_keys).where(idempotency_keys.c.city_id == city.id)).one()
    assert row.case_id == first[0]["service_request_id"]
    assert open_city  # the production path opens a city the same way


def test_simultaneous_retries_in_one_group_become_one_case(city: City) -> None:
    writer = ReportWriter(city.cases)
    fields = {"channel": "open311", "category_code": "06010", "lon": 112.56, "lat": 37.84}
    jobs = [
        ReportJob(open311_actor("k1"), fields, idempotency=[("k:same", timedelta(hours=1))])
        for _ in range(12)
    ]
    # Queue them all before the writer thread starts: they land in one group.
    for job in jobs:
        job.reply = Reply()
        writer._queue.put(job)
    futures = [job.future for job in jobs]
    writer.submit(ReportJob(open311_actor("k1"), fields))
    wait(futures, timeout=30)
    ids = {f.result().case_id for f in futures}
    assert len(ids) == 1
    assert sum(1 for f in futures if not f.result().replayed) == 1
    writer.close()
    assert case_count(city) == 2


def test_a_concurrent_writer_that_won_the_race_is_answered_with_its_case(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process wrote the key between our check and our commit: its key refuses ours, we roll back
    and answer with the other process's case."""
    other_case = city.cases.report(
        open311_actor("k9"), {"channel": "open311", "category_code": "06010", "lon": 112.5, "lat": 37.8}
    )
    real = group_commit.find_idempotent
    calls: list[int] = []

    def blind_first(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            now = datetime.now(UTC)
            with city.engine.begin() as conn:  # the other process commits just now
                conn.execute(
                    insert(idempotency_keys).values(
                        city_id=city.id, key="k:race", case_id=other_case.case_id, token=None,
                        created_at=now, expires_at=now + timedelta(hours=1),
                    )
                )  # fmt: skip
            return {}
        return real(*args, **kwargs)

    monkeypatch.setattr(group_commit, "find_idempotent", blind_first)
    writer = ReportWriter(city.cases)
    fields = {"channel": "open311", "category_code": "06010", "lon": 112.5, "lat": 37.8}
    outcome = writer.report(
        ReportJob(open311_actor("k1"), fields, idempotency=[("k:race", timedelta(hours=1))])
    )
    writer.close()
    assert outcome.case_id == other_case.case_id and outcome.replayed
    assert case_count(city) == 1  # our attempt was rolled back whole


def test_the_workflow_api_honours_idempotency_keys(
    client: TestClient, headers: dict[str, dict[str, str]], city: City
) -> None:
    body = {"category_code": "06010", "lon": 112.56, "lat": 37.84, "description": "巡查发现垃圾"}
    h = {**headers["inspector"], "Idempotency-Key": "pda-123"}
    first = client.post("/api/v1/cases", json=body, headers=h)
    again = client.post("/api/v1/cases", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json()["case_id"] == again.json()["case_id"]
    assert first.json()["replayed"] is False and again.json()["replayed"] is True
    assert case_count(city) == 1
    assert header_key("a", "b") != header_key("c", "b")
