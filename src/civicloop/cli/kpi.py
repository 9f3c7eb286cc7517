"""Commands: ``civicloop kpi …`` (KPIs, explain, hotspots, profiles, forecast, assets, export),
``civicloop report …`` (the monthly evaluation report) and ``civicloop import-cases …``.

Mounted by ``civicloop.cli.main``: the ``kpi_app`` group, the ``report_command`` and
``import_command`` commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from civicloop.city.service import City
from civicloop.cli.common import (
    CityOpt,
    CommandGroup,
    DatabaseOpt,
    JsonOpt,
    LocaleOpt,
    console,
    err_console,
    fail,
    open_city,
    parse_day,
    print_json,
)
from civicloop.kernel.i18n import both, t
from civicloop.kpi.core import CATALOGUE, Period, parse_period, period_between
from civicloop.kpi.engine import GROUPINGS, KpiEngine

kpi_app = CommandGroup(
    help=both("cli.kpi.help"),
    invoke_without_command=True,
    no_args_is_help=False,
)


def _period(period: str | None, from_: str | None, to: str | None, tz: str) -> Period:
    if period is not None:
        try:
            return parse_period(period, tz)
        except ValueError as exc:
            fail(f"--period: {exc}")
    if from_ is None or to is None:
        fail(both("cli.kpi.period_needed"))
    first, last = parse_day(from_, "--from"), parse_day(to, "--to")
    try:
        return period_between(first, last, tz)
    except ValueError as exc:
        fail(str(exc))


def _engine(c: City, parquet: Path | None, hybrid: bool) -> KpiEngine:
    from civicloop.kpi.engine import city_labels
    from civicloop.kpi.source import SourceError, open_parquet

    if parquet is None:
        return KpiEngine.for_city(c)
    try:
        src = open_parquet(parquet, engine=c.engine if hybrid else None)
    except SourceError as exc:
        fail(str(exc))
    return KpiEngine(src, c.id, c.calendar, c.profile.kpi, city_labels(c))


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    d = CATALOGUE.get(key)
    if d is not None and d.kind == "rate":
        return f"{100 * float(value):.2f}%"
    if isinstance(value, float):
        return f"{value:,.2f}" if not value.is_integer() else f"{int(value):,}"
    return str(value)


_TABLE_KPIS = ("reports", "filed", "handled", "due_to_close", "closed", "closure_rate",
               "on_time_closure_rate",
               "on_time_handling_rate", "rework_rate", "dispatch_accuracy_rate")  # fmt: skip


@kpi_app.callback()
def kpi(
    ctx: typer.Context,
    from_: Annotated[str | None, typer.Option("--from", help="first day YYYY-MM-DD (local)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="last day YYYY-MM-DD, included")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="2026-11, 2026-Q3, 2026 or 2026-11-01..2026-11-15")
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help=f"grouping(s), comma-separated: {', '.join(GROUPINGS)}")
    ] = "department",
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per group")] = False,
    explain: Annotated[
        str | None, typer.Option("--explain", help="list the cases behind a KPI, e.g. on_time_closure_rate")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="the group to explain (key, e.g. a department id)")
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare/--no-compare", help="rank against the previous period")
    ] = True,
    rules: Annotated[
        bool, typer.Option("--rules/--no-rules", help="include the period rules in --json")
    ] = True,
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="read a Parquet export (civicloop kpi export) instead")
    ] = None,
    hybrid: Annotated[
        bool, typer.Option("--hybrid", help="with --parquet: events after the export from the live store")
    ] = False,
    locale: Annotated[str, typer.Option("--locale", help="zh-CN | en (table labels)")] = "zh-CN",
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """综合评价 / KPIs per group for a period: ``civicloop kpi --from D --to D --by department --json``."""
    if ctx.invoked_subcommand is not None:
        return
    groupings = [b.strip() for b in by.split(",") if b.strip()]
    unknown = [b for b in groupings if b not in GROUPINGS]
    if unknown or not groupings:
        fail(
            both(
                "cli.kpi.unknown_grouping",
                grouping=", ".join(unknown) or repr(by),
                choices=", ".join(GROUPINGS),
            )
        )
    c = open_city(database, city, calendar_warnings=False)
    p = _period(period, from_, to, c.profile.timezone)
    engine = _engine(c, parquet, hybrid)
    try:
        if explain is not None:
            if explain not in CATALOGUE or (
                CATALOGUE[explain].kind == "average" and explain != "avg_handling_hours"
            ):
                fail(both("cli.kpi.unknown_kpi", kpi=repr(explain)))
            try:
                out = engine.explain(p, explain, groupings[0], group)
            except (ValueError, KeyError) as exc:
                fail(f"--explain: {exc}")
            if json_out:
                print_json(out)
            else:
                for part in ("counter", "numerator", "denominator"):
                    if part in out:
                        v = out[part]
                        console.print(
                            f"[bold]{part}[/] {v['counter']} ({CATALOGUE[v['counter']].zh}): {v['count']}"
                        )
                        console.print("  " + " ".join(v["cases"]))
            return
        evaluation = engine.evaluate(p, groupings, previous=compare)
    finally:
        engine.close()
    if json_out:
        rule_text = evaluation.rules if rules else None
        print_json([row.as_json(g, p, rule_text) for g in groupings for row in evaluation[g].rows])
        return
    for g in groupings:
        table = Table(title=f"{p.label} · {g} · {evaluation.source} · {evaluation.seconds:.2f} s")
        table.add_column(t("cli.kpi.col_group", locale))
        for k in _TABLE_KPIS:
            table.add_column(CATALOGUE[k].label(locale), justify="right")
        table.add_column(t("cli.kpi.col_score", locale), justify="right")
        table.add_column(t("cli.kpi.col_grade", locale), justify="center")
        table.add_column(t("cli.kpi.col_rank", locale), justify="right")
        for row in evaluation[g].rows:
            values = [_fmt(k, row.rates[k] if k in row.rates else row.counters.get(k)) for k in _TABLE_KPIS]
            score = row.score
            table.add_row(
                str(row.name or row.key or "—"),
                *values,
                _fmt("score", score.score if score else None),
                (score.grade or "—") if score else "—",
                "—"
                if row.rank is None
                else f"{row.rank}" + (f" ({row.rank_change:+d})" if row.rank_change is not None else ""),
            )
        console.print(table)


@kpi_app.command("hotspots")
def hotspots(
    period: Annotated[str, typer.Option("--period", help="2026-11 …")],
    level: Annotated[str, typer.Option(help="grid | community | street | district")] = "grid",
    top: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """热点 / cases per area and category, change vs the previous period (JSON)."""
    from civicloop.kpi.analysis import LEVELS, Analyst
    from civicloop.kpi.source import open_source

    if level not in LEVELS:
        fail(both("cli.kpi.one_of", option="--level", choices=", ".join(LEVELS)))
    c = open_city(database, city, calendar_warnings=False)
    p = _period(period, None, None, c.profile.timezone)
    src = open_source(c.engine)
    try:
        print_json(Analyst(src, c.id, c.profile.timezone, c.engine).hotspots(p, level=level, top=top))
    finally:
        src.close()


@kpi_app.command("recurring")
def recurring(
    period: Annotated[str, typer.Option("--period")],
    cell: Annotated[float, typer.Option(help="place size in metres")] = 50.0,
    min_cases: Annotated[int, typer.Option(min=2)] = 3,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """反复发生的地点 / places with repeated reports of the same category (JSON)."""
    from civicloop.kpi.analysis import Analyst
    from civicloop.kpi.source import open_source

    c = open_city(database, city, calendar_warnings=False)
    p = _period(period, None, None, c.profile.timezone)
    src = open_source(c.engine)
    try:
        print_json(
            Analyst(src, c.id, c.profile.timezone, c.engine).recurring_places(
                p, cell_m=cell, min_cases=min_cases
            )
        )
    finally:
        src.close()


@kpi_app.command("profile")
def time_profile(
    period: Annotated[str, typer.Option("--period")],
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """时段分布 / reports per hour of day and weekday for the busiest categories (JSON)."""
    from civicloop.kpi.analysis import Analyst
    from civicloop.kpi.source import open_source

    c = open_city(database, city, calendar_warnings=False)
    p = _period(period, None, None, c.profile.timezone)
    src = open_source(c.engine)
    try:
        print_json(Analyst(src, c.id, c.profile.timezone, c.engine).time_profiles(p))
    finally:
        src.close()


@kpi_app.command("forecast")
def forecast(
    until: Annotated[str, typer.Option("--until", help="forecast the week after this day (YYYY-MM-DD)")],
    weeks: Annotated[int, typer.Option(min=2, max=520, help="weeks of history")] = 12,
    top: Annotated[int | None, typer.Option(help="only the N biggest series")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """预测 / next week's cases per district and category, with MAE/MAPE on past weeks (JSON)."""
    from civicloop.kpi.analysis import Analyst
    from civicloop.kpi.source import open_source

    c = open_city(database, city, calendar_warnings=False)
    day = parse_day(until, "--until")
    p = period_between(day, day, c.profile.timezone)
    src = open_source(c.engine)
    try:
        print_json(Analyst(src, c.id, c.profile.timezone, c.engine).forecast(p.end, weeks=weeks, top=top))
    finally:
        src.close()


@kpi_app.command("assets")
def assets(
    period: Annotated[str, typer.Option("--period")],
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """着灯率与设施完好率 / street lights lit and facilities intact ("no data" without patrols) (JSON)."""
    from civicloop.kpi.assets import asset_summary

    c = open_city(database, city, calendar_warnings=False)
    p = _period(period, None, None, c.profile.timezone)
    print_json(asset_summary(c.engine, c.id, p, c.profile.kpi.targets))


@kpi_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", help="export folder")],
    until: Annotated[
        str, typer.Option("--until", help="export events before this local day (the first open day)")
    ],
    facts: Annotated[bool, typer.Option("--facts/--no-facts", help=both("cli.kpi.help_facts"))] = True,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """Parquet 导出 / export the closed periods' events to Parquet for fast re-evaluation."""
    from civicloop.kpi.export import export_parquet

    c = open_city(database, city, calendar_warnings=False)
    day = parse_day(until, "--until")
    p = period_between(day, day, c.profile.timezone)
    print_json(export_parquet(c, output, p.start, facts=facts))


@kpi_app.command("facts")
def facts_command(
    parquet: Annotated[Path, typer.Option("--parquet", help="the Parquet export (civicloop kpi export)")],
    period: Annotated[
        str | None,
        typer.Option(
            "--period", help="the period to (re)build, e.g. 2026-10 or 2026-Q3; default: every closed month"
        ),
    ] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """汇总 / (re)build the stored facts of closed periods in a Parquet export."""
    from civicloop.kpi.export import build_month_facts
    from civicloop.kpi.source import SourceError

    c = open_city(database, city, calendar_warnings=False)
    periods = None
    if period is not None:
        try:
            periods = [parse_period(period, c.profile.timezone)]
        except ValueError as exc:
            fail(f"--period: {exc}")
    try:
        print_json(build_month_facts(c, parquet, periods))
    except SourceError as exc:
        fail(f"--parquet: {exc}")
    except ValueError as exc:
        fail(f"--period: {exc}")


def report_command(
    period: Annotated[str, typer.Option("--period", help="2026-11, 2026-Q3, 2026 or 2026-11-01..2026-11-30")],
    format_: Annotated[str, typer.Option("--format", help="xlsx | pdf | html")] = "xlsx",
    output: Annotated[Path | None, typer.Option("--output", help="file to write")] = None,
    locale: LocaleOpt = "zh-CN",
    parquet: Annotated[Path | None, typer.Option("--parquet", help="read a Parquet export instead")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """评价通报 / ``civicloop report --period 2026-11 --format pdf --output report.pdf [--locale en]``."""
    from civicloop.kpi.report import FORMATS, FontMissing, check_fonts, make_report

    if format_ not in FORMATS:
        fail(both("cli.kpi.one_of", option="--format", choices=", ".join(FORMATS)))
    if locale not in ("zh-CN", "en"):
        fail("--locale: zh-CN | en")
    try:
        check_fonts(format_)  # before the database is even opened
    except FontMissing as exc:
        fail(str(exc))
    c = open_city(database, city, calendar_warnings=False)
    p = _period(period, None, None, c.profile.timezone)
    out = output or Path(f"civicloop-report-{p.label}.{format_}")
    engine = _engine(c, parquet, False)
    try:
        path = make_report(c, p, format_, out, locale=locale, engine=engine)
    except FontMissing as exc:
        fail(str(exc))
    finally:
        engine.close()
    console.print(t("cli.kpi.written", locale, path=path), soft_wrap=True)  # a path scripts can read back


def import_command(
    csv_path: Annotated[Path, typer.Argument(help="CSV export of the other system", metavar="CSV")],
    mapping: Annotated[Path, typer.Option("--mapping", help="TOML or YAML mapping file")],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="skip bad rows (reported) instead of failing")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """历史导入 / ``civicloop import-cases FILE.csv --mapping map.toml [--skip-bad]``: all or nothing."""
    from civicloop.kernel.errors import DomainError
    from civicloop.kpi.importer import ImportFailed, MappingError, import_cases

    if not csv_path.is_file():
        fail(both("cli.kpi.no_such_file", option="CSV", file=csv_path))
    if not mapping.is_file():
        fail(both("cli.kpi.no_such_file", option="--mapping", file=mapping))
    c = open_city(database, city, calendar_warnings=False)
    try:
        result = import_cases(c, csv_path, mapping, skip_bad=skip_bad)
    except ImportFailed as exc:
        if json_out:
            print_json({"imported": 0, "bad_rows": [b.as_json() for b in exc.bad]})
        for b in exc.bad:
            err_console.print(b.text(), markup=False, highlight=False)
        fail(str(exc).split(": line", 1)[0])
    except (MappingError, DomainError) as exc:
        fail(str(exc))
    if json_out:
        print_json(result.as_json())
        return
    for b in result.bad:
        err_console.print("[yellow]skipped[/] " + escape(b.text()), highlight=False)
    console.print(
        both(
            "cli.kpi.imported",
            cases=result.imported,
            events=result.events,
            rows=result.rows,
            skipped=len(result.bad),
        ),
        markup=False,
    )
    notes = [
        (result.profile_limits, "cli.kpi.rows_profile_limits"),
        (result.zero_limits, "cli.kpi.rows_zero_limits"),
        (result.unlocated, "cli.kpi.rows_unlocated"),
    ]
    for n, key in notes:
        if n:
            console.print(both(key, n=n), markup=False)
    if result.refused_csv is not None:
        console.print(both("cli.kpi.refused_rows", path=result.refused_csv), markup=False)


def locate_command(
    gazetteer: Annotated[
        Path | None,
        typer.Option(
            "--gazetteer",
            help="CSV with address, lon, lat (WGS84): known addresses (default: the city's own geocoder)",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="cases to try at most")] = 10_000,
    list_only: Annotated[
        bool, typer.Option("--list", help="list the queue with the geocoder's guesses; locate nothing")
    ] = False,
    json_out: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """待定位 / Locate the cases without coordinates by their address (``locate`` events): with the
    gazetteer CSV, or the city's own geocoder at its ``[geocoding] min_confidence``. ``--list`` shows
    the queue with the geocoder's best guess and confidence (a hint for the operator)."""
    from civicloop.geo.geocoding import as_geocode
    from civicloop.intake.locating import (
        Geocode,
        gazetteer_geocoder,
        geocode_hint,
        locate_by_address,
        unlocated_cases,
    )

    geocode: Geocode | None = None
    if gazetteer is not None:
        if not gazetteer.is_file():
            fail(both("cli.kpi.no_such_file", option="--gazetteer", file=gazetteer))
        try:
            geocode = gazetteer_geocoder(gazetteer)
        except (ValueError, UnicodeDecodeError) as exc:
            fail(f"--gazetteer: {exc}")
    c = open_city(database, city, calendar_warnings=False)
    if list_only:
        states, total = unlocated_cases(c, limit=min(limit, 1000))
        rows: list[dict[str, Any]] = [
            {"case_id": s.case_id, "address": s.address, "hint": geocode_hint(c, s)} for s in states
        ]
        if json_out:
            print_json({"total": total, "cases": rows})
            return
        for row in rows:
            hint = row["hint"]
            guess = f"{hint['matched']} ({hint['confidence']:.2f})" if hint else "-"
            console.print(f"{row['case_id']}  {row['address'] or '-'}  → {guess}", markup=False)
        return
    if geocode is None:
        geocode = as_geocode(c)
    report = locate_by_address(c, geocode, limit=limit)
    if json_out:
        print_json(report.as_json())
        return
    console.print(
        both(
            "cli.kpi.located",
            located=len(report.located),
            tried=report.tried,
            unresolved=len(report.unresolved),
            refused=len(report.refused),
        ),
        markup=False,
    )
    for case_id, reason in report.refused:
        err_console.print(f"{case_id}: {reason}", markup=False, highlight=False)
