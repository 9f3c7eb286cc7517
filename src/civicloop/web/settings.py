"""Deployment choices of the web command center (docs/web.md): map tiles, live polling, KPI refresh."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from civicloop.kernel.i18n import t

#: Tianditu's WMTS in Web Mercator (``_w``): vector map plus annotation. CGCS2000 ≈ WGS84: no offset.
TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    "&tk={key}"
)


#: Where civicloop serves the tiles of a local MBTiles file (http/pages.py).
MBTILES_URL = "/tiles/{z}/{x}/{y}.png"


@dataclass(frozen=True)
class TileLayer:
    url: str
    attribution: str = ""
    subdomains: str = "abc"
    max_zoom: int = 18

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "attribution": self.attribution,
            "subdomains": self.subdomains,
            "max_zoom": self.max_zoom,
        }


@dataclass(frozen=True)
class WebSettings:
    """How the web pages behave. :meth:`from_env` reads the ``CIVICLOOP_MAP_*`` variables.

    ``mbtiles``: a local MBTiles file civicloop serves itself (``CIVICLOOP_MAP_MBTILES``); else
    ``CIVICLOOP_MAP_TILES`` (an XYZ or WMTS URL template, key included) or ``CIVICLOOP_TIANDITU_KEY``.
    ``tiles`` empty: the maps show only the city's own vector layers (districts, streets, grids), which
    needs nothing from the network. ``tiles_crs``: the coordinate system of the tiles (``wgs84`` for
    OpenStreetMap and Tianditu, ``gcj02`` for AMap/Tencent tiles); vector layers and case points are then
    sent converted, and positions picked on the map converted back before they are stored.
    """

    tiles: tuple[TileLayer, ...] = ()
    tiles_crs: str = "wgs84"
    mbtiles: str | None = (
        None  # a local MBTiles file served at /tiles/{z}/{x}/{y}.png (CIVICLOOP_MAP_MBTILES)
    )
    poll_interval: float = 0.5  # seconds between two reads of the events table
    stream_window: float = 30.0  # seconds: events written late (other processes) are still picked up
    reconcile_every: float = 60.0  # seconds: compare the index with the case table
    kpi_refresh: float = 300.0  # seconds between KPI computations; 0 turns the KPI engine off
    kpi_delay: float = 3.0  # seconds after start before the first KPI computation
    keepalive: float = 15.0  # seconds between SSE comments on an idle stream
    tick_every: float = 5.0  # seconds between stats ticks (lights move with time, not only with events)
    max_points: int = 3000  # above this many cases in view the map shows clusters
    public_reports_per_hour: int = 20  # per client address, for the citizen page
    eager: bool = False  # start the live poller (index build) and KPI refresh with the app, not on first use
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WebSettings:
        e = os.environ if env is None else env
        tiles: list[TileLayer] = []
        url = e.get("CIVICLOOP_MAP_TILES", "").strip()
        attribution = e.get("CIVICLOOP_MAP_ATTRIBUTION", "").strip()
        subdomains = e.get("CIVICLOOP_MAP_SUBDOMAINS", "").strip()
        crs = e.get("CIVICLOOP_MAP_TILES_CRS", "").strip().lower()
        key = e.get("CIVICLOOP_TIANDITU_KEY", "").strip()
        mbtiles = e.get("CIVICLOOP_MAP_MBTILES", "").strip() or None
        if mbtiles:  # served by civicloop itself: no network, no key
            tiles.append(TileLayer(MBTILES_URL, attribution, "", 19))
        elif url:
            tiles.append(TileLayer(url, attribution, subdomains or "abc"))
        elif key:
            for layer in ("vec", "cva"):
                tiles.append(
                    TileLayer(
                        TIANDITU_URL.replace("{layer}", layer).replace("{key}", key),
                        attribution
                        or f"© {t('readmodels.tianditu', 'zh-CN')} {t('readmodels.tianditu', 'en')}",
                        "01234567",
                    )
                )
            crs = crs or "wgs84"
        if crs not in ("", "wgs84", "gcj02", "cgcs2000"):
            raise ValueError(f"CIVICLOOP_MAP_TILES_CRS must be wgs84 or gcj02, not {crs!r}")
        values: dict[str, Any] = {
            "tiles": tuple(tiles),
            "tiles_crs": "gcj02" if crs == "gcj02" else "wgs84",
            "mbtiles": mbtiles,
            "eager": e.get("CIVICLOOP_WEB_EAGER", "").strip().lower() in ("1", "true", "yes"),
        }
        values.update(overrides)
        return cls(**values)
