"""The one photo check of every upload (staff ``/api/v1/photos``, the citizen page's
``/api/v1/public/photos``, Open311 ``media``): size, type, pixels, and a real decode.

:func:`check_photo` takes the bytes as read (at most ``max_bytes + 1`` of them) and returns the content
type, or raises :class:`PhotoRefused` with the HTTP status, a stable code and both languages; each
surface answers that in its own error shape, naming its own field. In order:

1. more than ``max_bytes`` → 413 ``payload_too_large``;
2. not JPEG, PNG or WebP by its magic bytes → 415 ``unsupported_media_type``;
3. a header declaring more than ``max_pixels`` (40 megapixels by default,
   ``CIVICLOOP_MAX_PHOTO_PIXELS``) or a side over :data:`MAX_SIDE` → 413 ``image_too_large``: a few
   hundred kilobytes of PNG can declare 10,000 × 10,000 pixels, and every browser that opens the case
   would spend gigabytes drawing it;
4. Pillow's ``verify()`` (structure, checksums) and then a decode of the pixels (JPEG at 1/8 scale,
   which still reads the whole compressed stream) → 422 ``invalid_image`` for a damaged or truncated
   file, e.g. 40 bytes of PNG that are only its signature and header.

Decoding holds at most ``max_pixels`` × 4 bytes; at most :data:`DECODERS` decodes run at once, so a
burst of uploads cannot multiply that.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass

from civicloop.kernel.i18n import t
from civicloop.photos.store import DEFAULT_MAX_BYTES, sniff_image

DEFAULT_MAX_PIXELS = 40_000_000
MAX_SIDE = 40_000
DECODERS = 2
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_decoding = threading.BoundedSemaphore(DECODERS)


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1:
            raise ValueError(
                f"photo limits must be positive, not {self.max_bytes} bytes / {self.max_pixels} px"
            )


class PhotoRefused(Exception):
    """Why a photo is refused: HTTP status, stable code, Chinese and English."""

    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        self.status, self.code, self.zh, self.en = status, code, zh, en
        super().__init__(en)

    @classmethod
    def of(cls, status: int, code: str, key: str, /, **fields: object) -> PhotoRefused:
        """The refusal whose two texts are the catalogue's *key*."""
        return cls(status, code, t(key, "zh-CN", **fields), t(key, "en", **fields))


def check_photo(data: bytes, limits: PhotoLimits = PhotoLimits()) -> str:
    """The content type of an acceptable photo; :class:`PhotoRefused` otherwise. Blocking (decodes):
    call it from a worker thread in async code."""
    if len(data) > limits.max_bytes:
        mb = limits.max_bytes / 1_048_576
        raise PhotoRefused.of(
            413, "payload_too_large", "photos.too_many_bytes", mb=mb, max_bytes=limits.max_bytes
        )
    ctype = sniff_image(data)
    if ctype is None:
        raise PhotoRefused.of(415, "unsupported_media_type", "photos.unsupported_type")
    from PIL import Image

    def invalid(detail: str) -> PhotoRefused:
        return PhotoRefused.of(422, "invalid_image", "photos.damaged", detail=detail)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[_FORMATS[ctype]]) as img:
                width, height = img.size
                img.verify()
        except Image.DecompressionBombError:
            width, height = MAX_SIDE + 1, MAX_SIDE + 1  # Pillow will not even describe it
        except Exception as exc:
            raise invalid(type(exc).__name__) from None
        if width * height > limits.max_pixels or max(width, height) > MAX_SIDE:
            mp = limits.max_pixels / 1_000_000
            raise PhotoRefused.of(
                413, "image_too_large", "photos.too_many_pixels", width=width, height=height, mp=mp
            )
        with _decoding:
            try:
                with Image.open(io.BytesIO(data), formats=[_FORMATS[ctype]]) as img:
                    if ctype == "image/jpeg":
                        img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
                    img.load()
            except Exception as exc:
                raise invalid(type(exc).__name__) from None
    return ctype


# ---- metadata removal (EXIF GPS, camera serials, XMP) ------------------------------------------------

#: JPEG segments that carry metadata: APP1 (EXIF, XMP), APP13 (IPTC / Photoshop), COM (comments).
_JPEG_DROP = frozenset({0xE1, 0xED, 0xFE})
#: PNG chunks that carry metadata.
_PNG_DROP = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"})
#: WebP chunks that carry metadata, and the VP8X flags announcing them.
_WEBP_DROP = frozenset({b"EXIF", b"XMP "})


def strip_metadata(data: bytes, ctype: str) -> bytes:
    """The photo without EXIF (GPS position, camera, time), XMP, IPTC and text chunks.

    Lossless where possible: JPEG segments, PNG chunks and WebP chunks are dropped, the pixels untouched.
    A JPEG whose EXIF turns it (Orientation ≠ 1) is decoded, turned upright and re-encoded, so the
    picture still shows the right way up once the tag is gone. Call on a photo :func:`check_photo`
    accepted (blocking: a worker thread in async code).
    """
    if ctype == "image/jpeg":
        if _jpeg_orientation(data) not in (None, 1):
            return _reencode_upright(data)
        return _strip_jpeg(data)
    if ctype == "image/png":
        return _strip_png(data)
    if ctype == "image/webp":
        return _strip_webp(data)
    return data


def _jpeg_orientation(data: bytes) -> int | None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        value = img.getexif().get(0x0112)
    return int(value) if value is not None else None


def _reencode_upright(data: bytes) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as img:
        upright = ImageOps.exif_transpose(img)
        out = io.BytesIO()
        upright.convert("RGB").save(out, "JPEG", quality=92, icc_profile=img.info.get("icc_profile"))
    return out.getvalue()


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])  # SOI
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # markers without a length
            out += data[i : i + 2]
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker not in _JPEG_DROP:
            out += data[i : i + 2 + length]
        i += 2 + length
    out += data[i:]
    return bytes(out)


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    i = 8
    while i + 12 <= len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if kind not in _PNG_DROP:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            break
    return bytes(out)


def _strip_webp(data: bytes) -> bytes:
    body = bytearray()
    i = 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        end = i + 8 + size + (size & 1)
        chunk = bytearray(data[i:end])
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~0x0C & 0xFF  # the EXIF (0x08) and XMP (0x04) flags
        if kind not in _WEBP_DROP:
            body += chunk
        i = end
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + bytes(body)
