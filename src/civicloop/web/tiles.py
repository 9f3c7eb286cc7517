"""A local MBTiles file served as map tiles (``/tiles/{z}/{x}/{y}.png``): a city's base map without
any network access. MBTiles is SQLite with TMS rows (row 0 at the south), so the XYZ row is flipped.
Read-only: the file is opened with ``mode=ro`` and one connection per read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class MBTiles:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"CIVICLOOP_MAP_MBTILES: no such file {self.path}")
        self.format = (self.metadata().get("format") or "png").lower()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def metadata(self) -> dict[str, str]:
        with self._connect() as conn:
            return {str(k): str(v) for k, v in conn.execute("SELECT name, value FROM metadata")}

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ ``z/x/y``, or None outside the file's coverage."""
        if z < 0 or z > 24 or not (0 <= x < 2**z and 0 <= y < 2**z):
            return None
        row = (2**z - 1) - y  # TMS
        with self._connect() as conn:
            found = conn.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, row),
            ).fetchone()
        return None if found is None else bytes(found[0])
