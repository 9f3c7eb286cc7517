"""The citizen's follow-up (issue 17): tracking token, 回访 ratings and their refusals, the shift leader's
review, progress updates in the outbox and their delivery (SMTP against a local aiosmtpd server)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicloop.cases.service import CaseQuery
from civicloop.city.service import City
from civicloop.followup.service import (
    Courier,
    LoggingSms,
    SmtpSender,
    SmtpSettings,
    courier_enabled,
    updates,
)
from civicloop.kernel.vocabulary import Action, Stage
from tests.web.helpers import DISPATCHER, INSPECTOR, OPERATOR, SHIFT_LEADER, free_port, move, point_in

SANITATION = "ty-sanitation"


def submit(client: TestClient, city: City, **extra: Any) -> dict[str, Any]:
    lon, lat, _ = point_in(city, "140105")
    body = {"description": "小区门口垃圾成堆", "lon": lon, "lat": lat, "category_code": "06010", **extra}
    r = client.post("/api/v1/public/reports", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def close(city: City, case_id: str) -> None:
    at = datetime.now(UTC)
    steps = [
        (Action.ACCEPT, OPERATOR, {"verify": False}),
        (Action.FILE, SHIFT_LEADER, {}),
        (Action.DISPATCH, DISPATCHER, {"department_id": SANITATION}),
    ]
    move(city, case_id, steps, at)
    dept = dataclasses.replace(INSPECTOR, id="dept-web", role=type(INSPECTOR.role)("department"))
    dept = dataclasses.replace(dept, department_id=SANITATION)
    move(city, case_id, [(Action.HANDLE, dept, {"note": "已清运", "photos": ["after.jpg"]})], at)
    move(city, case_id, [(Action.SEND_CHECK, OPERATOR, {})], at)
    move(city, case_id, [(Action.CHECK, INSPECTOR, {"passed": True, "photos": ["check.jpg"]})], at)
    move(city, case_id, [(Action.CLOSE, SHIFT_LEADER, {})], at)
    assert city.cases.get(case_id).stage is Stage.CLOSED


def rate(client: TestClient, case_id: str, token: str | None, rating: str, **headers: str) -> Any:
    h = dict(headers)
    if token:
        h["X-Tracking-Token"] = token
    return client.post(f"/api/v1/public/track/{case_id}/feedback", json={"rating": rating}, headers=h)


def test_feedback_needs_the_token_a_closed_case_and_one_rating_per_closure(
    client: TestClient, city: City, auth: dict[str, dict[str, str]]
) -> None:
    receipt = submit(client, city, email="zhang@example.org", phone="13912345678")
    case_id, token = receipt["tracking_number"], receipt["tracking_token"]
    assert token and token in receipt["track_url"]
    other = submit(client, city, description="另一处垃圾成堆了")
    assert rate(client, case_id, token, "satisfied").status_code == 409  # not closed yet
    close(city, case_id)
    bad = client.post(
        f"/api/v1/public/track/{case_id}/feedback",
        json={"rating": "great"},
        headers={"X-Tracking-Token": token, "Accept-Language": "en"},
    )
    assert bad.status_code == 422 and "rating" in bad.text
    assert rate(client, case_id, other["tracking_token"], "satisfied").status_code == 403  # someone else
    assert rate(client, case_id, None, "satisfied").status_code == 403
    assert city.cases.get(case_id).feedback_raters == ()  # nothing stored by the refusals
    ok = rate(client, case_id, token, "dissatisfied")
    assert ok.status_code == 201, ok.text
    assert ok.json()["review"] is True
    again = rate(client, case_id, token, "satisfied", **{"Accept-Language": "en"})
    assert again.status_code == 409 and "twice" in again.text
    # the hotline operator entering the same reporter's answer is the same rater: refused too
    assert rate(client, case_id, None, "satisfied", **auth["operator"]).status_code == 409
    [event] = [e for e in city.cases.timeline(case_id) if e.action is Action.FEEDBACK]
    assert event.data["rating"] == "dissatisfied" and event.data["closure"] == 1
    # 不满意 → the shift leader's queue (reopen or confirm)
    queue = client.get("/api/v1/queues/mine", headers=auth["shift_leader"]).json()["items"]
    [item] = [i for i in queue if i["case_id"] == case_id]
    assert {"reopen", "confirm_closure"} <= set(item["allowed_actions"])
    r = client.post(f"/api/v1/cases/{case_id}/actions/confirm_closure", json={}, headers=auth["shift_leader"])
    assert r.status_code == 200, r.text
    queue = client.get("/api/v1/queues/mine", headers=auth["shift_leader"]).json()["items"]
    assert case_id not in {i["case_id"] for i in queue}
    track = client.get(f"/api/v1/public/track/{case_id}").text
    assert "13912345678" not in track and "zhang@example.org" not in track


def test_an_operator_enters_a_phone_answer_and_reopen_mode_reopens(
    client: TestClient, city: City, auth: dict[str, dict[str, str]]
) -> None:
    case_id = submit(client, city, phone="13912345678")["tracking_number"]
    close(city, case_id)
    r = rate(client, case_id, None, "basically_satisfied", **auth["operator"])
    assert r.status_code == 201 and r.json()["review"] is False
    assert rate(client, case_id, None, "satisfied", **auth["dispatcher"]).status_code == 403
    second = submit(client, city, phone="13912345679")
    close(city, second["tracking_number"])
    city.profile.public.__dict__["dissatisfied"] = "reopen"
    try:
        r = rate(client, second["tracking_number"], second["tracking_token"], "dissatisfied")
    finally:
        city.profile.public.__dict__["dissatisfied"] = "review"
    assert r.status_code == 201 and r.json()["reopened"] is True
    state = city.cases.get(second["tracking_number"])
    assert state.stage is Stage.FILED and state.feedback_raters == ()


@pytest.fixture
def smtp() -> Iterator[tuple[str, int, list[Any]]]:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, received
    finally:
        controller.stop()


def test_progress_updates_go_out_by_email_and_sms_and_a_failure_is_retried(
    client: TestClient, city: City, smtp: tuple[str, int, list[Any]]
) -> None:
    host, port, received = smtp
    assert courier_enabled({"CIVICLOOP_SMTP_HOST": host}) and not courier_enabled({})
    case_id = submit(client, city, email="li@example.org", phone="13912345678")["tracking_number"]
    close(city, case_id)
    rows = updates(city, [case_id])
    kinds = [u["kind"] for u in rows]
    assert kinds.count("progress") >= 4 and kinds[-1] == "outcome"  # accept … handle, then the outcome
    broken = Courier(city, email=SmtpSender(SmtpSettings("127.0.0.1", 1, timeout=2)), sms=LoggingSms())
    assert broken.deliver_due()["failed"] == len(rows)  # the SMTP server is not there: kept for later
    assert broken.deliver_due()["failed"] == 0  # not due again yet (back-off)
    sms = LoggingSms()
    later = datetime.now(UTC) + timedelta(hours=1)
    courier = Courier(city, email=SmtpSender(SmtpSettings(host, port)), sms=sms, clock=lambda: later)
    assert courier.deliver_due() == {"sent": len(rows), "failed": 0}
    assert len(received) == len(rows) and all(e.rcpt_tos == ["li@example.org"] for e in received)
    assert case_id in received[0].content.decode()
    assert len(sms.sent) == len(rows) and sms.sent[0][0] == "13912345678"
    assert courier.deliver_due() == {"sent": 0, "failed": 0}
    track = client.get(f"/api/v1/public/track/{case_id}").json()
    assert len(track["updates"]) == len(rows) and all(u["sent"] for u in track["updates"])


def test_nearby_open_reports_and_joining_one(client: TestClient, city: City) -> None:
    first = submit(client, city, phone="13912345678", name="张三")
    lon, lat, _ = point_in(city, "140105")
    r = client.get("/api/v1/public/nearby", params={"lon": lon, "lat": lat, "category": "06010"})
    assert r.status_code == 200, r.text
    [hit] = r.json()["results"]
    assert hit["tracking_number"] == first["tracking_number"] and hit["distance_m"] < 1
    assert "13912345678" not in r.text and "张三" not in r.text
    other = client.get("/api/v1/public/nearby", params={"lon": lon, "lat": lat, "category": "01001"})
    assert other.json()["results"] == []
    joined = client.post(
        f"/api/v1/public/reports/{first['tracking_number']}/join", json={"email": "wang@example.org"}
    )
    assert joined.status_code == 201, joined.text
    member = joined.json()["tracking_number"]
    assert joined.json()["joined"] == first["tracking_number"] and joined.json()["tracking_token"]
    assert city.cases.get(member).duplicate_of == first["tracking_number"]
    assert member in city.cases.get(first["tracking_number"]).cluster_members
    # the joiner hears the master's progress, and rates the master with their own token
    close(city, first["tracking_number"])
    assert any(u["kind"] == "progress" for u in updates(city, [member]))
    r = rate(client, member, joined.json()["tracking_token"], "satisfied")
    assert r.status_code == 201 and r.json()["case"] == first["tracking_number"]
    assert rate(client, first["tracking_number"], first["tracking_token"], "satisfied").status_code == 201
    assert client.post(f"/api/v1/public/reports/{member}/join", json={}).status_code == 409
    nearby = client.get("/api/v1/public/nearby", params={"lon": lon, "lat": lat, "category": "06010"})
    assert nearby.json()["results"] == []  # closed reports are not offered


def test_bad_input_is_refused_in_the_users_language_and_nothing_is_stored(
    client: TestClient, city: City
) -> None:
    from civicloop.demo.geography import load_demo_geography

    load_demo_geography(city, with_components=False, with_duty_grids=False)
    en = {"Accept-Language": "en"}
    outside = {"lon": 121.47, "lat": 31.23, "category": "06010"}
    r = client.get("/api/v1/public/nearby", params=outside, headers=en)
    assert r.status_code == 422 and r.json()["error"]["field"] in ("lon", "lat")
    body = {"description": "上海的垃圾", "lon": 121.47, "lat": 31.23}
    r = client.post("/api/v1/public/reports", json=body, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 422 and r.json()["error"]["message"] == r.json()["error"]["message_zh"]
    big = client.post(
        "/api/v1/public/photos", files={"file": ("a.jpg", b"\xff\xd8" + b"0" * 10_500_000, "image/jpeg")}
    )
    assert big.status_code == 413
    text = client.post(
        "/api/v1/public/photos", files={"file": ("a.txt", b"not an image", "text/plain")}, headers=en
    )
    assert text.status_code == 415 and text.json()["error"]["message"] == text.json()["error"]["message_en"]
    assert city.cases.search(CaseQuery(limit=5)) == []  # nothing stored by any of it


def test_a_citizen_photo_is_stored_without_its_gps_position(client: TestClient, city: City) -> None:
    import io

    from PIL import Image

    img = Image.new("RGB", (64, 48), (10, 120, 40))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (37.0, 51.0, 30.0), 3: "E", 4: (112.0, 33.0, 0.0)}
    raw = io.BytesIO()
    img.save(raw, "JPEG", exif=exif.tobytes())
    r = client.post("/api/v1/public/photos", files={"file": ("p.jpg", raw.getvalue(), "image/jpeg")})
    assert r.status_code == 201, r.text
    stored = client.get(f"/api/v1/photos/{r.json()['ref']}")
    assert stored.status_code == 200
    with Image.open(io.BytesIO(stored.content)) as back:
        assert not back.getexif() and back.size == (64, 48)
    receipt = submit(client, city, photos=[r.json()["ref"]])
    track = client.get(f"/api/v1/public/track/{receipt['tracking_number']}").json()
    assert track["photos"] and track["photos"][0].endswith(r.json()["ref"])


def test_a_local_mbtiles_file_is_served_as_the_base_map(client: TestClient, tmp_path: Any) -> None:
    import sqlite3

    from civicloop.web import WebSettings
    from civicloop.web.tiles import MBTiles
    from tests.web.helpers import image_bytes

    path = tmp_path / "city.mbtiles"
    png = image_bytes()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        conn.execute("CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)")
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "city"), ("format", "png")])
        conn.execute("INSERT INTO tiles VALUES (1, 1, 1, ?)", (png,))  # TMS row 1 = XYZ y 0 at zoom 1
    settings = WebSettings.from_env({"CIVICLOOP_MAP_MBTILES": str(path)})
    assert [t.url for t in settings.tiles] == ["/tiles/{z}/{x}/{y}.png"]
    client.app.state.civicloop_web.mbtiles = MBTiles(settings.mbtiles or "")  # type: ignore[attr-defined]
    r = client.get("/tiles/1/1/0.png")
    assert r.status_code == 200 and r.content == png and r.headers["content-type"] == "image/png"
    assert client.get("/tiles/1/1/1.png").status_code == 404  # not in the file
    assert client.get("/tiles/1/5/0.png").status_code == 404  # not on the zoom level at all
    with pytest.raises(ValueError, match="MBTILES"):
        MBTiles(tmp_path / "missing.mbtiles")
