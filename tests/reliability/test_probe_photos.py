"""Probe findings (issue 18, low): a 10000 × 10000 PNG of a few hundred kilobytes was accepted from
anyone (the cap was 120 MP), a truncated 40-byte PNG was accepted (only its magic bytes were checked),
and an 11 MB Open311 ``media`` part was dropped silently (200, ``media_url: null``). Every upload now goes
through one check (adapters/images.py): Pillow ``verify`` and a decode, at most 40 MP by default
(configurable), 413 when too large."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.http import ApiSettings
from civicloop.photos.check import DEFAULT_MAX_PIXELS, PhotoLimits, PhotoRefused, check_photo
from civicloop.photos.store import LocalPhotoStore
from tests.reliability.conftest import make_client
from tests.reliability.test_hostile import open311, refusal
from tests.support.images import image


def huge_png() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, "PNG")
    return buf.getvalue()


def stored(photos: LocalPhotoStore) -> list[Path]:
    return [p for p in photos.root.rglob("ph_*")] if photos.root.exists() else []


def test_a_100_megapixel_png_is_refused_everywhere(
    client: TestClient, headers: dict[str, dict[str, str]], api_key: str, photos: LocalPhotoStore
) -> None:
    data = huge_png()
    assert len(data) < 400_000
    staff = client.post("/api/v1/photos", headers=headers["inspector"], files={"file": ("a.png", data)})
    public = client.post("/api/v1/public/photos", files={"file": ("a.png", data)})
    for r in (staff, public):
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "image_too_large" and refusal(r)[0] == "file"
        assert "10000×10000" in refusal(r)[1] and "40 megapixels" in refusal(r)[1]
    o = client.post("/open311/v2/requests.json", data=open311(api_key), files={"media": ("a.png", data)})
    assert o.status_code == 413 and "media" in refusal(o)[1], o.text
    assert stored(photos) == []


@pytest.mark.parametrize("kind", ["png", "jpg", "webp"])
def test_truncated_and_damaged_images_are_refused(
    client: TestClient, headers: dict[str, dict[str, str]], api_key: str, photos: LocalPhotoStore, kind: str
) -> None:
    good = image(kind, 64, 48)
    damaged = [good[:40], good[: len(good) // 2]]
    if kind == "png":  # one flipped byte inside the pixel data: the chunk's checksum no longer matches
        broken = bytearray(good)
        broken[good.index(b"IDAT") + 8] ^= 0xFF
        damaged.append(bytes(broken))
    for data in damaged:
        staff = client.post(
            "/api/v1/photos", headers=headers["inspector"], files={"file": (f"a.{kind}", data)}
        )
        assert staff.status_code == 422, (len(data), staff.text)
        assert staff.json()["error"]["code"] == "invalid_image" and refusal(staff)[0] == "file"
        public = client.post("/api/v1/public/photos", files={"file": (f"a.{kind}", data)})
        assert public.status_code == 422 and refusal(public)[0] == "file"
        o = client.post("/open311/v2/requests.json", data=open311(api_key), files={"media": ("a", data)})
        assert o.status_code == 400 and "media" in refusal(o)[1], o.text
    assert stored(photos) == []
    fine = client.post("/api/v1/public/photos", files={"file": (f"a.{kind}", good)})
    assert fine.status_code == 201, fine.text


def test_an_oversize_open311_media_part_is_a_413_and_stores_nothing(
    client: TestClient, api_key: str, photos: LocalPhotoStore
) -> None:
    before = client.get("/open311/v2/requests.json").json()
    big = image("jpg") + b"\x00" * (11 * 1024 * 1024)
    r = client.post("/open311/v2/requests.json", data=open311(api_key), files={"media": ("big.jpg", big)})
    assert r.status_code == 413, r.text
    assert "media" in refusal(r)[1] and str(10 * 1024 * 1024) in refusal(r)[1]
    assert client.get("/open311/v2/requests.json").json() == before
    assert stored(photos) == []


def test_the_pixel_cap_is_configurable(
    sqlite_city: City, accounts: AccountService, photos: LocalPhotoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ApiSettings().max_photo_pixels == DEFAULT_MAX_PIXELS == 40_000_000
    monkeypatch.setenv("CIVICLOOP_MAX_PHOTO_PIXELS", "100")
    settings = ApiSettings()
    assert settings.max_photo_pixels == 100
    with make_client(sqlite_city, accounts, photos, settings) as c:
        assert (
            c.post("/api/v1/public/photos", files={"file": ("a.png", image("png", 10, 10))}).status_code
            == 201
        )
        r = c.post("/api/v1/public/photos", files={"file": ("a.png", image("png", 10, 11))})
        assert r.status_code == 413 and "0.0001 megapixels" in refusal(r)[1], r.text
    limits = PhotoLimits(max_bytes=1000, max_pixels=10**6)
    with pytest.raises(PhotoRefused) as refused:
        check_photo(b"\xff\xd8\xff" + b"\x00" * 1000, limits)
    assert refused.value.status == 413 and refused.value.code == "payload_too_large"
