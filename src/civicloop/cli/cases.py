"""Commands of the case workflow: ``civicloop case report|act|show|list|actions``, ``civicloop rebuild``
(replay the event log) and ``civicloop audit verify`` (tamper evidence). Mounted by :mod:`civicloop.cli.main`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from civicloop.cases.core import Actor, CaseState, Event, allowed_actions
from civicloop.city.service import City
from civicloop.cli.common import (
    CheckFailed,
    CityOpt,
    CommandGroup,
    DatabaseOpt,
    JsonOpt,
    console,
    fail,
    open_city,
    parse_moment,
    print_json,
)
from civicloop.kernel.i18n import Localized, Msg, both
from civicloop.kernel.vocabulary import Action, Role, Stage

case_app = CommandGroup(help=both("cli.cases.help"), no_args_is_help=True)
audit_app = CommandGroup(help=both("cli.cases.help_audit"), no_args_is_help=True)


def _tz(city: City) -> ZoneInfo:
    return ZoneInfo(city.profile.timezone)


# ---- case -----------------------------------------------------------------------------------------


def parse_actor(spec: str, department: str | None = None) -> Actor:
    """``--as ROLE[:USER]`` e.g. ``dispatcher:dp-01`` or ``department:zhang`` with ``--department``."""
    role_name, _, user = spec.partition(":")
    try:
        role = Role(role_name)
    except ValueError:
        fail(both("cli.cases.unknown_role", role=repr(role_name), choices=", ".join(r.value for r in Role)))
    if role is Role.DEPARTMENT and not department:
        fail(both("cli.cases.department_needed"))
    return Actor(id=user or f"cli-{role.value}", role=role, department_id=department)


def parse_fields(pairs: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(both("cli.cases.bad_field", pair=repr(pair)))
        parsed: Any = value
        if key in ("photos",):
            parsed = [v for v in value.split(",") if v]
        fields[key] = parsed
    return fields


def case_json(state: CaseState, city: City, now: datetime | None = None) -> dict[str, Any]:
    doc = state.to_doc()
    moment = now or datetime.now(UTC)
    light = state.light(city.calendar, moment)
    doc["public_status"] = state.public_status
    doc["light"] = light.value if light else None
    return doc


def event_json(e: Event) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "action": e.action.value,
        "at": e.at.isoformat(),
        "actor_id": e.actor_id,
        "actor_role": e.actor_role.value,
        "stage_before": e.stage_before.value if e.stage_before else None,
        "stage_after": e.stage_after.value,
        "note": e.note,
        "attachments": list(e.attachments),
        "data": dict(e.data),
    }


@case_app.command("report")
def case_report(
    category: Annotated[str | None, typer.Option("--category", help=both("cli.cases.help_category"))] = None,
    lon: Annotated[float | None, typer.Option(help="WGS84 longitude")] = None,
    lat: Annotated[float | None, typer.Option(help="WGS84 latitude")] = None,
    address: Annotated[str | None, typer.Option(help=both("cli.cases.help_address"))] = None,
    description: Annotated[str | None, typer.Option(help=both("cli.cases.help_description"))] = None,
    channel: Annotated[str, typer.Option(help="inspector, citizen, hotline, video …")] = "inspector",
    as_: Annotated[str, typer.Option("--as", help="ROLE[:USER]")] = "inspector",
    urgency: Annotated[str | None, typer.Option(help="normal | urgent")] = None,
    photo: Annotated[list[str] | None, typer.Option("--photo", help="photo reference (repeatable)")] = None,
    reporter_name: Annotated[str | None, typer.Option(help=both("cli.cases.help_reporter_name"))] = None,
    reporter_phone: Annotated[str | None, typer.Option(help=both("cli.cases.help_reporter_phone"))] = None,
    at: Annotated[str | None, typer.Option(help="ISO time with zone (default now)")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """上报 / report a problem."""
    from civicloop.cases.service import ReporterInfo

    c = open_city(database, city)
    fields: dict[str, Any] = {
        "channel": channel,
        "category_code": category,
        "lon": lon,
        "lat": lat,
        "address": address,
        "description": description,
        "urgency": urgency,
        "photos": photo or None,
    }
    reporter = ReporterInfo(reporter_name, reporter_phone) if (reporter_name or reporter_phone) else None
    state = c.cases.report(parse_actor(as_), fields, at=parse_moment(at), reporter=reporter)
    if json_out:
        print_json(case_json(state, c))
    else:
        stage = Localized(state.stage.zh, state.stage.en)
        console.print(str(Msg("cli.cases.reported", case=state.case_id, stage=stage)))


@case_app.command("act")
def case_act(
    case_id: Annotated[str, typer.Argument(help=both("cli.cases.help_case_id"))],
    action: Annotated[str, typer.Argument(help="accept, file, dispatch, handle, check, close …")],
    as_: Annotated[str, typer.Option("--as", help="ROLE[:USER]")],
    department: Annotated[str | None, typer.Option(help="the acting department (department role)")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", "-f", help="key=value (repeatable)")] = None,
    note: Annotated[str | None, typer.Option(help=both("cli.cases.help_note"))] = None,
    at: Annotated[str | None, typer.Option(help="ISO time with zone (default now)")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """执行动作 / take an action on a case."""
    try:
        act = Action(action)
    except ValueError:
        fail(
            both("cli.cases.unknown_action", action=repr(action), choices=", ".join(a.value for a in Action))
        )
    c = open_city(database, city)
    fields = parse_fields(field or [])
    if note is not None:
        fields["note"] = note
    state = c.cases.act(case_id, act, parse_actor(as_, department), fields, at=parse_moment(at))
    if json_out:
        print_json(case_json(state, c))
    else:
        console.print(f"{case_id}: {act.zh} / {act.en} → {state.stage.zh} / {state.stage.en}")


@case_app.command("show")
def case_show(
    case_id: Annotated[str, typer.Argument(help=both("cli.geo.help_case_id"))],
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """查看 / show a case with its full timeline."""
    c = open_city(database, city)
    state = c.cases.get(case_id)
    timeline = c.cases.timeline(case_id)
    if json_out:
        print_json({"case": case_json(state, c), "events": [event_json(e) for e in timeline]})
        return
    light = state.light(c.calendar, datetime.now(UTC))
    name = (
        c.profile.category(state.category_code).name
        if state.category_code
        else both("cli.cases.uncategorised")
    )
    console.print(
        f"[bold]{state.case_id}[/]  {name}  {state.stage.zh} / {state.stage.en}  "
        f"{'● ' + light.value if light else ''}"
    )
    console.print(
        f"  {escape(state.address or '')} ({state.lon}, {state.lat})  {escape(state.description or '')}"
    )
    if state.deadline:
        console.print(both("cli.cases.due", due=state.deadline.astimezone(_tz(c)).isoformat()))
    if state.closure_reason:
        reason = Localized(state.closure_reason.zh, state.closure_reason.en)
        console.print(str(Msg("cli.cases.closure", reason=reason)))
    table = Table("#", *(both(f"cli.cases.col_{k}") for k in ("time", "action", "role", "stage", "note")))
    for e in timeline:
        table.add_row(
            str(e.seq),
            e.at.astimezone(_tz(c)).strftime("%Y-%m-%d %H:%M"),
            e.action.zh,
            e.actor_role.zh,
            e.stage_after.zh,
            escape(e.note or ""),
        )
    console.print(table)


@case_app.command("list")
def case_list(
    stage: Annotated[str | None, typer.Option(help="filter by stage")] = None,
    department: Annotated[str | None, typer.Option(help="filter by department id")] = None,
    category: Annotated[str | None, typer.Option(help="filter by category code")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    overdue_first: Annotated[bool, typer.Option("--overdue-first")] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """列表 / list cases, newest first (or overdue first)."""
    if stage is not None and stage not in {s.value for s in Stage}:
        fail(both("cli.cases.unknown_stage", stage=repr(stage), choices=", ".join(s.value for s in Stage)))
    c = open_city(database, city)
    rows = c.cases.list_cases(
        stage=stage,
        department_id=department,
        category_code=category,
        limit=limit,
        overdue_first=overdue_first,
    )
    now = datetime.now(UTC)
    if json_out:
        print_json([case_json(s, c, now) for s in rows])
        return
    table = Table(
        *(both(f"cli.cases.col_{k}") for k in ("case", "category", "stage", "department", "due", "light"))
    )
    for s in rows:
        light = s.light(c.calendar, now)
        table.add_row(
            s.case_id,
            s.category_code or "",
            s.stage.zh,
            s.department_id or "",
            s.deadline.astimezone(_tz(c)).strftime("%m-%d %H:%M") if s.deadline else "",
            light.value if light else "",
        )
    console.print(table)


@case_app.command("actions")
def case_actions(
    case_id: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="role to ask for")],
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """可执行动作 / what a role may do to a case now."""
    c = open_city(database, city)
    state = c.cases.get(case_id)
    try:
        r = Role(role)
    except ValueError:
        fail(both("cli.cases.unknown_role_plain", role=repr(role)))
    for a in allowed_actions(state, r):
        console.print(f"{a.value}\t{a.zh}")


def rebuild_command(
    check: Annotated[bool, typer.Option("--check", help="only compare; exit 1 on any difference")] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """重放事件 / replay all events and compare with (or rewrite) the case projection."""
    from civicloop.cases import rebuild as rb

    c = open_city(database, city)
    if not check:
        report = rb.rewrite(c.store, c.id)
        console.print(both("cli.cases.rebuilt", cases=report.cases, events=report.events))
        return
    report = rb.check(c.store, c.id)
    if json_out:
        print_json(
            {
                "ok": report.ok,
                "cases": report.cases,
                "events": report.events,
                "differences": [
                    {
                        "case_id": d.case_id,
                        "column": d.column,
                        "stored": str(d.stored),
                        "replayed": str(d.replayed),
                    }
                    for d in report.differences
                ],
                "missing": report.missing,
                "orphans": report.orphans,
            }
        )
    else:
        console.print(both("cli.cases.replayed", cases=report.cases, events=report.events))
        for d in report.differences:
            console.print(
                f"[red]DIFF[/] {d.case_id}.{d.column}: stored {escape(repr(d.stored))} ≠ "
                f"replayed {escape(repr(d.replayed))}"
            )
        for m in report.missing:
            console.print(both("cli.cases.missing_row", case=m))
        for o in report.orphans:
            console.print(both("cli.cases.orphan_row", case=o))
        console.print(
            "[green]OK[/]: projection equals the replay" if report.ok else "[red]projection differs[/]"
        )
    if not report.ok:
        raise CheckFailed


@audit_app.command("verify")
def audit_verify(
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """校验哈希链 / recompute every case's hash chain; exit 1 naming each edited or missing event."""
    from civicloop.cases import audit

    c = open_city(database, city)
    report = audit.verify(c.store, c.id)
    if json_out:
        print_json({"ok": report.ok, "cases": report.cases, "events": report.events,
                    "findings": [{"case_id": f.case_id, "seq": f.seq, "problem": f.problem,
                                  "message": f.describe()} for f in report.findings]})  # fmt: skip
    else:
        for f in report.findings:
            console.print(f"[red]TAMPERED[/] {escape(f.describe())}", highlight=False)
        verdict = "[green]OK[/]" if report.ok else f"[red]{len(report.findings)} finding(s)[/]"
        console.print(
            both("cli.cases.audit_checked", verdict=verdict, cases=report.cases, events=report.events)
        )
    if not report.ok:
        raise CheckFailed
