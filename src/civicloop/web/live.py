"""Live updates (实时推送): one poller per process reads new events and fans them out over SSE.

The poller reads the events table by a time cursor every ``poll_interval`` (0.5 s), so it sees what any
process wrote — the API in this one, the simulator or another API worker elsewhere. Events carry the
moment they describe, which a writer may commit a little later (the simulator commits in batches), so
each read looks back ``stream_window`` seconds and drops the events it has already seen. A read that
comes back full continues from its last moment (catch-up) instead of looking back. Whatever slipped
through (an import of old events) is caught by the reconciliation that compares the open-case index with
the case table every minute.

For every event the touched cases are reloaded into the :class:`~civicloop.web.index.OpenCaseIndex`;
each subscriber then receives the events it may see (the scope rule of ``can_view``) with fresh counts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from civicloop.cases.core import Actor
from civicloop.cases.privacy import mask
from civicloop.cases.scope import can_view_fields
from civicloop.cases.store import (
    action_counts_since,
    case_documents,
    event_marks_since,
    events_since,
    latest_events,
    open_versions,
)
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role, Stage
from civicloop.web.index import OpenCaseIndex, Row, build, load_rows
from civicloop.web.lights import LIGHT_NAMES, Schedule
from civicloop.web.settings import WebSettings

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger("civicloop.web")

#: Event actions counted in the "today" tiles.
TODAY_ACTIONS = ("report", "accept", "file", "dispatch", "handle", "close", "check", "urge")
BATCH = 5000
TICKER = 30  # report events kept for the ticker of a screen that connects


def local_midnight(tz: ZoneInfo, moment: datetime | None = None) -> datetime:
    now = (moment or datetime.now(UTC)).astimezone(tz)
    return datetime.combine(now.date(), datetime.min.time(), tz).astimezone(UTC)


def visible(actor: Actor, case: dict[str, Any]) -> bool:
    """``can_view`` on the few fields an event message carries."""
    return can_view_fields(
        actor,
        department_id=case.get("department"),
        reporter_id=case.get("_reporter"),
        grid_code=case.get("grid"),
        district_code=case.get("district"),
    )


def scope_key(actor: Actor) -> tuple[Any, ...]:
    if actor.role in (Role.CITIZEN,) or (actor.role is Role.INSPECTOR and actor.grid_codes):
        return (actor.role, actor.id, actor.grid_codes, actor.district_codes)
    if actor.role is Role.DEPARTMENT:
        return (actor.role, actor.department_id)
    if actor.role in (Role.SYSTEM, Role.ADMIN):
        return ("all",)
    return ("districts", actor.district_codes) if actor.district_codes else ("all",)


@dataclass(eq=False)
class Subscriber:
    actor: Actor
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]]
    overflow: bool = False

    def offer(self, message: dict[str, Any]) -> None:
        """Runs in the subscriber's event loop."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflow = True  # the client is too slow: tell it to reload instead
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait({"type": "resync"})


@dataclass
class Today:
    day: date | None = None
    since: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {a: self.counts.get(a, 0) for a in TODAY_ACTIONS}
        out["since"] = self.since.isoformat() if self.since else None
        return out


class LiveHub:
    """The open-case index, the poller thread and the SSE subscribers of one city in one process."""

    def __init__(self, city: City, settings: WebSettings) -> None:
        self.city = city
        self.settings = settings
        self.tz = ZoneInfo(city.profile.timezone)
        self.index = OpenCaseIndex()
        self.today = Today()
        self.ticker: list[dict[str, Any]] = []
        self.subscribers: set[Subscriber] = set()
        self.lock = threading.Lock()
        self.cursor: datetime | None = None
        self.catch_up = False
        self.seen: dict[tuple[str, int], float] = {}
        self.sequence = 0
        self.polls = 0
        self.last_poll_seconds = 0.0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reconcile = 0.0
        self._last_tick = 0.0

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        with self.lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="civicloop-web-live", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)

    def wait_ready(self, timeout: float) -> bool:
        self.start()
        return self.index.ready.wait(timeout)

    def _run(self) -> None:
        try:
            self._initialise()
        except Exception:  # the database may be away at start: retry in the loop
            log.exception("web live: initial load failed")
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                if not self.index.ready.is_set():
                    self._initialise()
                else:
                    self.poll()
            except Exception:
                self.errors += 1
                log.exception("web live: poll failed")
                self._stop.wait(2.0)
            self.last_poll_seconds = time.perf_counter() - started
            self._stop.wait(max(0.05, self.settings.poll_interval - self.last_poll_seconds))

    def _initialise(self) -> None:
        store = self.city.store
        with store.read() as conn:
            now = datetime.now(UTC)
            self.cursor = now
            self._prime(conn, now)
            self._recount(conn, now)
            self._load_ticker(conn)
            build(self.index, conn, self.city.id, self.city.calendar)
        self._last_reconcile = time.monotonic()
        log.info("web live: %d open cases indexed in %s s", len(self.index), self.index.built_seconds)

    # ---- reading the events table ----------------------------------------------------------------

    def _prime(self, conn: Connection, now: datetime) -> None:
        """Mark the events of the look-back window as seen (they are already in the counts)."""
        lower = now - timedelta(seconds=self.settings.stream_window)
        for r in event_marks_since(conn, self.city.id, lower):
            self.seen[(r.case_id, r.seq)] = r.at.timestamp()
            if self.cursor is None or r.at > self.cursor:
                self.cursor = r.at

    def _recount(self, conn: Connection, now: datetime) -> None:
        since = local_midnight(self.tz, now)
        counts = action_counts_since(conn, self.city.id, since)
        self.today = Today(now.astimezone(self.tz).date(), since, counts)

    def _load_ticker(self, conn: Connection) -> None:
        rows = latest_events(conn, self.city.id, Action.REPORT, TICKER)
        details = _details(conn, self.city.id, [r.case_id for r in rows])
        rows_by_case = {
            row.case_id: row
            for row in load_rows(conn, self.city.id, self.city.calendar, [r.case_id for r in rows])
        }
        now = time.time()
        self.ticker = [
            _event_json(r, rows_by_case.get(r.case_id), details.get(r.case_id), now) for r in reversed(rows)
        ]

    def poll(self) -> int:
        """One read of the events table; returns how many new events it found."""
        assert self.cursor is not None
        self.polls += 1
        now = datetime.now(UTC)
        window = timedelta(seconds=self.settings.stream_window)
        lower = self.cursor if self.catch_up else min(self.cursor, now) - window
        recount = now.astimezone(self.tz).date() != self.today.day
        reconcile = time.monotonic() - self._last_reconcile >= self.settings.reconcile_every
        with self.city.store.read() as conn:
            rows = events_since(conn, self.city.id, lower, BATCH)
            new = [r for r in rows if (r.case_id, r.seq) not in self.seen]
            full = len(rows) >= BATCH
            if full and rows[0].at == rows[-1].at:
                # More events than one read holds at one single moment (a bulk import): resynchronise.
                self.cursor = rows[-1].at + timedelta(microseconds=1)
                self.catch_up = True
                reconcile = True
                new = []
            for r in new:
                self.seen[(r.case_id, r.seq)] = r.at.timestamp()
            if rows:
                last = rows[-1].at
                if last > self.cursor:
                    self.cursor = last
                self.catch_up = full and rows[0].at != rows[-1].at
            if recount or reconcile:
                self._recount(conn, now)  # same snapshot as the events just read: nothing counted twice
            else:
                for r in new:
                    if r.at >= (self.today.since or r.at):
                        self.today.counts[r.action] = self.today.counts.get(r.action, 0) + 1
            touched = sorted({r.case_id for r in new})
            loaded = load_rows(conn, self.city.id, self.city.calendar, touched) if touched else []
            reports = [r.case_id for r in new if r.action == Action.REPORT.value][-TICKER:]
            details = _details(conn, self.city.id, reports) if reports else {}
            resync = False
            if reconcile:
                resync = self._reconcile(conn)
        self._prune(now - 2 * window)
        if loaded:
            self.index.upsert(loaded)
        by_case = {row.case_id: row for row in loaded}
        moment = time.time()
        messages = [_event_json(r, by_case.get(r.case_id), details.get(r.case_id), moment) for r in new]
        for m in messages:
            if m["action"] == Action.REPORT.value:
                self.ticker.append(m)
        del self.ticker[:-TICKER]
        if resync:
            self.broadcast_resync()
        if messages:
            self.broadcast(messages)
        elif time.monotonic() - self._last_tick >= self.settings.tick_every:
            self.broadcast([])
        return len(new)

    def _reconcile(self, conn: Connection) -> bool:
        """Bring the index in line with the case table (cases changed by events we did not see)."""
        self._last_reconcile = time.monotonic()
        stored = open_versions(conn, self.city.id)
        held = self.index.versions()
        stale = [cid for cid, v in stored.items() if held.get(cid) != v]
        gone = [cid for cid in held if cid not in stored]
        if stale:
            self.index.upsert(load_rows(conn, self.city.id, self.city.calendar, stale))
        for cid in gone:
            self.index.remove(cid)
        return bool(stale or gone)

    def _prune(self, older_than: datetime) -> None:
        limit = older_than.timestamp()
        if len(self.seen) > 50_000 or self.polls % 20 == 0:
            self.seen = {k: v for k, v in self.seen.items() if v >= limit}

    # ---- fan-out ------------------------------------------------------------------------------

    def stats(self, actor: Actor | None, now: float | None = None) -> dict[str, Any]:
        counts = self.index.counts(actor, now if now is not None else time.time())
        return {
            "open": counts["open"],
            "urgent": counts["urgent"],
            "lights": counts["lights"],
            "stages": counts["stages"],
            "today": self.today.as_json(),
        }

    def subscribe(self, actor: Actor, loop: asyncio.AbstractEventLoop) -> Subscriber:
        sub = Subscriber(actor, loop, asyncio.Queue(maxsize=256))
        with self.lock:
            self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self.lock:
            self.subscribers.discard(sub)

    def broadcast(self, messages: Sequence[dict[str, Any]]) -> None:
        self._last_tick = time.monotonic()
        with self.lock:
            subs = list(self.subscribers)
        if not subs:
            return
        self.sequence += 1
        now = time.time()
        stats_by_scope: dict[tuple[Any, ...], dict[str, Any]] = {}
        for sub in subs:
            key = scope_key(sub.actor)
            stats = stats_by_scope.get(key)
            if stats is None:
                stats = stats_by_scope[key] = self.stats(sub.actor, now)
            mine = [_public(m) for m in messages if visible(sub.actor, m)]
            payload = {
                "type": "events" if messages else "tick",
                "seq": self.sequence,
                "at": datetime.now(UTC).isoformat(),
                "events": mine,
                "stats": stats,
            }
            sub.loop.call_soon_threadsafe(sub.offer, payload)

    def broadcast_resync(self) -> None:
        with self.lock:
            subs = list(self.subscribers)
        for sub in subs:
            sub.loop.call_soon_threadsafe(sub.offer, {"type": "resync"})

    def recent(self, actor: Actor) -> list[dict[str, Any]]:
        return [_public(m) for m in self.ticker if visible(actor, m)]

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.index.ready.is_set(),
            "open_cases": len(self.index),
            "index_built_seconds": self.index.built_seconds,
            "polls": self.polls,
            "last_poll_ms": round(self.last_poll_seconds * 1000, 2),
            "subscribers": len(self.subscribers),
            "cursor": self.cursor.isoformat() if self.cursor else None,
            "errors": self.errors,
        }


def _details(conn: Connection, city_id: str, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Description and address of a few cases (for the ticker), masked."""
    out: dict[str, dict[str, Any]] = {}
    for case_id, doc in case_documents(conn, city_id, case_ids).items():
        text = mask(doc.get("description")) or ""
        out[case_id] = {
            "description": text[:80] + ("…" if len(text) > 80 else ""),
            "address": mask(doc.get("address")),
            "channel": doc.get("channel"),
            "urgency": doc.get("urgency"),
        }
    return out


def _event_json(r: Any, row: Row | None, detail: dict[str, Any] | None, now: float) -> dict[str, Any]:
    action = Action(r.action)
    stage = Stage(r.stage_after)
    light = None
    if row is not None and not Stage(row.stage).is_terminal:
        light = LIGHT_NAMES[Schedule(row.yellow_at, row.red_at, row.fixed).light(now)]
    out: dict[str, Any] = {
        "case_id": r.case_id,
        "seq": r.seq,
        "action": action.value,
        "action_zh": action.zh,
        "action_en": action.en,
        "at": r.at.isoformat(),
        "stage": stage.value,
        "stage_zh": stage.zh,
        "stage_en": stage.en,
        "open": not stage.is_terminal,
        "case_stage": row.stage if row else stage.value,
        "category": row.category_code if row else None,
        "district": row.district_code if row else None,
        "department": row.department_id if row else None,
        "grid": row.grid_code if row else None,
        "lon": row.lon if row else None,
        "lat": row.lat if row else None,
        "light": light,
        "_reporter": row.reporter_id if row else None,
    }
    if detail:
        out.update(detail)
    return out


def _public(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if not k.startswith("_")}


def sse_lines(payload: dict[str, Any], event_id: int | None = None) -> bytes:
    data = orjson.dumps(payload)
    head = f"id: {event_id}\n".encode() if event_id is not None else b""
    return head + b"data: " + data + b"\n\n"
