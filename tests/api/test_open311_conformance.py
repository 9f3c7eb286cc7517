"""Conformance of every Open311 GeoReport v2 endpoint, in JSON and XML (docs/open311.md §16).

JSON is validated against the GeoReport v2 JSON Schemas (restated in ``open311_schemas.py``); XML is
checked for its declaration, roots, children and repeated elements, parsed with defusedxml. The expected
XML shapes — the order of a request's 17 children, ``<service_requests><request>`` holding
``service_request_id`` and ``token`` for a token, an empty ``<service_requests>`` — are those of the
Ruby client's fixtures (``codeforamerica/open311`` ``spec/fixtures/*.xml``, MIT), restated here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from civicloop.accounts.service import AccountService
from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.http import ApiSettings, create_app
from civicloop.kernel.vocabulary import Action, Role
from tests.api import open311_schemas as S
from tests.api.helpers import (
    INSPECTOR,
    LEADER,
    OPERATOR,
    children,
    form,
    ids_of,
    post,
    report_many,
    to_dispatched,
    xml,
)

FORMATS = ["json", "xml"]
CHECKER = jsonschema.FormatChecker()


def valid(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.validate(instance, schema, format_checker=CHECKER)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- transport ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_get_endpoint_serves_both_formats_with_the_exact_content_type(
    client: TestClient, api_key: str, city: City, fmt: str
) -> None:
    case_id = post(client, api_key, city)
    expected = "application/json; charset=utf-8" if fmt == "json" else "text/xml; charset=utf-8"
    for path in (
        "discovery",
        "services",
        "services/06010",
        "requests",
        f"requests/{case_id}",
    ):
        r = client.get(f"/open311/v2/{path}.{fmt}", params={"jurisdiction_id": city.id})
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"] == expected, path
        if fmt == "xml":
            xml(r.text)  # declaration + well-formed


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery(client: TestClient, city: City, fmt: str) -> None:
    r = client.get(f"/open311/v2/discovery.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        doc = r.json()
        valid(doc, S.DISCOVERY)
        assert doc["endpoints"][0]["url"].endswith("/open311/v2")
        assert set(doc["endpoints"][0]["formats"]) == {"text/xml", "application/json"}
        return
    root = xml(r.text)
    assert root.tag == "discovery"
    assert children(root) == ["changeset", "contact", "key_service", "endpoints"]
    endpoint = root.find("endpoints/endpoint")
    assert endpoint is not None
    assert children(endpoint) == ["specification", "url", "changeset", "type", "formats"]
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]


# ---- services and definitions ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_list(client: TestClient, city: City, fmt: str) -> None:
    r = client.get(f"/open311/v2/services.{fmt}", params={"jurisdiction_id": city.id})
    published = city.profile.service_categories()
    if fmt == "json":
        doc = r.json()
        valid(doc, S.SERVICES)
        assert [s["service_code"] for s in doc] == [c.code for c in published]
        garbage = next(s for s in doc if s["service_code"] == "06010")
        assert garbage["metadata"] is True and garbage["type"] == "realtime"
        assert garbage["group"] == city.profile.category("06010").major_name
        assert "," in garbage["keywords"] or garbage["keywords"]
        assert any(s["service_code"].startswith("0") for s in doc)  # leading zeros survive (strings)
        return
    root = xml(r.text)
    assert root.tag == "services"
    services = root.findall("service")
    assert len(services) == len(published)
    assert set(children(root)) == {"service"}
    assert children(services[0]) == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert services[0].findtext("metadata") == "true"
    assert services[0].findtext("service_code") == published[0].code


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition_has_every_datatype(client: TestClient, city: City, fmt: str) -> None:
    r = client.get(f"/open311/v2/services/06010.{fmt}", params={"jurisdiction_id": city.id})
    assert r.status_code == 200
    conditions = [str(c.no) for c in city.profile.category("06010").conditions]
    if fmt == "json":
        doc = r.json()
        valid(doc, S.DEFINITION)
        assert doc["service_code"] == "06010"
        attrs = doc["attributes"]
        assert {a["datatype"] for a in attrs} == {
            "string",
            "number",
            "datetime",
            "text",
            "singlevaluelist",
            "multivaluelist",
        }
        orders = [a["order"] for a in attrs]
        assert len(set(orders)) == len(orders) and min(orders) == 1
        info = [a for a in attrs if a["variable"] is False]
        assert info and all(not a["required"] for a in info)
        condition = next(a for a in attrs if a["code"] == "condition")
        assert condition["datatype"] == "singlevaluelist" and condition["required"] is True
        assert [v["key"] for v in condition["values"]] == conditions
        return
    root = xml(r.text)
    assert root.tag == "service_definition"
    assert children(root) == ["service_code", "attributes"]
    attrs = root.findall("attributes/attribute")
    assert len(attrs) == 7
    assert (
        children(attrs[0])[:8]
        == [
            "variable",
            "code",
            "datatype",
            "required",
            "datatype_description",
            "order",
            "description",
        ][:8]
    )
    condition = next(a for a in attrs if a.findtext("code") == "condition")
    assert [v.findtext("key") for v in condition.findall("values/value")] == conditions
    assert condition.findtext("required") == "true"


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_and_jurisdiction_are_404_in_the_requested_format(
    client: TestClient, city: City, fmt: str
) -> None:
    for path, params in (
        ("services/99999", {}),
        ("services", {"jurisdiction_id": "atlantis"}),
        ("requests", {"jurisdiction_id": "atlantis"}),
        ("discovery", {"jurisdiction_id": "atlantis"}),
        ("requests/TY-2026-9999999", {}),
        ("tokens/nope", {}),
    ):
        r = client.get(f"/open311/v2/{path}.{fmt}", params=params)
        assert r.status_code == 404, path
        if fmt == "json":
            valid(r.json(), S.ERRORS)
            assert r.json()[0]["code"] == 404
        else:
            root = xml(r.text)
            assert root.tag == "errors" and children(root) == ["error"]
            assert root.findtext("error/code") == "404"
            assert root.findtext("error/description")


# ---- POST -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_returns_the_id_and_a_notice(client: TestClient, api_key: str, city: City, fmt: str) -> None:
    r = client.post(f"/open311/v2/requests.{fmt}", data=form(api_key, city, account_id="acct-9"))
    assert r.status_code == 200, r.text
    if fmt == "json":
        doc = r.json()
        valid(doc, S.POST_RESPONSE)
        assert doc[0]["service_request_id"].startswith(city.profile.case_prefix + "-")
        assert doc[0]["service_notice"] == "处置时限 4 工作时"
        assert doc[0]["account_id"] == "acct-9"
        assert "token" not in doc[0]
        return
    root = xml(r.text)
    assert root.tag == "service_requests"
    assert children(root) == ["request"]
    assert children(root[0]) == ["service_request_id", "service_notice", "account_id"]
    assert root.findtext("request/service_request_id")


@pytest.mark.parametrize("fmt", FORMATS)
def test_batch_services_answer_a_token_that_resolves_to_the_id(
    city: City, accounts: AccountService, api_key: str, photos: Any, fmt: str
) -> None:
    app = create_app(city, accounts=accounts, photos=photos, settings=ApiSettings(batch_services=True))
    with TestClient(app) as client:
        assert {s["type"] for s in client.get("/open311/v2/services.json").json()} == {"batch"}
        r = client.post(f"/open311/v2/requests.{fmt}", data=form(api_key, city))
        assert r.status_code == 200
        if fmt == "json":
            valid(r.json(), S.POST_RESPONSE)
            token = r.json()[0]["token"]
            assert "service_request_id" not in r.json()[0]
        else:
            root = xml(r.text)
            assert root.find("request/service_request_id") is None
            token = root.findtext("request/token")
        r = client.get(f"/open311/v2/tokens/{token}.{fmt}")
        assert r.status_code == 200
        if fmt == "json":
            doc = r.json()
            assert isinstance(doc, list) and len(doc) == 1
            assert doc[0]["token"] == token and doc[0]["service_request_id"].startswith(
                city.profile.case_prefix
            )
        else:
            root = xml(r.text)
            assert root.tag == "service_requests"
            assert children(root[0]) == ["service_request_id", "token"]


# ---- GET requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_request_list_has_every_key_and_the_right_types(
    client: TestClient, api_key: str, city: City, fmt: str
) -> None:
    first = post(client, api_key, city)
    second = post(client, api_key, city, description="第二件", **{"media_url": "https://example.org/p/1.jpg"})
    r = client.get(f"/open311/v2/requests.{fmt}")
    if fmt == "json":
        doc = r.json()
        valid(doc, S.REQUESTS)
        valid(doc, S.REQUESTS_STRICT)
        assert ids_of(doc) == [second, first]  # newest first
        assert doc[0]["media_url"] == "https://example.org/p/1.jpg"
        assert isinstance(doc[0]["lat"], float) and isinstance(doc[0]["long"], float)
        return
    root = xml(r.text)
    assert root.tag == "service_requests"
    assert children(root) == ["request", "request"]
    assert children(root[0]) == S.STANDARD_KEYS
    assert [req.findtext("service_request_id") for req in root] == [second, first]
    assert float(root[0].findtext("lat") or "x") == pytest.approx(37.8412)
    assert root[1].find("media_url") is not None and root[1].findtext("media_url") in (None, "")


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_list_is_empty(client: TestClient, city: City, fmt: str) -> None:
    r = client.get(f"/open311/v2/requests.{fmt}", params={"service_code": "06010"})
    assert r.status_code == 200
    if fmt == "json":
        assert r.json() == []
    else:
        root = xml(r.text)
        assert root.tag == "service_requests" and len(root) == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_request_is_an_array_of_one(client: TestClient, api_key: str, city: City, fmt: str) -> None:
    case_id = post(client, api_key, city)
    r = client.get(f"/open311/v2/requests/{case_id}.{fmt}", params={"jurisdiction_id": city.id})
    if fmt == "json":
        doc = r.json()
        assert isinstance(doc, list) and len(doc) == 1
        valid(doc, S.REQUESTS_STRICT)
        assert doc[0]["service_request_id"] == case_id
    else:
        root = xml(r.text)
        assert root.tag == "service_requests" and children(root) == ["request"]
        assert root.findtext("request/service_request_id") == case_id


def test_dates_need_a_zone_and_accept_z_offsets_and_a_plus_decoded_as_space(
    client: TestClient, api_key: str, city: City
) -> None:
    case_id = post(client, api_key, city)
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).astimezone(UTC)
    local = start.astimezone(city.cases.tz).replace(microsecond=0).isoformat()  # …+08:00
    for value in (z(start), local, local.replace("+", " "), start.isoformat()):
        r = client.get("/open311/v2/requests.json", params={"start_date": value})
        assert r.status_code == 200, (value, r.text)
        assert ids_of(r.json()) == [case_id], value
    # A literal '+' in a query string decodes to a space: the raw URL must work too.
    raw = local.replace("+", "%2B")
    assert ids_of(client.get(f"/open311/v2/requests.json?start_date={raw}").json()) == [case_id]
    assert ids_of(client.get(f"/open311/v2/requests.json?start_date={local}").json()) == [case_id]
    for bad in ("2026-03-02T09:15:00", "2026-03-02", "yesterday"):
        r = client.get("/open311/v2/requests.json", params={"start_date": bad})
        assert r.status_code == 400, bad
        valid(r.json(), S.ERRORS)
        assert r.json()[0]["code"] == 400


def test_long_spans_are_clamped_not_refused(client: TestClient, city: City) -> None:
    now = datetime.now(UTC)
    old = report_many(city, 1, start=now - timedelta(days=200))
    recent = report_many(city, 1, start=now - timedelta(days=10))
    r = client.get(
        "/open311/v2/requests.json", params={"start_date": z(now - timedelta(days=400)), "end_date": z(now)}
    )
    assert r.status_code == 200
    assert ids_of(r.json()) == recent  # the 90 days ending at end_date
    r = client.get("/open311/v2/requests.json", params={"start_date": z(now - timedelta(days=201))})
    assert ids_of(r.json()) == old  # start only: the 90 days after it
    r = client.get("/open311/v2/requests.json", params={"end_date": z(now - timedelta(days=150))})
    assert ids_of(r.json()) == old  # end only: the 90 days before it
    r = client.get(
        "/open311/v2/requests.json", params={"start_date": z(now), "end_date": z(now - timedelta(days=1))}
    )
    assert r.status_code == 400


def test_default_window_is_90_days_and_at_most_1000(client: TestClient, city: City) -> None:
    now = datetime.now(UTC)
    report_many(city, 1, start=now - timedelta(days=95))
    recent = report_many(city, 1005, start=now - timedelta(days=2), step=timedelta(seconds=30))
    doc = client.get("/open311/v2/requests.json").json()
    assert len(doc) == 1000
    assert ids_of(doc) == list(reversed(recent))[:1000]
    # The paging extension reaches the rest.
    page2 = client.get("/open311/v2/requests.json", params={"page": 2, "page_size": 500}).json()
    page3 = client.get("/open311/v2/requests.json", params={"page": 3, "page_size": 500}).json()
    assert ids_of(page2) == list(reversed(recent))[500:1000]
    assert ids_of(page3) == list(reversed(recent))[1000:]
    assert client.get("/open311/v2/requests.json", params={"page_size": 5000}).status_code == 200  # clamped
    assert client.get("/open311/v2/requests.json", params={"page": 0}).status_code == 400


def test_service_request_id_overrides_every_other_filter(
    client: TestClient, api_key: str, city: City
) -> None:
    now = datetime.now(UTC)
    old = report_many(city, 1, start=now - timedelta(days=300), category="01001")
    new = post(client, api_key, city)
    r = client.get(
        "/open311/v2/requests.json",
        params={
            "service_request_id": f"{old[0]},{new},NOPE-1",
            "service_code": "99999",
            "status": "closed",
            "start_date": z(now),
        },
    )
    assert sorted(ids_of(r.json())) == sorted([old[0], new])


def test_service_code_lists_status_and_unknown_parameters(
    client: TestClient, api_key: str, city: City
) -> None:
    garbage = post(client, api_key, city)
    cover = post(client, api_key, city, service_code="01001")
    other = (
        report_many(city, 1, category="06011")[0]
        if "06011" in {c.code for c in city.profile.categories}
        else None
    )
    r = client.get(
        "/open311/v2/requests.json",
        params={"service_code": "06010,01001", "utm_source": "x", "api_key": "ignored"},
    )
    assert sorted(ids_of(r.json())) == sorted([garbage, cover])
    assert other not in ids_of(r.json())
    city.cases.act(garbage, Action.REJECT, OPERATOR, {"reason": "invalid"})
    assert ids_of(client.get("/open311/v2/requests.json", params={"status": "closed"}).json()) == [garbage]
    opened = client.get(
        "/open311/v2/requests.json", params={"status": "open", "service_code": "06010,01001"}
    ).json()
    assert ids_of(opened) == [cover]
    both = client.get(
        "/open311/v2/requests.json", params={"status": "open,closed", "service_code": "06010,01001"}
    )
    assert len(both.json()) == 2
    assert client.get("/open311/v2/requests.json", params={"status": "pending"}).status_code == 400


def test_status_is_open_or_closed_and_the_notes_say_what_happened(
    client: TestClient, api_key: str, city: City
) -> None:
    dept = city.profile.responsible_department("06010")
    dispatched = post(client, api_key, city)
    to_dispatched(city, dispatched, dept.id)
    fixed = post(client, api_key, city)
    to_dispatched(city, fixed, dept.id)
    city.cases.act(fixed, Action.HANDLE, _handler(dept.id), {"note": "已清运", "photos": ["p/after.jpg"]})
    city.cases.act(fixed, Action.SEND_CHECK, OPERATOR)
    city.cases.act(fixed, Action.CHECK, INSPECTOR, {"passed": True, "photos": ["p/check.jpg"]})
    city.cases.act(fixed, Action.CLOSE, LEADER)
    duplicate = post(client, api_key, city)
    city.cases.act(duplicate, Action.ACCEPT, OPERATOR, {"verify": False})
    city.cases.act(
        duplicate, Action.VOID, LEADER, {"reason": "duplicate", "duplicate_of": fixed, "note": "重复"}
    )
    docs = {d["service_request_id"]: d for d in client.get("/open311/v2/requests.json").json()}
    d = docs[dispatched]
    assert d["status"] == "open" and d["status_notes"] == "已派遣 (dispatched)"
    assert d["agency_responsible"] == dept.name
    state = city.cases.get(dispatched)
    assert d["expected_datetime"] == z(state.deadline) if state.deadline else False
    f = docs[fixed]
    assert f["status"] == "closed" and f["status_notes"] == "已结案 (resolved)"
    assert f["updated_datetime"] == z(city.cases.get(fixed).closed_at)  # type: ignore[arg-type]
    assert f["expected_datetime"] is None
    dup = docs[duplicate]
    assert dup["status"] == "closed"
    assert fixed in dup["status_notes"] and "duplicate" in dup["status_notes"]
    assert "resolved" not in dup["status_notes"]  # closed is not fixed


def _handler(dept: str) -> Actor:
    return Actor("h-test", Role.DEPARTMENT, department_id=dept)


@pytest.mark.parametrize("fmt", FORMATS)
def test_extensions_add_attributes_extended_attributes_and_notes(
    client: TestClient, api_key: str, city: City, fmt: str
) -> None:
    case_id = post(
        client,
        api_key,
        city,
        **{"attribute[situation]": "blocking", "media_url": "https://example.org/a.jpg"},
    )
    to_dispatched(city, case_id, city.profile.responsible_department("06010").id)
    r = client.get(f"/open311/v2/requests/{case_id}.{fmt}", params={"extensions": "true"})
    if fmt == "json":
        doc = r.json()[0]
        valid([doc], S.REQUESTS_STRICT)
        assert {"code": "condition", "value": "1"} in doc["attributes"]
        ext = doc["extended_attributes"]
        assert ext["channel"] == "open311" and ext["stage"] == "dispatched"
        assert ext["photos"] == ["https://example.org/a.jpg"]
        assert ext["department"] and ext["location_approximate"] is False
        assert [n["type"] for n in doc["notes"]][:2] == ["submitted", "opened"]
        assert all(set(n) == {"datetime", "type", "description", "summary"} for n in doc["notes"])
        assert not any("actor" in str(n) for n in doc["notes"])
        return
    root = xml(r.text)
    req = root.find("request")
    assert req is not None
    assert children(req)[: len(S.STANDARD_KEYS)] == S.STANDARD_KEYS
    assert children(req)[len(S.STANDARD_KEYS) :] == ["attributes", "extended_attributes", "notes"]
    assert [a.findtext("code") for a in req.findall("attributes/attribute")] == ["condition", "situation"]
    assert [p.text for p in req.findall("extended_attributes/photos/photo")] == ["https://example.org/a.jpg"]
    assert len(req.findall("notes/note")) == 4


def test_a_report_without_a_pin_still_has_numbers_and_words(
    client: TestClient, api_key: str, city: City
) -> None:
    case_id = post(client, api_key, city, lat=None, long=None, address_string="小店区坞城路 12 号")
    doc = client.get(f"/open311/v2/requests/{case_id}.json", params={"extensions": "true"}).json()[0]
    assert isinstance(doc["lat"], float) and isinstance(doc["long"], float)
    assert doc["address"] == "小店区坞城路 12 号"
    assert doc["extended_attributes"]["location_approximate"] is True
    assert city.cases.get(case_id).lat is None  # the case keeps what the reporter gave
    pin_only = post(client, api_key, city)
    doc = client.get(f"/open311/v2/requests/{pin_only}.json").json()[0]
    assert doc["address"] and city.profile.name in doc["address"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_errors_carry_the_http_status_as_their_code(
    client: TestClient, api_key: str, city: City, fmt: str
) -> None:
    cases = [
        (form("c311.kbad.secret", city), 403),
        (form(api_key, city, service_code="99999"), 404),
        (form(api_key, city, service_code=None), 400),
        (form(api_key, city, lat=None, long=None), 400),
        (form(api_key, city, **{"attribute[condition]": None}), 400),
        (form(api_key, city, jurisdiction_id="atlantis"), 404),
    ]
    for body, status in cases:
        r = client.post(f"/open311/v2/requests.{fmt}", data=body)
        assert r.status_code == status, (body, r.text)
        if fmt == "json":
            valid(r.json(), S.ERRORS)
            assert {e["code"] for e in r.json()} == {status}
        else:
            root = xml(r.text)
            assert root.tag == "errors"
            assert {e.findtext("code") for e in root.findall("error")} == {str(status)}


def test_several_problems_come_back_as_several_errors(client: TestClient, api_key: str, city: City) -> None:
    body = form(api_key, city, lat="abc", description="x" * 4001, **{"attribute[condition]": "42"})
    r = client.post("/open311/v2/requests.json", data=body)
    assert r.status_code == 400
    assert len(r.json()) == 3
    r = client.post("/open311/v2/requests.json", data=body, params={"locale": "en"})
    assert all("必须" not in e["description"] for e in r.json())


def test_unknown_format_is_404(client: TestClient) -> None:
    r = client.get("/open311/v2/services.html")
    assert r.status_code == 404
    assert xml(r.text).tag == "errors"


def test_xml_never_carries_characters_xml_cannot_hold(client: TestClient, api_key: str, city: City) -> None:
    post(client, api_key, city, description="bell\x07 and nul-free text")
    root = xml(client.get("/open311/v2/requests.xml").text)
    assert root.findtext("request/description") == "bell and nul-free text"


def test_jurisdiction_id_selects_the_city(
    city: City, accounts: AccountService, photos: Any, api_key: str, backend: Any
) -> None:
    from civicloop.bootstrap import init_city

    other = init_city("taiyuan", engine=backend[1], city_id=city.id + "b")
    _, other_key = AccountService(other.engine, other.id).create_api_key()
    app = create_app(city, accounts=accounts, photos=photos, more_cities=[other])
    with TestClient(app) as client:
        mine = post(client, api_key, city)
        theirs = client.post("/open311/v2/requests.json", data=form(other_key, other)).json()[0]
        assert client.post("/open311/v2/requests.json", data=form(api_key, other)).status_code == 403
        for jurisdiction, expected in ((city.id, [mine]), (other.id, [theirs["service_request_id"]])):
            got = client.get("/open311/v2/requests.json", params={"jurisdiction_id": jurisdiction}).json()
            assert ids_of(got) == expected
        assert other.cases.get(theirs["service_request_id"]).channel.value == "open311"
