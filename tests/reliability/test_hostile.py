"""Hostile input, refused cleanly: oversized bodies (declared or chunked), decompression-bomb images,
zip bombs and XML entity bombs in XLSX imports, SQL-injection strings, path traversal in photo
references, NaN and infinite coordinates — never a 5xx, never a crash, always a refusal that says what
is wrong. And the whole OpenAPI document under schemathesis, the web command center's operations
included (``GET /api/v1/geo/grids?bbox=`` once answered 500).
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from defusedxml import ElementTree as SafeET
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import inspect

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.http import create_app
from civicloop.ledger.models import LedgerError
from civicloop.ledger.tabular import read_table
from civicloop.photos.store import LocalPhotoStore
from tests.support.images import image

XIAODIAN = {"lat": "37.723", "long": "112.593"}
EXAMPLES = max(1, int(os.environ.get("CIVICLOOP_FUZZ_EXAMPLES", "25")) // 4)


def open311(api_key: str, **extra: str) -> dict[str, str]:
    return {"api_key": api_key, "service_code": "06010", "attribute[condition]": "1", **XIAODIAN, **extra}


def refusal(r: Any) -> tuple[str | None, str]:
    """(field, English message) of a workflow-API refusal, or (None, description) of an Open311 one."""
    body = r.json()
    if isinstance(body, list):
        return None, " ".join(e["description"] for e in body)
    return body["error"]["field"], body["error"]["message_en"]


# ---- oversized bodies ----------------------------------------------------------------------------------


def test_oversized_bodies_are_refused_before_they_are_read(client: TestClient, api_key: str) -> None:
    limit = client.app.state.civicloop.settings.max_body_bytes  # type: ignore[attr-defined]
    declared = client.post(
        "/open311/v2/requests.json", content=b"x", headers={"Content-Length": str(limit + 1)}
    )
    assert declared.status_code == 413 and declared.json()[0]["code"] == 413
    declared_api = client.post("/api/v1/public/reports", content=b"{}", headers={"Content-Length": "9" * 12})
    assert declared_api.status_code == 413 and declared_api.json()["error"]["code"] == "payload_too_large"

    def chunks(total: int) -> Any:  # no Content-Length: Transfer-Encoding chunked
        sent = 0
        while sent < total:
            yield b"a" * 65536
            sent += 65536

    for path in ("/open311/v2/requests.json", "/api/v1/public/reports", "/api/v1/auth/login"):
        r = client.post(path, content=chunks(limit + 65536), headers={"Content-Type": "application/json"})
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
    form = f"api_key={api_key}&service_code=06010&attribute%5Bcondition%5D=1&lat=37.723&long=112.593"
    small = client.post(
        "/open311/v2/requests.json",
        content=iter([form.encode()[:20], form.encode()[20:]]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert small.status_code == 200, small.text  # a chunked body within the limit is read as usual


# ---- images that decompress into bombs -------------------------------------------------------------------


def bomb(kind: str, width: int, height: int) -> bytes:
    """A tiny real image whose header is rewritten to declare width × height pixels."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[kind])
    data = bytearray(buf.getvalue())
    if kind == "jpg":
        at = data.find(b"\xff\xc0")
        data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    elif kind == "png":
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    else:
        at = data.find(b"\x9d\x01\x2a")
        data[at + 3 : at + 7] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    return bytes(data)


BOMBS = [
    ("png", 100_000, 100_000),
    ("png", 12_000, 11_000),
    ("jpg", 60_000, 60_000),
    ("webp", 16_383, 16_383),
]


@pytest.mark.parametrize(("kind", "width", "height"), BOMBS)
def test_decompression_bombs_are_refused(
    client: TestClient, headers: dict[str, dict[str, str]], api_key: str, kind: str, width: int, height: int
) -> None:
    data = bomb(kind, width, height)
    assert len(data) < 2000
    name = f"bomb.{kind}"
    staff = client.post("/api/v1/photos", headers=headers["inspector"], files={"file": (name, data)})
    assert staff.status_code == 413, staff.text
    assert refusal(staff)[0] == "file" and "pixels" in refusal(staff)[1]
    public = client.post("/api/v1/public/photos", files={"file": (name, data)})
    assert public.status_code == 413 and refusal(public)[0] == "file"
    o = client.post("/open311/v2/requests.json", data=open311(api_key), files={"media": (name, data)})
    assert o.status_code == 413 and "media" in refusal(o)[1], o.text
    fine = image(kind, 4000, 3000)  # an ordinary 12-megapixel photo passes
    assert (
        client.post("/api/v1/photos", headers=headers["inspector"], files={"file": (name, fine)}).status_code
        == 201
    )


# ---- XLSX: zip bombs and XML entity expansion ------------------------------------------------------------


def xlsx(tmp_path: Path, sheet: bytes | None = None) -> Path:
    from openpyxl import Workbook

    path = tmp_path / "units.xlsx"
    wb = Workbook()
    wb.active.append(["name", "district"])
    wb.active.append(["清扫一队", "140105"])
    wb.save(path)
    if sheet is not None:  # rewrite the sheet's XML inside the archive
        with zipfile.ZipFile(path) as src:
            members = {i.filename: src.read(i) for i in src.infolist()}
        members["xl/worksheets/sheet1.xml"] = sheet
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
            for name, data in members.items():
                dst.writestr(name, data)
    return path


def test_xlsx_archives_are_checked_before_they_are_unpacked(tmp_path: Path) -> None:
    header, rows = read_table(xlsx(tmp_path))
    assert header == ["name", "district"] and rows[0][1] == ["清扫一队", "140105"]
    path = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member,
    ):
        block = b"\0" * (1 << 20)
        for _ in range(300):  # 300 MB of zeros in a ≈ 300 KB file
            member.write(block)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(LedgerError, match=r"bomb\.xlsx would unpack to 314,572,800 bytes"):
        read_table(path)
    (tmp_path / "fake.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LedgerError, match=r"fake\.xlsx"):
        read_table(tmp_path / "fake.xlsx")


def test_xml_inside_xlsx_cannot_expand_entities(tmp_path: Path) -> None:
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML, "openpyxl must parse through defusedxml (a runtime dependency)"
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
    )
    with pytest.raises(LedgerError, match=r"units\.xlsx"):
        read_table(xlsx(tmp_path, laughs))
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&e;</t></is></c></row></sheetData></worksheet>'
    )
    with pytest.raises(LedgerError, match=r"units\.xlsx"):
        read_table(xlsx(tmp_path, external))


def test_no_xml_is_parsed_without_defusedxml() -> None:
    """XML is only ever written by the server (Open311 XML answers); anything that reads XML must go
    through defusedxml. A scan of the source keeps it that way."""
    src = Path(__file__).resolve().parents[2] / "src" / "civicloop"
    unsafe = re.compile(
        r"\b(?:ET|ElementTree|etree|minidom|pulldom|sax|expat|lxml)\.(?:fromstring|parse|iterparse|XML|XMLParser|parseString|make_parser|ParserCreate)\b"
    )
    found = [
        f"{p.relative_to(src)}:{n}"
        for p in src.rglob("*.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if unsafe.search(line) or re.search(r"^\s*(?:import|from)\s+lxml", line)
    ]
    assert not found, found


# ---- SQL injection, path traversal, NaN and infinity -----------------------------------------------------

INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE cases; --",
    "TY-2026-0000001' UNION SELECT password_hash FROM users --",
    '" OR ""="',
    "%' OR 1=1 --",
    "\\'; SELECT pg_sleep(5); --",
    "06010') OR ('a'='a",
]


def test_sql_injection_strings_are_plain_text(
    client: TestClient, headers: dict[str, dict[str, str]], api_key: str, sqlite_city: City
) -> None:
    case_id = client.post("/open311/v2/requests.json", data=open311(api_key)).json()[0]["service_request_id"]
    staff = headers["leader"]
    for evil in INJECTIONS:
        answers = [
            client.get("/open311/v2/requests.json", params={"service_request_id": evil}),
            client.get("/open311/v2/requests.json", params={"service_code": evil, "status": "open"}),
            client.get(f"/open311/v2/requests/{evil}.json"),
            client.get(f"/open311/v2/tokens/{evil}.json"),
            client.get(f"/open311/v2/services/{evil}.xml"),
            client.get(
                "/api/v1/cases", params={"department": evil[:64], "category": evil[:16]}, headers=staff
            ),
            client.get(f"/api/v1/cases/{evil}", headers=staff),
            client.get(f"/api/v1/public/track/{evil}"),
            client.get("/api/v1/suggest", params={"text": evil}),
            client.post("/api/v1/auth/login", json={"username": evil, "password": evil}),
            client.post(
                "/open311/v2/requests.json", data=open311(api_key, description=evil, address_string=evil)
            ),
        ]
        for r in answers:
            assert r.status_code < 500, (evil, r.request.url, r.text[:300])
            assert "$argon2" not in r.text  # no password hash ever comes back
        listed = answers[0]
        assert listed.status_code == 200 and listed.json() == [], listed.text  # matched nothing
        assert answers[5].json()["total"] == 0
        stored = sqlite_city.cases.get(answers[-1].json()[0]["service_request_id"])
        assert stored.description == evil  # stored as the text it is
    assert {"cases", "events", "users"} <= set(inspect(sqlite_city.engine).get_table_names())
    assert client.get(f"/api/v1/cases/{case_id}", headers=staff).status_code == 200


def test_path_traversal_in_photo_references_is_refused(
    client: TestClient,
    headers: dict[str, dict[str, str]],
    api_key: str,
    photos: LocalPhotoStore,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8\xff\xe0 secret")
    refs = [
        "../secret.jpg",
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "ph_../../../../etc/passwd.jpg",
        str(secret),
        "/etc/passwd",
        "ph_AAAAAAAAAAAAAAAAAAAAAA.jpg/../../secret.jpg",
        "C:\\Windows\\win.ini",
        "file:///etc/passwd",
    ]
    for ref in refs:
        got = client.get(f"/api/v1/photos/{ref}")
        assert got.status_code == 404, (ref, got.status_code)
        assert b"secret" not in got.content and b"root:" not in got.content
        assert photos.get(ref) is None and not photos.exists(ref)
        body = {"category_code": "06010", "lon": 112.593, "lat": 37.723, "photos": [ref]}
        r = client.post("/api/v1/cases", json=body, headers=headers["inspector"])
        assert r.status_code == 422 and refusal(r)[0] == "photos", (ref, r.text)
        public = {"description": "路灯不亮了", "lon": 112.593, "lat": 37.723, "photos": [ref]}
        r = client.post("/api/v1/public/reports", json=public)
        assert r.status_code == 422 and refusal(r)[0] == "photos", (ref, r.text)
        r = client.post("/open311/v2/requests.json", data=open311(api_key, media_url=ref))
        assert r.status_code == 400 and "media_url" in refusal(r)[1], (ref, r.text)
    upload = client.post(
        "/api/v1/photos",
        headers=headers["inspector"],
        files={"file": ("../../../etc/cron.d/x.jpg", image("jpg"))},
    )
    assert upload.status_code == 201 and "/" not in upload.json()["ref"]  # the client's name is never used


@pytest.mark.parametrize("bad", ["NaN", "nan", "inf", "-Infinity", "1e999", "0x1p-2", "", "12,5"])
def test_nan_and_infinite_coordinates_are_refused_naming_the_field(
    client: TestClient, headers: dict[str, dict[str, str]], api_key: str, bad: str
) -> None:
    r = client.post("/open311/v2/requests.json", data=open311(api_key, lat=bad))
    if bad == "":  # an empty value counts as absent: then long without lat
        assert r.status_code == 400 and "lat" in refusal(r)[1]
        return
    assert r.status_code == 400 and "lat must be a number" in refusal(r)[1], r.text
    r = client.post("/open311/v2/requests.json", data=open311(api_key, long=bad))
    assert r.status_code == 400 and "long must be a number" in refusal(r)[1], r.text
    raw = '{"category_code": "06010", "lon": LON, "lat": 37.7}'.replace("LON", bad)  # NaN, Infinity …
    r = client.post(
        "/api/v1/cases", content=raw, headers={**headers["inspector"], "Content-Type": "application/json"}
    )
    json_literal = bad in ("NaN", "-Infinity", "1e999")  # Python's JSON reads these as floats
    assert r.status_code == 422 and refusal(r)[0] == ("lon" if json_literal else "body"), r.text
    r = client.post(
        "/api/v1/public/reports",
        content=raw.replace("category_code", "description").replace("06010", "灯坏了"),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    r = client.get("/api/v1/locate", params={"lon": bad, "lat": "37.7"})
    assert r.status_code == 422 and refusal(r)[0] == "lon", r.text
    r = client.get("/api/v1/geo/grids", params={"bbox": f"{bad},37.7,112.6,37.8"})
    assert r.status_code == 422 and refusal(r)[0] == "bbox", r.text


def test_an_empty_bbox_is_a_refusal_not_a_server_error(client: TestClient) -> None:
    """The API engineer's fuzz run once found ``GET /api/v1/geo/grids?bbox=`` answering 500."""
    for value in ("", ",,,", "1,2,3", "a,b,c,d", "nan,nan,nan,nan"):
        r = client.get("/api/v1/geo/grids", params={"bbox": value})
        assert r.status_code == 422 and refusal(r)[0] == "bbox", (value, r.text)
    assert client.get("/api/v1/geo/grids").status_code == 422


# ---- the whole OpenAPI document, every operation ---------------------------------------------------------


def named(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    if not 400 <= status < 500:
        return None
    ctype = (response.headers.get("content-type") or [""])[0]
    assert response.content, f"{status} without a body"
    if ctype.startswith("text/xml"):
        root = SafeET.fromstring(response.content)
        assert root.tag == "errors" and root.findtext("error/code") == str(status)
        return None
    doc = response.json()
    if isinstance(doc, list):
        assert doc and all(e["code"] == status and e["description"].strip() for e in doc), doc
    else:
        assert doc["error"]["code"] and doc["error"]["message_en"].strip(), doc
    return None


def test_every_operation_survives_schemathesis(
    sqlite_city: City,
    accounts: AccountService,
    photos: LocalPhotoStore,
    headers: dict[str, dict[str, str]],
    api_key: str,
) -> None:
    """No 5xx and a named refusal on every operation of /openapi.json — the API's and the web command
    center's alike (tests/api and tests/web fuzz their own with more examples); only the endless SSE
    stream is left out. Half the requests carry a valid staff token, half the Open311 POSTs a valid key."""
    app = create_app(sqlite_city, accounts=accounts, photos=photos)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [op for op in (r.ok() for r in schema.get_all_operations()) if op.path != "/api/v1/stream"]
    every = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert {(op.method.upper(), op.path) for op in operations} == every - {("GET", "/api/v1/stream")}
    seen: dict[str, set[int]] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            def run(case: Any) -> None:
                flip = len(repr(case.body)) + len(repr(case.query)) + len(repr(case.path_parameters))
                if case.path == "/open311/v2/requests.{fmt}" and isinstance(case.body, dict) and flip % 2:
                    case.body["api_key"] = api_key
                response = case.call(headers=headers["operator"] if flip % 3 else {})
                seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
                case.validate_response(response, checks=[not_a_server_error, named])

            try:
                run()
            except Unsatisfiable:
                if mode is not GenerationMode.NEGATIVE:
                    raise
    assert len(seen) == len(operations)
