"""Address geocoding (地址匹配) on a city with stored geography: the CLI contract, the intake locating a
text-only report (or leaving a doubtful one in 待定位 with the guess as a hint), places import, and the
external geocoder's adapter against a local fake server."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.cli.main import app
from civicloop.geo import geocoding
from civicloop.geo.gazetteer import Codes
from civicloop.geo.geocoding import (
    LocalGeocoder,
    TiandituGeocoder,
    gazetteer_for,
    geocode,
    geocoder_for,
    invalidate_gazetteer,
    warm_gazetteers,
)
from civicloop.intake.locate import locate_report_fields
from civicloop.intake.locating import geocode_hint, unlocated_cases
from civicloop.intake.service import IntakeReport, IntakeService
from civicloop.store.database import make_engine
from tests.geo.conftest import a_city_with_geography
from tests.support.domain import as_role, at

runner = CliRunner()
CROSSING = "太原市小店区长风街与并州路交叉口"  # (112.567, 37.826): inside the small demo extent


@pytest.fixture
def city(tmp_path: Path, city_id: str) -> Iterator[City]:
    # Matching and intake are store-independent: SQLite only (the stores differ in geo_places, which the
    # tests using ``any_city`` below run on both).
    engine = make_engine(f"sqlite:///{tmp_path / 'civicloop.db'}")
    yield a_city_with_geography(engine, city_id, components=False)
    engine.dispose()


@pytest.fixture
def any_city(backend: tuple[str, Engine], city_id: str) -> City:
    return a_city_with_geography(backend[1], city_id, components=False)


def _url(city: City) -> str:
    return city.engine.url.render_as_string(hide_password=False)


def test_cli_geocode_prints_the_contract_and_exits_2_when_nothing_matches(city: City) -> None:
    res = runner.invoke(
        app, ["geo", "geocode", "--address", CROSSING, "--json", "--database", _url(city), "--city", city.id]
    )
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert {"lon", "lat", "district", "street", "community", "grid", "matched", "confidence"} <= set(body)
    assert body["district"] == "140105" and body["grid"].startswith(body["community"])
    assert abs(body["lon"] - 112.567) < 1e-6 and abs(body["lat"] - 37.826) < 1e-6
    assert body["confidence"] >= 0.8
    res = runner.invoke(
        app, ["geo", "geocode", "--address", "火星基地", "--database", _url(city), "--city", city.id]
    )
    assert res.exit_code == 2 and "--address" in res.stderr


def _hotline(fields: dict[str, Any]) -> IntakeReport:
    fields = {"channel": "hotline", "category_code": "06010", **fields}
    return IntakeReport(as_role("operator", "op-1"), fields, at("2026-03-02 09:15"))


def test_intake_locates_a_text_only_report_and_leaves_a_doubtful_one_in_the_queue(city: City) -> None:
    intake = IntakeService(city)
    entries = gazetteer_for(city, demo_fallback=False).entries
    names = [e.name for e in entries]
    place = next(e for e in entries if e.kind == "compound" and e.codes.grid and names.count(e.name) == 1)
    located, from_text, doubtful, shop = intake.submit([
        _hotline({"address": CROSSING, "description": "路面破损"}),
        _hotline({"description": f"市民来电：在{place.name}门口有大量垃圾堆放，请尽快处理"}),
        _hotline({"address": "小店区并州路", "description": "井盖缺失"}),  # a road alone: too vague
        _hotline({"address": "老王小卖部", "description": f"位于{place.name}东门的小卖部占道经营"}),
    ])  # fmt: skip
    s = city.cases.get(located.case_id or "")
    assert s.lon is not None and s.grid_code and s.district_code == "140105"
    t = city.cases.get(from_text.case_id or "")
    assert t.grid_code == place.codes.grid and t.address and place.name in t.address
    assert city.cases.get(shop.case_id or "").grid_code == place.codes.grid  # the address named nothing known
    d = city.cases.get(doubtful.case_id or "")
    assert d.lon is None and d.grid_code is None
    queue, total = unlocated_cases(city)
    assert [q.case_id for q in queue] == [d.case_id] and total == 1
    hint = geocode_hint(city, d)
    assert hint is not None and hint["matched"].startswith("并州路") and hint["confidence"] < 0.8
    res = runner.invoke(
        app, ["locate-cases", "--list", "--json", "--database", _url(city), "--city", city.id]
    )
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)["cases"]
    assert listed[0]["case_id"] == d.case_id and listed[0]["hint"]["confidence"] == hint["confidence"]
    res = runner.invoke(
        app, ["locate-cases", "--json", "--database", _url(city), "--city", city.id]
    )  # the city's geocoder
    assert json.loads(res.stdout) == {"tried": 1, "located": 0, "unresolved": 1, "refused": []}


def test_a_server_warms_the_gazetteers_its_intake_will_use(
    city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invalidate_gazetteer(city)
    built: list[str] = []
    build = geocoding.build_gazetteer

    def counted(c: City, geo: Any) -> Any:
        built.append(c.id)
        return build(c, geo)

    monkeypatch.setattr(geocoding, "build_gazetteer", counted)
    bare = init_city("taiyuan", engine=make_engine(f"sqlite:///{tmp_path / 'bare.db'}"), city_id="bare")
    thread = warm_gazetteers([bare, city])  # a city without stored geography is passed over
    assert thread is not None
    thread.join()
    assert built == [city.id]
    # the intake's geocoder then uses what the warm-up built: no second build
    coder = geocoder_for(city, demo_fallback=False)
    assert isinstance(coder, LocalGeocoder) and len(coder.gazetteer.entries) > 0
    assert geocoder_for(bare, demo_fallback=False) is None
    assert built == [city.id]
    invalidate_gazetteer(city)
    assert warm_gazetteers([city], background=False) is None  # or in the caller's thread
    assert built == [city.id, city.id]


def test_the_address_of_a_located_case_joins_the_gazetteer(city: City) -> None:
    fields = {"channel": "inspector", "category_code": "06010", "lon": 112.5555, "lat": 37.8333,
              "address": "青年路七十七号院内"}  # fmt: skip
    before = geocode(city, "青年路77号院内", 1)  # builds the gazetteer: no such address yet
    assert not before or before[0].kind != "case"
    state = city.cases.report(as_role("inspector", "ins-1"), locate_report_fields(city, fields))
    invalidate_gazetteer(city)  # (otherwise refreshed in the background after REFRESH_S)
    [best] = geocode(city, "青年路77号院内", 1)
    assert best.kind == "case" and best.codes.grid == state.grid_code and best.confidence >= 0.8


def test_imported_places_join_the_gazetteer_and_bad_rows_are_named(any_city: City, tmp_path: Path) -> None:
    city = any_city
    good = tmp_path / "places.csv"
    good.write_text("id,name,kind,aliases,lon,lat\np1,清风雅苑,compound,清风小区|清风苑,112.5551,37.8302\n",
                    encoding="utf-8")  # fmt: skip
    res = runner.invoke(
        app, ["geo", "import-places", str(good), "--json", "--database", _url(city), "--city", city.id]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["count"] == 1
    [best] = geocode(city, "清风小区东门", 1)
    assert best.matched == "清风雅苑" and best.confidence >= 0.8 and best.codes.grid
    bad = tmp_path / "bad.csv"
    bad.write_text("name,kind,lon,lat\nX,volcano,112.5,37.8\n,park,112.5,37.8\n", encoding="utf-8")
    res = runner.invoke(app, ["geo", "import-places", str(bad), "--database", _url(city), "--city", city.id])
    assert res.exit_code == 2 and "#2" in res.stderr and "#3" in res.stderr and "volcano" in res.stderr
    invalidate_gazetteer()


class _FakeTianditu(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        ds = json.loads(query["ds"][0])
        _FakeTianditu.seen.append({"keyWord": ds["keyWord"], "tk": query["tk"][0]})
        if "nowhere" in ds["keyWord"]:
            body = {"status": "101", "msg": "no result"}
        else:
            where = {"lon": 112.5555, "lat": 37.8333, "level": "门址", "score": 88, "keyWord": ds["keyWord"]}
            body = {"status": "0", "msg": "ok", "location": where}
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeTianditu)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/geocoder"
    finally:
        server.shutdown()
        server.server_close()


def test_the_external_adapter_speaks_the_tianditu_shape(fake_server: str) -> None:
    codes = Codes("140105001001001", "140105001001", "140105001", "140105")
    coder = TiandituGeocoder(fake_server, "KEY", lambda lon, lat: codes if lon > 112 else None, timeout_s=2)
    [m] = coder.geocode("小店区长风街1号")
    assert (m.lon, m.lat, m.codes, m.kind) == (112.5555, 37.8333, codes, "external")
    assert m.confidence == pytest.approx(0.88)
    assert _FakeTianditu.seen[-1] == {"keyWord": "小店区长风街1号", "tk": "KEY"}
    assert coder.geocode("nowhere") == []
    dead = TiandituGeocoder("http://127.0.0.1:9/geocoder", "KEY", lambda lon, lat: codes, timeout_s=0.5)
    assert dead.geocode("anything") == []  # a network error is no answer, not a crash


def test_the_profile_switches_intake_to_the_external_geocoder(
    city: City, fake_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = city.profile.geocoding.model_copy(update={"provider": "tianditu", "url": fake_server})
    external = dataclasses.replace(city, profile=city.profile.model_copy(update={"geocoding": settings}))
    assert geocoder_for(external) is None  # no key in the environment: no external geocoder
    monkeypatch.setenv(settings.key_env, "SECRET")
    coder = geocoder_for(external)
    assert isinstance(coder, TiandituGeocoder)
    out = locate_report_fields(external, {"channel": "hotline", "address": "小店区某路1号"})
    assert (out["lon"], out["lat"]) == (112.5555, 37.8333) and out["grid_code"]  # 0.88 ≥ 0.8
    assert _FakeTianditu.seen[-1]["tk"] == "SECRET"
