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
from civicloop.kernel.i18n import both
from civicloop.kernel.vocabulary import Stage


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
    table = Table(both("cli.demo.col_stage"), both("cli.demo.col_cases"))
    for name, n in out["states"].items():
        table.add_row(f"{Stage(name).zh} / {name}", str(n))
    console.print(table)
    console.print(
        both("cli.demo.simulated", cases=out["cases"], events=out["events"], rate=out["on_time_rate"])
    )


def _default_placer(city: City) -> Any:
    """The demo geography's placer when geography is available, else None (the simulator's box)."""
    from civicloop.simulator.placer import placer_for

    return placer_for(city)


def demo_command(
    profile: Annotated[str, typer.Option(help="bundled profile (taiyuan, sample-en)")] = "taiyuan",
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

    from civicloop.accounts.service import seed_demo_department_users, seed_demo_users
    from civicloop.cli.serve import uvicorn_options
    from civicloop.demo.geography import load_demo_geography
    from civicloop.geo.geocoding import warm_gazetteers
    from civicloop.http import create_app
    from civicloop.ledger.demo import load_demo
    from civicloop.photos.simulated import store_simulated_photos
    from civicloop.photos.store import LocalPhotoStore
    from civicloop.simulator.placer import placer_for
    from civicloop.simulator.simulate import Simulator, asset_rounds_for
    from civicloop.triage.service import model_path, train_category_model

    city = init_city(profile, database)
    now = datetime.now(UTC).replace(microsecond=0)
    geo = load_demo_geography(city)
    if not geo.skipped:
        console.print(both("cli.demo.geography", grids=f"{geo.grids:,}", components=f"{geo.components:,}"))
    first_start = not city.cases.stage_counts()
    rounds = None
    if first_start and city.profile.is_chinese:
        # The demo ledgers (台账, 目标责任考核) are a Chinese bureau's, with the demo city's units.
        load_demo(city)
        console.print(both("cli.demo.ledgers_loaded"))
    if not model_path(city).is_file():
        trained = train_category_model(city)
        f1 = trained.cv.get("macro_f1")
        console.print(both("cli.demo.model_trained", path=trained.path, f1=f1))
    if first_start:
        console.print(both("cli.demo.simulating", days=f"{history_days:g}"))
        start = now - timedelta(days=history_days)
        # Night lighting patrols and component inspections too: 着灯率 and 设施完好率 have figures at once.
        rounds = asset_rounds_for(city, seed, start)
        history = Simulator(city, seed=seed, start=start, placer=placer_for(city), asset_rounds=rounds)
        history.run_until(now)
        report = history.report
        console.print(
            both(
                "cli.demo.history",
                cases=f"{report.cases:,}",
                events=f"{report.events:,}",
                checks=f"{report.patrol_checks:,}",
            )
        )
    users = seed_demo_users(city)
    units = seed_demo_department_users(city)
    photo_store = LocalPhotoStore("./var/photos")
    store_simulated_photos(photo_store)  # the simulated cases' photos (generated images) open like any other
    app = create_app(city, photos=photo_store)
    warm_gazetteers([city])  # the hotline's text-only reports are geocoded: no wait for the first one
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
    _print_demo_welcome(city, users, units, host, port)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(host, port, log_level="warning")))
    if duration is not None:
        threading.Timer(duration, lambda: setattr(server, "should_exit", True)).start()
    try:
        server.run()
    finally:
        stop.set()


def _print_demo_welcome(
    city: City, users: list[tuple[str, str, str]], units: list[tuple[str, str, str]], host: str, port: int
) -> None:
    from civicloop.cli.serve import demo_accounts_table

    base = f"http://{host}:{port}"
    discovery = f"{base}/open311/v2/discovery.json"
    console.print(demo_accounts_table(city, users, units))
    console.print(
        f"{both('cli.demo.command_center')}: [bold]{base}/[/]\n"
        f"  {both('cli.demo.big_screen')}  {base}/screen\n"
        f"  {both('cli.demo.workspaces')}  {base}/workspace\n"
        f"  {both('cli.demo.inspector')}  {base}/m/\n"
        f"  {both('cli.demo.citizens')}  {base}/public/\n"
        f"  Open311           {discovery}   API docs {base}/docs\n"
        f"{both('cli.demo.stop')}",
        highlight=False,
    )
