"""Stored period facts: a closed period's counters, pre-aggregated once, kept next to a Parquet export.

A monthly evaluation of a large city reads the same closed month again and again (the report, the
big screen, every drill-down by district or department, next month's rank comparison). The events of
a closed period never change (see :mod:`civicloop.kpi.export`), so the engine's first stage — flat
events, case-period facts, the traffic lights at the period end and the sum per combination of the
area dimensions — is written once under ``<export>/facts/<period>/``:

* ``area_ev.parquet`` / ``area_cp.parquet``: the additive counters of the event and the case-period
  tables per (department, district, street, community, grid, category) combination, plus
  ``__n_<counter>`` helpers for the counters that count distinct values;
* ``roles.parquet``: the role groupings' counters (role, person, counter, value);
* ``facts.json``: the period's exact bounds, the city, and the *spec* — a digest of the SQL and
  counter declarations that produced them and of the working calendar. Facts made by another version
  of the engine or under another calendar are ignored (and rebuilt by ``civicloop kpi facts``).

The evaluation then groups those partial sums (GROUPING SETS) instead of the events: same counters,
same rates, scores and ranks (``tests/kpi/test_facts.py`` compares both paths figure by figure).
Explanations (the cases behind a figure) always go back to the events.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from civicloop.kpi.core import Period

FACTS_DIR = "facts"
FACTS_MANIFEST = "facts.json"
TABLES = ("area_ev", "area_cp", "roles")


@dataclass(frozen=True, slots=True)
class StoredFacts:
    folder: Path
    manifest: dict[str, Any]

    def table(self, name: str) -> Path:
        return self.folder / f"{name}.parquet"


def _bounds(period: Period) -> tuple[str, str]:
    return period.start.astimezone(UTC).isoformat(), period.end.astimezone(UTC).isoformat()


def folder_for(export_dir: Path, period: Period) -> Path:
    """``facts/2026-10`` for a calendar month however it was asked for (``--period 2026-10`` or
    ``--from 2026-10-01 --to 2026-10-31``), ``facts/<first>_to_<last>`` for any other span; the bounds
    in the manifest decide."""
    first, last = period.first_day, period.last_day
    if first.day == 1 and (last + timedelta(days=1)).day == 1 and first.month == last.month:
        name = f"{first.year:04d}-{first.month:02d}"
    else:
        name = f"{first.isoformat()}_to_{last.isoformat()}"
    return export_dir / FACTS_DIR / name


def find(
    export_dir: Path | None, watermark: datetime | None, city_id: str, period: Period, spec: str
) -> StoredFacts | None:
    """The stored facts of *period*, if they exist, are complete and were made by this *spec*."""
    if export_dir is None or watermark is None:
        return None
    if period.end.astimezone(UTC).replace(tzinfo=None) > watermark:
        return None  # the period is not closed in this export
    folder = folder_for(export_dir, period)
    start, end = _bounds(period)
    manifest = _manifest(folder, TABLES, spec=spec, city_id=city_id, start_utc=start, end_utc=end)
    if manifest is None:
        return None
    return StoredFacts(folder, manifest)


def _manifest(folder: Path, tables: tuple[str, ...], **expected: str) -> dict[str, Any] | None:
    """The folder's manifest if it says *expected* and every table is there, else None."""
    try:
        manifest: dict[str, Any] = json.loads((folder / FACTS_MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if any(manifest.get(k) != v for k, v in expected.items()):
        return None
    if not all((folder / f"{t}.parquet").exists() for t in tables):
        return None
    return manifest


def write_atomically(path: Path, data: bytes) -> bool:
    """Keep *data* at *path* for later readers: written aside and renamed in, so a reader sees the whole
    file or none. Best effort (a read-only export just recomputes): False when it could not be kept."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True


def staging(export_dir: Path) -> Path:
    """A fresh folder to write facts into before :func:`publish` moves them in place."""
    folder = export_dir / FACTS_DIR / f".staging-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    return folder


def _write_manifest(staged: Path, period: Period, city_id: str, spec: str, info: dict[str, Any]) -> None:
    start, end = _bounds(period)
    manifest = {
        "period": period.label,
        "city_id": city_id,
        "start_utc": start,
        "end_utc": end,
        "spec": spec,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **info,
    }
    (staged / FACTS_MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")


def publish(
    staged: Path, export_dir: Path, period: Period, city_id: str, spec: str, info: dict[str, Any]
) -> Path:
    """Write the manifest last and swap the folder in, so a reader sees old facts, new facts or none."""
    _write_manifest(staged, period, city_id, spec, info)
    target = folder_for(export_dir, period)
    if target.exists():
        old = target.with_name(f".old-{uuid.uuid4().hex}")
        target.rename(old)
        staged.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(target)
    return target


# ---- the open period: facts of its closed days, the open day read from the events ----------------------
#
# A period that has not ended (this month, this week, today) cannot have final facts: a case's counters
# depend on everything that happened to it by the period end. But each case's counters depend on *that
# case only* (the engine's flat tables are windows and groups per case), so the period splits exactly:
#
# * the **closed days** [start, cut) — *cut* being the local midnight that opens today — are computed
#   once from the events and stored per case (``case_ev`` / ``case_cp`` / ``case_roles``, the same
#   counters as the period facts with the case id kept);
# * at evaluation, the cases with an event at or after *cut* (touched, reported or reopened today) are
#   computed again from the events. The cases that were with a department at *cut* and untouched since
#   keep their stored flat row (``case_flat``: the case-period row at *cut* — deadline, clock start,
#   minutes used before it, limit unit, department, areas …): only what depends on the moment, 超期 and
#   the light, is taken again at the period end (vectorised, :mod:`civicloop.kpi.lights`). Every other
#   case's counters for [start, end) equal its stored ones for [start, cut): it has no event after cut,
#   its relevance (created before the end, not closed before the start) is unchanged, and nothing of it
#   depends on the clock.
#
# So that the recomputed cases need not be looked up in the whole event log, the events before *cut* of
# every case still open at *cut* (the likely ones) are stored too (``open_events``); only a case closed
# before *cut* and touched again today is read from the log.
#
# The stored part is read without the recomputed cases and the two are summed: the figures equal the
# events path's (tests/kpi/test_open_facts.py compares every KPI both ways). The manifest records how many
# events were before *cut* when the facts were made; an event written later with an earlier time (a
# back-dated import) changes that count and the facts are made again.

OPEN_DIR = "open"
OPEN_TABLES = ("case_ev", "case_cp", "case_flat", "case_roles", "open_events")


def open_folder(root: Path, period: Period, cut: datetime) -> Path:
    """``facts/open/<first day>_<last day>@<cut as UTC>`` for *period* cut at *cut*."""
    stamp = cut.astimezone(UTC).strftime("%Y%m%dT%H%M")
    span = f"{period.first_day.isoformat()}_{period.last_day.isoformat()}"
    return root / FACTS_DIR / OPEN_DIR / f"{span}@{stamp}"


def find_open(
    root: Path, city_id: str, period: Period, cut: datetime, spec: str, events_before: int | None
) -> StoredFacts | None:
    """The stored closed-day facts of *period* up to *cut*, if complete, made by *spec* and, when
    *events_before* is given, from the same number of events before *cut*."""
    folder = open_folder(root, period, cut)
    start, _ = _bounds(period)
    cut_utc = cut.astimezone(UTC).isoformat()
    manifest = _manifest(folder, OPEN_TABLES, spec=spec, city_id=city_id, start_utc=start, cut_utc=cut_utc)
    if manifest is None or (events_before is not None and manifest.get("events_before_cut") != events_before):
        return None
    return StoredFacts(folder, manifest)


def publish_open(
    staged: Path, root: Path, period: Period, cut: datetime, city_id: str, spec: str, info: dict[str, Any]
) -> Path:
    """Move staged closed-day facts in place (manifest last); older cuts of the period are removed."""
    _write_manifest(staged, period, city_id, spec, {"cut_utc": cut.astimezone(UTC).isoformat(), **info})
    target = open_folder(root, period, cut)
    prefix = target.name.split("@", 1)[0] + "@"
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.glob(prefix + "*"):
        shutil.rmtree(old, ignore_errors=True)
    staged.rename(target)
    return target
