"""Property-based fuzz over every public endpoint's parameters (issue 18): whatever an anonymous client
sends — dates at the limits of ``datetime``, full-width digits, control and bidi characters, huge and
non-finite numbers, hostile redirect targets, damaged images — the answer is never a 5xx, and a 4xx
stores nothing: no row in any table, no photo file.

The endpoints are the ``PUBLIC`` entries of the authorization table (tests/reliability/test_access.py),
so a new public endpoint fails :func:`test_every_public_endpoint_is_fuzzed` until it is fuzzed here.
``CIVICLOOP_PROBE_EXAMPLES`` (default 30) examples per endpoint (more for the deep ones), and a deterministic
sweep of every parameter through fixed edge values, so the probe's own values are always tried.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, inspect, select, table

from civicloop.city.service import City
from civicloop.photos.store import LocalPhotoStore
from tests.reliability.test_access import POLICY, PUBLIC
from tests.reliability.test_hostile import bomb
from tests.reliability.test_parsers import NUMBERS, ODD, form_pairs
from tests.support.images import image

EXAMPLES = int(os.environ.get("CIVICLOOP_PROBE_EXAMPLES", "30"))
DATES = [
    "9999-12-30T00:00:00Z",
    "0001-03-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-03-02T09:15:00+08:00",
    "2026-03-02T09:15:00 08:00",
    "2026-03-02",
    "２０２６-03-02T09:15:00Z",
    "2026-02-30T00:00:00Z",
]
REDIRECTS = ["/\\evil.example/x", "/\t/evil.example", "//evil.example", "https://evil.example", "/workspace"]
TEXTS = [
    "垃圾\x1b[31m成堆\x07",
    "\u202egpj.exe",
    "１３９８７６５４３２６",
    "ａｂ＠ｅｘ．ｏｒｇ",
    "a\r\nb",
    "9" * 5000,
    "[[[[[[",
    '{"a": 1}',
]
hostile = st.one_of(
    st.text(max_size=30),
    st.sampled_from([*NUMBERS, *ODD, *DATES, *REDIRECTS, *TEXTS]),
    st.integers().map(str),
)
number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-500, max_value=500),
    st.sampled_from([37.723, 112.593]),
)
fmt = st.one_of(  # mostly a format the endpoint serves, so the request reaches its parameters
    st.sampled_from(["json", "xml"]), st.sampled_from(["json", "xml"]), st.sampled_from(["html", "JSON", ""])
)


def _png_text(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("1", size).save(buf, "PNG")
    return buf.getvalue()


UPLOADS = st.sampled_from(
    [
        image("jpg"),
        image("png"),
        image("webp"),
        image("gif"),
        image("png")[:40],
        image("jpg")[:100],
        bomb("png", 100_000, 100_000),
        bomb("jpg", 9000, 9000),
        b"",
        b"<svg onload=alert(1)/>",
        b"\xff\xd8\xff" + b"\x00" * 64,
    ]
)


def seg(value: str) -> str:
    """A path segment as a client would quote it (a '/' stays inside the segment)."""
    return quote(value, safe="") or "x"


@dataclass
class Call:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: Any = None
    files: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def params(draw: Any, names: dict[str, Any]) -> dict[str, Any]:
    """One parameter in focus, with the endpoint's own edge values or anything hostile, and at most one
    other: one bad value among many would be refused first and hide what the others reach."""
    if not names or not draw(st.integers(0, 7)):
        return {}
    focus = draw(st.sampled_from(sorted(names)))
    chosen = {focus: draw(st.one_of(names[focus], names[focus], hostile))}
    other = draw(st.sampled_from(sorted(names)))
    if other != focus and draw(st.booleans()):
        chosen[other] = draw(names[other])
    return chosen


def open311_get(path: Callable[[Any], str], names: dict[str, Any]) -> Callable[[Any, str], Call]:
    def build(draw: Any, api_key: str) -> Call:
        names_ = {
            "jurisdiction_id": st.sampled_from(["taiyuan", "atlantis"]),
            "locale": st.sampled_from(["en", "zh-CN"]),
        }
        return Call("GET", path(draw), params=params(draw, {**names_, **names}))

    return build


def post_requests(draw: Any, api_key: str) -> Call:
    """Mostly a client's valid body with a few hostile values in front (the first value of a key is the
    one that counts), sometimes a random one; half with a valid key, half with an upload."""
    base = [("service_code", "06010"), ("attribute[condition]", "1"), ("lat", "37.723"), ("long", "112.593")]
    hostile_pairs = draw(form_pairs())[: draw(st.integers(0, 3))]
    if draw(st.booleans()):
        hostile_pairs.insert(0, ("attribute[observed_at]", draw(st.sampled_from(DATES))))
    pairs = [*hostile_pairs, *base] if draw(st.integers(0, 3)) else draw(form_pairs())
    pairs = [(k, v) for k, v in pairs if k != "api_key"]
    if draw(st.integers(0, 3)):
        pairs.append(("api_key", api_key))
    files = [("media", ("m.jpg", draw(UPLOADS)))] if draw(st.booleans()) else None
    form: dict[str, list[str]] = {}
    for k, v in pairs:
        form.setdefault(k, []).append(v)
    return Call("POST", f"/open311/v2/requests.{draw(fmt)}", data=form, files=files)


def login(draw: Any, api_key: str) -> Call:
    if draw(st.booleans()):
        body = {
            "username": draw(st.one_of(st.sampled_from(["operator", "admin"]), hostile)),
            "password": draw(hostile),
        }
        return Call("POST", "/api/v1/auth/login", json=body)
    return Call(
        "POST",
        "/api/v1/auth/login",
        content=draw(st.binary(max_size=64)),
        headers={"content-type": "application/json"},
    )


def public_report(draw: Any, api_key: str) -> Call:
    fields = {
        "description": st.one_of(st.sampled_from(TEXTS), hostile),
        "lon": number,
        "lat": number,
        "crs": st.sampled_from(["wgs84", "gcj02", "bd09"]),
        "category_code": st.sampled_from(["06010", "99999"]),
        "address": hostile,
        "photos": st.lists(
            st.sampled_from(["ph_" + "a" * 22 + ".jpg", "../../etc/passwd", "https://x.example/a.jpg"]),
            max_size=7,
        ),
        "name": hostile,
        "phone": st.sampled_from(["13912345678", "１３９８７６５４３２６", "x" * 40]),
        "extra": hostile,
    }
    body = {
        k: draw(v) for k, v in fields.items() if draw(st.booleans()) or k in ("lon", "lat", "description")
    }
    return Call(
        "POST",
        "/api/v1/public/reports",
        json=body,
        headers={
            "Idempotency-Key": draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60))
        },
    )


ENDPOINTS: dict[tuple[str, str], Callable[[Any, str], Call]] = {
    ("GET", "/open311/v2/discovery.{fmt}"): open311_get(lambda d: f"/open311/v2/discovery.{d(fmt)}", {}),
    ("GET", "/open311/v2/services.{fmt}"): open311_get(lambda d: f"/open311/v2/services.{d(fmt)}", {}),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): open311_get(
        lambda d: f"/open311/v2/services/{seg(d(st.one_of(st.just('06010'), hostile)))}.{d(fmt)}", {}
    ),
    ("POST", "/open311/v2/requests.{fmt}"): post_requests,
    ("GET", "/open311/v2/requests.{fmt}"): open311_get(
        lambda d: f"/open311/v2/requests.{d(fmt)}",
        {
            "start_date": st.sampled_from(DATES),
            "end_date": st.sampled_from(DATES),
            "service_code": st.sampled_from(["06010", "06010,06011", ",,,"]),
            "service_request_id": st.sampled_from(["TY-2026-0000001", "a,b,c"]),
            "status": st.sampled_from(["open", "closed", "open,closed", "pending"]),
            "page": st.integers(-5, 2_000_000).map(str),
            "page_size": st.integers(-5, 5000).map(str),
            "extensions": st.sampled_from(["true", "false", "1"]),
        },
    ),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): open311_get(
        lambda d: f"/open311/v2/requests/{seg(d(hostile))}.{d(fmt)}",
        {"extensions": st.sampled_from(["true"])},
    ),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): open311_get(
        lambda d: f"/open311/v2/tokens/{seg(d(hostile))}.{d(fmt)}", {}
    ),
    ("POST", "/api/v1/auth/login"): login,
    ("GET", "/api/v1/photos/{ref}"): lambda d, k: Call("GET", f"/api/v1/photos/{seg(d(hostile))}"),
    ("GET", "/healthz"): lambda d, k: Call("GET", "/healthz", params=params(d, {"x": hostile})),
    ("GET", "/api/v1/web/config"): lambda d, k: Call(
        "GET", "/api/v1/web/config", params=params(d, {"locale": hostile})
    ),
    ("GET", "/api/v1/geo/areas"): lambda d, k: Call(
        "GET",
        "/api/v1/geo/areas",
        params=params(
            d,
            {
                "level": st.sampled_from(["district", "street", "grid"]),
                "crs": st.sampled_from(["wgs84", "gcj02"]),
            },
        ),
    ),
    ("GET", "/api/v1/geo/grids"): lambda d, k: Call(
        "GET",
        "/api/v1/geo/grids",
        params=params(
            d,
            {
                "bbox": st.lists(number.map(str), max_size=5).map(",".join),
                "crs": st.sampled_from(["wgs84", "gcj02"]),
            },
        ),
    ),
    ("GET", "/api/v1/locate"): lambda d, k: Call(
        "GET",
        "/api/v1/locate",
        params=params(d, {"lon": number, "lat": number, "crs": st.sampled_from(["wgs84", "gcj02"])}),
    ),
    ("GET", "/api/v1/suggest"): lambda d, k: Call(
        "GET",
        "/api/v1/suggest",
        params=params(d, {"text": st.sampled_from(TEXTS), "lon": number, "lat": number, "category": hostile}),
    ),
    ("POST", "/api/v1/public/photos"): lambda d, k: Call(
        "POST", "/api/v1/public/photos", files={"file": ("a.jpg", d(UPLOADS))}
    ),
    ("POST", "/api/v1/public/reports"): public_report,
    ("GET", "/api/v1/public/track/{case_id}"): lambda d, k: Call(
        "GET", f"/api/v1/public/track/{seg(d(hostile))}"
    ),
    ("GET", "/api/v1/cities"): lambda d, k: Call("GET", "/api/v1/cities"),  # no input: the cities served
    ("GET", "/login"): lambda d, k: Call(
        "GET", "/login", params=params(d, {"next": st.sampled_from(REDIRECTS)})
    ),
    # the citizens' follow-up (issue 17): 回访 ratings, nearby reports, joining one
    ("POST", "/api/v1/public/track/{case_id}/feedback"): lambda d, k: Call(
        "POST",
        f"/api/v1/public/track/{seg(d(st.one_of(st.just('TY-2026-0000001'), hostile)))}/feedback",
        json=d(
            st.one_of(
                st.fixed_dictionaries(
                    {"rating": st.one_of(st.sampled_from(["satisfied", "dissatisfied", "great"]), hostile)},
                    optional={"comment": hostile},
                ),
                hostile,
            )
        ),
        headers={
            "X-Tracking-Token": d(st.one_of(st.just("x" * 24), st.from_regex(r"[!-~]{0,80}", fullmatch=True)))
        },
    ),
    ("GET", "/api/v1/public/nearby"): lambda d, k: Call(
        "GET",
        "/api/v1/public/nearby",
        params=params(
            d,
            {
                "lon": number,
                "lat": number,
                "category": st.sampled_from(["06010", "99999"]),
                "crs": st.sampled_from(["wgs84", "gcj02"]),
            },
        ),
    ),
    # the citizen page's address search and reverse lookup (issue 16's geocoder)
    ("GET", "/api/v1/public/geocode"): lambda d, k: Call(
        "GET",
        "/api/v1/public/geocode",
        params=params(d, {"q": st.one_of(st.just("长风街与并州路交叉口"), hostile), "limit": number}),
    ),
    ("GET", "/api/v1/public/reverse"): lambda d, k: Call(
        "GET", "/api/v1/public/reverse", params=params(d, {"lon": number, "lat": number})
    ),
    ("POST", "/api/v1/public/reports/{case_id}/join"): lambda d, k: Call(
        "POST",
        f"/api/v1/public/reports/{seg(d(st.one_of(st.just('TY-2026-0000001'), hostile)))}/join",
        json=d(
            st.one_of(
                st.fixed_dictionaries(
                    {}, optional={"description": hostile, "phone": hostile, "email": hostile}
                ),
                hostile,
            )
        ),
    ),
}


#: Endpoints with many parameters and a store behind them get more examples (× this).
DEEP = {
    ("GET", "/open311/v2/requests.{fmt}"): 3,
    ("POST", "/open311/v2/requests.{fmt}"): 3,
    ("POST", "/api/v1/public/reports"): 2,
}


def test_every_public_endpoint_is_fuzzed() -> None:
    public = {op for op, who in POLICY.items() if who == PUBLIC}
    assert public <= set(ENDPOINTS), public - set(ENDPOINTS)
    assert set(SWEEP) <= set(ENDPOINTS)


def stored(city: City, photos: LocalPhotoStore) -> dict[str, int]:
    """Rows in every table of the database, and photo files on disk."""
    names = inspect(city.engine).get_table_names()
    with city.engine.connect() as conn:
        counts = {n: conn.execute(select(func.count()).select_from(table(n))).scalar_one() for n in names}
    counts["photo files"] = sum(1 for p in photos.root.rglob("ph_*")) if photos.root.exists() else 0
    return counts


@pytest.mark.parametrize("endpoint", list(ENDPOINTS), ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_no_5xx_and_no_stored_row_on_a_4xx(
    client: TestClient, sqlite_city: City, photos: LocalPhotoStore, api_key: str, endpoint: tuple[str, str]
) -> None:
    build = ENDPOINTS[endpoint]

    @given(st.data())
    @settings(
        max_examples=EXAMPLES * DEEP.get(endpoint, 1),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(data: Any) -> None:
        call = build(data.draw, api_key)
        before = stored(sqlite_city, photos)
        r = client.request(
            call.method,
            call.url,
            params=call.params or None,
            json=call.json,
            data=call.data,
            files=call.files,
            content=call.content,
            headers=call.headers or None,
            follow_redirects=False,
        )
        assert r.status_code < 500, (call, r.status_code, r.text[:300])
        if 400 <= r.status_code < 500:
            after = stored(sqlite_city, photos)
            changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            assert not changed, (call, r.status_code, r.text[:300], changed)

    check()


#: Every query parameter of the public GET endpoints, and the form fields of the Open311 POST, each swept
#: alone through the fixed edge values (deterministic: the probe's values are always tried).
SWEEP: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("GET", "/open311/v2/discovery.{fmt}"): ("/open311/v2/discovery.json", ["jurisdiction_id", "locale"]),
    ("GET", "/open311/v2/services.{fmt}"): ("/open311/v2/services.xml", ["jurisdiction_id", "locale"]),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): ("/open311/v2/services/06010.json", ["locale"]),
    ("GET", "/open311/v2/requests.{fmt}"): (
        "/open311/v2/requests.json",
        [
            "start_date",
            "end_date",
            "service_code",
            "service_request_id",
            "status",
            "page",
            "page_size",
            "extensions",
            "jurisdiction_id",
            "locale",
        ],
    ),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): (
        "/open311/v2/requests/x.xml",
        ["extensions"],
    ),
    ("GET", "/api/v1/geo/areas"): ("/api/v1/geo/areas", ["level", "crs"]),
    ("GET", "/api/v1/geo/grids"): ("/api/v1/geo/grids", ["bbox", "crs"]),
    ("GET", "/api/v1/locate"): ("/api/v1/locate", ["lon", "lat", "crs"]),
    ("GET", "/api/v1/suggest"): ("/api/v1/suggest", ["text", "lon", "lat", "category"]),
    ("GET", "/login"): ("/login", ["next"]),
    ("POST", "/open311/v2/requests.{fmt}"): (
        "/open311/v2/requests.json",
        [
            "attribute[observed_at]",
            "lat",
            "long",
            "description",
            "address_string",
            "email",
            "phone",
            "attribute[quantity]",
            "media_url",
        ],
    ),
}
EDGES = [*DATES, *REDIRECTS[:3], *TEXTS, *NUMBERS[:6], *ODD, "1,2,3,4"]


@pytest.mark.parametrize("endpoint", list(SWEEP), ids=[f"{m} {p}" for m, p in SWEEP])
def test_every_parameter_meets_every_edge_value(
    client: TestClient, sqlite_city: City, photos: LocalPhotoStore, api_key: str, endpoint: tuple[str, str]
) -> None:
    url, names = SWEEP[endpoint]
    base = {"api_key": api_key, "service_code": "06010", "attribute[condition]": "1", "lat": "37.723"}
    base["long"] = "112.593"
    before = stored(sqlite_city, photos)
    for name in names:
        for value in EDGES:
            if endpoint[0] == "GET":
                r = client.get(url, params={name: value}, follow_redirects=False)
            else:
                r = client.post(url, data={**base, name: value})
            assert r.status_code < 500, (endpoint, name, value, r.status_code, r.text[:300])
            after = stored(sqlite_city, photos)
            if 400 <= r.status_code < 500:
                assert after == before, (endpoint, name, value, r.text[:300])
            before = after
