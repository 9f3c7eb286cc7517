"""Small real images for upload tests: every upload is decoded now (adapters/images.py), so a few magic
bytes followed by zeros no longer pass for a photo."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image

_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}


@cache
def image(kind: str = "jpg", width: int = 16, height: int = 12) -> bytes:
    """A valid *kind* image (jpg, png, webp, gif) of width × height pixels."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, _FORMATS[kind])
    return buf.getvalue()


JPEG = image("jpg")
PNG = image("png")
WEBP = image("webp")
GIF = image("gif")
