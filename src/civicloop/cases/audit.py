"""Tamper evidence: verify every case's hash chain against its events and its projection.

Each event stores ``hash = sha256(previous hash, every stored field)``. Editing an event breaks its own
hash; deleting one breaks the chain of the next (its stored previous hash no longer matches) or, for the
last event, the case row's ``last_hash``; a missing sequence number is named as such. The database's
append-only triggers make this a second line of defence: it catches what someone with the rights to
drop a trigger (or edit the file) did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from civicloop.cases.store import GENESIS_HASH, EventStore, event_from_row, event_hash
from civicloop.kernel.i18n import both


@dataclass(frozen=True, slots=True)
class Finding:
    case_id: str
    seq: int | None
    problem: str  # edited | missing | extra | projection

    def describe(self) -> str:
        where = f"{self.case_id}#{self.seq}" if self.seq is not None else self.case_id
        return f"{where}: {both(f'cases.audit.{self.problem}')}"


@dataclass(slots=True)
class AuditReport:
    cases: int = 0
    events: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(store: EventStore, city_id: str, *, batch: int = 5000) -> AuditReport:
    """Recompute every chain of *city_id*. Streams the log in case order; memory stays flat."""
    report = AuditReport()
    with store.read() as conn:
        last_hashes = store.chain_heads(conn, city_id)
        rows = store.iter_event_rows(conn, city_id, batch)
        for case_id, group in groupby(rows, key=lambda r: r.case_id):
            report.cases += 1
            prev = GENESIS_HASH
            expected_seq = 1
            for r in group:
                report.events += 1
                if r.seq != expected_seq:
                    report.findings.append(Finding(case_id, expected_seq, "missing"))
                    expected_seq = r.seq
                e = event_from_row(r)
                recomputed = event_hash(prev, e, r.data, r.attachments)
                if recomputed != r.hash:
                    # Either this event was edited, or the one before it was removed: the stored hash
                    # was made from a different predecessor. Both are named by this event.
                    report.findings.append(Finding(case_id, r.seq, "edited"))
                prev = r.hash
                expected_seq += 1
            stored = last_hashes.pop(case_id, None)
            if stored is None:
                continue
            if stored[0] != prev or stored[1] != expected_seq - 1:
                report.findings.append(Finding(case_id, expected_seq, "projection"))
    for case_id in sorted(last_hashes):
        report.findings.append(Finding(case_id, None, "extra"))
    return report
