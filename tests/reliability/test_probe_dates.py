"""Probe finding (issue 18, medium): dates near the limits of Python's ``datetime`` answered 500
(OverflowError) without login. Every date of the HTTP layer now goes through one parser
(``civicloop.kernel.dates``) that refuses out-of-range values with a 400 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from civicloop.kernel.dates import EARLIEST, LATEST, DateRefused, parse_datetime
from tests.reliability.test_hostile import open311, refusal

EDGES = [
    ("start_date", "9999-12-30T00:00:00Z"),
    ("end_date", "0001-03-01T00:00:00Z"),
    ("start_date", "0001-01-01T00:00:00+01:00"),
    ("end_date", "9999-12-31T23:59:59-01:00"),
    ("start_date", "1899-12-31T23:59:59Z"),
]


@pytest.mark.parametrize(("name", "value"), EDGES)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_dates_at_the_limits_are_a_400_naming_the_parameter(
    client: TestClient, name: str, value: str, fmt: str
) -> None:
    r = client.get(f"/open311/v2/requests.{fmt}", params={name: value})
    assert r.status_code == 400, r.text
    assert name in r.text and "out of range" in r.text
    # The connection keeps serving (the probe saw the next request on it reset after the 500).
    assert client.get("/open311/v2/requests.json").status_code == 200


def test_an_observed_at_at_the_limit_is_a_400_and_stores_nothing(client: TestClient, api_key: str) -> None:
    before = client.get("/open311/v2/requests.json").json()
    r = client.post(
        "/open311/v2/requests.json",
        data=open311(api_key, **{"attribute[observed_at]": "0001-01-01T00:00:00+01:00"}),
    )
    assert r.status_code == 400, r.text
    assert "attribute[observed_at]" in refusal(r)[1]
    assert client.get("/open311/v2/requests.json").json() == before


def test_the_range_is_inclusive_and_answers_are_utc() -> None:
    assert parse_datetime("1900-01-01T00:00:00Z", "d") == EARLIEST
    assert parse_datetime("2199-12-31T23:59:59.999999Z", "d") == LATEST
    assert parse_datetime("2026-05-01T08:00:00+08:00", "d") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_datetime("2026-05-01T08:00:00 08:00", "d") == datetime(2026, 5, 1, tzinfo=UTC)  # '+' as ' '
    with pytest.raises(DateRefused, match="time zone"):
        parse_datetime("2026-05-01T08:00:00", "d")
    with pytest.raises(DateRefused, match="not a valid"):
        parse_datetime("２０２６-05-01T08:00:00Z", "d")  # full-width digits are not W3C


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(timezones=st.timezones() | st.just(UTC)).filter(lambda d: d.utcoffset() is not None),
    st.sampled_from(["start_date", "end_date", "attribute[observed_at]"]),
)
def test_any_zoned_datetime_is_parsed_or_refused_never_overflows(moment: datetime, name: str) -> None:
    text = moment.isoformat()
    try:
        got = parse_datetime(text, name)
    except DateRefused as exc:
        assert exc.field == name and name in exc.en and name in exc.zh
        return
    assert EARLIEST <= got <= LATEST and got.tzinfo == UTC
    assert got - timedelta(days=90) < got + timedelta(days=90)  # the window arithmetic cannot overflow
