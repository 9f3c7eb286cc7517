"""Use cases of the ledgers: units, ledger records (forms, imports, exports), targets, entered values
with their approval (填报与审核), and the assessor's inspection notes (检查记录).

Every function takes the acting person's id (``by``) and writes in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from civicloop.kernel.i18n import Msg
from civicloop.ledger import store, tabular
from civicloop.ledger.indicators import indicator
from civicloop.ledger.models import LedgerError, Source, TargetKey, Unit, target_period
from civicloop.ledger.tabular import ImportResult, Kind


def _say(key: str, /, **fields: object) -> str:
    """A refusal in both languages ("中文 / English"): ``ledger.errors.<key>``."""
    return str(Msg(f"ledger.errors.{key}", **fields))


@dataclass(frozen=True, slots=True)
class Entry:
    """An entered value of a target with its evidence, and its approval (填报值与审核)."""

    key: TargetKey
    seq: int
    value: float
    evidence: str
    note: str | None
    entered_by: str
    entered_at: datetime
    status: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "target": str(self.key),
            "seq": self.seq,
            "value": self.value,
            "evidence": self.evidence,
            "note": self.note,
            "entered_by": self.entered_by,
            "entered_at": self.entered_at.isoformat(),
            "status": self.status,
            "reviewed_by": self.reviewed_by,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "review_note": self.review_note,
        }


@dataclass(frozen=True, slots=True)
class Inspection:
    """An assessor's inspection note (检查记录), with an optional deduction in points (扣分)."""

    period: str
    seq: int
    unit_id: str
    indicator: str | None
    inspected_on: date
    note: str
    deduction: float
    inspector: str
    recorded_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "seq": self.seq,
            "unit_id": self.unit_id,
            "indicator": self.indicator,
            "inspected_on": self.inspected_on.isoformat(),
            "note": self.note,
            "deduction": self.deduction,
            "inspector": self.inspector,
            "recorded_at": self.recorded_at.isoformat(),
        }


_URL = re.compile(r"^https?://\S+$")


def _evidence(text: str) -> str:
    """A URL as given; a local file by its absolute path and SHA-256 (so a later swap is visible)."""
    s = text.strip()
    if not s:
        raise LedgerError(_say("evidence_required"))
    if _URL.fullmatch(s):
        return s
    path = Path(s).expanduser()
    if not path.is_file():
        raise LedgerError(_say("evidence_not_found", path=s))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{path.resolve()} (sha256:{digest[:16]})"


class LedgerService:
    """The ledgers of one city."""

    def __init__(self, city: Any, clock: Callable[[], datetime] | None = None) -> None:
        self.city = city
        self.city_id: str = city.id
        self.clock = clock or (lambda: datetime.now(UTC))

    # ---- units ----------------------------------------------------------------------------------

    def units(self) -> list[Unit]:
        with self.city.store.read() as conn:
            rows = store.unit_rows(conn, self.city_id)
        return [
            Unit(
                r.unit_id,
                r.name,
                r.kind,
                r.parent_id,
                r.department_id,
                r.district_code,
                r.kpi_scope,
                r.position,
                r.name_en,
            )
            for r in rows
        ]

    @staticmethod
    def subtree(units: list[Unit], unit_id: str) -> list[str]:
        """The unit and every unit below it (ledger rows of a squad count for its district and bureau)."""
        children: dict[str | None, list[str]] = {}
        for x in units:
            children.setdefault(x.parent_id, []).append(x.unit_id)
        out, todo = [], [unit_id]
        while todo:
            current = todo.pop()
            if current in out:
                continue  # a cycle cannot arise through the importer, but never loop on one
            out.append(current)
            todo.extend(children.get(current, []))
        return out

    # ---- ledger records ---------------------------------------------------------------------------

    def _ctx(self, conn: Connection, by: str) -> tabular.Ctx:
        return tabular.load_ctx(conn, self.city_id, self.city.profile, by, self.clock())

    def add(
        self, kind: str, fields: Mapping[str, Any], *, by: str, update_existing: bool = False
    ) -> ImportResult:
        """Record one row (the simple form of a ledger); refused with the reasons if anything is wrong."""
        k = tabular.kind(kind)
        unknown = [f for f in fields if f not in {c.key for c in k.columns}]
        if unknown:
            allowed = ", ".join(c.key for c in k.columns)
            raise LedgerError(_say("unknown_fields", kind=kind, fields=", ".join(unknown), allowed=allowed))
        with self.city.store.write() as conn:
            ctx = self._ctx(conn, by)
            return tabular.write_rows(
                conn, k, self.city_id, [(1, dict(fields))], ctx, update_existing=update_existing
            )

    def import_file(
        self, kind: str, path: Path, *, by: str, skip_bad: bool = False, update_existing: bool = False
    ) -> ImportResult:
        """Import a CSV or XLSX file in one transaction (nothing is written if a row is refused)."""
        k = tabular.kind(kind)
        if not path.is_file():
            raise LedgerError(_say("no_such_file", path=path))
        rows = tabular.file_rows(k, path)
        with self.city.store.write() as conn:
            ctx = self._ctx(conn, by)
            return tabular.write_rows(
                conn, k, self.city_id, rows, ctx, skip_bad=skip_bad, update_existing=update_existing
            )

    def rows(self, kind: str, year: int | None = None) -> list[dict[str, Any]]:
        k = tabular.kind(kind)
        with self.city.store.read() as conn:
            return tabular.select_rows(conn, k, self.city_id, year)

    def summary(self, kind: str, rows: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        return tabular.summarise(tabular.kind(kind), rows)

    def export(self, kind: str, fmt: str, path: Path, year: int | None = None) -> int:
        """Write the rows of a ledger to CSV or XLSX (re-importable as written); returns the row count."""
        k: Kind = tabular.kind(kind)
        rows = self.rows(kind, year)
        if fmt == "csv":
            tabular.export_csv(k, rows, path)
        elif fmt == "xlsx":
            tabular.export_xlsx(k, rows, path, tabular.summarise(k, rows))
        else:
            raise LedgerError(_say("export_format", fmt=repr(fmt)))
        return len(rows)

    # ---- targets ----------------------------------------------------------------------------------

    def set_target(
        self,
        key: TargetKey,
        *,
        target_value: Any,
        weight: float,
        by: str,
        comparison: str | None = None,
        source: str | None = None,
        tolerance: float | None = None,
        name: str | None = None,
        note: str | None = None,
    ) -> ImportResult:
        """Create or replace a target (考核目标) of a unit for a year, quarter or month."""
        fields: dict[str, Any] = {
            "period": key.period,
            "unit_id": key.unit_id,
            "indicator": key.indicator,
            "filter": key.filter,
            "target_value": target_value,
            "weight": weight,
            "comparison": comparison,
            "source": source,
            "tolerance": tolerance,
            "name": name,
            "note": note,
        }
        return self.add(
            "targets", {k: v for k, v in fields.items() if v is not None}, by=by, update_existing=True
        )

    def targets(self, period: str | None = None, unit_id: str | None = None) -> list[dict[str, Any]]:
        with self.city.store.read() as conn:
            return store.target_rows(
                conn, self.city_id, periods=None if period is None else [period], unit_id=unit_id
            )

    def _target(self, conn: Connection, key: TargetKey) -> Any:
        row = store.target_row(conn, self.city_id, key)
        if row is None:
            raise LedgerError(_say("no_target", key=key))
        return row

    # ---- entered values and approval ----------------------------------------------------------------

    def enter(self, key: TargetKey, value: Any, evidence: str, *, by: str, note: str | None = None) -> Entry:
        """Enter the achieved value of an ``entered`` target with its evidence; it waits for approval."""
        proof = _evidence(evidence)
        with self.city.store.write() as conn:
            target = self._target(conn, key)
            if target.source != Source.ENTERED.value:
                raise LedgerError(_say("not_entered", key=key, source=target.source))
            ind = indicator(key.indicator, target.name)
            try:
                parsed = tabular.parse_target_value(value, ind.measure)
            except tabular.Bad as exc:
                raise LedgerError(f"value: {exc}") from None
            store.add_entry(
                conn,
                self.city_id,
                key,
                {
                    "value": parsed,
                    "evidence": proof,
                    "note": note,
                    "entered_by": by,
                    "entered_at": self.clock(),
                    "status": "pending",
                },
            )
        return self.entries(key)[-1]

    def review(
        self,
        key: TargetKey,
        *,
        by: str,
        approve: bool = True,
        seq: int | None = None,
        note: str | None = None,
    ) -> Entry:
        """Approve (or reject) an entered value — the latest pending one unless *seq* is given.

        The assessor must not be the person who entered it (四眼原则 / four-eyes rule).
        """
        with self.city.store.write() as conn:
            row = store.latest_entry(conn, self.city_id, key, seq)
            if row is None:
                raise LedgerError(_say("no_pending_entry", key=key))
            if row.status != "pending":
                raise LedgerError(_say("already_reviewed", key=key, seq=row.seq, status=row.status))
            if row.entered_by == by:
                raise LedgerError(_say("four_eyes", by=by))
            store.review_entry(
                conn,
                self.city_id,
                key,
                row.seq,
                status="approved" if approve else "rejected",
                reviewed_by=by,
                reviewed_at=self.clock(),
                review_note=note,
            )
        return next(x for x in self.entries(key) if x.seq == row.seq)

    def entries(self, key: TargetKey | None = None, period: str | None = None) -> list[Entry]:
        with self.city.store.read() as conn:
            rows = store.entry_rows(conn, self.city_id, key, period)
        return [
            Entry(
                TargetKey(r.period, r.unit_id, r.indicator, r.filter),
                r.seq,
                r.value,
                r.evidence,
                r.note,
                r.entered_by,
                r.entered_at,
                r.status,
                r.reviewed_by,
                r.reviewed_at,
                r.review_note,
            )
            for r in rows
        ]

    # ---- inspection notes -------------------------------------------------------------------------

    def inspect(
        self,
        period: str,
        unit_id: str,
        note: str,
        *,
        by: str,
        deduction: float = 0.0,
        indicator_key: str | None = None,
        on: date | None = None,
    ) -> Inspection:
        """Record an inspection note (检查记录) on a unit for an assessment period, with a deduction."""
        label = target_period(period, self.city.profile.timezone).label
        if not note.strip():
            raise LedgerError(_say("empty_note"))
        if deduction < 0 or deduction > 100:
            raise LedgerError(_say("deduction_range"))
        with self.city.store.write() as conn:
            if not store.unit_exists(conn, self.city_id, unit_id):
                raise LedgerError(_say("unknown_unit", unit=repr(unit_id)))
            now = self.clock()
            seq = store.add_inspection(
                conn,
                self.city_id,
                label,
                {
                    "unit_id": unit_id,
                    "indicator": indicator_key,
                    "inspected_on": on or now.date(),
                    "note": note.strip(),
                    "deduction": float(deduction),
                    "inspector": by,
                    "recorded_at": now,
                },
            )
        return next(x for x in self.inspections(label) if x.seq == seq)

    def inspections(self, period: str) -> list[Inspection]:
        with self.city.store.read() as conn:
            rows = store.inspection_rows(conn, self.city_id, period)
        return [
            Inspection(
                r.period,
                r.seq,
                r.unit_id,
                r.indicator,
                r.inspected_on,
                r.note,
                r.deduction,
                r.inspector,
                r.recorded_at,
            )
            for r in rows
        ]
