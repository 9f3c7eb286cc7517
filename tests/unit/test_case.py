"""The closed loop as a pure state machine: every branch of a duty room's day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from civicloop.cases.core import CaseState, allowed_actions, replay
from civicloop.kernel.clock import TrafficLight
from civicloop.kernel.errors import (
    IllegalAction,
    InvalidField,
    MissingField,
    RoleNotAllowed,
    TimeRunsBackwards,
)
from civicloop.kernel.vocabulary import Action, ClosureReason, Role, Stage
from tests.support.domain import Case, a_dispatched_case, a_reported_case, as_role, at

MONDAY = at("2026-03-02 09:15")


def test_an_inspector_report_travels_the_whole_loop_and_closes_as_fixed() -> None:
    case = a_dispatched_case(MONDAY)
    assert case.state is not None
    # 09:18 + 4 working hours = 15:18 (lunch 12:00-14:00 does not count)
    assert case.state.deadline == at("2026-03-02 15:18")
    case.do(
        "handle",
        as_role("department", department="sanitation"),
        at("2026-03-02 11:00"),
        note="已清运",
        photos=["p/after.jpg"],
    )
    case.do("send_check", as_role("operator"), at("2026-03-02 11:05"))
    case.do("check", as_role("inspector"), at("2026-03-02 11:30"), passed=True)
    s = case.do("close", as_role("shift_leader"), at("2026-03-02 11:40"))
    assert s.stage is Stage.CLOSED
    assert s.public_status == "closed"
    assert s.closure_reason is ClosureReason.FIXED
    assert s.handled_on_time is True
    assert s.after_photos == ("p/after.jpg",)
    assert [e.action for e in case.events] == [
        Action.REPORT,
        Action.ACCEPT,
        Action.FILE,
        Action.DISPATCH,
        Action.HANDLE,
        Action.SEND_CHECK,
        Action.CHECK,
        Action.CLOSE,
    ]


def test_handling_after_the_deadline_is_late_and_the_closed_case_inherits_it() -> None:
    case = a_dispatched_case(MONDAY)
    s = case.do("handle", as_role("department"), at("2026-03-02 17:00"), note="done")
    assert s.handled_on_time is False
    assert s.handling_light is TrafficLight.RED
    handle = case.events[-1]
    assert handle.data["handling"]["on_time"] is False
    assert handle.data["handling"]["used_minutes"] > handle.data["handling"]["limit_minutes"]


def test_a_public_report_needs_on_site_verification_before_filing() -> None:
    case = a_reported_case(MONDAY, channel="citizen")
    s = case.do("accept", as_role("operator"), MONDAY + timedelta(minutes=5))
    assert s.stage is Stage.VERIFYING
    with pytest.raises(IllegalAction):
        case.do("file", as_role("shift_leader"), MONDAY + timedelta(minutes=6))
    s = case.do("verify", as_role("inspector"), MONDAY + timedelta(minutes=20), confirmed=True)
    assert s.stage is Stage.ACCEPTED


def test_a_report_not_found_on_site_ends_as_invalid_not_as_fixed() -> None:
    case = a_reported_case(MONDAY, channel="citizen")
    case.do("accept", as_role("operator"), MONDAY + timedelta(minutes=5))
    s = case.do("verify", as_role("inspector"), MONDAY + timedelta(minutes=20), confirmed=False)
    assert s.stage is Stage.REJECTED
    assert s.closure_reason is ClosureReason.INVALID
    assert not s.closure_reason.is_fixed


def test_a_return_is_approved_counted_as_wrong_dispatch_and_dispatched_again() -> None:
    case = a_dispatched_case(MONDAY)
    dept = as_role("department", department="sanitation")
    case.do("request_return", dept, at("2026-03-02 10:00"), note="非我单位职责")
    s = case.do("approve_return", as_role("dispatcher"), at("2026-03-02 10:10"))
    assert s.stage is Stage.FILED
    assert s.wrong_dispatch_count == 1
    assert s.department_id is None
    s = case.do("dispatch", as_role("dispatcher"), at("2026-03-02 10:15"), department_id="roads")
    assert s.department_id == "roads"
    assert case.events[-1].data["redispatch"] is True
    assert s.deadline == at("2026-03-02 16:15")  # a fresh 4-hour round for the right department


def test_an_extension_moves_the_deadline_by_working_time() -> None:
    case = a_dispatched_case(MONDAY)
    dept = as_role("department")
    case.do("request_extension", dept, at("2026-03-02 10:00"), amount=2, unit="work_hour", note="需要设备")
    s = case.do("approve_extension", as_role("dispatcher"), at("2026-03-02 10:30"))
    assert s.extension_count == 1
    assert s.deadline == at("2026-03-02 17:18")
    assert s.stage is Stage.DISPATCHED


def test_an_extension_must_use_the_same_kind_of_time_as_the_limit() -> None:
    case = a_dispatched_case(MONDAY)
    with pytest.raises(InvalidField) as err:
        case.do(
            "request_extension",
            as_role("department"),
            at("2026-03-02 10:00"),
            amount=2,
            unit="natural_hour",
            note="x",
        )
    assert err.value.field == "unit"


def test_suspension_stops_the_clock_and_resume_continues_with_the_remaining_time() -> None:
    case = a_dispatched_case(MONDAY)  # dispatched 09:18, 4 h limit
    dept = as_role("department")
    case.do("request_suspension", dept, at("2026-03-02 10:18"), note="需协调产权单位")
    s = case.do("approve_suspension", as_role("dispatcher"), at("2026-03-02 11:18"))
    assert s.stage is Stage.SUSPENDED
    assert s.handling_used_minutes == pytest.approx(120)  # the request itself did not stop the clock
    s = case.do("resume", as_role("dispatcher"), at("2026-03-05 09:00"))
    assert s.deadline == at("2026-03-05 11:00")  # two of the four hours remain
    s = case.do("handle", dept, at("2026-03-05 10:00"), note="ok")
    assert s.handled_on_time is True


def test_a_failed_check_is_rework_back_to_dispatch() -> None:
    case = a_dispatched_case(MONDAY)
    case.do("handle", as_role("department"), at("2026-03-02 10:00"), note="done")
    case.do("send_check", as_role("operator"), at("2026-03-02 10:01"))
    with pytest.raises(MissingField) as err:
        case.do("check", as_role("inspector"), at("2026-03-02 10:30"), passed=False)
    assert err.value.field == "note"
    s = case.do("check", as_role("inspector"), at("2026-03-02 10:30"), passed=False, note="仍有垃圾")
    assert s.stage is Stage.FILED
    assert s.rework_count == 1
    assert s.department_id == "sanitation"  # the same department is the default for the new dispatch


def test_void_needs_the_shift_leaders_approval_and_a_duplicate_names_its_original() -> None:
    case = a_dispatched_case(MONDAY)
    with pytest.raises(InvalidField) as err:
        case.do(
            "request_void", as_role("dispatcher"), at("2026-03-02 10:00"), reason="duplicate", note="重复"
        )
    assert err.value.field == "duplicate_of"
    case.do(
        "request_void",
        as_role("dispatcher"),
        at("2026-03-02 10:00"),
        reason="duplicate",
        note="重复",
        duplicate_of="TC-2026-0000009",
    )
    s = case.do("deny_void", as_role("shift_leader"), at("2026-03-02 10:05"), note="不是重复")
    assert s.stage is Stage.DISPATCHED
    case.do(
        "request_void",
        as_role("dispatcher"),
        at("2026-03-02 10:10"),
        reason="duplicate",
        note="重复",
        duplicate_of="TC-2026-0000009",
    )
    s = case.do("approve_void", as_role("shift_leader"), at("2026-03-02 10:15"))
    assert s.stage is Stage.VOIDED
    assert s.closure_reason is ClosureReason.DUPLICATE
    assert s.duplicate_of == "TC-2026-0000009"
    assert s.public_status == "closed"


def test_self_handling_is_reviewed() -> None:
    case = a_reported_case(MONDAY, self_handled=True, note="已当场扶正")
    assert case.state is not None and case.state.stage is Stage.SELF_HANDLED
    s = case.do("approve_self_handling", as_role("operator"), MONDAY + timedelta(minutes=10))
    assert s.stage is Stage.CLOSED
    assert s.closure_reason is ClosureReason.SELF_FIXED


def test_only_an_inspector_may_self_handle() -> None:
    with pytest.raises(InvalidField) as err:
        a_reported_case(MONDAY, channel="citizen", self_handled=True, note="x")
    assert err.value.field == "self_handled"


def test_an_illegal_action_names_state_action_and_role_and_changes_nothing() -> None:
    case = a_reported_case(MONDAY)
    before = case.state
    with pytest.raises(IllegalAction) as err:
        case.do("close", as_role("shift_leader"), MONDAY + timedelta(minutes=1))
    assert err.value.state is Stage.REPORTED
    assert err.value.action is Action.CLOSE
    assert err.value.role is Role.SHIFT_LEADER
    assert "待受理" in err.value.render("zh-CN") and "awaiting acceptance" in err.value.render("en")
    assert case.state is before and len(case.events) == 1


def test_a_role_that_may_never_take_an_action_is_told_who_may() -> None:
    case = a_reported_case(MONDAY)
    with pytest.raises(RoleNotAllowed) as err:
        case.do("accept", as_role("department"), MONDAY + timedelta(minutes=1))
    assert "operator" in err.value.render("en")


def test_time_cannot_run_backwards() -> None:
    case = a_reported_case(MONDAY)
    with pytest.raises(TimeRunsBackwards):
        case.do("accept", as_role("operator"), MONDAY - timedelta(minutes=1))


def test_a_report_needs_a_valid_location_and_a_case_is_reported_once() -> None:
    case = a_reported_case(MONDAY)
    with pytest.raises(IllegalAction):
        case.do("report", as_role("inspector"), MONDAY, channel="inspector", lon=112.5, lat=37.8)
    fresh = Case()
    with pytest.raises(InvalidField) as err:
        fresh.do("report", as_role("inspector"), MONDAY, channel="inspector", category_code="06010")
    assert err.value.field == "location"
    with pytest.raises(InvalidField) as err:
        fresh.do("report", as_role("inspector"), MONDAY, channel="inspector", lon=float("nan"), lat=37.0)
    assert err.value.field == "lon"


def test_a_report_at_lunch_break_starts_its_steps_at_14_00() -> None:
    case = a_reported_case(at("2026-03-02 12:30"))
    assert case.state is not None
    # the accept step (0.5 working hour) starts counting at 14:00
    assert case.state.step_deadline == at("2026-03-02 14:30")


def test_an_urgent_category_gets_the_urgent_limit_in_natural_hours() -> None:
    case = a_dispatched_case(at("2026-03-07 22:00"), category="01003", urgency="urgent")  # a Saturday night
    assert case.state is not None
    assert case.state.deadline == at("2026-03-08 00:03")


def test_reopen_after_a_false_closure() -> None:
    case = a_dispatched_case(MONDAY)
    case.do("handle", as_role("department"), at("2026-03-02 10:00"), note="done")
    case.do("send_check", as_role("operator"), at("2026-03-02 10:01"))
    case.do("check", as_role("inspector"), at("2026-03-02 10:30"), passed=True)
    case.do("close", as_role("shift_leader"), at("2026-03-02 10:40"))
    s = case.do("reopen", as_role("shift_leader"), at("2026-03-03 09:00"), note="群众反映仍未处理")
    assert s.stage is Stage.FILED and s.closure_reason is None and s.reopen_count == 1


def test_replay_equals_the_state_built_step_by_step_and_the_document_round_trips() -> None:
    case = a_dispatched_case(MONDAY)
    case.do(
        "request_extension",
        as_role("department"),
        at("2026-03-02 10:00"),
        amount=1,
        unit="work_day",
        note="x",
    )
    case.do("approve_extension", as_role("dispatcher"), at("2026-03-02 10:30"))
    assert replay(case.events) == case.state
    assert case.state is not None
    assert CaseState.from_doc(case.state.to_doc()) == case.state


def test_allowed_actions_lists_what_a_role_can_do_now() -> None:
    case = a_dispatched_case(MONDAY)
    assert set(allowed_actions(case.state, Role.DEPARTMENT)) == {
        Action.REQUEST_RETURN,
        Action.REQUEST_EXTENSION,
        Action.REQUEST_SUSPENSION,
        Action.HANDLE,
        Action.COMMENT,
    }
    assert Action.DISPATCH not in allowed_actions(case.state, Role.DISPATCHER)


def test_step_results_record_the_light_of_each_step_left() -> None:
    case = a_reported_case(MONDAY)
    case.do("accept", as_role("operator"), MONDAY + timedelta(minutes=40))  # 0.5 h limit: late
    result = case.events[-1].data["step_result"]
    assert result["step"] == "accept"
    assert result["on_time"] is False
    assert result["light"] == "red"
