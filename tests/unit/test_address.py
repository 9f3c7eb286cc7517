"""Chinese address text (geo/address.py) and the gazetteer's matching on a tiny hand-made city (pure)."""

from __future__ import annotations

import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from civicloop.geo.address import (
    chinese_number,
    extract_phrase,
    house_number_after,
    normalise,
    relations_in,
    short_forms,
    strip_admin_prefix,
)
from civicloop.geo.gazetteer import Codes, Entry, Gazetteer


def test_normalise_full_width_numerals_spaces_and_punctuation() -> None:
    assert normalise("山西省 太原市，小店区　并州路１２号") == "山西省太原市小店区并州路12号"
    assert normalise("并州路十二号3单元") == "并州路12号3单元"
    assert normalise("坞城街道第二社区") == "坞城街道第2社区"
    assert normalise("五一路一百零五号") == "五一路105号"
    assert normalise("12#楼") == "12号楼"
    assert normalise("五一广场") == "五一广场"  # a numeral that is part of a name stays
    assert normalise("ＡＢＣ小区") == "abc小区"


@given(st.text(alphabet="并州路小店区十二号１２ 　，。#ABCabc第一单元附近", max_size=30))
@settings(max_examples=200, deadline=None)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert " " not in once and "　" not in once


@given(st.integers(min_value=0, max_value=9999))
def test_chinese_numbers_round_trip(n: int) -> None:
    digits = "零一二三四五六七八九"
    spelt = "".join(digits[int(c)] for c in str(n))  # digit by digit: 二〇三 style
    assert chinese_number(spelt) == n


def test_chinese_numbers_with_units() -> None:
    assert [chinese_number(t) for t in ("十", "十二", "二十", "一百零五", "两千", "三百四十五")] == [
        10, 12, 20, 105, 2000, 345,
    ]  # fmt: skip
    assert chinese_number("并州") is None


def test_prefixes_relations_numbers_and_short_forms() -> None:
    assert strip_admin_prefix("山西省太原市小店区并州路", ("太原市", "太原")) == "小店区并州路"
    assert strip_admin_prefix("山西小店区", ()) == "小店区"
    assert strip_admin_prefix("太原市", ("太原市",)) == "太原市"  # something always remains
    assert relations_in("长风街与并州路交叉口附近") == ("交叉口", "附近")
    assert house_number_after("并州路12号", 3) == 12 and house_number_after("并州路口", 3) is None
    assert short_forms("小店区", "district") == ["小店"] and short_forms("坞城街道", "street") == ["坞城"]
    assert extract_phrase("市民反映：在阳光小区门口有大量垃圾堆放，影响出行") == "阳光小区门口"
    assert extract_phrase("垃圾很多") is None


def _tiny() -> Gazetteer:
    """Two districts side by side, a road through both, a crossing road, two compounds."""
    west = shapely.box(0.0, 0.0, 1.0, 1.0)
    east = shapely.box(1.0, 0.0, 2.0, 1.0)

    def locate(lon: float, lat: float) -> Codes | None:
        if not (0 <= lat <= 1 and 0 <= lon <= 2):
            return None
        d = "000001" if lon < 1 else "000002"
        return Codes(f"{d}001001{int(lat * 10):03d}", f"{d}001001", f"{d}001", d)

    entries = [
        Entry("西城区", "district", 0.5, 0.5, Codes(district="000001"), west, code="000001"),
        Entry("东城区", "district", 1.5, 0.5, Codes(district="000002"), east, code="000002"),
        Entry("长风街", "road", 1.0, 0.5, Codes(), shapely.LineString([(0, 0.5), (2, 0.5)]), numbers=200),
        Entry("并州路", "road", 0.25, 0.5, Codes(), shapely.LineString([(0.25, 0), (0.25, 1)]), numbers=100),
        Entry("阳光小区", "compound", 1.7, 0.2, locate(1.7, 0.2) or Codes()),
        Entry("阳光花园", "compound", 0.3, 0.8, locate(0.3, 0.8) or Codes()),
        Entry("锦绣苑", "compound", 1.2, 0.9, locate(1.2, 0.9) or Codes()),
    ]
    return Gazetteer(entries, locate=locate, prefixes=["某市"])


def test_matching_places_roads_numbers_crossings_and_typos() -> None:
    gaz = _tiny()
    [m] = gaz.geocode("某市东城区阳光小区门口", 1)
    assert (m.matched, m.codes.district, m.kind) == ("阳光小区", "000002", "compound") and m.confidence > 0.9
    [m] = gaz.geocode("锦绣小区对面", 1)  # an interchangeable place word
    assert m.matched == "锦绣苑" and m.confidence >= 0.8
    [m] = gaz.geocode("长风街１５０号", 1)  # 150 of 200: three quarters along
    assert abs(m.lon - 1.5) < 1e-9 and m.codes.district == "000002" and m.kind == "road_number"
    [m] = gaz.geocode("长风街与并州路路口", 1)
    assert (round(m.lon, 6), round(m.lat, 6), m.kind) == (0.25, 0.5, "crossing")
    [m] = gaz.geocode("西城区长风街", 1)  # a road within a district: the middle of that part
    assert abs(m.lon - 0.5) < 1e-9 and m.kind == "road_in_district" and m.confidence < 0.8
    best = gaz.geocode("锦秀苑附近", 1)  # one wrong character: found, but not trusted
    assert best and best[0].matched == "锦绣苑" and best[0].confidence < 0.8
    assert gaz.geocode("火星基地") == []


def test_a_name_of_two_places_is_unsure_unless_the_district_tells_which() -> None:
    west_codes = Codes("000001001001003", "000001001001", "000001001", "000001")
    twins = [*_tiny().entries, Entry("锦绣苑", "compound", 0.6, 0.3, west_codes)]
    gaz = Gazetteer(twins, locate=_tiny().locate)
    both_ = gaz.geocode("锦绣苑", 5)
    assert len([m for m in both_ if m.matched == "锦绣苑"]) == 2 and both_[0].confidence < 0.8
    [west] = gaz.geocode("西城区锦绣苑", 1)
    assert west.codes.district == "000001" and west.confidence >= 0.8


def test_a_place_that_contradicts_the_named_district_loses_confidence() -> None:
    gaz = _tiny()
    [right] = gaz.geocode("东城区阳光小区", 1)
    [wrong] = gaz.geocode("西城区锦绣苑", 1)
    assert right.confidence >= 0.9 > 0.8 > wrong.confidence


@given(
    st.text(max_size=40)
    | st.text(alphabet="长风街并州路与交叉口号一二十１２阳光小区花园苑西东城区锦绣秀附近#", max_size=40)
)
@settings(max_examples=300, deadline=None)
def test_any_text_gives_ranked_answers_with_confidences_in_0_1(text: str) -> None:
    ranked = _TINY.geocode(text, 5)
    assert len(ranked) <= 5
    assert all(0.0 <= m.confidence <= 1.0 for m in ranked)
    assert [m.confidence for m in ranked] == sorted((m.confidence for m in ranked), reverse=True)


_TINY = _tiny()
