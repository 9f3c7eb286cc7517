"""Helpers of the web tests: a city with a small stored geography, a live server, the duty room's steps."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time
import urllib.request
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import AccountService, accounts_for, seed_demo_users
from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor, Command
from civicloop.cases.service import BatchItem
from civicloop.city.service import City
from civicloop.demo.geography import load_demo_geography
from civicloop.geo.service import geography_for
from civicloop.http import ApiSettings, create_app
from civicloop.kernel.vocabulary import Action, Role
from civicloop.photos.store import LocalPhotoStore
from civicloop.web import WebSettings, WebState

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SMALL_EXTENT = (112.54, 37.81, 112.57, 37.86)  # where 小店区 meets 迎泽区 (the geography tests' extent)
SCREENSHOTS = Path(__file__).parent / "screenshots"

OPERATOR = Actor("op-web", Role.OPERATOR)
SHIFT_LEADER = Actor("sl-web", Role.SHIFT_LEADER)
DISPATCHER = Actor("dp-web", Role.DISPATCHER)
INSPECTOR = Actor("ins-web", Role.INSPECTOR)


def a_city(engine: Engine, city_id: str) -> City:
    """The demo city with the small stored demo geography (≈1,500 grids)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city = init_city("taiyuan", engine=engine, city_id=city_id)
    load_demo_geography(city, extent=SMALL_EXTENT, with_components=False, with_duty_grids=False)
    return city


def point_in(city: City, district: str) -> tuple[float, float, dict[str, str]]:
    """A point well inside a grid of *district* (WGS84) and its area codes."""
    geo = geography_for(city)
    assert geo is not None
    grids = [g for g in geo.grids if g.district_code == district]
    grid = grids[len(grids) // 2]
    p = grid.geometry.representative_point()
    loc = geo.locate(p.x, p.y)
    codes = {
        "grid_code": loc.grid_code or "",
        "community_code": loc.community.code if loc.community else "",
        "street_code": loc.street.code if loc.street else "",
        "district_code": loc.district.code if loc.district else "",
    }
    return round(p.x, 7), round(p.y, 7), codes


def image_bytes(color: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    """A tiny valid image the photo store accepts (PNG: the sniffer takes JPEG, PNG or WebP)."""
    w = h = 8
    raw = b"".join(b"\x00" + bytes(color) * w for _ in range(h))

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
    out.write(chunk(b"IDAT", zlib.compress(raw)))
    out.write(chunk(b"IEND", b""))
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """An app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, app: FastAPI, accounts: AccountService, users: dict[str, tuple[str, str]]) -> None:
        self.app = app
        self.accounts = accounts
        self.users = users
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="web-test-server", daemon=True)

    @property
    def web(self) -> WebState:
        state: WebState = self.app.state.civicloop_web
        return state

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def login(self, role: str) -> dict[str, Any]:
        """The login answer of the API (token and user), as the login page stores it."""
        user, password = self.users[role]
        body = json.dumps({"username": user, "password": password}).encode()
        req = urllib.request.Request(
            f"{self.url}/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as res:
            answer: dict[str, Any] = json.loads(res.read())
        return answer


@contextmanager
def serve(
    city: City, photos: Path, settings: WebSettings | None = None, *, triage: bool = False
) -> Iterator[Served]:
    """The app for *city* on a loopback port, its live poller started (the index built in background)."""
    accounts = accounts_for(city, hasher=fast_hasher())
    users = {role: (u, p) for u, p, role in seed_demo_users(city, accounts=accounts)}
    # the whole-loop test drives every step by hand: no automatic triage
    app = create_app(
        city, accounts=accounts, photos=LocalPhotoStore(photos), settings=ApiSettings(triage=triage)
    )
    served = Served(app, accounts, users)
    if settings is not None:
        served.web.configure(settings)
    served.web.start()
    served.start()
    try:
        yield served
    finally:
        served.stop()


def report(city: City, actor: Actor, at: datetime, **fields: Any) -> str:
    body = {"channel": "inspector", "category_code": "06010", "description": "路口垃圾成堆", **fields}
    return city.cases.report(actor, body, at=at).case_id


def move(city: City, case_id: str, steps: list[tuple[Action, Actor, dict[str, Any]]], at: datetime) -> None:
    items = [BatchItem(Command(a, case_id, f), actor, at) for a, actor, f in steps]
    result = city.cases.execute(items, strict=True)
    assert not result.errors, result.errors
