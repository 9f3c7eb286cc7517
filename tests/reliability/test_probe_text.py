"""Probe finding (issue 18, low): terminal and bidi control characters were stored. A description with
``ESC [31m``, BEL or U+202E (right-to-left override) reached ``civicloop case show`` and the JSON raw.
Now control characters other than newline and tab are removed where text enters (the HTTP bodies, the
Open311 form, and every free-text field of a command: domain/text.py), bidi overrides neutralised."""

from __future__ import annotations

import unicodedata

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from civicloop.city.service import City
from civicloop.kernel.text import clean_text
from tests.reliability.test_hostile import open311

HOSTILE = "垃圾\x1b[31m成堆\x07\u202egpj.exe\u2066 \x9b2J\r\n第二行\t制表\x7f"
CLEAN = "垃圾[31m成堆gpj.exe 2J\n第二行\t制表"


def test_control_characters_go_newline_and_tab_stay() -> None:
    assert clean_text(HOSTILE) == CLEAN
    assert clean_text("plain text") == "plain text"
    assert clean_text("a\rb\u2028c") == "a\nb\nc"
    assert clean_text("עברית\u200fabc") == "עברית\u200fabc"  # a plain direction mark stays


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_clean_text_leaves_no_control_or_override_character(text: str) -> None:
    out = clean_text(text)
    assert all(c in "\n\t" or unicodedata.category(c) != "Cc" for c in out)
    assert not set(out) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\r")
    assert clean_text(out) == out


def test_every_intake_stores_the_text_clean(
    client: TestClient, headers: dict[str, dict[str, str]], api_key: str, sqlite_city: City
) -> None:
    staff = client.post(
        "/api/v1/cases",
        headers=headers["inspector"],
        json={
            "category_code": "06010",
            "lon": 112.593,
            "lat": 37.723,
            "description": HOSTILE,
            "note": HOSTILE,
        },
    )
    assert staff.status_code == 201, staff.text
    public = client.post(
        "/api/v1/public/reports", json={"description": HOSTILE, "lon": 112.593, "lat": 37.723}
    )
    assert public.status_code == 201, public.text
    o = client.post("/open311/v2/requests.json", data=open311(api_key, description=HOSTILE))
    assert o.status_code == 200, o.text
    ids = [staff.json()["case_id"], public.json()["tracking_number"], o.json()[0]["service_request_id"]]
    for case_id in ids:
        state = sqlite_city.cases.get(case_id)
        assert state.description == CLEAN, (case_id, state.description)
        shown = client.get(f"/open311/v2/requests/{case_id}.json").text
        assert "\\u001b" not in shown and "\\u202e" not in shown.lower() and "\u202e" not in shown
    detail = client.get(f"/api/v1/cases/{ids[0]}", headers=headers["operator"]).json()
    assert all(e["note"] in (None, CLEAN) for e in detail["timeline"]), detail["timeline"]
