"""Use cases of the loop: one service that the CLI, the simulator and the HTTP API all call.

Every mutation goes: load the projection → domain ``decide`` → ``apply`` → append event and projection
in one transaction. Nothing else writes cases.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import ColumnElement, Connection, and_, false, func, insert, or_, select, true, update

from civicloop.adapters.store.events import EventStore, Loaded, event_from_row
from civicloop.adapters.store.tables import cases, events, reporters
from civicloop.domain.case import Actor, CaseState, Command, Event, Rules, apply, decide
from civicloop.domain.errors import CaseNotFound, ConcurrentChange, DomainError, InvalidField, OutOfScope
from civicloop.domain.vocabulary import HANDLING_STAGES, Action, Role
from civicloop.services.scope import can_act, can_view


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReporterInfo:
    """Personal data of a reporter. Stored apart from the event log; never in public output."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None

    def is_empty(self) -> bool:
        return not (self.name or self.phone or self.email)


@dataclass(slots=True)
class BatchItem:
    """One command of a batch. For a report, ``command.case_id`` is empty and one is allocated."""

    command: Command
    actor: Actor
    at: datetime
    reporter: ReporterInfo | None = None


@dataclass(slots=True)
class BatchResult:
    states: dict[str, CaseState] = field(default_factory=dict)
    case_ids: list[str | None] = field(default_factory=list)  # per item: the case it touched
    errors: list[tuple[int, DomainError]] = field(default_factory=list)
    events: int = 0


WriteHook = Callable[[Connection, "BatchResult"], None]
"""Called inside a write transaction with the batch's result (see :meth:`CaseService.execute`)."""


@dataclass(slots=True)
class CaseQuery:
    """A filtered, ordered, paged selection of cases (the HTTP API's lists and Open311's GET requests).

    ``created_from`` is inclusive, ``created_to`` inclusive; ``overdue_at`` keeps cases whose handling
    deadline passed before that moment while a department still holds them; ``scope`` keeps only what
    that actor may see (the same rule as :func:`civicloop.services.scope.can_view`); ``unlocated`` keeps
    the cases without coordinates (待定位: e.g. imported records that had no location).
    """

    ids: Sequence[str] | None = None
    category_codes: Sequence[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    public_status: str | None = None
    stages: Sequence[str] | None = None
    department_id: str | None = None
    district_codes: Sequence[str] | None = None
    overdue_at: datetime | None = None
    unlocated: bool = False
    scope: Actor | None = None
    order: str = "created_desc"  # or "deadline_asc"
    limit: int = 50
    offset: int = 0


#: Called inside the write transaction with the events just appended and the new states of their cases.
Listener = Callable[[Connection, Sequence[Event], Mapping[str, CaseState]], None]


class StateCache:
    """Recently written case states, so batches and busy cases skip re-reading their projection.

    Safe with several processes writing: a stale entry makes ``decide`` produce an event whose sequence
    number already exists, the event table's primary key refuses it, and ``execute`` retries from the
    database. Entries are added only after their transaction committed.
    """

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, Loaded] = OrderedDict()

    def get_many(self, case_ids: Iterable[str]) -> dict[str, Loaded]:
        out: dict[str, Loaded] = {}
        for case_id in case_ids:
            hit = self._entries.get(case_id)
            if hit is not None:
                out[case_id] = hit
        return out

    def put(self, case_id: str, loaded: Loaded) -> None:
        self._entries[case_id] = loaded
        self._entries.move_to_end(case_id)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, case_ids: Iterable[str]) -> None:
        for case_id in case_ids:
            self._entries.pop(case_id, None)

    def clear(self) -> None:
        self._entries.clear()


class CaseService:
    def __init__(
        self,
        store: EventStore,
        rules: Rules,
        *,
        city_id: str,
        case_prefix: str,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.rules = rules
        self.city_id = city_id
        self.case_prefix = case_prefix
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.cache = StateCache()
        self.listeners: list[Listener] = []

    # ---- commands ---------------------------------------------------------------------------

    def report(
        self,
        actor: Actor,
        fields: Mapping[str, Any],
        *,
        at: datetime | None = None,
        reporter: ReporterInfo | None = None,
        within: WriteHook | None = None,
    ) -> CaseState:
        """收集: register a new report from any channel; returns the new case.

        ``within`` runs inside the write transaction (see :meth:`execute`).
        """
        result = self.execute(
            [BatchItem(Command(Action.REPORT, "", fields), actor, at or self.clock(), reporter)],
            within=within,
        )
        if result.errors:
            raise result.errors[0][1]
        case_id = result.case_ids[0]
        assert case_id is not None
        return result.states[case_id]

    def act(
        self,
        case_id: str,
        action: Action,
        actor: Actor,
        fields: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> CaseState:
        """Take one action on one case; raises a DomainError and changes nothing if it is not allowed."""
        if action is Action.REPORT:
            raise InvalidField("action", "上报请使用 report", "use report to create a case")
        item = BatchItem(Command(action, case_id, fields or {}), actor, at or self.clock())
        result = self.execute([item])
        if result.errors:
            raise result.errors[0][1]
        return result.states[case_id]

    def execute(
        self, items: Sequence[BatchItem], *, strict: bool = False, within: WriteHook | None = None
    ) -> BatchResult:
        """Run commands in order in one transaction.

        A command the domain refuses is reported in ``errors`` and produces nothing; the others are
        written. With ``strict`` the first refusal aborts the whole batch.

        ``within(conn, result)``, if given, runs in the same transaction after the events are appended
        (capabilities record what belongs with the case — an idempotency key, a submission — atomically
        with it); if it raises, nothing of the batch is written.
        """
        try:
            return self._execute_once(items, strict, within)
        except ConcurrentChange:
            # Another writer (another process) moved one of these cases on: our cached view was stale.
            # Forget it and decide again against what is stored now; the event key made sure nothing
            # of the first attempt was written.
            self.cache.drop(it.command.case_id for it in items)
            return self._execute_once(items, strict, within)

    def _execute_once(
        self, items: Sequence[BatchItem], strict: bool, within: WriteHook | None = None
    ) -> BatchResult:
        result = BatchResult()
        with self.store.write() as conn:
            last_hashes = self._execute(conn, items, result, strict)
            if within is not None:
                within(conn, result)
        # Only committed states enter the cache.
        for case_id, state in result.states.items():
            self.cache.put(case_id, Loaded(state, last_hashes[case_id]))
        return result

    def _execute(
        self, conn: Connection, items: Sequence[BatchItem], result: BatchResult, strict: bool
    ) -> dict[str, str]:
        wanted = sorted({it.command.case_id for it in items if it.command.action is not Action.REPORT})
        loaded = self.cache.get_many(wanted)
        missing = [c for c in wanted if c not in loaded]
        if missing:
            loaded.update(self.store.load_many(conn, self.city_id, missing))
        current: dict[str, CaseState] = {k: v.state for k, v in loaded.items()}
        prev_hashes = {k: v.last_hash for k, v in loaded.items()}
        new_ids: set[str] = set()
        serials = self._serial_blocks(conn, items)
        new_events: list[Event] = []
        reporter_rows: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            cmd = item.command
            try:
                if cmd.action is Action.REPORT:
                    # A report may carry a number reserved beforehand (imports that act on it in the
                    # same batch); the event key refuses a number used twice.
                    case_id = cmd.case_id or self._next_case_id(serials, item.at)
                    fields = dict(cmd.fields)
                    private = item.reporter is not None and not item.reporter.is_empty()
                    if private:
                        fields["reporter_id"] = fields.get("reporter_id") or f"r-{case_id}"
                    elif item.actor.role.value in ("citizen", "inspector") and not fields.get("reporter_id"):
                        fields["reporter_id"] = item.actor.id
                    cmd = Command(Action.REPORT, case_id, fields)
                    state = None
                else:
                    state = current.get(cmd.case_id)
                    if state is None:
                        raise CaseNotFound(cmd.case_id)
                    if not can_act(item.actor, state):
                        raise OutOfScope(item.actor.id, cmd.case_id)
                event = decide(state, cmd, item.actor, item.at, self.rules, city_id=self.city_id)
            except DomainError as exc:
                if strict:
                    raise
                result.errors.append((index, exc))
                result.case_ids.append(cmd.case_id or None)
                continue
            if cmd.action is Action.REPORT and item.reporter is not None and not item.reporter.is_empty():
                reporter_rows.append(self._reporter_row(cmd.fields["reporter_id"], item.reporter, item.at))
            new_state = apply(state, event)
            current[event.case_id] = new_state
            if state is None:
                new_ids.add(event.case_id)
            new_events.append(event)
            result.case_ids.append(event.case_id)
        touched = {e.case_id for e in new_events}
        if reporter_rows:
            conn.execute(insert(reporters), reporter_rows)
        last_hashes = self.store.append(
            conn,
            new_events,
            ((current[c], None if c in new_ids else loaded[c].state) for c in touched),
            prev_hashes,
        )
        result.states = {c: current[c] for c in touched}
        result.events = len(new_events)
        for listener in self.listeners:  # in the same transaction: their writes commit or fail with ours
            listener(conn, new_events, result.states)
        return last_hashes

    def _serial_blocks(self, conn: Connection, items: Sequence[BatchItem]) -> dict[int, list[int]]:
        """Reserve case numbers for every report in the batch: {year: [next, end]}."""
        per_year: dict[int, int] = {}
        for it in items:
            if it.command.action is Action.REPORT and not it.command.case_id:
                year = it.at.astimezone(self.tz).year
                per_year[year] = per_year.get(year, 0) + 1
        blocks: dict[int, list[int]] = {}
        for year, count in per_year.items():
            first = self.store.allocate_serials(conn, self.city_id, year, count)
            blocks[year] = [first, first + count]
        return blocks

    def reserve_case_ids(self, at: datetime, count: int) -> list[str]:
        """Reserve *count* case numbers of the year of *at* (for batches that report and act at once)."""
        year = at.astimezone(self.tz).year
        with self.store.write() as conn:
            first = self.store.allocate_serials(conn, self.city_id, year, count)
        return [f"{self.case_prefix}-{year}-{serial:07d}" for serial in range(first, first + count)]

    def _next_case_id(self, blocks: dict[int, list[int]], at: datetime) -> str:
        year = at.astimezone(self.tz).year
        block = blocks[year]
        serial = block[0]
        block[0] += 1
        return f"{self.case_prefix}-{year}-{serial:07d}"

    def _reporter_row(self, reporter_id: str, info: ReporterInfo, at: datetime) -> dict[str, Any]:
        return {
            "city_id": self.city_id,
            "reporter_id": reporter_id,
            "name": info.name,
            "phone": info.phone,
            "email": info.email,
            "created_at": at,
            "anonymised_at": None,
        }

    def anonymise_reporter(self, reporter_id: str, actor: Actor, *, at: datetime | None = None) -> int:
        """Erase a reporter's personal data; their cases stay. Returns how many records were erased."""
        when = at or self.clock()
        with self.store.write() as conn:
            res = conn.execute(
                update(reporters)
                .where(and_(reporters.c.city_id == self.city_id, reporters.c.reporter_id == reporter_id))
                .values(name=None, phone=None, email=None, anonymised_at=when)
            )
            return int(res.rowcount or 0)

    # ---- queries ----------------------------------------------------------------------------

    def get(self, case_id: str, actor: Actor | None = None) -> CaseState:
        with self.store.read() as conn:
            loaded = self.store.load(conn, self.city_id, case_id)
        if loaded is None:
            raise CaseNotFound(case_id)
        if actor is not None and not can_view(actor, loaded.state):
            raise OutOfScope(actor.id, case_id)
        return loaded.state

    def timeline(self, case_id: str, actor: Actor | None = None) -> list[Event]:
        self.get(case_id, actor)
        with self.store.read() as conn:
            return self.store.events(conn, self.city_id, case_id)

    def reporter(self, reporter_id: str) -> ReporterInfo | None:
        with self.store.read() as conn:
            row = conn.execute(
                select(reporters).where(
                    and_(reporters.c.city_id == self.city_id, reporters.c.reporter_id == reporter_id)
                )
            ).first()
        return None if row is None else ReporterInfo(row.name, row.phone, row.email)

    def list_cases(
        self,
        *,
        stage: str | None = None,
        department_id: str | None = None,
        category_code: str | None = None,
        public_status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        overdue_first: bool = False,
    ) -> list[CaseState]:
        q = select(cases.c.doc).where(cases.c.city_id == self.city_id)
        if stage:
            q = q.where(cases.c.stage == stage)
        if department_id:
            q = q.where(cases.c.department_id == department_id)
        if category_code:
            q = q.where(cases.c.category_code == category_code)
        if public_status:
            q = q.where(cases.c.public_status == public_status)
        if overdue_first:
            q = q.order_by(cases.c.deadline.is_(None), cases.c.deadline, cases.c.created_at)
        else:
            q = q.order_by(cases.c.created_at.desc(), cases.c.case_id.desc())
        q = q.limit(limit).offset(offset)
        with self.store.read() as conn:
            return [CaseState.from_doc(orjson.loads(r.doc)) for r in conn.execute(q)]

    def stage_counts(self) -> dict[str, int]:
        q = select(cases.c.stage, func.count()).where(cases.c.city_id == self.city_id).group_by(cases.c.stage)
        with self.store.read() as conn:
            return {stage: int(n) for stage, n in conn.execute(q)}

    def search(self, query: CaseQuery) -> list[CaseState]:
        """The cases matching *query*, in its order, one page of it."""
        q = select(cases.c.doc).where(self._where(query))
        # Named cases are found by primary key and ordered here: with an ORDER BY in the SQL, SQLite walks
        # the city's whole created-at index instead (18 ms at 13,000 cases, growing with them).
        named = query.ids is not None
        if not named:
            if query.order == "deadline_asc":
                q = q.order_by(
                    cases.c.deadline.is_(None), cases.c.deadline, cases.c.created_at, cases.c.case_id
                )
            else:
                q = q.order_by(cases.c.created_at.desc(), cases.c.case_id.desc())
            q = q.limit(query.limit).offset(query.offset)
        with self.store.read() as conn:
            states = [CaseState.from_doc(orjson.loads(r.doc)) for r in conn.execute(q)]
        if named:
            if query.order == "deadline_asc":  # the SQL's order: no deadline last
                states.sort(
                    key=lambda s: (s.deadline is None, s.deadline or s.created_at, s.created_at, s.case_id)
                )
            else:
                states.sort(key=lambda s: (s.created_at, s.case_id), reverse=True)
            states = states[query.offset : query.offset + query.limit]
        if query.scope is not None:  # the SQL mirrors can_view; this is the belt to its braces
            states = [s for s in states if can_view(query.scope, s)]
        return states

    def count(self, query: CaseQuery) -> int:
        q = select(func.count()).select_from(cases).where(self._where(query))
        with self.store.read() as conn:
            return int(conn.execute(q).scalar_one())

    def timelines(self, case_ids: Sequence[str]) -> dict[str, list[Event]]:
        """The events of several cases at once, each list in sequence order."""
        out: dict[str, list[Event]] = {c: [] for c in case_ids}
        with self.store.read() as conn:
            for start in range(0, len(case_ids), 500):
                chunk = list(case_ids[start : start + 500])
                rows = conn.execute(
                    select(events)
                    .where(and_(events.c.city_id == self.city_id, events.c.case_id.in_(chunk)))
                    .order_by(events.c.case_id, events.c.seq)
                )
                for r in rows:
                    out[r.case_id].append(event_from_row(r))
        return out

    def _where(self, query: CaseQuery) -> ColumnElement[bool]:
        c = cases.c
        conds: list[ColumnElement[bool]] = [c.city_id == self.city_id]
        if query.ids is not None:
            conds.append(c.case_id.in_(list(query.ids)))
        if query.category_codes is not None:
            conds.append(c.category_code.in_(list(query.category_codes)))
        if query.created_from is not None:
            conds.append(c.created_at >= query.created_from)
        if query.created_to is not None:
            conds.append(c.created_at <= query.created_to)
        if query.public_status is not None:
            conds.append(c.public_status == query.public_status)
        if query.stages is not None:
            conds.append(c.stage.in_(list(query.stages)))
        if query.department_id is not None:
            conds.append(c.department_id == query.department_id)
        if query.district_codes is not None:
            conds.append(c.district_code.in_(list(query.district_codes)))
        if query.overdue_at is not None:
            conds.append(c.deadline < query.overdue_at)
            conds.append(c.stage.in_([s.value for s in HANDLING_STAGES]))
        if query.unlocated:
            conds.append(c.lon.is_(None))
        if query.scope is not None:
            conds.append(_scope_clause(query.scope))
        return and_(*conds)


def _scope_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL for :func:`civicloop.services.scope.can_view` (kept in step with it by the API tests)."""
    c = cases.c
    own = c.doc.contains(f'"reporter_id":{orjson.dumps(actor.id).decode()}', autoescape=True)
    if actor.role in (Role.SYSTEM, Role.ADMIN):
        return true()
    if actor.role is Role.DEPARTMENT:
        return c.department_id == actor.department_id if actor.department_id else false()
    if actor.role is Role.CITIZEN:
        return own
    if actor.role is Role.INSPECTOR and actor.grid_codes:
        return or_(c.grid_code.in_(list(actor.grid_codes)), own)
    if actor.district_codes:
        return c.district_code.in_(list(actor.district_codes))
    return true()
