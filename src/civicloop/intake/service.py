"""The intake pipeline (梳理/研判) for every channel: validate → locate → classify → de-duplicate →
urgency → file or queue → dispatch, in batches.

Each report gets a suggestion (category, department, urgency, duplicate candidates, recurrence), each
with a score and a reason, stored in the report event itself (``triage``) so that the review queue, the
audit trail and the KPIs all see what the machine proposed. Above the thresholds the system files and
dispatches by itself; below, the case waits in the review queue. People's corrections become training
examples (a listener in the write transaction), and when a master case ends, every reporter of its
cluster is told (an outbox of notifications).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Protocol

import numpy as np
import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from civicloop.cases.core import Actor, CaseState, Command, Event
from civicloop.cases.service import BatchItem, BatchResult, ReporterInfo
from civicloop.city.service import City
from civicloop.followup.core import notice_rows
from civicloop.geo.projection import bbox_for_radius, haversine_m
from civicloop.intake.core import decide_urgency, review_priority
from civicloop.intake.dedupe import (
    THRESHOLD,
    DuplicateCandidate,
    TextSignature,
    best_duplicate,
    score_duplicate,
    shingled,
    signature,
    signatures,
)
from civicloop.intake.locate import locate_report_fields
from civicloop.intake.store import (
    Candidate,
    closed_in_boxes,
    has_text_keys,
    newest_by_key,
    open_candidates,
    open_case_texts,
    open_in_boxes,
    rank_text_candidates,
    replace_text_keys,
)
from civicloop.kernel.errors import DomainError
from civicloop.kernel.i18n import both, t
from civicloop.kernel.vocabulary import Action, Channel, ClosureReason, Role, Stage, Urgency
from civicloop.triage.service import load_category_model
from civicloop.triage.store import add_examples, add_notifications

_PLACE_CANDIDATES = 8  # the nearest open cases of a kind (and of none) compared with a report

SYSTEM = Actor("triage", Role.SYSTEM, name=both("intake.triage_actor"))


class Prediction(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def auto(self) -> bool: ...


class Classifier(Protocol):
    def predict(self, texts: Sequence[str]) -> Sequence[Prediction]: ...


@dataclass(frozen=True, slots=True)
class KeywordPrediction:
    label: str
    score: float
    auto: bool = False
    top: tuple[tuple[str, float], ...] = ()


class KeywordClassifier:
    """The fallback before any model is trained: names and keywords of the profile's categories.

    Its answers are suggestions only (``auto`` is always False): keywords alone never route a case.
    """

    def __init__(self, city: City) -> None:
        self.vocab: list[tuple[str, tuple[str, ...]]] = [
            (c.code, tuple(w.lower() for w in (c.name, *(c.keywords or ()), *(c.name_en or "").split()) if w))
            for c in city.profile.categories
        ]

    def predict(self, texts: Sequence[str]) -> list[KeywordPrediction]:
        out = []
        for text in texts:
            low = text.lower()
            scored = sorted(
                ((sum(len(w) for w in words if w in low), code) for code, words in self.vocab), reverse=True
            )
            best, code = scored[0] if scored else (0, "")
            total = sum(s for s, _ in scored[:3]) or 1
            top = tuple((c, round(s / total, 3)) for s, c in scored[:3] if s > 0)
            out.append(
                KeywordPrediction(code if best else "", round(best / total, 3) if best else 0.0, False, top)
            )
        return out


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    duplicate_radius_m: float = 50.0  # FMS suggests within 250 m; merging automatically needs a tighter ring
    duplicate_window_days: float = 7.0
    duplicate_threshold: float = THRESHOLD  # see intake/dedupe.py: score_duplicate (the radius is real)
    recurrence_radius_m: float = 30.0
    recurrence_days: float = 30.0
    auto_dispatch: bool = True


@dataclass(slots=True)
class IntakeReport:
    actor: Actor
    fields: dict[str, Any]
    at: datetime
    reporter: ReporterInfo | None = None


@dataclass(slots=True)
class IntakeOutcome:
    case_id: str | None
    suggestion: dict[str, Any]
    outcome: str  # queued | auto_dispatched | auto_accepted | merged | refused
    error: str | None = None
    state: CaseState | None = None


@cache
def urgent_cues() -> tuple[tuple[str, ...], ...]:
    """Public-safety cues of any category (``intake/urgent_cues.toml``), lower-cased."""
    data = tomllib.loads(
        (resources.files("civicloop.intake") / "urgent_cues.toml").read_text(encoding="utf-8")
    )
    return tuple(tuple(w.lower() for w in cue) for cue in data["cues"])


class IntakeService:
    def __init__(
        self,
        city: City,
        *,
        classifier: Classifier | None = None,
        settings: IntakeSettings | None = None,
        locate: Callable[[City, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.city = city
        if classifier is None:
            classifier = load_category_model(city) or KeywordClassifier(city)
        self.classifier: Classifier = classifier
        self.settings = settings or IntakeSettings()
        self.locate = locate or locate_report_fields

    # ---- suggestion -------------------------------------------------------------------------

    def suggest_many(self, reports: Sequence[IntakeReport]) -> list[dict[str, Any]]:
        texts = [_text_of(r.fields) for r in reports]
        # The classifier is asked only where the reporter did not choose a known category (most
        # inspector reports do): segmenting Chinese text is the costliest step of intake.
        known = {c.code for c in self.city.profile.categories}
        ask = [i for i, r in enumerate(reports) if r.fields.get("category_code") not in known]
        predicted = list(self.classifier.predict([texts[i] for i in ask])) if ask else []
        predictions: list[Prediction] = [
            KeywordPrediction(str(r.fields.get("category_code")), 1.0) for r in reports
        ]
        for i, p in zip(ask, predicted, strict=True):
            predictions[i] = p
        sigs = signatures(texts)  # MinHash vectorised over the batch: a quarter of one by one's cost
        chosen = [_category(r, p, known) for r, p in zip(reports, predictions, strict=True)]
        categories = [c for c, _ in chosen]
        points = [_point_of(r.fields) for r in reports]
        with self.city.store.read() as conn:
            # The batch is judged against one view of the open cases, in a few statements however many
            # reports it holds (docs/duplicates.md): every key's newest cases, the place boxes, every
            # candidate's narrow row, the recurrence boxes — hotline batches repeat the same complaint.
            found = self._candidates_of(conn, reports, sigs, categories, points)
            recurrences = self._recurrences(conn, reports, categories, points)
        return [
            self._suggest(report, text, pred, sig, category, source, point, ids, candidates, recurrence)
            for report, text, pred, sig, (category, source), point, (ids, candidates), recurrence in zip(
                reports, texts, predictions, sigs, chosen, points, found, recurrences, strict=True
            )
        ]

    def _suggest(
        self,
        report: IntakeReport,
        text: str,
        pred: Prediction,
        sig: TextSignature,
        category: str | None,
        source: str,
        point: tuple[float, float] | None,
        ids: Sequence[str],
        candidates: Mapping[str, Candidate],
        recurrence: str | None,
    ) -> dict[str, Any]:
        profile = self.city.profile
        f = report.fields
        rule = profile.category(category) if category else None
        urgency = decide_urgency(
            text, category, rule.urgent_keywords if rule else (), _urgency_of(f.get("urgency")), urgent_cues()
        )
        department, dept_reason = None, None
        if category:
            dept = profile.responsible_department(category, 1, f.get("district_code"))
            department = dept.id
            dept_reason = f"profile rule for {category}" + (
                f" in {f['district_code']}" if f.get("district_code") else ""
            )
        duplicates = self._score_candidates(report, sig, category, point, ids, candidates)
        duplicates.sort(key=lambda c: (-c.score, c.distance_m if c.distance_m is not None else math.inf))
        master = best_duplicate(duplicates, self.settings.duplicate_threshold)
        auto = bool(
            self.settings.auto_dispatch
            and category
            and department
            and master is None
            and ((source == "reporter" and report.actor.role is Role.INSPECTOR) or pred.auto)
            and not (rule and rule.always_review)
        )
        return {
            "category_code": category,
            "category_source": source,
            "category_score": round(float(pred.score), 4) if source == "classifier" else 1.0,
            "category_top": [list(t) for t in getattr(pred, "top", ())][:3],
            "department_id": department,
            "department_reason": dept_reason,
            "urgency": urgency.urgency.value,
            "urgency_rule": urgency.rule,
            "duplicates": [
                {
                    "case_id": d.case_id,
                    "distance_m": None if d.distance_m is None else round(d.distance_m, 1),
                    "score": d.score,
                    "reason": d.reason,
                }
                for d in duplicates[:5]
            ],
            "duplicate_of": master.case_id if master else None,
            "recurrence_of": recurrence,
            "auto": auto,
        }

    def _recurrences(
        self,
        conn: Connection,
        reports: Sequence[IntakeReport],
        categories: Sequence[str | None],
        points: Sequence[tuple[float, float] | None],
    ) -> list[str | None]:
        """For each report, the nearest case of its category closed as fixed within the recurrence
        radius and window (复发), or None: one statement for the batch (``ix_cases_closed_nearby``), the
        exact distance after."""
        settings = self.settings
        radius = settings.recurrence_radius_m
        asked = [
            (i, category, point)
            for i, (category, point) in enumerate(zip(categories, points, strict=True))
            if category and point
        ]
        out: list[str | None] = [None] * len(reports)
        if not asked:
            return out
        window = timedelta(days=settings.recurrence_days)
        since = min(reports[i].at for i, _, _ in asked) - window
        boxes = [(category, bbox_for_radius(*point, radius)) for _, category, point in asked]
        for (i, _, (lon, lat)), rows in zip(
            asked, closed_in_boxes(conn, self.city.id, boxes, since), strict=True
        ):
            mine = reports[i].at - window
            fixed = [r for r in rows if r.closure_reason == ClosureReason.FIXED.value and r.closed_at >= mine]
            if not fixed:
                continue
            d = haversine_m(lon, lat, np.array([r.lon for r in fixed]), np.array([r.lat for r in fixed]))
            best = int(np.argmin(d))
            if float(d[best]) <= radius:
                out[i] = fixed[best].case_id
        return out

    def duplicates_of(self, report: IntakeReport, category: str | None = None) -> list[DuplicateCandidate]:
        """The duplicate search alone, as intake runs it for a report already located (for tools and
        the benchmark): every candidate with its score, best first."""
        sig = signature(_text_of(report.fields))
        point = _point_of(report.fields)
        with self.city.store.read() as conn:
            [(ids, candidates)] = self._candidates_of(conn, [report], [sig], [category], [point])
        found = self._score_candidates(report, sig, category, point, ids, candidates)
        return sorted(found, key=lambda c: (-c.score, math.inf if c.distance_m is None else c.distance_m))

    def _candidates_of(
        self,
        conn: Connection,
        reports: Sequence[IntakeReport],
        sigs: Sequence[TextSignature],
        categories: Sequence[str | None],
        points: Sequence[tuple[float, float] | None],
    ) -> list[tuple[list[str], dict[str, Candidate]]]:
        """For each report, the open cases that may be the same problem (ids, place's first) and their
        narrow rows. Candidates come from the place search (two statements for the batch, each box a
        range of ``ix_cases_open_nearby``: the same category, and no category yet — the review queue —
        within the radius, the nearest of each kept) and the cases sharing a text key (MinHash LSH bands
        or the exact normal form: ``case_text_keys``, every key of the batch in one statement); then one
        narrow read of every report's candidates (no document is loaded)."""
        newest = newest_by_key(conn, self.city.id, (k for sig in sigs for k in sig.keys))
        radius = self.settings.duplicate_radius_m
        window = timedelta(days=self.settings.duplicate_window_days)
        placed = [(i, point) for i, point in enumerate(points) if point]
        near_rows: dict[int, list[Any]] = {}
        if placed:
            boxes = [(categories[i], bbox_for_radius(lon, lat, radius)) for i, (lon, lat) in placed]
            since = min(reports[i].at for i, _ in placed) - window
            found_near = open_in_boxes(conn, self.city.id, boxes, since)
            near_rows = {i: rows for (i, _), rows in zip(placed, found_near, strict=True)}
        per_report: list[list[str]] = []
        for i, (report, sig, point) in enumerate(zip(reports, sigs, points, strict=True)):
            ids: dict[str, None] = {}
            if point:
                lon, lat = point
                mine = report.at - window
                rows = [r for r in near_rows[i] if r.created_at >= mine]  # the batch read the widest window
                if rows:
                    d = haversine_m(
                        lon, lat, np.array([r.lon for r in rows]), np.array([r.lat for r in rows])
                    )
                    near = sorted(
                        (r.category_code is None, float(dist), r.case_id)
                        for r, dist in zip(rows, d.tolist(), strict=True)
                        if dist <= radius
                    )  # the same category's nearest first, then the review queue's
                    kept = {False: 0, True: 0}
                    for queue, _, case_id in near:
                        if kept[queue] < _PLACE_CANDIDATES:
                            kept[queue] += 1
                            ids[case_id] = None
            for case_id in rank_text_candidates(sig.keys, newest):
                ids[case_id] = None
            per_report.append(list(ids))
        wanted = list(dict.fromkeys(case_id for ids in per_report for case_id in ids))
        found = open_candidates(conn, self.city.id, wanted) if wanted else {}
        return [(ids, {c: found[c] for c in ids if c in found}) for ids in per_report]

    def _score_candidates(
        self,
        report: IntakeReport,
        sig: TextSignature,
        category: str | None,
        point: tuple[float, float] | None,
        ids: Sequence[str],
        found: Mapping[str, Candidate],
    ) -> list[DuplicateCandidate]:
        """Each candidate open case reported within the duplicate window scored by
        :func:`civicloop.intake.dedupe.score_duplicate`: one vectorised distance call, the text compared
        on cached shingle sets."""
        settings = self.settings
        radius = settings.duplicate_radius_m
        since = report.at - timedelta(days=settings.duplicate_window_days)
        f = report.fields
        reporter = f.get("reporter_id") or (report.actor.id if report.actor.role is Role.CITIZEN else None)
        usable = [
            s
            for case_id in ids
            if (s := found.get(case_id)) is not None and not s.duplicate_of and s.created_at >= since
        ]  # a merged report is never a master (the cluster has one); the window
        placed = [s for s in usable if s.lon is not None and s.lat is not None] if point else []
        distances: dict[str, float] = {}
        if point and placed:  # one vectorised call for every candidate
            d = haversine_m(point[0], point[1], np.array([s.lon for s in placed]),
                            np.array([s.lat for s in placed]))  # fmt: skip
            distances = dict(zip((s.case_id for s in placed), np.atleast_1d(d).tolist(), strict=True))
        out: list[DuplicateCandidate] = []
        for s in usable:
            distance = distances.get(s.case_id)
            theirs = s.category_code or s.triage_category
            same_area = distance is None and any(
                f.get(k) and f.get(k) == getattr(s, k) for k in ("grid_code", "community_code")
            )
            out.append(
                score_duplicate(
                    case_id=s.case_id,
                    distance_m=distance,
                    radius_m=radius,
                    same_category=(category == theirs) if category and theirs else None,
                    text_similarity=sig.similarity(shingled(s.text)),
                    same_component=bool(f.get("component_id")) and s.component_id == f.get("component_id"),
                    same_area=same_area,
                    same_reporter=bool(reporter) and s.reporter_id == reporter,
                )
            )
        return out

    # ---- submission -------------------------------------------------------------------------

    def enrich(self, reports: Sequence[IntakeReport]) -> list[IntakeReport | DomainError]:
        """Locate, classify, look for duplicates and recurrences, decide urgency: the report as it will
        be stored (its ``triage`` field holds the suggestion), or the refusal that names the field."""
        located: list[IntakeReport] = []
        out: list[IntakeReport | DomainError] = []
        for r in reports:
            try:
                fields = self.locate(self.city, dict(r.fields))
            except DomainError as exc:  # outside the city …: the caller's error, named
                out.append(exc)
                continue
            located.append(IntakeReport(r.actor, fields, r.at, r.reporter))
            out.append(located[-1])
        for report, suggestion in zip(located, self.suggest_many(located), strict=True):
            fields = report.fields
            fields["triage"] = suggestion
            if not fields.get("category_code") and suggestion["category_code"] and suggestion["auto"]:
                fields["category_code"] = suggestion["category_code"]
            if suggestion["urgency"] == Urgency.URGENT.value:
                fields["urgency"] = Urgency.URGENT.value
            if suggestion["recurrence_of"]:
                fields["recurrence_of"] = suggestion["recurrence_of"]
        return out

    def follow_up(self, written: Sequence[tuple[str, IntakeReport]]) -> BatchResult:
        """The triage actions for reports already stored (merge, recurrence, automatic file/dispatch), in
        one batch. Used where the report is acknowledged first (the HTTP intake): if this batch fails,
        the reports simply wait in the review queue."""
        items = [
            i for case_id, r in written for i in self._follow_ups(case_id, r, r.fields.get("triage") or {})
        ]
        return self.city.cases.execute(items) if items else BatchResult()

    def submit(self, reports: Sequence[IntakeReport]) -> list[IntakeOutcome]:
        """Run the pipeline for a batch of reports: one write transaction for the whole batch."""
        enriched = self.enrich(reports)
        outcomes: list[IntakeOutcome | None] = [
            IntakeOutcome(None, {}, "refused", str(e)) if isinstance(e, DomainError) else None
            for e in enriched
        ]
        located = [e for e in enriched if not isinstance(e, DomainError)]
        suggestions = [r.fields["triage"] for r in located]
        ids = self._reserve(located)
        items: list[BatchItem] = []
        plan: list[tuple[int, str]] = []  # (index into located, case id)
        for i, (report, suggestion, case_id) in enumerate(zip(located, suggestions, ids, strict=True)):
            items.append(
                BatchItem(
                    Command(Action.REPORT, case_id, report.fields), report.actor, report.at, report.reporter
                )
            )
            plan.append((i, case_id))
            items.extend(self._follow_ups(case_id, report, suggestion))
        result = self.city.cases.execute(items) if items else BatchResult()
        failed = {
            items[i].command.case_id for i, _ in result.errors if items[i].command.action is Action.REPORT
        }
        errors = {items[i].command.case_id: str(e) for i, e in result.errors}
        it = iter(plan)
        for k, slot in enumerate(outcomes):
            if slot is not None:
                continue
            i, case_id = next(it)
            suggestion = suggestions[i]
            if case_id in failed:
                outcomes[k] = IntakeOutcome(None, suggestion, "refused", errors.get(case_id))
                continue
            state = result.states.get(case_id)
            outcomes[k] = IntakeOutcome(case_id, suggestion, _outcome_of(state, suggestion), None, state)
        return [o for o in outcomes if o is not None]

    def _reserve(self, reports: Sequence[IntakeReport]) -> list[str]:
        """Case numbers up front, so the follow-up actions in the same batch can name their case."""
        by_year: dict[int, list[int]] = {}
        tz = self.city.cases.tz
        for i, r in enumerate(reports):
            by_year.setdefault(r.at.astimezone(tz).year, []).append(i)
        ids = [""] * len(reports)
        for indexes in by_year.values():
            numbers = self.city.cases.reserve_case_ids(reports[indexes[0]].at, len(indexes))
            for i, number in zip(indexes, numbers, strict=True):
                ids[i] = number
        return ids

    def _follow_ups(self, case_id: str, report: IntakeReport, s: dict[str, Any]) -> list[BatchItem]:
        if not s:
            return []
        at = report.at
        if s["duplicate_of"]:
            note = both("intake.merged_duplicate", case=s["duplicate_of"])
            return [
                BatchItem(
                    Command(
                        Action.REJECT,
                        case_id,
                        {"reason": "duplicate", "duplicate_of": s["duplicate_of"], "note": note},
                    ),
                    SYSTEM,
                    at,
                ),
                BatchItem(
                    Command(Action.LINK_DUPLICATE, s["duplicate_of"], {"member_id": case_id}), SYSTEM, at
                ),
            ]
        items: list[BatchItem] = []
        if s["recurrence_of"]:
            items.append(
                BatchItem(
                    Command(
                        Action.FLAG_RECURRENCE,
                        s["recurrence_of"],
                        {"member_id": case_id, "note": t("intake.recurrence_note", "zh-CN", case=case_id)},
                    ),
                    SYSTEM,
                    at,
                )
            )
        if not s["auto"]:
            return items
        channel = Channel(report.fields.get("channel", "citizen"))
        items.append(
            BatchItem(Command(Action.ACCEPT, case_id, {"category_code": s["category_code"]}), SYSTEM, at)
        )
        if self.city.rules.needs_verification(channel):
            return items  # an inspector verifies on site first; filing waits for that
        items.append(
            BatchItem(
                Command(Action.FILE, case_id, {"category_code": s["category_code"], "urgency": s["urgency"]}),
                SYSTEM,
                at,
            )
        )
        items.append(
            BatchItem(Command(Action.DISPATCH, case_id, {"department_id": s["department_id"]}), SYSTEM, at)
        )
        return items

    # ---- review queue -----------------------------------------------------------------------

    def review_queue(self, now: datetime, limit: int = 50) -> list[tuple[float, CaseState]]:
        """Reports waiting for a person (待受理), urgent and clustered first, then the longest waiting."""
        waiting = self.city.cases.list_cases(stage=Stage.REPORTED.value, limit=5000)
        ranked = [(review_priority(s.urgency, s.cluster_size, s.created_at, now), s) for s in waiting]
        ranked.sort(key=lambda p: (-p[0], p[1].created_at, p[1].case_id))
        return ranked[:limit]


def _outcome_of(state: CaseState | None, s: dict[str, Any]) -> str:
    if state is None:
        return "refused"
    if state.duplicate_of:
        return "merged"
    if state.stage is Stage.DISPATCHED:
        return "auto_dispatched"
    if state.stage in (Stage.VERIFYING, Stage.ACCEPTED, Stage.FILED):
        return "auto_accepted"
    return "queued"


def _state_text(state: CaseState) -> str:
    """A stored case's text as the intake compared it when it arrived (description and address)."""
    return _text_of({"description": state.description, "address": state.address})


def _category(report: IntakeReport, pred: Prediction, known: Set[str]) -> tuple[str | None, str]:
    """The report's category and who chose it: the reporter's when it is known, else the classifier's."""
    given = report.fields.get("category_code")
    if given in known:
        return given, "reporter"
    return (pred.label if pred.label in known else None), "classifier"


def _point_of(fields: Mapping[str, Any]) -> tuple[float, float] | None:
    lon, lat = fields.get("lon"), fields.get("lat")
    if isinstance(lon, (int, float)) and isinstance(lat, (int, float)):
        return float(lon), float(lat)
    return None


def _text_of(fields: Mapping[str, Any]) -> str:
    return " ".join(str(fields.get(k) or "") for k in ("description", "address")).strip()


def _urgency_of(value: Any) -> Urgency | None:
    try:
        return Urgency(value) if value else None
    except ValueError:
        return None


# ---- listeners: corrections become training examples; clusters hear the outcome -----------------


def record_corrections(
    city_id: str,
) -> Callable[[Connection, Sequence[Event], Mapping[str, CaseState]], None]:
    """A person who changes the suggested category or department teaches the classifier (训练样本)."""

    def listener(conn: Connection, new_events: Sequence[Event], states: Mapping[str, CaseState]) -> None:
        rows = []
        for e in new_events:
            if e.actor_role is Role.SYSTEM or e.action not in (Action.ACCEPT, Action.FILE, Action.DISPATCH):
                continue
            state = states.get(e.case_id)
            if state is None or not state.triage:
                continue
            suggested = state.triage
            text = " ".join(x for x in (state.description, state.address) if x)
            if not text:
                continue
            chosen_cat = e.data.get("category_code")
            if chosen_cat and chosen_cat != suggested.get("category_code"):
                rows.append(
                    _example(city_id, e, "category", text, chosen_cat, suggested.get("category_code"))
                )
            chosen_dept = e.data.get("department_id")
            if chosen_dept and chosen_dept != suggested.get("department_id"):
                rows.append(
                    _example(city_id, e, "department", text, chosen_dept, suggested.get("department_id"))
                )
        add_examples(conn, rows)

    return listener


def _example(city_id: str, e: Event, kind: str, text: str, label: str, suggested: Any) -> dict[str, Any]:
    return {
        "city_id": city_id,
        "example_id": f"{e.case_id}:{e.seq}:{kind}",
        "kind": kind,
        "text": text[:4000],
        "label": label,
        "suggested": suggested,
        "case_id": e.case_id,
        "created_at": e.at,
    }


_OUTCOME_ACTIONS = {
    Action.CLOSE,
    Action.APPROVE_SELF_HANDLING,
    Action.APPROVE_VOID,
    Action.VOID,
    Action.REJECT,
    Action.NOT_FILE,
}


def notify_cluster(
    city_id: str, store_loader: Callable[[Connection, Sequence[str]], Mapping[str, CaseState]]
) -> Callable[[Connection, Sequence[Event], Mapping[str, CaseState]], None]:
    """When a case ends, its reporter and every reporter of its cluster get the outcome (结果反馈)."""

    def listener(conn: Connection, new_events: Sequence[Event], states: Mapping[str, CaseState]) -> None:
        rows: list[dict[str, Any]] = []
        for e in new_events:
            if e.action not in _OUTCOME_ACTIONS:
                continue
            master = states.get(e.case_id)
            if master is None or master.stage is not e.stage_after or not master.stage.is_terminal:
                continue
            if master.duplicate_of and e.action is Action.REJECT:
                continue  # a merged duplicate hears the outcome of its master, not of the merge
            members = store_loader(conn, master.cluster_members) if master.cluster_members else {}
            reason = master.closure_reason
            zh = t("intake.concluded", "zh-CN", case=master.case_id, reason=reason.zh if reason else "")
            en = t("intake.concluded", "en", case=master.case_id, reason=reason.en if reason else "")
            people = [(master.case_id, master.reporter_id)] + [
                (m.case_id, m.reporter_id) for m in members.values()
            ]
            rows += notice_rows(city_id, e, master.case_id, people, "outcome", zh, en)
        add_notifications(conn, rows)

    return listener


def install_listeners(city: City) -> None:
    """Register the triage listeners on the city's case service (idempotent)."""
    service = city.cases
    if getattr(service, "_triage_listeners", False):
        return

    def load(conn: Connection, ids: Sequence[str]) -> Mapping[str, CaseState]:
        return {k: v.state for k, v in city.store.load_many(conn, city.id, list(ids)).items()}

    service.listeners.append(record_corrections(city.id))
    service.listeners.append(notify_cluster(city.id, load))
    service.listeners.append(index_texts(city.id))
    build_text_index(city)
    service._triage_listeners = True  # type: ignore[attr-defined]


# ---- the text index: LSH keys of every open case, kept in step with the event log ------------------

_REINDEX = {Action.REPORT, Action.REOPEN, Action.SPLIT}


def _indexable(state: CaseState) -> bool:
    return state.is_open and not state.duplicate_of


def _keyed(states: Sequence[CaseState]) -> list[tuple[str, tuple[int, ...]]]:
    """(case id, text keys) of *states*: the signatures computed for all of them at once (vectorised,
    the same keys as one by one)."""
    found = signatures([_state_text(s) for s in states])
    return [(s.case_id, sig.keys) for s, sig in zip(states, found, strict=True)]


def index_texts(city_id: str) -> Callable[[Connection, Sequence[Event], Mapping[str, CaseState]], None]:
    """Keeps ``case_text_keys`` in step: a new (or reopened, or split-off) open case adds its keys, a case
    that ends or is merged drops them — in the same transaction as the events."""

    def listener(conn: Connection, new_events: Sequence[Event], states: Mapping[str, CaseState]) -> None:
        drop: set[str] = set()
        add: dict[str, CaseState] = {}
        for e in new_events:
            state = states.get(e.case_id)
            if state is None:
                continue
            if e.action in _REINDEX or not _indexable(state):
                if e.action is not Action.REPORT:
                    drop.add(e.case_id)
                add.pop(e.case_id, None)
                if _indexable(state):
                    add[e.case_id] = state
        if drop or add:
            replace_text_keys(conn, city_id, drop, _keyed(list(add.values())))

    return listener


def build_text_index(city: City, *, chunk: int = 5000) -> int:
    """Fill ``case_text_keys`` once for a city whose open cases predate it (an upgraded database): runs
    when the table holds no key of the city, in one transaction (a crash leaves nothing half-built; a
    process that loses the race to another one starting at the same time finds the keys written and
    stops); returns the number of cases indexed."""
    with city.engine.connect() as conn:
        if has_text_keys(conn, city.id):
            return 0
    done, after = 0, ""
    try:
        with city.engine.begin() as conn:
            while rows := open_case_texts(conn, city.id, after, chunk):
                states = [CaseState.from_doc(orjson.loads(r.doc)) for r in rows]
                replace_text_keys(conn, city.id, (), _keyed([s for s in states if _indexable(s)]))
                done += len(rows)
                after = rows[-1].case_id
    except IntegrityError:
        return 0
    return done
