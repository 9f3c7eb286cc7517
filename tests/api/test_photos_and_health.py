"""Photo storage (the PhotoStore interface, tested with the disk store), uploads, and /healthz."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.http import ApiSettings, create_app
from civicloop.photos.store import LocalPhotoStore, PhotoStore, S3PhotoStore, is_ref, sniff_image
from tests.support.images import GIF, JPEG, PNG, WEBP


def test_types_come_from_the_bytes() -> None:
    assert sniff_image(JPEG) == "image/jpeg"
    assert sniff_image(PNG) == "image/png"
    assert sniff_image(WEBP) == "image/webp"
    assert sniff_image(GIF) is None
    assert sniff_image(b"<svg/>") is None


class FakeS3:
    """The three calls of boto3's client that S3PhotoStore uses."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        self.objects[(Bucket, Key)] = (Body, ContentType)

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        body, ctype = self.objects[(Bucket, Key)]
        return {"Body": body, "ContentType": ctype}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise KeyError(Key)
        return {}


@pytest.mark.parametrize("kind", ["disk", "s3"])
def test_a_photo_store_keeps_what_it_was_given(tmp_path: Path, kind: str) -> None:
    store: PhotoStore = LocalPhotoStore(tmp_path) if kind == "disk" else S3PhotoStore(FakeS3(), "bucket")
    ref = store.put(PNG, "image/png")
    assert is_ref(ref) and ref.endswith(".png")
    got = store.get(ref)
    assert got is not None and got.data == PNG and got.content_type == "image/png"
    assert store.exists(ref)
    assert store.get("ph_" + "x" * 22 + ".png") is None
    assert store.get("../../etc/passwd") is None and not store.exists("../../etc/passwd")
    assert store.put(PNG, "image/png") != ref


def test_the_disk_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path)
    store.put(JPEG, "image/jpeg")
    assert [p.name for p in tmp_path.rglob(".upload-*")] == []


def test_upload_then_use_the_reference_in_an_action(
    client: TestClient, city: City, headers: dict[str, dict[str, str]]
) -> None:
    r = client.post(
        "/api/v1/photos", headers=headers["inspector"], files={"file": ("x.bin", JPEG, "text/plain")}
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["content_type"] == "image/jpeg" and doc["size"] == len(JPEG)
    assert doc["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert client.get(f"/api/v1/photos/{doc['ref']}").content == JPEG
    body = {"category_code": "06010", "lon": 112.56, "lat": 37.84, "photos": [doc["ref"]]}
    created = client.post("/api/v1/cases", json=body, headers=headers["inspector"])
    assert created.status_code == 201, created.text
    assert created.json()["case"]["photos"] == [doc["ref"]]
    bogus = {**body, "photos": ["ph_" + "A" * 22 + ".jpg"]}
    r = client.post("/api/v1/cases", json=bogus, headers=headers["inspector"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "photos"


def test_uploads_are_checked_for_type_and_size(
    city: City, accounts: AccountService, tmp_path: Path, headers: dict[str, dict[str, str]]
) -> None:
    app = create_app(
        city, accounts=accounts, photos=LocalPhotoStore(tmp_path), settings=ApiSettings(max_photo_bytes=64)
    )
    with TestClient(app) as client:
        h = headers["inspector"]
        r = client.post("/api/v1/photos", headers=h, files={"file": ("a.gif", GIF[:50], "image/gif")})
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
        r = client.post("/api/v1/photos", headers=h, files={"file": ("a.jpg", JPEG, "image/jpeg")})
        assert r.status_code == 413 and r.json()["error"]["field"] == "file"
        assert (
            client.post("/api/v1/photos", files={"file": ("a.jpg", JPEG[:50], "image/jpeg")}).status_code
            == 401
        )
        r = client.post(
            "/api/v1/photos", headers=headers["viewer"], files={"file": ("a.jpg", JPEG[:50], "image/jpeg")}
        )
        assert r.status_code == 403
    assert client.get("/api/v1/photos/ph_doesnotexist_000000000.jpg").status_code == 404


def test_health_reports_the_database(client: TestClient, city: City) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {
        "status": "ok",
        "database": "ok",
        "city": city.id,
        "problem": None,
    }


def test_health_is_503_naming_the_problem_when_the_database_is_away(
    city: City, accounts: AccountService, tmp_path: Path
) -> None:
    away = City(city.profile, create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db"), city.calendar)
    with TestClient(create_app(away, accounts=accounts, photos=LocalPhotoStore(tmp_path))) as client:
        r = client.get("/healthz")
    assert r.status_code == 503
    doc = r.json()
    assert doc["status"] == "unavailable" and doc["database"] == "unreachable"
    assert "OperationalError" in doc["problem"] and "unable to open database file" in doc["problem"]
