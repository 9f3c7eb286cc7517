"""Property tests: random action sequences by random roles never break the loop's invariants."""

from __future__ import annotations

import copy
from datetime import timedelta
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicloop.cases.core import ACTIONS, CaseState, Command, Event, allowed_actions, apply, decide, replay
from civicloop.cases.store import GENESIS_HASH, event_from_row, event_row
from civicloop.kernel.errors import DomainError
from civicloop.kernel.vocabulary import Action, ClosureReason, Role, Stage
from tests.support.domain import CITY, SimpleRules, as_role, at

RULES = SimpleRules()
START = at("2026-02-10 09:00")  # the sequences cross the 2026 Spring Festival holiday

FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "note": st.sampled_from(["处理说明", "", None]),
        "department_id": st.sampled_from(["sanitation", "roads", "nope"]),
        "passed": st.booleans(),
        "confirmed": st.booleans(),
        "reason": st.sampled_from([r.value for r in ClosureReason] + ["bogus"]),
        "duplicate_of": st.sampled_from(["TC-2026-0000002", None]),
        "amount": st.sampled_from([1, 2.5, -1, "x"]),
        "unit": st.sampled_from(["work_hour", "work_day", "natural_hour", "bad"]),
        "category_code": st.sampled_from(["06010", "01003", "99999", None]),
        "condition_no": st.sampled_from([1, 2, 3]),
        "urgency": st.sampled_from(["normal", "urgent", "bad"]),
        "verify": st.booleans(),
        "member_id": st.sampled_from(["TC-2026-0000009", "TC-2026-0000001"]),
    },
)

#: Fields an actor following the procedure would send: valid values, so that walks reach the later
#: stages (dispatched, suspended, checked, closed, voided …) and the invariants there are exercised.
PLAUSIBLE = st.fixed_dictionaries(
    {
        "note": st.just("处理说明"),
        "department_id": st.sampled_from(["sanitation", "roads"]),
        "passed": st.booleans(),
        "confirmed": st.booleans(),
        "reason": st.sampled_from([r.value for r in ClosureReason]),
        "amount": st.sampled_from([1, 2.5]),
        "unit": st.sampled_from(["work_hour", "work_day", "natural_hour"]),
        "category_code": st.just("06010"),
        "condition_no": st.just(1),
        "urgency": st.sampled_from(["normal", "urgent"]),
        "verify": st.booleans(),
    },
)

#: Actions that leave the case where it is (remarks, urging, duplicate links): drawn less often.
ASIDES = {Action.COMMENT, Action.URGE, Action.LINK_DUPLICATE, Action.UNLINK_DUPLICATE, Action.FLAG_RECURRENCE}

#: Actions that take the case off the loop (refusals, voids, reopening): drawn less often than the next
#: step, so that walks also get to handling, suspension, checking and closing.
DETOURS = {Action.REJECT, Action.NOT_FILE, Action.VOID, Action.REQUEST_VOID, Action.SPLIT, Action.REOPEN}

#: Open311 knows only "open" and "closed": closed are the cases the loop has finished with — 结案, 不予受理,
#: 不予立案, 作废 (written out here, not taken from the implementation).
OPEN311_CLOSED = {Stage.CLOSED, Stage.REJECTED, Stage.NOT_FILED, Stage.VOIDED}


def _count(events: list[Event], action: Action, **data: object) -> int:
    return sum(1 for e in events if e.action is action and all(e.data.get(k) == v for k, v in data.items()))


def _stored(events: list[Event]) -> list[Event]:
    """The events as the event store writes them to its rows and reads them back (JSON data, hash chain)."""
    out, prev = [], GENESIS_HASH
    for e in events:
        row, prev = event_row(e, prev)
        out.append(event_from_row(SimpleNamespace(**row)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_sequences_keep_every_invariant(data: st.DataObject) -> None:
    channel = data.draw(st.sampled_from(["inspector", "citizen", "hotline"]))
    reporter = {"inspector": "inspector", "citizen": "citizen", "hotline": "operator"}[channel]
    first = decide(
        None,
        Command(
            Action.REPORT,
            "TC-2026-0000001",
            {"channel": channel, "category_code": "06010", "lon": 112.5, "lat": 37.8},
        ),
        as_role(reporter),
        START,
        RULES,
        city_id=CITY,
    )
    events = [first]
    state: CaseState = apply(None, first)
    now = START
    for _ in range(data.draw(st.integers(1, 40))):
        possible = [(r, a) for r in Role for a in allowed_actions(state, r)]
        if possible and data.draw(st.integers(0, 9)) < 8:  # mostly someone whose turn it is, doing their job
            onward = [(r, a) for r, a in possible if a not in ASIDES | DETOURS]
            detours = [(r, a) for r, a in possible if a in DETOURS]
            tier = data.draw(st.sampled_from([onward, onward, onward, detours, possible]))
            role, action = data.draw(st.sampled_from(tier or possible))
            fields = data.draw(PLAUSIBLE if data.draw(st.integers(0, 9)) < 8 else FIELDS)
        else:  # anyone trying anything
            role = data.draw(st.sampled_from(list(Role)))
            action = data.draw(st.sampled_from(list(Action)))
            fields = data.draw(FIELDS)
        step = data.draw(st.integers(-5, 3000))
        when = now + timedelta(minutes=step)
        snapshot = copy.deepcopy(state)
        try:
            event = decide(
                state, Command(action, state.case_id, fields), as_role(role.value), when, RULES, city_id=CITY
            )
        except DomainError:
            assert state == snapshot  # an illegal action changes nothing
            continue
        # a legal action came from the action table for this role and stage
        assert role in ACTIONS[action].roles and state.stage in ACTIONS[action].from_stages
        assert event.at >= events[-1].at  # time never runs backwards
        assert event.seq == len(events) + 1
        events.append(event)
        before = copy.deepcopy(state)
        state = apply(before, event)
        assert before == snapshot  # applying an event leaves the earlier state as it was
        now = max(now, when)
        # the projection is what replaying the *stored* log gives (what `rebuild --check` relies on)
        assert replay(_stored(events)) == state
        assert state.public_status == ("closed" if state.stage in OPEN311_CLOSED else "open")
        assert (state.closed_at is not None) == (state.stage in OPEN311_CLOSED)
        if state.stage.is_terminal:
            assert state.closure_reason is not None  # every closed case says why
        if state.stage is Stage.CLOSED:
            assert state.closure_reason is not None and state.closure_reason.is_fixed
        assert state.rework_count == _count(events, Action.CHECK, passed=False)
        assert state.wrong_dispatch_count == _count(events, Action.APPROVE_RETURN)
        assert state.extension_count == _count(events, Action.APPROVE_EXTENSION)
        assert state.dispatch_count == _count(events, Action.DISPATCH)
        if state.stage is Stage.SUSPENDED:
            assert state.clock_running_since is None  # 挂账 stops the clock
        if state.stage is Stage.DISPATCHED:
            assert state.deadline is not None and state.clock_running_since is not None
