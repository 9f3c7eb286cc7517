"""A small, hand-built month in the duty room (November 2026, Taiyuan profile), written through CaseService.

Every time is Beijing time. Working time is 08:00–12:00 and 14:00–18:00 on workdays; the step limits of
the profile are 30 working minutes (accept, verify, file, dispatch, send check, check) and 60 (close);
06010 condition 1 is handled within 4 working hours. The comments give each step's deadline and whether
it was met, so that the expected figures in test_engine.py can be checked by hand.

    C1  inspector ins-a, 140105 — the textbook case; the check is late (11:50 > 11:40).
    C2  inspector ins-b, 140106 — filed late (09:45 > 09:35); the first check fails (返工); the second
        round is handled late (Tue 10:00 > 09:30); closed, not on time.
    C3  citizen report, verified by ins-a — dispatched to ty-roads, returned (回退), re-dispatched to
        ty-sanitation, extended by 2 working hours (延期), handled in time thanks to the extension.
    C4  inspector ins-a — dispatched late (09:45 > 09:40), then suspended (挂账) and still suspended at
        the end of November.
    C5  inspector ins-b — suspended, resumed the next Monday, handled in time, closed late (15:00 > 14:20).
    C6  inspector ins-a — dispatched on 30 November 09:15, due 15:15: open and overdue at the period end.
    C7  inspector ins-b — dispatched 30 November 14:15, due Tue 1 December 08:15: yellow at the end.
    C8  inspector ins-a — dispatched 30 November 17:00, due 1 December 11:00: green at the end.
    C9  inspector ins-a — reported and dispatched on Friday 30 October (due 15:15 that day), handled late
        on Monday 2 November: it spans the two periods.
    C10 inspector ins-b — filed, then voided as a duplicate of C1 (作废).
    C11 citizen report — verified late (10:50 > 10:35) by ins-a, then not filed (不予立案).
    C12 citizen report — not accepted (不予受理).
    C13 inspector ins-a — self-handled on the spot (自处置), approved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role

BEIJING = ZoneInfo("Asia/Shanghai")
S = "ty-sanitation"
R = "ty-roads"
#: 处置反馈 and 核查通过 carry a photo (the profile's safeguards).
HANDLED = {"note": "已清运", "photos": ["a.jpg"]}
PASSED = {"passed": True, "photos": ["c.jpg"]}
D1, D2 = "140105", "140106"
G1, G2 = "140105001001001", "140106001001001"
ST1, ST2 = "140105001", "140106001"
CM1, CM2 = "140105001001", "140106001001"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


INS_A = Actor("ins-a", Role.INSPECTOR)
INS_B = Actor("ins-b", Role.INSPECTOR)
OP1 = Actor("op-1", Role.OPERATOR)
OP2 = Actor("op-2", Role.OPERATOR)
SL1 = Actor("sl-1", Role.SHIFT_LEADER)
SL2 = Actor("sl-2", Role.SHIFT_LEADER)
DP1 = Actor("dp-1", Role.DISPATCHER)
DP2 = Actor("dp-2", Role.DISPATCHER)


def dept(department_id: str) -> Actor:
    return Actor(f"h-{department_id}", Role.DEPARTMENT, department_id=department_id)


@dataclass
class History:
    city: City
    ids: dict[str, str] = field(default_factory=dict)

    def report(self, name: str, actor: Actor, when: str, district: int, **extra: Any) -> str:
        d, g, st, cm = (D1, G1, ST1, CM1) if district == 1 else (D2, G2, ST2, CM2)
        fields: dict[str, Any] = {
            "channel": "inspector" if actor.role is Role.INSPECTOR else "citizen",
            "category_code": "06010",
            "lon": 112.55 if district == 1 else 112.57,
            "lat": 37.85 if district == 1 else 37.86,
            "address": "坞城路 12 号" if district == 1 else "迎泽大街 8 号",
            "district_code": d,
            "street_code": st,
            "community_code": cm,
            "grid_code": g,
            "description": f"{name} 垃圾成堆",
            **extra,
        }
        state = self.city.cases.report(actor, fields, at=at(when))
        self.ids[name] = state.case_id
        return state.case_id

    def act(self, name: str, action: Action, actor: Actor, when: str, **fields: Any) -> None:
        self.city.cases.act(self.ids[name], action, actor, fields, at=at(when))

    def loop(self, name: str, steps: list[tuple[Action, Actor, str, dict[str, Any]]]) -> None:
        for action, actor, when, fields in steps:
            self.act(name, action, actor, when, **fields)


A = Action


def build(city: City) -> History:
    h = History(city)
    sd = dept(S)
    # C9 first: October.
    h.report("C9", INS_A, "2026-10-30 09:00", 1)
    h.loop("C9", [
        (A.ACCEPT, OP1, "2026-10-30 09:05", {}),
        (A.FILE, SL1, "2026-10-30 09:10", {}),
        (A.DISPATCH, DP1, "2026-10-30 09:15", {"department_id": S}),          # due Fri 15:15
        (A.HANDLE, sd, "2026-11-02 10:00", HANDLED),  # late; used 405 + 120 = 525
        (A.SEND_CHECK, OP1, "2026-11-02 10:05", {}),
        (A.CHECK, INS_A, "2026-11-02 10:20", PASSED),
        (A.CLOSE, SL1, "2026-11-02 10:30", {}),
    ])  # fmt: skip
    h.report("C1", INS_A, "2026-11-02 09:00", 1)
    h.loop("C1", [
        (A.ACCEPT, OP1, "2026-11-02 09:10", {}),                              # ≤ 09:30 ✓
        (A.FILE, SL1, "2026-11-02 09:20", {}),                                # ≤ 09:40 ✓
        (A.DISPATCH, DP1, "2026-11-02 09:25", {"department_id": S}),          # ≤ 09:50 ✓, due 15:25
        (A.HANDLE, sd, "2026-11-02 11:00", HANDLED),                # ✓ used 95
        (A.SEND_CHECK, OP1, "2026-11-02 11:10", {}),                          # ≤ 11:30 ✓
        (A.CHECK, INS_A, "2026-11-02 11:50", PASSED),              # > 11:40 ✗
        (A.CLOSE, SL1, "2026-11-02 12:00", {}),                               # ≤ 14:50 ✓
    ])  # fmt: skip
    h.report("C2", INS_B, "2026-11-02 09:00", 2)
    h.loop("C2", [
        (A.ACCEPT, OP2, "2026-11-02 09:05", {}),
        (A.FILE, SL2, "2026-11-02 09:45", {}),                                # > 09:35 ✗
        (A.DISPATCH, DP2, "2026-11-02 09:50", {"department_id": S}),          # ✓ due 15:50
        (A.HANDLE, sd, "2026-11-02 15:00", HANDLED),                # ✓ used 190
        (A.SEND_CHECK, OP2, "2026-11-02 15:05", {}),
        (A.CHECK, INS_B, "2026-11-02 15:20", {"passed": False, "note": "仍有垃圾"}),  # 返工
        (A.DISPATCH, DP2, "2026-11-02 15:30", {"department_id": S}),          # ✓ due Tue 09:30
        (A.HANDLE, sd, "2026-11-03 10:00", HANDLED),                # ✗ used 270
        (A.SEND_CHECK, OP2, "2026-11-03 10:05", {}),
        (A.CHECK, INS_B, "2026-11-03 10:20", PASSED),
        (A.CLOSE, SL2, "2026-11-03 10:30", {}),
    ])  # fmt: skip
    h.report("C3", Actor("citizen-3", Role.CITIZEN), "2026-11-03 09:00", 1)
    h.loop("C3", [
        (A.ACCEPT, OP1, "2026-11-03 09:10", {}),                              # → verifying ✓
        (A.VERIFY, INS_A, "2026-11-03 09:30", {"confirmed": True}),           # ≤ 09:40 ✓
        (A.FILE, SL1, "2026-11-03 09:35", {}),
        (A.DISPATCH, DP1, "2026-11-03 09:40", {"department_id": R}),          # wrong department
        (A.REQUEST_RETURN, dept(R), "2026-11-03 10:00", {"note": "非本单位职责"}),
        (A.APPROVE_RETURN, DP1, "2026-11-03 10:30", {}),                      # 回退
        (A.DISPATCH, DP1, "2026-11-03 10:40", {"department_id": S}),          # ✓ due 16:40
        (A.REQUEST_EXTENSION, sd, "2026-11-03 11:00",
         {"amount": 2, "unit": "work_hour", "note": "需要车辆"}),
        (A.APPROVE_EXTENSION, DP1, "2026-11-03 11:10", {}),                   # due Wed 08:40
        (A.HANDLE, sd, "2026-11-04 08:30", HANDLED),                # ✓ used 350
        (A.SEND_CHECK, OP1, "2026-11-04 08:35", {}),
        (A.CHECK, INS_A, "2026-11-04 08:50", PASSED),
        (A.CLOSE, SL1, "2026-11-04 09:00", {}),
    ])  # fmt: skip
    h.report("C4", INS_A, "2026-11-04 09:00", 1)
    h.loop("C4", [
        (A.ACCEPT, OP1, "2026-11-04 09:05", {}),
        (A.FILE, SL1, "2026-11-04 09:10", {}),
        (A.DISPATCH, DP1, "2026-11-04 09:45", {"department_id": S}),          # > 09:40 ✗
        (A.REQUEST_SUSPENSION, sd, "2026-11-04 10:15", {"note": "产权争议"}),
        (A.APPROVE_SUSPENSION, DP1, "2026-11-04 10:45", {}),                  # used 60, stays suspended
    ])  # fmt: skip
    h.report("C5", INS_B, "2026-11-05 09:00", 2)
    h.loop("C5", [
        (A.ACCEPT, OP2, "2026-11-05 09:05", {}),
        (A.FILE, SL2, "2026-11-05 09:10", {}),
        (A.DISPATCH, DP2, "2026-11-05 09:15", {"department_id": S}),
        (A.REQUEST_SUSPENSION, sd, "2026-11-05 09:45", {"note": "等待审批"}),
        (A.APPROVE_SUSPENSION, DP2, "2026-11-05 10:15", {}),                  # used 60
        (A.RESUME, DP2, "2026-11-09 09:00", {}),                              # 180 left → due 12:00
        (A.HANDLE, sd, "2026-11-09 11:00", HANDLED),                # ✓ used 180
        (A.SEND_CHECK, OP2, "2026-11-09 11:05", {}),
        (A.CHECK, INS_B, "2026-11-09 11:20", PASSED),
        (A.CLOSE, SL2, "2026-11-09 15:00", {}),                               # > 14:20 ✗
    ])  # fmt: skip
    h.report("C6", INS_A, "2026-11-30 09:00", 1)
    h.loop("C6", [
        (A.ACCEPT, OP1, "2026-11-30 09:05", {}),
        (A.FILE, SL1, "2026-11-30 09:10", {}),
        (A.DISPATCH, DP1, "2026-11-30 09:15", {"department_id": S}),          # due 15:15, never handled
    ])  # fmt: skip
    h.report("C7", INS_B, "2026-11-30 13:50", 2)
    h.loop("C7", [
        (A.ACCEPT, OP2, "2026-11-30 14:00", {}),
        (A.FILE, SL2, "2026-11-30 14:05", {}),
        (A.DISPATCH, DP2, "2026-11-30 14:15", {"department_id": S}),          # due Tue 08:15
    ])  # fmt: skip
    h.report("C8", INS_A, "2026-11-30 16:30", 1)
    h.loop("C8", [
        (A.ACCEPT, OP1, "2026-11-30 16:35", {}),
        (A.FILE, SL1, "2026-11-30 16:40", {}),
        (A.DISPATCH, DP1, "2026-11-30 17:00", {"department_id": S}),          # due Tue 11:00
    ])  # fmt: skip
    h.report("C10", INS_B, "2026-11-03 09:00", 2)
    h.loop("C10", [
        (A.ACCEPT, OP2, "2026-11-03 09:05", {}),
        (A.FILE, SL2, "2026-11-03 09:10", {}),
        (A.VOID, SL2, "2026-11-03 09:30",
         {"reason": "duplicate", "duplicate_of": h.ids["C1"], "note": "与 C1 重复"}),
    ])  # fmt: skip
    h.report("C11", Actor("citizen-11", Role.CITIZEN), "2026-11-03 10:00", 1)
    h.loop("C11", [
        (A.ACCEPT, OP1, "2026-11-03 10:05", {}),
        (A.VERIFY, INS_A, "2026-11-03 10:50", {"confirmed": True}),           # > 10:35 ✗
        (A.NOT_FILE, SL1, "2026-11-03 11:00", {"note": "未达到立案条件"}),
    ])  # fmt: skip
    h.report("C12", Actor("citizen-12", Role.CITIZEN), "2026-11-04 09:00", 2)
    h.act("C12", A.REJECT, OP2, "2026-11-04 09:10", reason="not_city_business", note="非城管职责")
    h.report("C13", INS_A, "2026-11-04 10:00", 1, self_handled=True, note="现场已清理")
    h.act("C13", A.APPROVE_SELF_HANDLING, OP1, "2026-11-04 10:10")
    return h
