"""Real third-party Open311 clients from PyPI, unmodified, against a live server on localhost.

georeport 0.3.1 (JSON and XML), boston311 0.1.1 (the strictest about keys and types) and
chicagorequests 0.0.5 (``extensions=true`` and ``page``/``page_size`` paging), pointed at a uvicorn
server in a thread as docs/open311.md §13 describes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import uvicorn

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.http import create_app
from civicloop.kernel.vocabulary import Action
from civicloop.photos.store import LocalPhotoStore
from tests.api.helpers import OPERATOR, form, report_many


@pytest.fixture
def live(city: City, accounts: AccountService, photos: LocalPhotoStore) -> Iterator[str]:
    """``civicloop serve`` in-process: uvicorn on a free loopback port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(city, accounts=accounts, photos=photos)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def _post(base: str, api_key: str, city: City, **extra: Any) -> str:
    r = requests.post(f"{base}/open311/v2/requests.json", data=form(api_key, city, **extra), timeout=10)
    r.raise_for_status()
    return str(r.json()[0]["service_request_id"])


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_everything(live: str, api_key: str, city: City, fmt: str) -> None:
    from georeport import GeoReport

    first = _post(live, api_key, city, **{"media_url": "https://example.org/1.jpg"})
    second = _post(live, api_key, city, service_code="01001", description="井盖松动")
    client = GeoReport(f"{live}/open311/v2", jurisdiction=city.id, output_format=fmt)

    services = client.get_service_list()
    assert len(services) == len(city.profile.service_categories())
    assert services[0]["service_code"] == city.profile.service_categories()[0].code

    definition = client.get_service_definition("06010")
    assert definition["service_code"] == "06010"
    attributes = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
    assert {a["datatype"] for a in attributes} >= {"singlevaluelist", "multivaluelist", "number", "datetime"}

    now = datetime.now(UTC)
    listed = client.get_service_requests(
        service_code="06010,01001",
        start_date=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_date=(now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        status="open",
    )
    assert [r["service_request_id"] for r in listed] == [second, first]

    one = client.get_service_request(first)
    assert one["service_request_id"] == first and one["status"] == "open"
    assert one["media_url"] == "https://example.org/1.jpg"

    by_id = client.get_service_requests(service_request_id=second)
    if isinstance(by_id, dict):  # XML with one element: xmltodict gives a dict, not a list (§12)
        by_id = [by_id]
    assert by_id[0]["service_request_id"] == second

    with pytest.raises(requests.HTTPError):
        client.get_service_request("TY-1999-0000000")
    with pytest.raises(requests.HTTPError):
        client.get_service_definition("99999")


def test_boston311_validates_every_request(
    live: str, api_key: str, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boston311.api as boston
    from boston311.datamodels import Status

    monkeypatch.setattr(boston, "BOSTON_API_ENDPOINT", f"{live}/open311/v2/")
    pinned = _post(live, api_key, city, **{"media_url": "https://example.org/2.jpg"})
    unpinned = _post(live, api_key, city, lat=None, long=None, address_string="杏花岭区府东街 5 号")
    closed = _post(live, api_key, city)
    city.cases.act(closed, Action.REJECT, OPERATOR, {"reason": "not_city_business"})

    services = boston.get_services()
    assert len(services) == len(city.profile.service_categories())
    assert services.get_service_name("06010") == city.profile.category("06010").name

    # boston311 sends an old start with end = now: a long span must be clamped, not refused.
    everything = boston.get_service_requests(start_date=datetime(2020, 1, 1, tzinfo=UTC))
    assert {r.service_request_id for r in everything.service_requests} == {pinned, unpinned, closed}
    opened = boston.get_service_requests(service_code="06010", status=Status.OPEN)
    assert {r.service_request_id for r in opened.service_requests} == {pinned, unpinned}
    shut = boston.get_service_requests(status=Status.CLOSED)
    assert [r.service_request_id for r in shut.service_requests] == [closed]
    assert "not city-management business" in (shut[0].status_notes or "")

    one = boston.get_service_request(pinned)
    assert one is not None and str(one.media_url) == "https://example.org/2.jpg"
    assert one.lat == pytest.approx(37.8412) and one.long == pytest.approx(112.5618)
    far = boston.get_service_request(unpinned)
    assert far is not None and far.address == "杏花岭区府东街 5 号" and isinstance(far.lat, float)
    with pytest.raises(requests.HTTPError):
        boston.get_service_request("TY-1999-0000000")


def test_chicagorequests_pages_through_everything(
    live: str, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chicagorequests

    start = datetime.now(UTC) - timedelta(hours=6)
    ids = report_many(city, 250, start=start, step=timedelta(seconds=20))
    report_many(city, 3, start=start, category="01001")
    monkeypatch.setattr(chicagorequests.Downloader, "BASE_URL", f"{live}/open311/v2/requests.json")
    pages: list[dict[str, Any]] = []
    original = chicagorequests.APIScraper.request

    def recording(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        pages.append(dict(kwargs.get("params") or {}))
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(chicagorequests.APIScraper, "request", recording)
    got = chicagorequests.Downloader(request_type=["06010"])(
        (start - timedelta(minutes=1), datetime.now(UTC))
    )
    assert sorted(r["service_request_id"] for r in got) == sorted(ids)
    assert [p["page"] for p in pages] == [1, 2]  # 200 + 50: it stops on a short page
    assert all(p["extensions"] == "true" and p["page_size"] == 200 for p in pages)
    assert all("extended_attributes" in r and "notes" in r for r in got)
    both = chicagorequests.Downloader(request_type=["06010", "01001"])(
        (start - timedelta(minutes=1), datetime.now(UTC))
    )
    assert len(both) == 253
