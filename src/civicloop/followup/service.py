"""Progress updates (进度通知): the outbox listener and the courier that sends e-mail and SMS.

* :func:`progress_listener` runs inside the case transaction (like the intake's listeners) and only
  *writes* rows to the ``notifications`` outbox: sending never blocks or fails a case change.
* :class:`Courier` reads due rows, sends each by e-mail (:class:`SmtpSender`) and/or SMS (an
  :class:`SmsAdapter`, :class:`LoggingSms` by default) to the reporter's private contact, and marks it
  sent — or counts the failure and schedules the next try (``core.next_attempt``).

SMTP settings come from the environment (``CIVICLOOP_SMTP_HOST``, ``_PORT``, ``_FROM``, ``_TLS`` =
``none`` | ``starttls`` | ``ssl``, ``_USER``, ``_PASSWORD``); without a host no e-mail is sent.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlencode

from sqlalchemy import Connection

from civicloop.cases.core import CaseState, Event
from civicloop.city.service import City
from civicloop.followup import store
from civicloop.followup.core import PROGRESS_ACTIONS, next_attempt, progress_rows
from civicloop.kernel.i18n import t
from civicloop.triage.store import add_notifications

log = logging.getLogger("civicloop.followup")


def progress_listener(
    city_id: str, load: Callable[[Connection, Sequence[str]], Mapping[str, CaseState]]
) -> Callable[[Connection, Sequence[Event], Mapping[str, CaseState]], None]:
    """A case-service listener writing progress updates to the outbox (inside the case transaction)."""

    def listener(conn: Connection, events: Sequence[Event], states: Mapping[str, CaseState]) -> None:
        moved = [e for e in events if e.action in PROGRESS_ACTIONS]
        if not moved:
            return
        wanted = [m for e in moved if (s := states.get(e.case_id)) for m in s.cluster_members]
        members = load(conn, wanted) if wanted else {}
        add_notifications(conn, progress_rows(city_id, moved, states, members))

    return listener


def install(city: City) -> None:
    """Register the progress listener on the city's case service (idempotent)."""
    service = city.cases
    if getattr(service, "_followup_listener", False):
        return

    def load(conn: Connection, ids: Sequence[str]) -> Mapping[str, CaseState]:
        return {k: v.state for k, v in city.store.load_many(conn, city.id, list(ids)).items()}

    service.listeners.append(progress_listener(city.id, load))
    service._followup_listener = True  # type: ignore[attr-defined]


# ---- senders ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "civicloop@localhost"
    tls: str = "none"  # none | starttls | ssl
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        e = os.environ if env is None else env
        host = e.get("CIVICLOOP_SMTP_HOST", "").strip()
        if not host:
            return None
        tls = e.get("CIVICLOOP_SMTP_TLS", "none").strip().lower() or "none"
        if tls not in ("none", "starttls", "ssl"):
            raise ValueError(f"CIVICLOOP_SMTP_TLS must be none, starttls or ssl, not {tls!r}")
        port = e.get("CIVICLOOP_SMTP_PORT", "").strip()
        return cls(
            host=host,
            port=int(port) if port else (465 if tls == "ssl" else 25),
            sender=e.get("CIVICLOOP_SMTP_FROM", "").strip() or cls.sender,
            tls=tls,
            user=e.get("CIVICLOOP_SMTP_USER") or None,
            password=e.get("CIVICLOOP_SMTP_PASSWORD") or None,
        )


class SmtpSender:
    """Sends one e-mail per update over SMTP (a new connection each batch)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(body)
        if s.tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with client:
            if s.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if s.user:
                client.login(s.user, s.password or "")
            client.send_message(msg)


class SmsAdapter(Protocol):
    """A text-message gateway: ``send`` raises on failure (the courier retries later)."""

    def send(self, phone: str, text: str) -> None: ...


class LoggingSms:
    """The default SMS adapter: writes the message to the log (no gateway configured)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
        log.info("sms to %s****%s: %s", phone[:3], phone[-4:], text)


def courier_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the server sends progress updates: an SMTP host is configured, or ``CIVICLOOP_NOTIFY=1``
    (SMS through the logging adapter only). Otherwise the outbox keeps every update for later."""
    e = os.environ if env is None else env
    return bool(e.get("CIVICLOOP_SMTP_HOST", "").strip()) or e.get("CIVICLOOP_NOTIFY", "").strip() == "1"


class Courier:
    """Delivers due outbox rows; a failure is counted and retried later, never lost."""

    def __init__(
        self,
        city: City,
        *,
        email: SmtpSender | None = None,
        sms: SmsAdapter | None = None,
        public_url: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.city = city
        self.email = email
        self.sms = sms if sms is not None else LoggingSms()
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(cls, city: City) -> Courier:
        smtp = SmtpSettings.from_env()
        return cls(
            city,
            email=SmtpSender(smtp) if smtp else None,
            public_url=os.environ.get("CIVICLOOP_PUBLIC_URL", ""),
        )

    def deliver_due(self, limit: int = 100) -> dict[str, int]:
        """Send what is due now: ``{"sent": …, "failed": …}``."""
        now = self.clock()
        with self.city.store.read() as conn:
            rows = store.due(conn, self.city.id, now, limit)
        counts = {"sent": 0, "failed": 0}
        for row in rows:
            channels: list[str] = []
            error: str | None = None
            try:
                channels = self._send(row)
            except Exception as exc:  # any gateway failure: count it, try again later
                error = f"{type(exc).__name__}: {exc}"[:500]
            attempts = int(row.attempts or 0) + (1 if error else 0)
            with self.city.store.write() as conn:
                store.mark(
                    conn,
                    self.city.id,
                    row.notification_id,
                    sent_at=None if error else now,
                    attempts=attempts,
                    next_attempt_at=next_attempt(attempts, now) if error else None,
                    error=error,
                    channels=",".join(channels) if channels else None,
                )
            counts["failed" if error else "sent"] += 1
        return counts

    def _send(self, row: Any) -> list[str]:
        # the city in the link: on a server of several cities the tracking page asks this one
        link = f"{self.public_url}/public/track/{row.about_case_id}?{urlencode({'city': self.city.id})}"
        used: list[str] = []
        if row.email and self.email is not None:
            subject = t("followup.subject", "zh-CN", case=row.about_case_id)
            subject += " / " + t("followup.subject", "en", case=row.about_case_id)
            self.email.send(row.email, subject, f"{row.message_zh}\n{link}\n\n{row.message_en}\n{link}\n")
            used.append("email")
        if row.phone:
            self.sms.send(row.phone, f"{row.message_zh} {link}")
            used.append("sms")
        return used

    def start(self, every: float = 30.0) -> None:
        """Deliver in a background thread every *every* seconds until :meth:`close`."""
        if self._thread is not None:
            return

        def run() -> None:
            while not self._stop.wait(every):
                try:
                    self.deliver_due()
                except Exception:
                    log.exception("progress updates: delivery round failed")

        self._thread = threading.Thread(target=run, name="civicloop-courier", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def updates(city: City, case_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The updates of these cases for the tracking page (no contact data)."""
    with city.store.read() as conn:
        rows = store.updates_for(conn, city.id, case_ids)
    return [
        {
            "kind": r.kind,
            "message_zh": r.message_zh,
            "message_en": r.message_en,
            "at": r.created_at.isoformat(),
            "sent": r.sent_at is not None,
        }
        for r in rows
    ]
