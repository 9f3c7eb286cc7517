"""Probe finding (issue 18, medium): full-width characters got past masking. Numbers typed with a
Chinese input method (full-width digits, ＠ and ．) or with separators inside them were shown unmasked in
``requests/{id}.json`` and on the public tracking page. Masking now matches on the NFKC form and
allows separators inside a number (services/privacy.py)."""

from __future__ import annotations

import unicodedata

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from civicloop.cases.privacy import mask_text
from civicloop.city.service import City
from tests.api.helpers import form

FULL = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
PROBE = [
    ("１３９８７６５４３２６", "139****4326"),
    ("１３９-８７６５-４３２９", "139****4329"),
    ("１３９－８７６５－４３２９", "139****4329"),  # full-width hyphens
    ("ａｂ＠ｅｘ．ｏｒｇ", "a***@ex.org"),
    ("１４０１０５１９９００１０１１２３Ｘ", "140105********123X"),
    ("140105 19900101 123X", "140105********123X"),  # an ID number split by spaces
    ("1401-0519-9001-0112-34", "140105********1234"),
    ("139 8765 4326", "139****4326"),
    ("139.8765.4326", "139****4326"),
    ("１３９　８７６５　４３２６", "139****4326"),  # ideographic spaces
    ("+86 139-8765-4326", "139****4326"),
    ("０３５１－７６５４３２１", "0351-****4321"),
]


@pytest.mark.parametrize(("raw", "masked"), PROBE)
def test_full_width_and_separated_numbers_are_masked(raw: str, masked: str) -> None:
    assert (
        mask_text(f"请联系{raw}，谢谢！") == f"请联系{masked}，谢谢！"
    )  # the text around keeps its own form


def test_text_without_numbers_keeps_its_full_width_punctuation() -> None:
    text = "坞城路（东侧）：垃圾成堆，２处！"
    assert mask_text(text) == text


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["", " ", "-", "　", "－", " - "]),
    st.booleans(),
)
def test_no_mobile_number_survives_in_any_width_or_grouping(number: str, sep: str, full: bool) -> None:
    typed = f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    if full:
        typed = typed.translate(FULL)
    assert mask_text(f"电话{typed}。") == f"电话{number[:3]}****{number[7:]}。"


def test_public_views_mask_the_probes_strings(client: TestClient, api_key: str, city: City) -> None:
    description = "；".join(raw for raw, _ in PROBE)
    r = client.post("/open311/v2/requests.json", data=form(api_key, city, description=description))
    assert r.status_code == 200, r.text
    case_id = r.json()[0]["service_request_id"]
    bodies = [
        client.get(f"/open311/v2/requests/{case_id}.json").json()[0]["description"],
        client.get(f"/api/v1/public/track/{case_id}").json()["description"],
    ]
    for body in bodies:
        for raw, masked in PROBE:
            assert raw not in body and masked in body, (raw, body)
        digits = "".join(c for c in unicodedata.normalize("NFKC", body) if c.isdigit())
        for secret in ("98765", "19900101", "0112"):
            assert secret not in digits, body
