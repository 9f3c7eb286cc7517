"""The case service on a real store (SQLite and PostgreSQL): durability, projection, rebuild, scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.exc import DBAPIError

from civicloop.bootstrap import init_city
from civicloop.cases import rebuild
from civicloop.cases.service import ReporterInfo
from civicloop.city.service import City
from civicloop.kernel.errors import IllegalAction, OutOfScope
from civicloop.kernel.vocabulary import Action, Stage
from civicloop.store.tables import cases, events
from tests.support.domain import as_role, at

MONDAY = at("2026-03-02 09:15")


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    return init_city("taiyuan", engine=backend[1], city_id=city_id)


def _report(city: City, when=MONDAY, **extra: object):  # type: ignore[no-untyped-def]
    fields = {
        "channel": "inspector",
        "category_code": "06010",
        "lon": 112.56,
        "lat": 37.84,
        "description": "坞城路口垃圾成堆",
        **extra,
    }
    return city.cases.report(as_role("inspector", "ins-1"), fields, at=when)


def _through_dispatch(city: City, case_id: str, dept: str) -> None:
    city.cases.act(case_id, Action.ACCEPT, as_role("operator"), at=MONDAY + timedelta(minutes=1))
    city.cases.act(case_id, Action.FILE, as_role("shift_leader"), at=MONDAY + timedelta(minutes=2))
    city.cases.act(
        case_id,
        Action.DISPATCH,
        as_role("dispatcher"),
        {"department_id": dept},
        at=MONDAY + timedelta(minutes=3),
    )


def test_a_case_goes_round_the_loop_and_the_projection_equals_the_replay(city: City) -> None:
    s = _report(city)
    assert s.case_id == f"{city.profile.case_prefix}-2026-0000001"
    dept = city.profile.responsible_department("06010").id
    _through_dispatch(city, s.case_id, dept)
    handler = as_role("department", "h-1", department=dept)
    city.cases.act(
        s.case_id,
        Action.HANDLE,
        handler,
        {"note": "已清运", "photos": ["p/after.jpg"]},
        at=MONDAY + timedelta(hours=1),
    )
    city.cases.act(
        s.case_id, Action.SEND_CHECK, as_role("operator"), at=MONDAY + timedelta(hours=1, minutes=5)
    )
    city.cases.act(
        s.case_id,
        Action.CHECK,
        as_role("inspector"),
        {"passed": True, "photos": ["p/check.jpg"]},
        at=MONDAY + timedelta(hours=1, minutes=30),
    )
    final = city.cases.act(s.case_id, Action.CLOSE, as_role("shift_leader"), at=MONDAY + timedelta(hours=2))
    assert final.stage is Stage.CLOSED
    assert city.cases.get(s.case_id) == final
    assert [e.action for e in city.cases.timeline(s.case_id)][-1] is Action.CLOSE
    report = rebuild.check(city.store, city.id)
    assert report.ok and report.cases == 1 and report.events == 8


def test_steps_diffed_against_the_cached_row_or_the_stored_state_store_the_same_projection(
    city: City,
) -> None:
    """Each UPDATE sets only the columns that changed: found against the row this process wrote last (a
    warm cache) or against the state read back (cold). Both ways the projection equals the replay."""
    warm, cold = _report(city), _report(city)
    dept = city.profile.responsible_department("06010").id
    handler = as_role("department", "h-1", department=dept)
    steps = [
        (Action.ACCEPT, as_role("operator"), {}),
        (Action.FILE, as_role("shift_leader"), {"urgency": "urgent"}),
        (Action.DISPATCH, as_role("dispatcher"), {"department_id": dept}),
        (Action.HANDLE, handler, {"note": "已清运", "photos": ["p/after.jpg"]}),
        (Action.SEND_CHECK, as_role("operator"), {}),
        (Action.CHECK, as_role("inspector"), {"passed": False, "note": "未清理干净"}),
    ]
    for minutes, (action, actor, fields) in enumerate(steps, start=1):
        when = MONDAY + timedelta(minutes=10 * minutes)
        city.cases.act(warm.case_id, action, actor, fields, at=when)
        city.cases.cache.drop([cold.case_id])
        city.cases.act(cold.case_id, action, actor, fields, at=when)
    cached = city.cases.cache.get_many([warm.case_id])[warm.case_id]
    assert cached.row is not None and cached.state.rework_count == 1
    report = rebuild.check(city.store, city.id)
    assert report.ok and report.cases == 2 and report.events == 14


def test_a_refused_action_writes_nothing(city: City) -> None:
    s = _report(city)
    with pytest.raises(IllegalAction):
        city.cases.act(s.case_id, Action.CLOSE, as_role("shift_leader"), at=MONDAY + timedelta(minutes=1))
    assert len(city.cases.timeline(s.case_id)) == 1
    assert city.cases.get(s.case_id).version == 1


def test_a_department_cannot_touch_another_departments_case(city: City) -> None:
    s = _report(city)
    dept = city.profile.responsible_department("06010").id
    _through_dispatch(city, s.case_id, dept)
    other = next(d.id for d in city.profile.departments if d.id != dept)
    with pytest.raises(OutOfScope):
        city.cases.act(
            s.case_id,
            Action.HANDLE,
            as_role("department", "x", department=other),
            {"note": "x"},
            at=MONDAY + timedelta(hours=1),
        )
    with pytest.raises(OutOfScope):
        city.cases.get(s.case_id, as_role("department", "x", department=other))


def test_rebuild_check_finds_a_hand_edited_projection_row(city: City) -> None:
    s = _report(city)
    with city.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.case_id == s.case_id).values(stage="closed"))
    report = rebuild.check(city.store, city.id)
    assert not report.ok
    assert {d.column for d in report.differences} >= {"stage"}
    rebuild.rewrite(city.store, city.id)
    assert rebuild.check(city.store, city.id).ok


def test_the_event_log_refuses_updates_and_deletes(city: City) -> None:
    _report(city)
    with pytest.raises(DBAPIError), city.engine.begin() as conn:
        conn.execute(update(events).where(events.c.city_id == city.id).values(note="edited"))
    with pytest.raises(DBAPIError), city.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE city_id = :c"), {"c": city.id})


def test_reporter_identity_stays_out_of_the_log_and_can_be_erased(city: City) -> None:
    s = city.cases.report(
        as_role("operator"),
        {"channel": "hotline", "category_code": "06010", "lon": 112.5, "lat": 37.8},
        at=MONDAY,
        reporter=ReporterInfo("张三", "13912345678"),
    )
    assert s.reporter_id is not None
    with city.engine.connect() as conn:
        logged = conn.execute(text("SELECT data FROM events WHERE city_id = :c"), {"c": city.id}).scalar_one()
    assert "13912345678" not in logged and "张三" not in logged
    assert city.cases.reporter(s.reporter_id) == ReporterInfo("张三", "13912345678")
    assert city.cases.anonymise_reporter(s.reporter_id, as_role("operator")) == 1
    assert city.cases.reporter(s.reporter_id) == ReporterInfo(None, None, None)
    assert city.cases.get(s.case_id).case_id == s.case_id  # the case stays


def test_case_numbers_are_unique_and_consecutive_per_city_and_year(city: City) -> None:
    ids = [_report(city, MONDAY + timedelta(minutes=i)).case_id for i in range(3)]
    assert ids == [f"{city.profile.case_prefix}-2026-{n:07d}" for n in (1, 2, 3)]
    assert _report(city, at("2027-01-04 09:00")).case_id.endswith("2027-0000001")


def test_named_cases_come_in_the_same_order_and_pages_as_the_sql_orders_them(city: City) -> None:
    from civicloop.cases.service import CaseQuery

    made = [_report(city, when=MONDAY - timedelta(minutes=i % 4)) for i in range(9)]  # ties on time
    dept = city.profile.responsible_department("06010").id
    for s in made[:4]:
        _through_dispatch(city, s.case_id, dept)  # these have deadlines, the others none
    ids = [s.case_id for s in made[1:8]]
    for order in ("created_desc", "deadline_asc"):
        everything = city.cases.search(CaseQuery(order=order, limit=100))
        expected = [s.case_id for s in everything if s.case_id in ids]
        assert len(expected) == 7
        for offset, limit in ((0, 100), (0, 3), (2, 3), (6, 5), (9, 2)):
            page = city.cases.search(CaseQuery(ids=ids, order=order, offset=offset, limit=limit))
            assert [s.case_id for s in page] == expected[offset : offset + limit], (order, offset)
