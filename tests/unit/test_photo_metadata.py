"""Stored photos carry no EXIF (GPS position, camera): JPEG, PNG and WebP, losslessly where possible."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from civicloop.photos.check import check_photo, strip_metadata

GPS = {0: b"\x02\x02\x00\x00", 1: "N", 2: (37.0, 51.0, 30.0), 3: "E", 4: (112.0, 33.0, 0.0)}


def photo(fmt: str, orientation: int | None = None) -> bytes:
    img = Image.new("RGB", (40, 20), (200, 60, 40))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = GPS  # GPSInfo
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    img.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "ctype"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_exif_is_removed_and_the_picture_kept(fmt: str, ctype: str) -> None:
    data = photo(fmt)
    with Image.open(io.BytesIO(data)) as before:
        assert before.getexif().get(0x8825)  # the GPS block is there to begin with
    clean = strip_metadata(data, ctype)
    assert b"CameraMaker" not in clean and check_photo(clean) == ctype
    with Image.open(io.BytesIO(clean)) as after:
        assert not after.getexif() and after.size == (40, 20)


def test_a_turned_jpeg_is_stored_upright_without_its_tag() -> None:
    clean = strip_metadata(photo("JPEG", orientation=6), "image/jpeg")  # 90° clockwise
    with Image.open(io.BytesIO(clean)) as after:
        assert after.size == (20, 40) and not after.getexif()
