"""Pure rules of the progress updates (进度通知): which events a reporter hears about, the words, and
when a failed send is tried again. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from civicloop.cases.core import CaseState, Event
from civicloop.kernel.i18n import t
from civicloop.kernel.vocabulary import Action

#: Steps a reporter hears about while the case is open (the outcome itself is the intake's ``outcome``
#: notification, written when the case ends: intake/service.py ``notify_cluster``).
PROGRESS_ACTIONS = frozenset(
    {
        Action.ACCEPT,
        Action.VERIFY,
        Action.FILE,
        Action.DISPATCH,
        Action.HANDLE,
        Action.REOPEN,
        Action.APPROVE_EXTENSION,
        Action.APPROVE_SUSPENSION,
        Action.RESUME,
    }
)

#: Reporters who left contact details have a private record ``r-<case>`` (cases/service.py); the others
#: (an inspector's own report, an anonymous citizen) have nobody to tell.
PRIVATE_PREFIX = "r-"

#: Waits before the next try after 1, 2, 3 … failed sends; the last one repeats.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = 12


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after *attempts* failed sends; None once the outbox gives up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + BACKOFF[min(attempts, len(BACKOFF)) - 1]


def progress_rows(
    city_id: str,
    events: Sequence[Event],
    states: Mapping[str, CaseState],
    members: Mapping[str, CaseState],
) -> list[dict[str, Any]]:
    """Outbox rows for every reporter of a case (and of its cluster) at a public step of the case."""
    rows: list[dict[str, Any]] = []
    for e in events:
        if e.action not in PROGRESS_ACTIONS:
            continue
        master = states.get(e.case_id)
        if master is None or master.duplicate_of:
            continue
        people = [(master.case_id, master.reporter_id)] + [
            (m.case_id, m.reporter_id) for mid in master.cluster_members if (m := members.get(mid))
        ]
        private = [(c, r) for c, r in people if r and r.startswith(PRIVATE_PREFIX)]
        if not private:
            continue  # nobody to tell (an inspector's own report): no words to build, no row
        zh = t("followup.progress", "zh-CN", case=master.case_id, step=e.action.zh, stage=e.stage_after.zh)
        en = t("followup.progress", "en", case=master.case_id, step=e.action.en, stage=e.stage_after.en)
        rows += notice_rows(city_id, e, master.case_id, private, "progress", zh, en)
    return rows


def notice_rows(
    city_id: str,
    e: Event,
    about_case_id: str,
    people: Sequence[tuple[str, str | None]],
    kind: str,
    zh: str,
    en: str,
) -> list[dict[str, Any]]:
    """Outbox rows of one notice about *e*: one per reporter (each once, the first case they reported
    in the cluster), for the progress updates here and the intake's outcome notices alike."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for case_id, reporter in people:
        if not reporter or reporter in seen:
            continue
        seen.add(reporter)
        rows.append(
            {
                "city_id": city_id,
                "notification_id": f"{e.case_id}:{e.seq}:{reporter}"[:96],
                "case_id": case_id,
                "about_case_id": about_case_id,
                "reporter_id": reporter,
                "kind": kind,
                "message_zh": zh,
                "message_en": en,
                "created_at": e.at,
                "sent_at": None,
            }
        )
    return rows
