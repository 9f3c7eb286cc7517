"""The write path for reports arriving over HTTP: group commit with durable idempotency.

Each HTTP request hands a :class:`ReportJob` to one writer thread and waits for its future. The thread
takes every job queued at that moment and writes them in **one** transaction through
``CaseService.execute`` — one fsync for the whole group instead of one per request, which is what lets a
single SQLite file take hundreds of reports a second with a low tail latency. The group's idempotency
keys, Open311 submissions and tokens are written in the same transaction as their cases
(``execute(within=…)``), so a retried request finds its case even after a crash or a restart.

Idempotency: a job carries keys (the ``Idempotency-Key`` header scoped to its client, and/or a
fingerprint of device + service + location + text). A live key already in the database answers with the
stored case; two jobs with one key in the same group become one case. If another process wrote the same
key between our check and our commit, the key's primary key refuses ours, the group is rolled back and
every job is retried alone, which then finds the other process's case.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from civicloop.cases.core import Actor, CaseState, Command
from civicloop.cases.service import BatchItem, BatchResult, CaseService, ReporterInfo
from civicloop.intake.service import IntakeReport, IntakeService
from civicloop.kernel.errors import DomainError
from civicloop.kernel.vocabulary import Action
from civicloop.open311.service import new_token
from civicloop.open311.store import (
    Submitted,
    find_idempotent,
    purge_expired_keys,
    record_submissions,
)

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    case_id: str
    state: CaseState | None  # None when the answer is a case written earlier (a replay)
    token: str | None
    replayed: bool


class Reply:
    """Where a job's answer goes: a concurrent Future for threads, or an asyncio future on a loop.

    The asyncio path is what the HTTP handlers use: the writer thread hands the answer to the event
    loop with one ``call_soon_threadsafe``, without a thread-safe Future (and its lock) per request.
    """

    __slots__ = ("_afut", "_done", "_loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._done = False
        self._loop = loop
        self._afut: asyncio.Future[ReportOutcome] | None = loop.create_future() if loop is not None else None
        self.future: Future[ReportOutcome] | None = None if loop is not None else Future()

    def done(self) -> bool:
        return self._done

    def set_result(self, outcome: ReportOutcome) -> None:
        self._settle(outcome, None)

    def set_exception(self, exc: BaseException) -> None:
        self._settle(None, exc)

    def _settle(self, outcome: ReportOutcome | None, exc: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        if self.future is not None:
            if exc is not None:
                self.future.set_exception(exc)
            else:
                assert outcome is not None
                self.future.set_result(outcome)
            return
        assert self._loop is not None and self._afut is not None
        self._loop.call_soon_threadsafe(_settle_async, self._afut, outcome, exc)

    def __await__(self) -> Any:
        assert self._afut is not None, "a thread's reply is waited on with .future.result()"
        return self._afut.__await__()


def _settle_async(
    fut: asyncio.Future[ReportOutcome], outcome: ReportOutcome | None, exc: BaseException | None
) -> None:
    if fut.done():  # the request was cancelled (client gone): nobody waits for the answer
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        assert outcome is not None
        fut.set_result(outcome)


@dataclass(slots=True)
class ReportJob:
    actor: Actor
    fields: Mapping[str, Any]
    reporter: ReporterInfo | None = None
    idempotency: Sequence[tuple[str, timedelta]] = ()  # (key, how long it stays live)
    extras: Mapping[str, Any] | None = None  # an Open311 submission row (without keys)
    api_key_id: str | None = None
    want_token: bool = False
    reply: Reply | None = None  # set when submitted

    @property
    def future(self) -> Future[ReportOutcome]:
        """The concurrent Future of a job submitted from a thread."""
        assert self.reply is not None and self.reply.future is not None
        return self.reply.future

    @property
    def answer(self) -> Reply:
        assert self.reply is not None, "submit the job first"
        return self.reply


class ReportWriter:
    """One writer thread per case service; ``submit`` is safe from any thread."""

    def __init__(
        self,
        cases: CaseService,
        *,
        max_batch: int = 200,
        clock: Callable[[], datetime] = utcnow,
        purge_every: timedelta = timedelta(minutes=10),
        intake: IntakeService | None = None,
    ) -> None:
        self.cases = cases
        self.intake = intake
        self.max_batch = max_batch
        self.clock = clock
        self.purge_every = purge_every
        self._queue: queue.SimpleQueue[ReportJob | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_purge: datetime | None = None
        self.batches = 0
        self.jobs = 0

    def submit(self, job: ReportJob) -> Future[ReportOutcome]:
        """Queue *job* from a thread; wait with ``.result()``."""
        job.reply = Reply()
        self._enqueue(job)
        return job.future

    async def submit_async(self, job: ReportJob) -> ReportOutcome:
        """Queue *job* from a coroutine and wait for its answer."""
        job.reply = Reply(asyncio.get_running_loop())
        self._enqueue(job)
        outcome: ReportOutcome = await job.answer
        return outcome

    def _enqueue(self, job: ReportJob) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="civicloop-report-writer", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def report(self, job: ReportJob, timeout: float = 60.0) -> ReportOutcome:
        """Submit and wait (for synchronous callers)."""
        return self.submit(job).result(timeout)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            group = [job]
            while len(group) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._write(group)
                    return
                group.append(nxt)
            self._write(group)

    def _write(self, group: list[ReportJob]) -> None:
        group = [job for job in group if not job.answer.done()]  # a retry skips the answered ones
        if not group:
            return
        try:
            self._write_group(group)
        except IntegrityError:
            if len(group) == 1:
                self._retry_alone(group[0])
            else:
                for job in group:
                    self._write([job])
        except BaseException as exc:  # never leave a caller waiting
            log.exception("report group of %d failed", len(group))
            for job in group:
                if not job.answer.done():
                    job.answer.set_exception(exc)

    def _enrich(self, jobs: list[ReportJob], now: datetime) -> list[ReportJob]:
        """The intake pipeline's locate/classify/de-duplicate/urgency step, for the whole group at once."""
        assert self.intake is not None
        enriched = self.intake.enrich([IntakeReport(j.actor, dict(j.fields), now, j.reporter) for j in jobs])
        kept = []
        for job, e in zip(jobs, enriched, strict=True):
            if isinstance(e, DomainError):
                job.answer.set_exception(e)  # e.g. a point outside the city: a 4xx naming lon/lat
                continue
            job.fields = e.fields
            kept.append(job)
        return kept

    def _retry_alone(self, job: ReportJob) -> None:
        """The key was taken by a concurrent writer: answer with its case, or fail honestly."""
        now = self.clock()
        with self.cases.store.read() as conn:
            hits = find_idempotent(conn, self.cases.city_id, [k for k, _ in job.idempotency], now)
        for key, _ in job.idempotency:
            if key in hits:
                case_id, token = hits[key]
                job.answer.set_result(ReportOutcome(case_id, None, token, True))
                return
        try:
            self._write_group([job])
        except BaseException as exc:
            if not job.answer.done():
                job.answer.set_exception(exc)

    def _write_group(self, group: list[ReportJob]) -> None:
        now = self.clock()
        city = self.cases.city_id
        keys = [k for job in group for k, _ in job.idempotency]
        if keys:
            with self.cases.store.read() as conn:
                existing = find_idempotent(conn, city, keys, now)
        else:
            existing = {}
        primary: list[ReportJob] = []
        aliases: list[tuple[ReportJob, ReportJob]] = []
        claimed: dict[str, ReportJob] = {}
        for job in group:
            hit = next((existing[k] for k, _ in job.idempotency if k in existing), None)
            if hit is not None:
                job.answer.set_result(ReportOutcome(hit[0], None, hit[1], True))
                continue
            first = next((claimed[k] for k, _ in job.idempotency if k in claimed), None)
            if first is not None:
                aliases.append((job, first))
                continue
            for k, _ in job.idempotency:
                claimed[k] = job
            primary.append(job)
        if not primary:
            return
        if self.intake is not None:
            primary = self._enrich(primary, now)
            if not primary:
                return
        tokens = {id(job): new_token() if job.want_token else None for job in primary}
        items = [
            BatchItem(Command(Action.REPORT, "", job.fields), job.actor, now, job.reporter) for job in primary
        ]
        purge = self._last_purge is None or now - self._last_purge >= self.purge_every

        def within(conn: Connection, result: BatchResult) -> None:
            failed = {index for index, _ in result.errors}
            entries = [
                Submitted(
                    result.states[case_id],
                    idempotency=[(k, now + ttl) for k, ttl in job.idempotency],
                    extras=job.extras,
                    api_key_id=job.api_key_id,
                    token=tokens[id(job)],
                )
                for pos, job in enumerate(primary)
                if pos not in failed and (case_id := result.case_ids[pos]) is not None
            ]
            record_submissions(conn, city, entries, now)
            if purge:
                purge_expired_keys(conn, city, now)

        result = self.cases.execute(items, within=within)
        if purge:
            self._last_purge = now
        self.batches += 1
        self.jobs += len(group)
        errors = dict(result.errors)
        followed: Mapping[str, CaseState] = {}
        if self.intake is not None:
            # The reports are stored (acknowledgeable whatever happens next); the triage actions run
            # before the answers so that what a client reads back already shows a merge or a dispatch.
            written = [
                (case_id, IntakeReport(job.actor, dict(job.fields), now))
                for pos, job in enumerate(primary)
                if pos not in errors and (case_id := result.case_ids[pos]) is not None
            ]
            try:
                # the answer is the state after the triage (merged as a duplicate, filed, dispatched)
                followed = self.intake.follow_up(written).states
            except Exception:  # the reports stay in the review queue; nothing acknowledged is lost
                log.exception("triage follow-up of %d reports failed", len(written))
        outcomes: dict[int, ReportOutcome | BaseException] = {}
        final = {**result.states, **followed}
        for pos, job in enumerate(primary):
            err = errors.get(pos)
            case_id = result.case_ids[pos]
            if err is not None or case_id is None:
                exc: BaseException = err if err is not None else RuntimeError("report not written")
                outcomes[id(job)] = exc
                job.answer.set_exception(exc)
            else:
                outcome = ReportOutcome(case_id, final[case_id], tokens[id(job)], False)
                outcomes[id(job)] = outcome
                job.answer.set_result(outcome)
        for job, first in aliases:
            answer = outcomes[id(first)]
            if isinstance(answer, BaseException):
                job.answer.set_exception(answer)
            else:
                job.answer.set_result(ReportOutcome(answer.case_id, None, answer.token, True))
