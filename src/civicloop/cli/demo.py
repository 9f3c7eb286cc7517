"""The demo and the simulator from the command line: ``civicloop simulate`` (headless, simulated time)
and ``civicloop demo`` (what ``make demo`` runs). Mounted by :mod:`civicloop.cli.main`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from civicloop.bootstrap import init_city
from civicloop.bootstrap import open_city as open_registered_city
from civicloop.city.service import City
from civicloop.cli.common import (
    CityOpt,
    DatabaseOpt,
    JsonOpt,
    console,
    err_console,
    open_city,
    parse_day,
    print_json,
)
from civicloop.kernel.vocabulary import Role, Stage


def simulate_command(
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
    from civicloop.simulator.simulate import simulate as run

    first = parse_day(start, "--start") if start is not None else None
    c = open_city(database, city)
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
    from civicloop.simulator.placer import placer_for

    return placer_for(city)


def demo_command(
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

    from civicloop.accounts.service import seed_demo_users
    from civicloop.cli.serve import uvicorn_options
    from civicloop.demo.geography import load_demo_geography
    from civicloop.http import create_app
    from civicloop.ledger.demo import load_demo
    from civicloop.photos.store import LocalPhotoStore
    from civicloop.simulator.placer import placer_for
    from civicloop.simulator.simulate import Simulator, asset_rounds_for
    from civicloop.triage.service import model_path, train_category_model

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
    live_city = open_registered_city(city.id, database)
    # The live loop takes the history's rounds over (those begun in its last hours are still to run).
    live_rounds = (
        rounds.moved_to(live_city) if rounds is not None else asset_rounds_for(live_city, seed + 1, now)
    )
    live = Simulator(live_city, seed=seed + 1, start=now, placer=placer_for(live_city), reports_per_day=rate,
                     batch=timedelta(seconds=10), asset_rounds=live_rounds)  # fmt: skip
    stop = threading.Event()

    def simulate_live() -> None:
        while not stop.wait(2.0):
            try:
                live.run_until(datetime.now(UTC))
            except Exception as exc:  # the demo keeps serving; say what went wrong
                err_console.print(f"[yellow]live simulation:[/] {escape(repr(exc))}", highlight=False)

    threading.Thread(target=simulate_live, name="civicloop-live-simulation", daemon=True).start()
    _print_demo_welcome(city, users, host, port)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(host, port, log_level="warning")))
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
