"""The ``civicloop`` command line (Typer). Thin: parse, call the service layer, print.

Every refusal exits with status 2 and a message that names the field or option and the reason.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from civicloop.domain.case import Actor, CaseState, Event, allowed_actions
from civicloop.domain.errors import DomainError
from civicloop.domain.vocabulary import Action, Role, Stage
from civicloop.profile import ProfileError, bundled_profiles
from civicloop.services.city import City, CityNotInitialised, init_city, open_city

app = typer.Typer(
    name="civicloop",
    help="civicloop — 数字化城市管理指挥中心 / digital urban-management command center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
case_app = typer.Typer(help="案卷 / cases: report, show, list, act.", no_args_is_help=True)
app.add_typer(case_app, name="case")

console = Console()
err_console = Console(stderr=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database", envvar="CIVICLOOP_DATABASE_URL", help="SQLAlchemy URL (default ./var/civicloop.db)"
    ),
]
CityOpt = Annotated[str | None, typer.Option("--city", help="城市 id (default: the only one)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]错误 / error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn the errors a person can act on into a message and exit status 2."""
    try:
        yield
    except DomainError as exc:
        fail(str(exc))
    except (ProfileError, CityNotInitialised) as exc:
        fail(str(exc))


def _open(database: str | None, city: str | None) -> City:
    with friendly_errors():
        return open_city(city, database)
    raise AssertionError  # pragma: no cover


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _tz(city: City) -> ZoneInfo:
    return ZoneInfo(city.profile.timezone)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default) + "\n")


# ---- init -----------------------------------------------------------------------------------------


@app.command()
def init(
    profile: Annotated[
        str, typer.Option("--profile", help="bundled profile name or a profile.toml path")
    ] = "taiyuan",
    geography: Annotated[
        bool | None, typer.Option("--geography/--no-geography", help="load demo geography (default: demo)")
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """初始化 / create the database for a city from its profile (idempotent)."""
    name = profile if "/" not in profile and not profile.endswith(".toml") else str(Path(profile).resolve())
    with friendly_errors():
        city = init_city(name, database)
    console.print(
        f"已初始化 {city.profile.name}（{city.id}）: {len(city.profile.categories)} 类别 / categories, "
        f"{len(city.profile.departments)} 部门 / departments → {city.engine.url.render_as_string()}"
    )
    if geography is None:
        geography = name in bundled_profiles()  # the demo city ships generated streets, grids, assets
    if geography:
        from civicloop.services.geography import load_demo_geography

        loaded = load_demo_geography(city)
        console.print(f"地理 / geography: {loaded.as_dict()}")


# ---- case -----------------------------------------------------------------------------------------


def parse_actor(spec: str, department: str | None = None) -> Actor:
    """``--as ROLE[:USER]`` e.g. ``dispatcher:dp-01`` or ``department:zhang`` with ``--department``."""
    role_name, _, user = spec.partition(":")
    try:
        role = Role(role_name)
    except ValueError:
        fail(f"--as: 未知角色 unknown role {role_name!r}; one of {', '.join(r.value for r in Role)}")
    if role is Role.DEPARTMENT and not department:
        fail("--department: 专业部门角色需要部门 id / a department handler needs --department")
    return Actor(id=user or f"cli-{role.value}", role=role, department_id=department)


def parse_fields(pairs: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--field: 需要 key=value 形式 / expected key=value, got {pair!r}")
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


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--at: 无效时间 invalid ISO 8601 time {value!r}")
    if moment.tzinfo is None:
        fail(f"--at: 时间必须带时区 the time must carry a time zone, e.g. {value}+08:00")
    return moment


@case_app.command("report")
def case_report(
    category: Annotated[str | None, typer.Option("--category", help="管理事项代码, e.g. 06010")] = None,
    lon: Annotated[float | None, typer.Option(help="WGS84 longitude")] = None,
    lat: Annotated[float | None, typer.Option(help="WGS84 latitude")] = None,
    address: Annotated[str | None, typer.Option(help="事发位置")] = None,
    description: Annotated[str | None, typer.Option(help="问题描述")] = None,
    channel: Annotated[str, typer.Option(help="inspector, citizen, hotline, video …")] = "inspector",
    as_: Annotated[str, typer.Option("--as", help="ROLE[:USER]")] = "inspector",
    urgency: Annotated[str | None, typer.Option(help="normal | urgent")] = None,
    photo: Annotated[list[str] | None, typer.Option("--photo", help="photo reference (repeatable)")] = None,
    reporter_name: Annotated[str | None, typer.Option(help="诉求人姓名 (kept private)")] = None,
    reporter_phone: Annotated[str | None, typer.Option(help="诉求人电话 (kept private)")] = None,
    at: Annotated[str | None, typer.Option(help="ISO time with zone (default now)")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """上报 / report a problem."""
    from civicloop.services.cases import ReporterInfo

    c = _open(database, city)
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
    with friendly_errors():
        state = c.cases.report(parse_actor(as_), fields, at=_at(at), reporter=reporter)
    if json_out:
        print_json(case_json(state, c))
    else:
        console.print(f"已上报 / reported: [bold]{state.case_id}[/] — {state.stage.zh} / {state.stage.en}")


@case_app.command("act")
def case_act(
    case_id: Annotated[str, typer.Argument(help="案卷号, e.g. TY-2026-0000001")],
    action: Annotated[str, typer.Argument(help="accept, file, dispatch, handle, check, close …")],
    as_: Annotated[str, typer.Option("--as", help="ROLE[:USER]")],
    department: Annotated[str | None, typer.Option(help="the acting department (department role)")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", "-f", help="key=value (repeatable)")] = None,
    note: Annotated[str | None, typer.Option(help="说明 / note")] = None,
    at: Annotated[str | None, typer.Option(help="ISO time with zone (default now)")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """执行动作 / take an action on a case."""
    try:
        act = Action(action)
    except ValueError:
        fail(f"ACTION: 未知动作 unknown action {action!r}; one of {', '.join(a.value for a in Action)}")
    c = _open(database, city)
    fields = parse_fields(field or [])
    if note is not None:
        fields["note"] = note
    with friendly_errors():
        state = c.cases.act(case_id, act, parse_actor(as_, department), fields, at=_at(at))
    if json_out:
        print_json(case_json(state, c))
    else:
        console.print(f"{case_id}: {act.zh} / {act.en} → {state.stage.zh} / {state.stage.en}")


@case_app.command("show")
def case_show(
    case_id: Annotated[str, typer.Argument(help="案卷号")],
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """查看 / show a case with its full timeline."""
    c = _open(database, city)
    with friendly_errors():
        state = c.cases.get(case_id)
        timeline = c.cases.timeline(case_id)
    if json_out:
        print_json({"case": case_json(state, c), "events": [event_json(e) for e in timeline]})
        return
    light = state.light(c.calendar, datetime.now(UTC))
    name = c.profile.category(state.category_code).name if state.category_code else "未分类"
    console.print(
        f"[bold]{state.case_id}[/]  {name}  {state.stage.zh} / {state.stage.en}  "
        f"{'● ' + light.value if light else ''}"
    )
    console.print(f"  {state.address or ''} ({state.lon}, {state.lat})  {state.description or ''}")
    if state.deadline:
        console.print(f"  处置时限 / due: {state.deadline.astimezone(_tz(c)).isoformat()}")
    if state.closure_reason:
        console.print(f"  结案原因 / closure: {state.closure_reason.zh} / {state.closure_reason.en}")
    table = Table("#", "时间 time", "动作 action", "角色 role", "环节 stage", "说明 note")
    for e in timeline:
        table.add_row(
            str(e.seq),
            e.at.astimezone(_tz(c)).strftime("%Y-%m-%d %H:%M"),
            e.action.zh,
            e.actor_role.zh,
            e.stage_after.zh,
            e.note or "",
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
        fail(f"--stage: 未知环节 unknown stage {stage!r}; one of {', '.join(s.value for s in Stage)}")
    c = _open(database, city)
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
    table = Table("案卷号 case", "类别 category", "环节 stage", "部门 department", "时限 due", "灯 light")
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
    c = _open(database, city)
    with friendly_errors():
        state = c.cases.get(case_id)
    try:
        r = Role(role)
    except ValueError:
        fail(f"--role: unknown role {role!r}")
    for a in allowed_actions(state, r):
        console.print(f"{a.value}\t{a.zh}")


# ---- simulate, rebuild, demo ---------------------------------------------------------------------


@app.command()
def simulate(
    days: Annotated[float, typer.Option(min=0.01, max=3660, help="simulated days")] = 7,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    start: Annotated[
        str | None, typer.Option(help="first simulated day YYYY-MM-DD (profile default)")
    ] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """模拟 / run the loop headless in simulated time into the current database."""
    from civicloop.entrypoints.simulate import simulate as run

    first: date | None = None
    if start is not None:
        try:
            first = date.fromisoformat(start)
        except ValueError:
            fail(f"--start: 无效日期 invalid date {start!r}, expected YYYY-MM-DD")
    c = _open(database, city)
    with friendly_errors():
        report = run(c, days=days, seed=seed, start=first, placer=_default_placer(c))
    out = report.to_json()
    if json_out:
        print_json(out)
        return
    table = Table("环节 stage", "案卷数 cases")
    for name, n in out["states"].items():
        table.add_row(f"{Stage(name).zh} / {name}", str(n))
    console.print(table)
    console.print(
        f"cases {out['cases']}, events {out['events']}, 按期结案率 on-time rate {out['on_time_rate']}"
    )


def _default_placer(city: City) -> Any:
    """The demo geography's placer when geography is available, else None (the simulator's box)."""
    import importlib

    try:
        geography = importlib.import_module("civicloop.services.geography")
    except ImportError:
        return None
    return geography.placer_for(city)


@app.command()
def rebuild(
    check: Annotated[bool, typer.Option("--check", help="only compare; exit 1 on any difference")] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """重放事件 / replay all events and compare with (or rewrite) the case projection."""
    from civicloop.services import rebuild as rb

    c = _open(database, city)
    if not check:
        report = rb.rewrite(c.store, c.id)
        console.print(f"rebuilt {report.cases} cases from {report.events} events")
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
        console.print(f"replayed {report.events} events of {report.cases} cases")
        for d in report.differences:
            console.print(
                f"[red]DIFF[/] {d.case_id}.{d.column}: stored {d.stored!r} ≠ replayed {d.replayed!r}"
            )
        for m in report.missing:
            console.print(f"[red]MISSING[/] projection row for {m}")
        for o in report.orphans:
            console.print(f"[red]ORPHAN[/] projection row without events: {o}")
        console.print(
            "[green]OK[/]: projection equals the replay" if report.ok else "[red]projection differs[/]"
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def demo(
    profile: Annotated[str, typer.Option(help="bundled profile")] = "taiyuan",
    history_days: Annotated[float, typer.Option(help="days of history simulated on first start")] = 14,
    seed: Annotated[int, typer.Option()] = 1,
    rate: Annotated[float, typer.Option(help="reports per day in the live simulation")] = 1500,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8311,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    database: DatabaseOpt = None,
) -> None:
    """演示 / what `make demo` runs: the demo city, its history, the live loop and the command center."""
    import threading

    import uvicorn

    from civicloop.adapters.files import LocalPhotoStore
    from civicloop.entrypoints.simulate import Simulator, asset_rounds_for
    from civicloop.http import create_app
    from civicloop.ledger.demo import load_demo
    from civicloop.services.accounts import seed_demo_users
    from civicloop.services.geography import load_demo_geography, placer_for
    from civicloop.services.triage_models import model_path, train_category_model

    with friendly_errors():
        city = init_city(profile, database)
    now = datetime.now(UTC).replace(microsecond=0)
    geo = load_demo_geography(city)
    if not geo.skipped:
        console.print(f"地理 / geography: {geo.grids:,} 单元网格 grids, {geo.components:,} 部件 components")
    first_start = not city.cases.stage_counts()
    rounds = None
    if first_start:
        load_demo(city)
        console.print("工作台账与考核目标 / ledgers and targets of the demo year loaded")
    if not model_path(city).is_file():
        trained = train_category_model(city)
        f1 = trained.cv.get("macro_f1")
        console.print(f"类别模型 / category model trained: {trained.path} (cross-validated macro-F1 {f1})")
    if first_start:
        console.print(f"生成 {history_days:g} 天历史数据 / simulating {history_days:g} days of history …")
        start = now - timedelta(days=history_days)
        # Night lighting patrols and component inspections too: 着灯率 and 设施完好率 have figures at once.
        rounds = asset_rounds_for(city, seed, start)
        history = Simulator(city, seed=seed, start=start, placer=placer_for(city), asset_rounds=rounds)
        history.run_until(now)
        console.print(
            f"  {history.report.cases:,} cases, {history.report.events:,} events, "
            f"{history.report.patrol_checks:,} 巡查检查 patrol checks"
        )
    users = seed_demo_users(city)
    app = create_app(city, photos=LocalPhotoStore("./var/photos"))
    web = getattr(app.state, "civicloop_web", None)
    if web is not None:
        web.start()  # build the big screen's index now, not on the first visitor's request
    # The live loop runs on its own connection pool and cache, like any other client of the database.
    live_city = open_city(city.id, database)
    # The live loop takes the history's rounds over (those begun in its last hours are still to run).
    live_rounds = (
        rounds.moved_to(live_city) if rounds is not None else asset_rounds_for(live_city, seed + 1, now)
    )
    live = Simulator(live_city, seed=seed + 1, start=now, placer=placer_for(live_city), reports_per_day=rate,
                     batch=timedelta(seconds=10),
                     asset_rounds=live_rounds)  # fmt: skip
    stop = threading.Event()

    def simulate_live() -> None:
        while not stop.wait(2.0):
            try:
                live.run_until(datetime.now(UTC))
            except Exception as exc:  # the demo keeps serving; say what went wrong
                err_console.print(f"[yellow]live simulation:[/] {exc!r}", highlight=False)

    threading.Thread(target=simulate_live, name="civicloop-live-simulation", daemon=True).start()
    _print_demo_welcome(city, users, host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    if duration is not None:
        threading.Timer(duration, lambda: setattr(server, "should_exit", True)).start()
    try:
        server.run()
    finally:
        stop.set()


def _print_demo_welcome(city: City, users: list[tuple[str, str, str]], host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    table = Table(title=f"{city.profile.name} 演示账号 / demo accounts (passwords change at every start)")
    table.add_column("角色 role")
    table.add_column("用户名 username")
    table.add_column("密码 password")
    for username, password, role in users:
        try:
            label = Role(role).zh
        except ValueError:
            label = role
        table.add_row(f"{label} / {role}", username, password)
    console.print(table)
    console.print(
        f"数字化城乡管理指挥中心 / command center: [bold]{base}/[/]\n"
        f"  大屏 big screen   {base}/screen\n"
        f"  工作台 workspaces {base}/workspace\n"
        f"  监督员 inspector  {base}/m/\n"
        f"  公众 citizens     {base}/public/\n"
        f"  Open311           {base}/open311/v2/discovery.json   API docs {base}/docs\n"
        "Ctrl-C 停止 / to stop",
        highlight=False,
    )


audit_app = typer.Typer(help="审计 / tamper evidence of the event log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """校验哈希链 / recompute every case's hash chain; exit 1 naming each edited or missing event."""
    from civicloop.services import audit

    c = _open(database, city)
    report = audit.verify(c.store, c.id)
    if json_out:
        print_json({"ok": report.ok, "cases": report.cases, "events": report.events,
                    "findings": [{"case_id": f.case_id, "seq": f.seq, "problem": f.problem,
                                  "message": f.describe()} for f in report.findings]})  # fmt: skip
    else:
        for f in report.findings:
            console.print(f"[red]TAMPERED[/] {f.describe()}", highlight=False)
        verdict = "[green]OK[/]" if report.ok else f"[red]{len(report.findings)} finding(s)[/]"
        console.print(f"{verdict}: {report.events} events of {report.cases} cases checked")
    if not report.ok:
        raise typer.Exit(1)


@app.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(help="backup file to write")],
    database: DatabaseOpt = None,
) -> None:
    """备份 / a consistent copy of the whole database (SQLite online backup, or pg_dump)."""
    from civicloop.adapters.store.database import make_engine
    from civicloop.services.backup import BackupError, backup

    try:
        result = backup(make_engine(database), path)
    except BackupError as exc:
        fail(str(exc))
    console.print(f"备份完成 / backup written: {result.path} ({result.bytes:,} bytes, {result.kind})")


@app.command("restore")
def restore_command(
    path: Annotated[Path, typer.Argument(help="backup file to restore")],
    force: Annotated[bool, typer.Option("--force", help="replace a database that holds data")] = False,
    database: DatabaseOpt = None,
) -> None:
    """恢复 / restore a backup into the database (empty, or replaced with --force)."""
    from civicloop.adapters.store.database import make_engine
    from civicloop.services.backup import BackupError, restore

    try:
        result = restore(make_engine(database), path, force=force)
    except BackupError as exc:
        fail(str(exc))
    console.print(f"恢复完成 / restored from {path} ({result.kind}); run `civicloop audit verify` to check")


# ---- capabilities' command groups -------------------------------------------------------------------

from civicloop.geo.cli import geo_app, grid_app, patrol_app  # noqa: E402
from civicloop.kpi.cli import import_command, kpi_app, locate_command, report_command  # noqa: E402
from civicloop.ledger.cli import assess_app, ledger_app, target_app  # noqa: E402
from civicloop.triage.cli import app as triage_app  # noqa: E402

app.add_typer(triage_app, name="triage")
app.add_typer(geo_app, name="geo")
app.add_typer(grid_app, name="grid")
app.add_typer(patrol_app, name="patrol")
app.add_typer(ledger_app, name="ledger")
app.add_typer(target_app, name="target")
app.add_typer(assess_app, name="assess")
app.add_typer(kpi_app, name="kpi")
# `report` and `import-cases` take a positional file before options: plain commands, not groups.
app.command("report")(report_command)
app.command("import-cases")(import_command)
app.command("locate-cases")(locate_command)


@triage_app.command("bootstrap")
def triage_bootstrap(
    output: Annotated[Path | None, typer.Option(help="model file (default var/models/…)")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """训练类别模型 / train the city's category classifier from its profile and every correction so far."""
    from civicloop.services.triage_models import train_category_model

    c = _open(database, city)
    report = train_category_model(c, path=output)
    summary = {"model": str(report.path), "examples": report.examples, "corrections": report.corrections,
               "labels": report.labels, **{k: report.cv.get(k) for k in
               ("accuracy", "macro_f1", "auto_route_share", "auto_route_precision")}}  # fmt: skip
    if json_out:
        print_json(summary)
    else:
        console.print(summary)


_RETRAIN_HELP = "重新训练 / retrain with the corrections recorded since (same as bootstrap)"
triage_app.command("retrain", help=_RETRAIN_HELP)(triage_bootstrap)

try:  # the HTTP capability: `civicloop serve`, `apikey`, `user`
    import importlib

    _http = importlib.import_module("civicloop.http.cli")
except ImportError:  # pragma: no cover - the HTTP capability is not installed
    pass
else:
    app.command("serve")(_http.serve_command)
    app.add_typer(_http.apikey_app, name="apikey")
    app.add_typer(_http.user_app, name="user")


def main() -> None:
    app()


Runner = Callable[[], None]

if __name__ == "__main__":
    main()
