"""Use cases of the loop: one service that the CLI, the simulator and the HTTP API all call.

Every mutation goes: load the projection → domain ``decide`` → ``apply`` → append event and projection
in one transaction. Nothing else writes cases.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from civicloop.cases.core import Actor, CaseState, Command, Event, Rules, apply, decide, due_at
from civicloop.cases.scope import can_act, can_view
from civicloop.cases.store import CaseQuery, EventStore, Loaded
from civicloop.kernel.errors import CaseNotFound, ConcurrentChange, DomainError, InvalidField, OutOfScope
from civicloop.kernel.i18n import Msg
from civicloop.kernel.vocabulary import Action

__all__ = [
    "BatchItem",
    "BatchResult",
    "CaseQuery",  # defined in cases/store.py (its queries build on it); imported from here
    "CaseService",
    "Listener",
    "ReporterInfo",
    "StateCache",
    "WriteHook",
    "utcnow",
]


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
        if case_id in self._entries:
            self._entries.move_to_end(case_id)
        self._entries[case_id] = loaded
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
            raise InvalidField("action", Msg("reasons.use_report_to_create_a_case"))
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
            written = self._execute(conn, items, result, strict)
            if within is not None:
                within(conn, result)
        # Only committed states enter the cache.
        for case_id, loaded in written.items():
            self.cache.put(case_id, loaded)
        return result

    def _execute(
        self, conn: Connection, items: Sequence[BatchItem], result: BatchResult, strict: bool
    ) -> dict[str, Loaded]:
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
                        if item.reporter is not None and (item.reporter.phone or item.reporter.email):
                            fields["contactable"] = True
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
        self.store.add_reporters(conn, reporter_rows)
        written = self.store.append(
            conn,
            new_events,
            ((current[c], None if c in new_ids else loaded[c]) for c in touched),
            prev_hashes,
        )
        result.states = {c: current[c] for c in touched}
        result.events = len(new_events)
        for listener in self.listeners:  # in the same transaction: their writes commit or fail with ours
            listener(conn, new_events, result.states)
        return written

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
            return self.store.anonymise_reporter(conn, self.city_id, reporter_id, when)

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
            row = self.store.reporter(conn, self.city_id, reporter_id)
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
        with self.store.read() as conn:
            return self.store.list_states(
                conn,
                self.city_id,
                stage=stage,
                department_id=department_id,
                category_code=category_code,
                public_status=public_status,
                limit=limit,
                offset=offset,
                overdue_first=overdue_first,
            )

    def stage_counts(self) -> dict[str, int]:
        with self.store.read() as conn:
            return self.store.stage_counts(conn, self.city_id)

    def search(self, query: CaseQuery) -> list[CaseState]:
        """The cases matching *query*, in its order, one page of it."""
        # Named cases are found by primary key and ordered here (see EventStore.search).
        named = query.ids is not None
        with self.store.read() as conn:
            states = self.store.search(conn, self.city_id, query)
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
        with self.store.read() as conn:
            return self.store.count(conn, self.city_id, query)

    # ---- the case search (案卷查询) --------------------------------------------------------------

    SCAN_BATCH = 2000

    def find(
        self, query: CaseQuery, *, light: str | None = None, now: datetime | None = None
    ) -> tuple[list[CaseState], int]:
        """One page of the case search and the total number of matches.

        ``light`` red is a column condition (the current step due before *now*, as 超期); yellow and
        green depend on the working calendar, so their candidates (open, not yet due) are judged here,
        in the query's order.
        """
        now = now or self.clock()
        query = self._with_light(query, light, now)
        if light in (None, "red"):
            return self.search(query), self.count(query)
        matches = list(self._judged(query, light, now))
        return matches[query.offset : query.offset + query.limit], len(matches)

    @staticmethod
    def _in_order(states: list[CaseState], order: str) -> list[CaseState]:
        """*states* in a :data:`civicloop.cases.store.ORDERS` order (as the SQL would give them)."""
        field, _, direction = order.rpartition("_")
        column = {"created": "created_at", "deadline": "deadline", "updated": "updated_at", "light": "due"}
        name = column.get(field, "created_at")
        far = datetime.max.replace(tzinfo=UTC)

        def key(s: CaseState) -> tuple[bool, datetime, datetime, str]:
            value = due_at(s) if name == "due" else getattr(s, name)
            return (value is None, value or far, s.created_at, s.case_id)

        if field in ("created", "updated"):
            return sorted(states, key=lambda s: (getattr(s, name), s.case_id), reverse=direction == "desc")
        # due and deadline: no time last both ways; light_desc is the most urgent (earliest due) first
        earliest_first = (direction == "asc") != (field == "light")
        ranked = sorted((s for s in states if key(s)[0] is False), key=key, reverse=not earliest_first)
        return ranked + [s for s in states if key(s)[0]]

    def find_all(
        self, query: CaseQuery, *, light: str | None = None, now: datetime | None = None
    ) -> Iterator[CaseState]:
        """Every match of the case search in its order (an export), read in batches."""
        now = now or self.clock()
        query = self._with_light(query, light, now)
        if light not in (None, "red"):
            yield from self._judged(query, light, now)
            return
        yield from self._scan(query)

    def _with_light(self, query: CaseQuery, light: str | None, now: datetime) -> CaseQuery:
        if light == "red":
            return replace(query, due_before=now)
        if light is not None:
            return replace(query, due_from=now)
        return query

    def _scan(self, query: CaseQuery) -> Iterator[CaseState]:
        offset = 0
        while True:
            batch = self.search(replace(query, limit=self.SCAN_BATCH, offset=offset))
            yield from batch
            if len(batch) < self.SCAN_BATCH:
                return
            offset += self.SCAN_BATCH

    def _judged(self, query: CaseQuery, light: str | None, now: datetime) -> Iterator[CaseState]:
        """The cases not yet due whose light is *light*: read along the due-time index (the other
        indexes would walk the whole city), judged, then put in the query's order."""
        calendar = self.rules.calendar
        found = []
        for s in self._scan(replace(query, order="light_desc")):
            judged = s.light(calendar, now)
            if judged is not None and judged.value == light:
                found.append(s)
        yield from self._in_order(found, query.order)

    def timelines(self, case_ids: Sequence[str]) -> dict[str, list[Event]]:
        """The events of several cases at once, each list in sequence order."""
        with self.store.read() as conn:
            return self.store.events_of(conn, self.city_id, case_ids)
