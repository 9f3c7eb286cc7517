"""The web endpoints without a browser: screen data, scope, live polling, geography, triage, public."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.geo.crs import wgs84_to_gcj02
from civicloop.kernel.vocabulary import Action, Role
from civicloop.web import WebSettings, WebState
from tests.web.helpers import (
    DISPATCHER,
    INSPECTOR,
    OPERATOR,
    SHIFT_LEADER,
    image_bytes,
    move,
    point_in,
    report,
)

SANITATION = "ty-sanitation"


def web(client: TestClient) -> WebState:
    state: WebState = client.app.state.civicloop_web  # type: ignore[attr-defined]
    return state


def dispatched(
    city: City,
    at: datetime,
    department: str = SANITATION,
    step: timedelta = timedelta(minutes=5),
    **fields: object,
) -> str:
    lon, lat, codes = point_in(city, "140106")
    case_id = report(city, INSPECTOR, at, lon=lon, lat=lat, **codes, **fields)
    move(
        city,
        case_id,
        [
            (Action.ACCEPT, OPERATOR, {}),
            (Action.FILE, SHIFT_LEADER, {}),
            (Action.DISPATCH, DISPATCHER, {"department_id": department}),
        ],
        at + step,
    )
    return case_id


def test_config_is_public_and_names_the_map(client: TestClient) -> None:
    r = client.get("/api/v1/web/config")
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["city"]["name"] == "太原市"
    assert cfg["map"]["crs"] == "wgs84" and cfg["map"]["tiles"] == []
    w, s, e, n = cfg["map"]["bounds"]
    assert 111 < w < e < 114 and 37 < s < n < 39
    assert any(c["code"] == "06010" for c in cfg["categories"])
    assert cfg["labels"]["stages"]["dispatched"] == {"zh": "处置中", "en": "being handled"}
    assert "department_id" in cfg["actions"]["dispatch"]["required"]


def test_screen_data_needs_a_login(client: TestClient) -> None:
    for path in ("/api/v1/screen/summary", "/api/v1/screen/cases", "/api/v1/stream", "/api/v1/review"):
        assert client.get(path).status_code == 401, path


def test_the_screen_counts_lights_and_respects_scope(
    client: TestClient, city: City, auth: dict[str, dict[str, str]]
) -> None:
    now = datetime.now(UTC)
    mine = dispatched(city, now - timedelta(days=3))  # long overdue: red
    other = dispatched(city, now - timedelta(minutes=20), department="ty-roads")
    fresh = report(city, INSPECTOR, now - timedelta(minutes=1), lon=112.55, lat=37.84)
    summary = client.get("/api/v1/screen/summary", headers=auth["leader"]).json()
    assert summary["open"]["open"] == 3
    assert summary["open"]["lights"]["red"] >= 1
    assert sum(summary["open"]["lights"].values()) == 3
    assert summary["today"]["report"] >= 1
    assert summary["kpi"]["status"] in ("pending", "computing", "ok", "unavailable")
    assert len(summary["trend"]["days"]) == 14
    view = client.get("/api/v1/screen/cases?zoom=14", headers=auth["leader"]).json()
    assert view["mode"] == "points" and {p[0] for p in view["points"]} == {mine, other, fresh}
    red = next(p for p in view["points"] if p[0] == mine)
    assert red[3] == 2  # red
    # a department sees its own cases only, on the map and in the counts
    dept = client.get("/api/v1/screen/cases?zoom=14", headers=auth["department"]).json()
    assert [p[0] for p in dept["points"]] == [mine]
    assert client.get("/api/v1/screen/summary", headers=auth["department"]).json()["open"]["open"] == 1
    # zoomed out over many cases: clusters carry counts by light
    clusters = web(client).hub.index.map_view(None, now.timestamp(), None, 8, max_points=1)
    assert clusters["mode"] == "clusters"
    assert sum(c[2] for c in clusters["clusters"]) == 3
    assert sum(c[3] + c[4] + c[5] + c[6] for c in clusters["clusters"]) == 3


def test_the_poller_delivers_new_events_in_scope(client: TestClient, city: City) -> None:
    hub = web(client).hub
    hub._initialise()  # driven by hand here; in a server its thread polls every 0.5 s
    loop = asyncio.new_event_loop()
    try:
        leader = hub.subscribe(Actor("l", Role.LEADER), loop)
        roads = hub.subscribe(Actor("r", Role.DEPARTMENT, department_id="ty-roads"), loop)
        case_id = dispatched(city, datetime.now(UTC) - timedelta(seconds=5), step=timedelta(seconds=1))
        assert hub.poll() == 4  # report, accept, file, dispatch
        loop.run_until_complete(asyncio.sleep(0))  # deliver call_soon_threadsafe callbacks
        got = leader.queue.get_nowait()
        assert got["type"] == "events"
        assert [e["action"] for e in got["events"]] == ["report", "accept", "file", "dispatch"]
        assert got["events"][0]["case_id"] == case_id and got["events"][-1]["light"] == "green"
        assert "_reporter" not in got["events"][0]
        assert got["stats"]["open"] == 1 and got["stats"]["today"]["dispatch"] == 1
        other = roads.queue.get_nowait()
        assert other["events"] == [] and other["stats"]["open"] == 0  # not its case
        assert hub.poll() == 0  # nothing twice
        assert len(hub.index) == 1
    finally:
        loop.close()


def test_geography_layers_and_locating(client: TestClient, city: City) -> None:
    districts = client.get("/api/v1/geo/areas?level=district").json()
    assert {f["properties"]["code"] for f in districts["features"]} >= {"140105", "140106"}
    gcj = client.get("/api/v1/geo/areas?level=district&crs=gcj02").json()
    a = districts["features"][0]["geometry"]["coordinates"][0][0]
    b = gcj["features"][0]["geometry"]["coordinates"][0][0]
    a = a[0] if isinstance(a[0], list) else a
    b = b[0] if isinstance(b[0], list) else b
    assert 0.001 < abs(a[0] - b[0]) < 0.02  # GCJ-02 is offset by a few hundred metres
    grids = client.get("/api/v1/geo/grids?bbox=112.55,37.83,112.555,37.835").json()
    assert 0 < len(grids["features"]) < 200 and grids["truncated"] is False
    lon, lat, codes = point_in(city, "140105")
    got = client.get(f"/api/v1/locate?lon={lon}&lat={lat}").json()
    assert got["grid_code"] == codes["grid_code"] and got["district_name"] == "小店区"
    far = client.get("/api/v1/locate?lon=100.0&lat=30.0")
    assert far.status_code == 422 and far.json()["error"]["field"] == "lon"


def test_suggestions_for_the_public_and_for_staff(
    client: TestClient, city: City, auth: dict[str, dict[str, str]]
) -> None:
    lon, lat, codes = point_in(city, "140106")
    report(city, INSPECTOR, datetime.now(UTC) - timedelta(minutes=3), lon=lon, lat=lat, **codes)
    q = f"/api/v1/suggest?text=路口垃圾成堆没人清运&lon={lon}&lat={lat}"
    public = client.get(q).json()
    assert public["top"] and public["top"][0]["score"] > 0
    assert "duplicates" not in public  # nothing about other people's cases
    staff = client.get(q + "&category=06010", headers=auth["inspector"]).json()
    assert staff["duplicates"] and staff["duplicates"][0]["reason"]


def test_the_review_queue_carries_triage(
    client: TestClient, city: City, auth: dict[str, dict[str, str]]
) -> None:
    lon, lat, codes = point_in(city, "140106")
    now = datetime.now(UTC)
    first = report(city, INSPECTOR, now - timedelta(minutes=9), lon=lon, lat=lat, **codes)
    second = report(city, INSPECTOR, now - timedelta(minutes=2), lon=lon + 0.0001, lat=lat, **codes)
    r = client.get("/api/v1/review?stage=reported", headers=auth["operator"])
    assert r.status_code == 200
    items = {i["case_id"]: i for i in r.json()["items"]}
    assert set(items) == {first, second}
    t = items[second]["triage"]
    assert items[second]["triage_source"] == "computed"
    assert t["category_code"] == "06010" and t["department_id"]
    assert [d["case_id"] for d in t["duplicates"]] == [first]
    assert client.get("/api/v1/review", headers=auth["department"]).status_code == 403


def test_case_extra_keeps_the_scope(client: TestClient, city: City, auth: dict[str, dict[str, str]]) -> None:
    case_id = dispatched(city, datetime.now(UTC) - timedelta(hours=2))
    ok = client.get(f"/api/v1/web/cases/{case_id}/extra", headers=auth["department"])
    assert ok.status_code == 200
    steps = ok.json()["steps"]
    assert [s["step"] for s in steps] == ["accept", "file", "dispatch", "handle"]
    assert steps[-1]["running"] and steps[-1]["deadline"]
    assert client.get(f"/api/v1/web/cases/{case_id}/extra", headers=auth["roads"]).status_code == 404
    assert client.get(f"/api/v1/cases/{case_id}", headers=auth["roads"]).status_code == 404
    leader = client.get(f"/api/v1/web/cases/{case_id}/extra", headers=auth["leader"]).json()
    assert leader["light"] in ("green", "yellow", "red")


def test_the_worklist_is_enriched(client: TestClient, city: City, auth: dict[str, dict[str, str]]) -> None:
    case_id = dispatched(city, datetime.now(UTC) - timedelta(hours=1), description="井盖旁垃圾")
    items = client.get("/api/v1/web/queue", headers=auth["department"]).json()["items"]
    assert [i["case_id"] for i in items] == [case_id]
    assert items[0]["description"] == "井盖旁垃圾" and "handle" in items[0]["allowed_actions"]


def test_a_citizen_reports_and_tracks_without_personal_data(
    client: TestClient, city: City, auth: dict[str, dict[str, str]]
) -> None:
    lon, lat, _ = point_in(city, "140105")
    photo = client.post("/api/v1/public/photos", files={"file": ("a.png", image_bytes(), "image/png")})
    assert photo.status_code == 201
    body = {
        "description": "小区门口垃圾没人清运，联系我13912345678，身份证140105199001011234",
        "lon": lon,
        "lat": lat,
        "photos": [photo.json()["ref"]],
        "name": "张三",
        "phone": "13912345678",
    }
    first = client.post("/api/v1/public/reports", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    number = first.json()["tracking_number"]
    again = client.post("/api/v1/public/reports", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.json() == first.json() | {"replayed": True, "received_at": again.json()["received_at"]}
    track = client.get(f"/api/v1/public/track/{number}")
    assert track.status_code == 200
    text = track.text
    assert "13912345678" not in text and "张三" not in text and "199001011234" not in text
    assert "139****5678" in track.json()["description"]
    assert track.json()["status"] == "open" and track.json()["notes"][0]["action"] == "report"
    state = city.cases.get(number)
    assert state.channel.value == "citizen" and state.district_code == "140105" and state.category_code
    assert client.get("/api/v1/public/track/TY-2026-9999999").status_code == 404


def test_public_reports_are_rate_limited(client: TestClient, city: City) -> None:
    ws = web(client)
    ws.settings = dataclasses.replace(ws.settings, public_reports_per_hour=2)
    lon, lat, _ = point_in(city, "140105")
    codes = [
        client.post(
            "/api/v1/public/reports", json={"description": f"问题{i}", "lon": lon, "lat": lat}
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]


def test_pages_are_served_with_a_strict_policy(client: TestClient) -> None:
    for path in (
        "/",
        "/screen",
        "/workspace",
        "/login",
        "/cases/TY-2026-0000001",
        "/m/",
        "/public/",
        "/public/track/X",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "<script>" not in r.text  # no inline script anywhere
    sw = client.get("/m/sw.js")
    assert sw.headers["content-type"].startswith("text/javascript") and "{{v}}" not in sw.text
    assert client.get("/m/manifest.webmanifest").json()["start_url"] == "/m/"
    for vendored in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/LICENSE",
        "/static/vendor/echarts/echarts.min.js",
        "/static/vendor/echarts/LICENSE",
    ):
        assert client.get(vendored).status_code == 200, vendored


def test_tiles_and_their_coordinate_system_come_from_the_environment() -> None:
    osm = WebSettings.from_env(
        {
            "CIVICLOOP_MAP_TILES": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "CIVICLOOP_MAP_ATTRIBUTION": "© OSM",
        }
    )
    assert osm.tiles[0].url.endswith("{y}.png") and osm.tiles_crs == "wgs84"
    amap = WebSettings.from_env({"CIVICLOOP_MAP_TILES": "https://x/{z}", "CIVICLOOP_MAP_TILES_CRS": "gcj02"})
    assert amap.tiles_crs == "gcj02"
    tianditu = WebSettings.from_env({"CIVICLOOP_TIANDITU_KEY": "k123"})
    assert [t.url.split("/")[3] for t in tianditu.tiles] == ["vec_w", "cva_w"]
    assert all("tk=k123" in t.url for t in tianditu.tiles) and tianditu.tiles_crs == "wgs84"
    assert WebSettings.from_env({}).tiles == () and not WebSettings.from_env({}).eager
    with pytest.raises(ValueError):
        WebSettings.from_env({"CIVICLOOP_MAP_TILES_CRS": "bd09"})


def test_case_points_follow_the_map_crs(
    client: TestClient, city: City, auth: dict[str, dict[str, str]]
) -> None:
    lon, lat, codes = point_in(city, "140106")
    case_id = report(city, INSPECTOR, datetime.now(UTC), lon=lon, lat=lat, **codes)
    gx, gy = wgs84_to_gcj02(lon, lat)
    box = f"{gx - 0.001},{gy - 0.001},{gx + 0.001},{gy + 0.001}"  # a small box around the GCJ-02 position
    view = client.get(f"/api/v1/screen/cases?zoom=17&crs=gcj02&bbox={box}", headers=auth["leader"]).json()
    [point] = view["points"]
    assert point[0] == case_id and abs(point[1] - gx) < 1e-5 and abs(point[2] - gy) < 1e-5
    wgs = client.get(f"/api/v1/screen/cases?zoom=17&bbox={box}", headers=auth["leader"]).json()
    assert wgs["points"] == []  # the same box read as WGS84 is a few hundred metres off
