"""The intake pipeline: suggestions, automatic dispatch, duplicates and clusters, recurrence, urgency,
corrections as training examples — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.intake.service import IntakeReport, IntakeService
from civicloop.kernel.vocabulary import Action, ClosureReason, Stage, Urgency
from civicloop.triage.store import notifications, triage_examples
from tests.support.domain import as_role, at

MONDAY = at("2026-03-02 09:15")
SPOT = (112.5600, 37.8400)


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    return init_city("taiyuan", engine=backend[1], city_id=city_id)


def _intake(city: City) -> IntakeService:
    # Locating is the geography capability's job and tested there; here points are taken as given.
    return IntakeService(city, locate=lambda _city, fields: fields)


def _inspector_report(user: str, text: str, lon: float, lat: float, when=MONDAY, category="06010"):  # type: ignore[no-untyped-def]
    fields = {"channel": "inspector", "category_code": category, "lon": lon, "lat": lat, "description": text}
    return IntakeReport(as_role("inspector", user), fields, when)


def _metres_east(lon: float, lat: float, metres: float) -> tuple[float, float]:
    import math

    return lon + metres / (111_320 * math.cos(math.radians(lat))), lat


def test_an_inspector_report_with_a_category_is_filed_and_dispatched_automatically(city: City) -> None:
    intake = _intake(city)
    [out] = intake.submit([_inspector_report("ins-1", "坞城路口东侧垃圾成堆", *SPOT)])
    assert out.outcome == "auto_dispatched"
    state = city.cases.get(out.case_id or "")
    assert state.stage is Stage.DISPATCHED
    assert state.department_id == out.suggestion["department_id"]
    assert state.triage is not None and state.triage["category_source"] == "reporter"


def test_exact_and_near_duplicates_join_the_open_case_far_or_other_kinds_do_not(city: City) -> None:
    intake = _intake(city)
    [master] = intake.submit([_inspector_report("ins-1", "坞城路口东侧垃圾成堆约两平方米", *SPOT)])
    later = MONDAY + timedelta(minutes=30)
    exact, near, far, other = intake.submit([
        _inspector_report("ins-2", "坞城路口东侧垃圾成堆约两平方米", *SPOT, when=later),
        _inspector_report("ins-3", "坞城路口东侧有一堆垃圾", *_metres_east(*SPOT, 20), when=later),
        _inspector_report("ins-4", "坞城路口东侧垃圾成堆", *_metres_east(*SPOT, 2000), when=later),
        _inspector_report("ins-5", "路口有人占道经营", *SPOT, when=later, category="09006"),
    ])  # fmt: skip
    assert exact.outcome == "merged" and exact.suggestion["duplicate_of"] == master.case_id
    assert near.outcome == "merged" and near.suggestion["duplicate_of"] == master.case_id
    assert far.outcome == "auto_dispatched" and far.suggestion["duplicate_of"] is None
    assert other.outcome == "auto_dispatched" and other.suggestion["duplicate_of"] is None
    merged = city.cases.get(exact.case_id or "")
    assert merged.stage is Stage.REJECTED and merged.closure_reason is ClosureReason.DUPLICATE
    assert set(city.cases.get(master.case_id or "").cluster_members) == {exact.case_id, near.case_id}


def test_when_the_master_closes_every_reporter_of_the_cluster_hears_the_outcome(city: City) -> None:
    intake = _intake(city)
    [master] = intake.submit([_inspector_report("ins-1", "垃圾成堆", *SPOT)])
    intake.submit([_inspector_report("ins-2", "垃圾成堆", *SPOT, when=MONDAY + timedelta(minutes=5))])
    case_id = master.case_id or ""
    dept = city.cases.get(case_id).department_id
    t = MONDAY + timedelta(hours=1)
    city.cases.act(
        case_id,
        Action.HANDLE,
        as_role("department", "h", department=dept),
        {"note": "清运", "photos": ["p/after.jpg"]},
        at=t,
    )
    city.cases.act(case_id, Action.SEND_CHECK, as_role("operator"), at=t + timedelta(minutes=1))
    city.cases.act(
        case_id,
        Action.CHECK,
        as_role("inspector"),
        {"passed": True, "photos": ["p/check.jpg"]},
        at=t + timedelta(minutes=2),
    )
    city.cases.act(case_id, Action.CLOSE, as_role("shift_leader"), at=t + timedelta(minutes=3))
    with city.engine.connect() as conn:
        rows = conn.execute(
            select(notifications).where(
                notifications.c.city_id == city.id, notifications.c.about_case_id == case_id
            )
        )
        told = {r.reporter_id for r in rows}
    assert told == {"ins-1", "ins-2"}


def test_a_person_correcting_the_suggested_category_creates_a_training_example(city: City) -> None:
    intake = _intake(city)
    fields = {"channel": "citizen", "lon": SPOT[0], "lat": SPOT[1], "description": "小区门口垃圾成堆没人管"}
    [out] = intake.submit([IntakeReport(as_role("citizen", "c-1"), fields, MONDAY)])
    assert out.outcome == "queued"  # keywords alone never route automatically
    assert out.suggestion["category_code"] == "06010"
    city.cases.act(out.case_id or "", Action.ACCEPT, as_role("operator"), {"category_code": "06042"},
                   at=MONDAY + timedelta(minutes=5))  # fmt: skip
    with city.engine.connect() as conn:
        rows = conn.execute(select(triage_examples).where(triage_examples.c.city_id == city.id)).all()
    assert [(r.kind, r.label, r.suggested) for r in rows] == [("category", "06042", "06010")]
    assert "垃圾成堆" in rows[0].text


def test_an_urgent_rule_fires_with_its_reason_and_shortens_the_deadline(city: City) -> None:
    intake = _intake(city)
    urgent, normal = intake.submit([
        _inspector_report("ins-1", "人行道雨水井盖缺失，行人易跌落", *SPOT, category="01003"),
        _inspector_report("ins-2", "雨水井盖松动有响声", *_metres_east(*SPOT, 500), category="01003"),
    ])  # fmt: skip
    assert urgent.suggestion["urgency"] == "urgent" and "井盖 缺失" in urgent.suggestion["urgency_rule"]
    assert normal.suggestion["urgency"] == "normal" and normal.suggestion["urgency_rule"] is None
    u, n = city.cases.get(urgent.case_id or ""), city.cases.get(normal.case_id or "")
    assert u.urgency is Urgency.URGENT
    assert u.deadline is not None and n.deadline is not None
    assert u.deadline - MONDAY < n.deadline - MONDAY


def test_a_report_where_a_case_was_recently_closed_is_flagged_as_a_recurrence(city: City) -> None:
    intake = _intake(city)
    [first] = intake.submit([_inspector_report("ins-1", "垃圾成堆", *SPOT)])
    case_id = first.case_id or ""
    dept = city.cases.get(case_id).department_id
    t = MONDAY + timedelta(hours=1)
    city.cases.act(
        case_id,
        Action.HANDLE,
        as_role("department", "h", department=dept),
        {"note": "清运", "photos": ["p/after.jpg"]},
        at=t,
    )
    city.cases.act(case_id, Action.SEND_CHECK, as_role("operator"), at=t)
    city.cases.act(
        case_id, Action.CHECK, as_role("inspector"), {"passed": True, "photos": ["p/check.jpg"]}, at=t
    )
    city.cases.act(case_id, Action.CLOSE, as_role("shift_leader"), at=t)
    [again] = intake.submit(
        [_inspector_report("ins-2", "又有垃圾成堆", *SPOT, when=MONDAY + timedelta(days=3))]
    )
    assert again.suggestion["recurrence_of"] == case_id
    assert city.cases.get(case_id).recurrence_count == 1
    assert city.cases.get(again.case_id or "").recurrence_of == case_id


def test_a_wrong_merge_can_be_split_off_again(city: City) -> None:
    intake = _intake(city)
    [master] = intake.submit([_inspector_report("ins-1", "垃圾成堆", *SPOT)])
    [dup] = intake.submit([_inspector_report("ins-2", "垃圾成堆", *SPOT, when=MONDAY + timedelta(minutes=5))])
    t = MONDAY + timedelta(minutes=10)
    city.cases.act(master.case_id or "", Action.UNLINK_DUPLICATE, as_role("operator"),
                   {"member_id": dup.case_id, "note": "不是同一处"}, at=t)  # fmt: skip
    s = city.cases.act(dup.case_id or "", Action.SPLIT, as_role("operator"), {"note": "不是同一处"}, at=t)
    assert s.stage is Stage.REPORTED and s.closure_reason is None and s.duplicate_of is None
    assert city.cases.get(master.case_id or "").cluster_members == ()


def test_the_review_queue_puts_urgent_and_old_reports_first(city: City) -> None:
    intake = _intake(city)
    citizen = as_role("citizen", "c-1")
    old, urgent = intake.submit([
        IntakeReport(citizen, {"channel": "citizen", "lon": 112.50, "lat": 37.80,
                               "description": "路边有垃圾"}, MONDAY),
        IntakeReport(citizen, {"channel": "citizen", "lon": 112.52, "lat": 37.82,
                               "description": "马路上燃气泄漏有味道"}, MONDAY + timedelta(hours=1)),
    ])  # fmt: skip
    queue = intake.review_queue(MONDAY + timedelta(hours=2))
    assert [s.case_id for _, s in queue[:2]] == [urgent.case_id, old.case_id]
    assert urgent.suggestion["urgency_rule"] == "generic: 燃气 泄漏"
