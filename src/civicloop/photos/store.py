"""Photo storage behind one interface (:class:`PhotoStore`): local disk, or any S3-compatible bucket.

A photo is referenced by an unguessable name such as ``ph_Qk3…x.jpg`` (128 bits of randomness plus the
type's extension); that reference is what ``photos`` fields of reports and actions carry. Types are
decided from the bytes (magic numbers), never from a file name or a client's Content-Type.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: content type → extension, for the only types accepted
TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_BY_EXT = {ext: ctype for ctype, ext in TYPES.items()}
REF = re.compile(r"^ph_[A-Za-z0-9_-]{22,64}\.(jpg|png|webp)$")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def sniff_image(data: bytes) -> str | None:
    """The content type of a JPEG, PNG or WebP image from its first bytes; None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_ref(value: str) -> bool:
    return REF.fullmatch(value) is not None


def new_ref(content_type: str) -> str:
    return f"ph_{secrets.token_urlsafe(16)}.{TYPES[content_type]}"


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    data: bytes
    content_type: str


class PhotoStore(Protocol):
    def put(self, data: bytes, content_type: str, ref: str | None = None) -> str:
        """Store the bytes; return the new reference (*ref* names it: the simulation's fixed photos)."""
        ...

    def get(self, ref: str) -> StoredPhoto | None: ...

    def exists(self, ref: str) -> bool: ...


class LocalPhotoStore:
    """Files under one directory (default ``./var/photos``), sharded by the reference's first letters.

    Writes go to a temporary file that is fsynced and renamed into place: a photo that was acknowledged
    is complete on disk, and a crash never leaves half a photo under a valid name.
    """

    def __init__(self, root: str | os.PathLike[str] = "./var/photos") -> None:
        self.root = Path(root)

    def _path(self, ref: str) -> Path:
        if not is_ref(ref):
            raise ValueError(f"not a photo reference: {ref!r}")
        return self.root / ref[3:5] / ref

    def put(self, data: bytes, content_type: str, ref: str | None = None) -> str:
        ref = ref or new_ref(content_type)
        path = self._path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ref

    def get(self, ref: str) -> StoredPhoto | None:
        if not is_ref(ref):
            return None
        try:
            data = self._path(ref).read_bytes()
        except FileNotFoundError:
            return None
        return StoredPhoto(data, _BY_EXT[ref.rsplit(".", 1)[1]])

    def exists(self, ref: str) -> bool:
        return is_ref(ref) and self._path(ref).is_file()


class S3PhotoStore:
    """An S3-compatible bucket through any client with boto3's ``put_object``/``get_object``/
    ``head_object`` methods (boto3, or a MinIO/OSS/COS client wrapped to that shape). The client is
    passed in, so civicloop does not depend on an SDK it may never need."""

    def __init__(self, client: Any, bucket: str, prefix: str = "photos/") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def put(self, data: bytes, content_type: str, ref: str | None = None) -> str:
        if ref is not None and not is_ref(ref):
            raise ValueError(f"not a photo reference: {ref!r}")
        ref = ref or new_ref(content_type)
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + ref, Body=data, ContentType=content_type)
        return ref

    def get(self, ref: str) -> StoredPhoto | None:
        if not is_ref(ref):
            return None
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.prefix + ref)
        except Exception as exc:  # the SDK's "no such key" error type is the SDK's own
            if _is_missing(exc):
                return None
            raise
        body = obj["Body"]
        data = body.read() if hasattr(body, "read") else bytes(body)
        return StoredPhoto(data, obj.get("ContentType") or _BY_EXT[ref.rsplit(".", 1)[1]])

    def exists(self, ref: str) -> bool:
        if not is_ref(ref):
            return False
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + ref)
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True


def _is_missing(exc: Exception) -> bool:
    if isinstance(exc, KeyError | FileNotFoundError):
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")
    return type(exc).__name__ in ("NoSuchKey", "NotFound")
