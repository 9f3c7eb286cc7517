"""Every parser of outside input, under Hypothesis: Open311 form bodies, the CSV case import, GeoJSON
boundary import, the city profile loader. Whatever comes in, each either accepts it or refuses it with
its own error that names where the problem is (the field, the line, the feature, the key) — never
another exception, never a 5xx.

``CIVICLOOP_PARSER_EXAMPLES`` (default 300) examples per property.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicloop.city.service import City
from civicloop.geo.boundaries import BoundaryImportError, import_areas
from civicloop.geo.places import Places
from civicloop.kpi.importer import ImportFailed, MappingError, import_cases, load_mapping
from civicloop.open311.service import Open311Error, Submission, accept_submission
from civicloop.profile import ProfileError
from civicloop.profile.loader import load_profile_text, parse_profile

EXAMPLES = int(os.environ.get("CIVICLOOP_PARSER_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
FEW = settings(SETTINGS, max_examples=max(10, EXAMPLES // 5))

NUMBERS = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e999",
    "-1e309",
    "37.723",
    "112.593",
    "0",
    "-0",
    "91",
    "1_000",
    "0x10",
]
ODD = ["", " ", "\x00", "\ud7ff", "' OR 1=1 --", "../../etc/passwd", "a" * 5000, "１２３", "\u202e", "null"]
text = st.one_of(st.text(max_size=40), st.sampled_from(NUMBERS + ODD))

# ---- Open311 form bodies ----------------------------------------------------------------------------------

KEYS = [
    "api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id", "email",
    "device_id", "deviceid", "account_id", "first_name", "last_name", "phone", "description", "media_url",
    "media_url[]", "attribute[condition]", "attribute[situation]", "attribute[situation][]",
    "attribute[component_id]", "attribute[landmark]", "attribute[quantity]", "attribute[observed_at]",
]  # fmt: skip
FIELD_VALUES = {
    "service_code": st.sampled_from(["06010", "06011", "99999", "", "0601", "06010 "]),
    "lat": st.one_of(st.sampled_from(NUMBERS), st.floats(allow_nan=True, allow_infinity=True).map(repr)),
    "long": st.one_of(st.sampled_from(NUMBERS), st.floats(allow_nan=True, allow_infinity=True).map(repr)),
    "attribute[condition]": st.sampled_from(["1", "2", "9", "", "1,2", "x"]),
    "attribute[situation]": st.sampled_from(["danger", "blocking", "smell", "night", "boom", ""]),
    "attribute[observed_at]": st.sampled_from(
        ["2026-03-02T09:15:00+08:00", "2026-03-02T09:15:00 08:00", "2026-03-02T09:15:00", "2026-13-45T99:00Z"]
    ),
    "attribute[component_id]": st.sampled_from(["12345678901234567", "1234", "abcdefghijklmnopq"]),
    "attribute[quantity]": st.sampled_from(["3", "-1", "nan", "1e10", "2.5", "x"]),
    "address_id": st.sampled_from(["#NOTPINPOINTED#", "A-1", "x" * 200]),
    "media_url": st.sampled_from(
        ["https://fms.example.org/a.jpg", "file:///etc/passwd", "javascript:alert(1)"]
    ),
    "email": st.sampled_from(["a@b.cn", "not-an-address", "x" * 300 + "@a.cn"]),
}
#: What a refusal may name: the form's fields (and "location" / "media" for the location and media
#: rules), or the NUL character the whole body was refused for.
NAMES = re.compile(
    r"service_code|\blat\b|\blong\b|address_string|address_id|location|description|email|phone|first_name|"
    r"last_name|device_?id|account_id|media_url|media|attribute\[\w+\]|jurisdiction_id|NUL character"
)


@st.composite
def form_pairs(draw: Any) -> list[tuple[str, str]]:
    pairs = []
    for key in draw(st.lists(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)), max_size=14)):
        value = draw(FIELD_VALUES.get(key, text))
        pairs.append((key, value))
    if draw(st.booleans()):  # most bodies look like a client's, so validation goes deep
        pairs = [("service_code", "06010"), ("attribute[condition]", "1"), *pairs]
    return pairs


@pytest.fixture
def places(sqlite_city: City) -> Places:
    return Places.for_profile(sqlite_city.profile)


def test_open311_form_bodies_are_accepted_or_refused_naming_the_field(
    sqlite_city: City, places: Places
) -> None:
    profile = sqlite_city.profile

    @given(form_pairs())
    @SETTINGS
    def check(pairs: list[tuple[str, str]]) -> None:
        try:
            accepted = accept_submission(Submission.from_pairs(pairs), profile, places)
        except Open311Error as exc:
            assert exc.status in (400, 404), exc.status
            assert exc.problems
            for _, en in exc.problems:
                assert NAMES.search(en), f"refusal names no field: {en!r} for {pairs!r}"
            return
        fields = accepted.fields
        for key in ("lat", "lon"):
            if fields.get(key) is not None:
                assert math.isfinite(fields[key]), fields
        assert len(fields.get("description") or "") <= 4000

    check()


def test_open311_form_bodies_over_http_never_fail_the_server(client: TestClient, api_key: str) -> None:
    @given(form_pairs(), st.sampled_from(["json", "xml"]))
    @FEW
    def check(pairs: list[tuple[str, str]], fmt: str) -> None:
        body = [(k, v) for k, v in pairs if k != "api_key"] + [("api_key", api_key)]
        encoded = "&".join(f"{k}={v}" for k, v in ((_q(k), _q(v)) for k, v in body)).encode(
            "utf-8", "surrogatepass"
        )
        r = client.post(
            f"/open311/v2/requests.{fmt}",
            content=encoded,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code in (200, 400, 404), (r.status_code, r.text[:300])
        if r.status_code != 200:
            assert "<errors>" in r.text if fmt == "xml" else r.json()[0]["code"] == r.status_code

    check()


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="", errors="surrogatepass")


# ---- the CSV case import ----------------------------------------------------------------------------------

MAPPING = """
[columns]
external_id = "Unique Key"
created = "Created Date"
due = "Due Date"
closed = "Closed Date"
category = "Complaint Type"
department = "Agency"
status = "Status"
lat = "Latitude"
lon = "Longitude"
description = "Descriptor"

[formats]
created = "%m/%d/%Y %I:%M:%S %p"
due = "%m/%d/%Y %I:%M:%S %p"
closed = "%m/%d/%Y %I:%M:%S %p"
timezone = "Asia/Shanghai"

[status]
Closed = "closed"
Open = "open"
Void = "void"

[category]
"Dumping" = "06010"
"*" = "06010"

[department]
"DSNY" = "ty-sanitation"
"""
HEADER = ["Unique Key", "Created Date", "Due Date", "Closed Date", "Complaint Type", "Agency", "Status",
          "Latitude", "Longitude", "Descriptor"]  # fmt: skip
DATES = st.one_of(
    st.sampled_from(
        [
            "03/02/2026 09:15:00 AM",
            "03/03/2026 05:00:00 PM",
            "02/29/2026 01:00:00 AM",
            "13/45/2026 99:00:00 XM",
            "",
            "2026-03-02T09:15:00+08:00",
            "03/02/2026 09:15:00 AM ",
        ]
    ),
    text,
)
ROW = st.fixed_dictionaries(
    {
        "Unique Key": text,
        "Created Date": DATES,
        "Due Date": DATES,
        "Closed Date": DATES,
        "Complaint Type": st.one_of(st.sampled_from(["Dumping", "06010", "99999", ""]), text),
        "Agency": st.one_of(st.sampled_from(["DSNY", "ty-sanitation", "NYPD", ""]), text),
        "Status": st.one_of(st.sampled_from(["Closed", "Open", "Void", "Pending", ""]), text),
        "Latitude": st.one_of(st.sampled_from(["37.72", "nan", "inf", "95", "", "x"]), text),
        "Longitude": st.one_of(st.sampled_from(["112.59", "-inf", "1e999", "", "181"]), text),
        "Descriptor": text,
    }
)


def _csv(rows: list[dict[str, str]], header: list[str]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow(row)
    return out.getvalue()


def test_the_csv_case_import_names_every_bad_line(sqlite_city: City, tmp_path: Path) -> None:
    mapping_path = tmp_path / "mapping.toml"
    mapping_path.write_text(MAPPING, encoding="utf-8")
    mapping = load_mapping(mapping_path)
    csv_path = tmp_path / "cases.csv"

    @given(st.lists(ROW, max_size=6), st.lists(st.sampled_from(HEADER), unique=True, min_size=5))
    @FEW
    def check(rows: list[dict[str, str]], kept: list[str]) -> None:
        header = kept if len(kept) < len(HEADER) and len(rows) % 3 == 0 else HEADER
        csv_path.write_text(_csv(rows, header), encoding="utf-8", errors="surrogatepass")
        try:
            report = import_cases(sqlite_city, csv_path, mapping)
        except ImportFailed as exc:
            assert exc.bad and all(b.line >= 2 and b.reason.strip() for b in exc.bad), exc.bad
            return
        except MappingError as exc:
            missing = set(HEADER) - set(header)
            assert any(c in str(exc) for c in missing), str(exc)
            return
        assert report.imported == len(rows) == report.rows

    check()


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage that is not UTF-8 \x81\x82",
        ",".join(HEADER).encode() + b"\r\n" + b'"' + b"x" * 300_000 + b'"' + b",1" * 9 + b"\r\n",
        ",".join(HEADER).encode() + b'\r\n"unterminated, quote\r\n',
        b"",
    ],
)
def test_the_csv_case_import_refuses_unreadable_files(
    sqlite_city: City, tmp_path: Path, content: bytes
) -> None:
    mapping_path = tmp_path / "mapping.toml"
    mapping_path.write_text(MAPPING, encoding="utf-8")
    path = tmp_path / "cases.csv"
    path.write_bytes(content)
    with pytest.raises((MappingError, ImportFailed)) as refused:
        import_cases(sqlite_city, path, mapping_path)
    assert "cases.csv" in str(refused.value) or isinstance(refused.value, ImportFailed), str(refused.value)


# ---- GeoJSON boundaries ----------------------------------------------------------------------------------

COORD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=112.4, max_value=112.7),
    st.floats(min_value=37.6, max_value=38.0),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=3),
    st.none(),
)
POSITION = st.lists(COORD, min_size=0, max_size=4)
RING = st.lists(POSITION, max_size=6)
KINDS = ["Polygon", "MultiPolygon", "Point", "LineString", "GeometryCollection", "Nope"]
SQUARE = [[[112.5, 37.7], [112.6, 37.7], [112.6, 37.8], [112.5, 37.8], [112.5, 37.7]]]
GEOMETRY = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(KINDS),
            "coordinates": st.one_of(
                st.lists(RING, max_size=3), st.lists(st.lists(RING, max_size=2), max_size=2), POSITION,
                st.just(SQUARE), st.just([SQUARE]), st.text(max_size=5),
            ),
        }
    ),
    st.none(),
    st.text(max_size=5),
    st.just({"type": "GeometryCollection", "geometries": [{"type": "Polygon", "coordinates": SQUARE}]}),
)  # fmt: skip
PROPERTIES = st.one_of(
    st.fixed_dictionaries(
        {
            "code": st.one_of(
                st.sampled_from(["140105", "156140105", "14010", "abcdef", ""]), text, st.integers()
            ),
            "name": st.one_of(text, st.none()),
        }
    ),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
FEATURE = st.one_of(
    st.fixed_dictionaries({"type": st.just("Feature"), "geometry": GEOMETRY, "properties": PROPERTIES}),
    st.text(max_size=4),
    st.none(),
    st.integers(),
)
DOCUMENT = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["FeatureCollection", "Feature", "Topology"]),
            "features": st.one_of(st.lists(FEATURE, max_size=4), st.text(max_size=3), st.none()),
            "crs": st.one_of(
                st.just({"type": "name", "properties": {"name": "EPSG:4326"}}),
                st.just({"type": "name", "properties": {"name": "EPSG:999999"}}),
                st.just({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}),
                st.just({"type": "link"}),
                st.text(max_size=4),
            ),
        }
    ),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def test_geojson_import_accepts_or_names_the_bad_features() -> None:
    @given(DOCUMENT, st.sampled_from(["district", "street", "community"]))
    @SETTINGS
    def check(doc: dict[str, Any], level: str) -> None:
        try:
            result = import_areas(doc, level=level)
        except BoundaryImportError as exc:
            assert str(exc).strip()
            for p in exc.problems:
                assert p.index >= 0 and p.reason.strip() and str(p).startswith(f"feature #{p.index}")
            return
        for area in result.areas:
            assert area.geometry.is_valid and not area.geometry.is_empty
            assert all(math.isfinite(v) for v in area.geometry.bounds)

    check()


def test_geojson_files_that_are_not_geojson_are_refused(tmp_path: Path) -> None:
    for name, content in (
        ("empty.geojson", b""),
        ("binary.geojson", b"\x89PNG\r\n\x1a\n\x00\x00"),
        ("array.geojson", b"[1, 2, 3]"),
        ("deep.geojson", b"[" * 100_000 + b"]" * 100_000),
        (
            "nan.geojson",
            b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, Infinity]}}',
        ),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BoundaryImportError, match=re.escape(name)):
            import_areas(path, level="district")


# ---- the city profile loader -----------------------------------------------------------------------------

BUNDLED = tomllib.loads(
    resources.files("civicloop.profiles").joinpath("taiyuan", "profile.toml").read_text(encoding="utf-8")
)
VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):  # the first few items of long lists are enough
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(BUNDLED)


def _mutated(path: tuple[Any, ...], value: Any, delete: bool) -> dict[str, Any]:
    import copy

    data = copy.deepcopy(BUNDLED)
    node = data
    for part in path[:-1]:
        node = node[part]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return data


def test_the_profile_loader_names_the_key_of_every_problem() -> None:
    @given(st.sampled_from(PATHS), VALUES, st.booleans())
    @SETTINGS
    def check(path: tuple[Any, ...], value: Any, delete: bool) -> None:
        try:
            parse_profile(_mutated(path, value, delete), file="profile.toml")
        except ProfileError as exc:
            assert exc.issues and exc.file == "profile.toml"
            for issue in exc.issues:
                assert issue.key.strip() or issue.reason.strip(), exc
            assert any(issue.key for issue in exc.issues), f"no key named for {path}={value!r}: {exc}"

    check()


def test_the_profile_loader_refuses_text_that_is_not_a_profile() -> None:
    @given(
        st.one_of(st.text(max_size=200), st.sampled_from(["a = [", "[[x]]\n[x]", 'id = "\\u0000"', "= 1"]))
    )
    @FEW
    def check(raw: str) -> None:
        with pytest.raises(ProfileError) as refused:
            load_profile_text(raw, file="p.toml")
        assert str(refused.value).startswith("p.toml")

    check()
