"""Commands of the ledgers and the assessment (mounted by ``civicloop.cli.main``).

* ``civicloop ledger import KIND FILE [--skip-bad] [--update]`` · ``ledger list KIND [--year] [--json]`` ·
  ``ledger export KIND --format csv|xlsx --output PATH`` · ``ledger add KIND -f key=value …`` ·
  ``ledger demo``
* ``civicloop target list|set|enter|approve|entries|inspect|indicators``
* ``civicloop assess --period P [--json] [--detail] [--export xlsx|pdf --output PATH]``

Every refusal exits with status 2 and a message naming the line, field or option and the reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from civicloop.cli.common import (
    EXIT_BAD_INPUT,
    CityOpt,
    CommandGroup,
    DatabaseOpt,
    JsonOpt,
    console,
    err_console,
    fail,
    open_city,
    print_json,
)
from civicloop.kernel.i18n import both, t
from civicloop.ledger import tabular
from civicloop.ledger.models import LedgerError, TargetKey, value_text, yuan_text
from civicloop.ledger.service import LedgerService

ledger_app = CommandGroup(
    help=both("cli.ledger.help", kinds=", ".join(tabular.KINDS)),
    no_args_is_help=True,
)
target_app = CommandGroup(
    help=both("cli.ledger.help_target"),
    no_args_is_help=True,
)
assess_app = CommandGroup(help=both("cli.ledger.help_assess"))

ByOpt = Annotated[str, typer.Option("--by", help="who acts (recorded with the change)")]
KindArg = Annotated[str, typer.Argument(help=both("cli.ledger.help_kind", kinds=", ".join(tabular.KINDS)))]


#: Table headings printed in both languages (the others follow the current locale, Chinese by default).
_BILINGUAL_HEADINGS = frozenset({"ref", "target_ref", "evidence", "filter"})


def _heading(name: str) -> str:
    key = f"cli.ledger.col_{name}"
    return both(key) if name in _BILINGUAL_HEADINGS else t(key)


def _default_by() -> str:
    return f"cli:{os.environ.get('USER') or 'unknown'}"


def _service(database: str | None, city: str | None) -> LedgerService:
    return LedgerService(open_city(database, city, calendar_warnings=False))


def _fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(both("cli.ledger.bad_field", pair=repr(pair)))
        out[key.strip()] = value.strip()
    return out


def _print_result(result: tabular.ImportResult, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    console.print(
        both(
            "cli.ledger.import_result",
            kind=result.kind,
            rows=result.rows,
            inserted=result.inserted,
            updated=result.updated,
            skipped=len(result.rejected),
        ),
        highlight=False,
    )
    for issue in result.rejected:
        err_console.print(f"  {both('cli.ledger.skipped')} {escape(str(issue))}", highlight=False)


# ---------------------------------------------------------------------------------------------------
# ledger …
# ---------------------------------------------------------------------------------------------------


@ledger_app.command("import")
def import_command(
    kind: KindArg,
    file: Annotated[Path, typer.Argument(help=".csv (UTF-8 or GB18030) or .xlsx (first sheet)")],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="import the good rows, report the bad ones")
    ] = False,
    update: Annotated[bool, typer.Option("--update", help="replace rows whose natural key exists")] = False,
    by: ByOpt = "",
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """导入 / import a CSV or XLSX file in one transaction: any bad row refuses the file (line + reason)."""
    service = _service(database, city)
    try:
        result = service.import_file(
            kind, file, by=by or _default_by(), skip_bad=skip_bad, update_existing=update
        )
    except tabular.ImportRejected as exc:
        if as_json:
            print_json({"kind": exc.kind, "imported": False, "rejected": [i.__dict__ for i in exc.issues]})
            raise typer.Exit(EXIT_BAD_INPUT) from None
        raise
    _print_result(result, as_json)


@ledger_app.command("add")
def add_command(
    kind: KindArg,
    field: Annotated[
        list[str], typer.Option("--field", "-f", help="key=value (repeat); see `ledger fields`")
    ],
    update: Annotated[
        bool, typer.Option("--update", help="replace the row with the same natural key")
    ] = False,
    by: ByOpt = "",
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """登记 / record one row (the ledger's simple form), checked like an imported row."""
    service = _service(database, city)
    result = service.add(kind, _fields(field), by=by or _default_by(), update_existing=update)
    _print_result(result, as_json)


@ledger_app.command("fields")
def fields_command(kind: KindArg) -> None:
    """字段 / the columns of a ledger: key, Chinese header, required, natural key."""
    k = tabular.kind(kind)
    table = Table(title=f"{k.zh} / {k.en}")
    for col in ("key", "header", "required", "natural_key"):
        table.add_column(both(f"cli.ledger.col_{col}"))
    yes = t("cli.ledger.yes")
    for c in k.columns:
        table.add_row(c.key, c.zh, yes if c.required else "", yes if c.key in k.key else "")
    console.print(table)


@ledger_app.command("list")
def list_command(
    kind: KindArg,
    year: Annotated[int | None, typer.Option("--year", help="rows dated in this year")] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """列表 / list a ledger with its totals (e.g. projects started and investment completed)."""
    service = _service(database, city)
    k = tabular.kind(kind)
    rows = service.rows(kind, year)
    summary = service.summary(kind, rows)
    if as_json:
        print_json({"kind": kind, "year": year, "rows": rows, "summary": dict(summary)})
        return
    table = Table(title=f"{k.zh} / {k.en}" + (f" · {year}" if year else ""))
    for c in k.columns:
        table.add_column(c.zh, overflow="fold")
    for r in rows:
        table.add_row(*(_display(c, r[c.key]) for c in k.columns))
    console.print(table)
    for label, value in summary:
        console.print(f"{label}: {value}", highlight=False)


def _display(col: tabular.Col, value: Any) -> str:
    if value is None:
        return ""
    if col.key in ("planned_investment", "completed_investment"):
        return yuan_text(float(value))
    return str(tabular.cell(value))


@ledger_app.command("export")
def export_command(
    kind: KindArg,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")],
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write")],
    year: Annotated[int | None, typer.Option("--year", help="rows dated in this year")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """导出 / export a ledger to CSV or XLSX (re-importable as written; XLSX adds a summary sheet)."""
    service = _service(database, city)
    n = service.export(kind, fmt.lower(), output, year)
    console.print(both("cli.ledger.exported_rows", n=n, output=output), highlight=False)


@ledger_app.command("demo")
def demo_command(as_json: JsonOpt = False, database: DatabaseOpt = None, city: CityOpt = None) -> None:
    """演示数据 / load the demo city's year of ledgers, targets, entered values and inspection notes."""
    from civicloop.ledger.demo import YEAR, load_demo

    service = _service(database, city)
    counts = load_demo(service.city)
    if as_json:
        print_json(counts)
        return
    listed = ", ".join(f"{k} {v}" for k, v in counts.items())
    console.print(
        f"{both('cli.ledger.demo_loaded', year=YEAR, counts=listed)}\n{both('cli.ledger.next', year=YEAR)}",
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------------
# target …
# ---------------------------------------------------------------------------------------------------


RefArg = Annotated[
    str, typer.Argument(help="period/unit/indicator[:filter], e.g. 2026/ty-roads/closed_cases:06013")
]


@target_app.command("list")
def target_list(
    period: Annotated[str | None, typer.Option("--period", help="2026, 2026-Q3 or 2026-07")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="unit id")] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """目标 / list the targets (all, or of a period or unit)."""
    from civicloop.ledger.indicators import indicator

    service = _service(database, city)
    rows = service.targets(period, unit)
    if as_json:
        print_json(rows)
        return
    table = Table(title=both("cli.ledger.targets_title"))
    for col in ("ref", "indicator", "comparison", "target_value", "weight", "source", "tolerance"):
        table.add_column(_heading(col), overflow="fold")
    for r in rows:
        ind = indicator(r["indicator"], r["name"])
        ref = str(TargetKey(r["period"], r["unit_id"], r["indicator"], r["filter"]))
        symbol = "≥" if r["comparison"] == "ge" else "≤"
        table.add_row(
            ref,
            r["name"] or ind.label(r["filter"]),
            symbol,
            value_text(r["target_value"], ind.measure),
            f"{r['weight']:g}",
            r["source"],
            f"{r['tolerance']:g}",
        )
    console.print(table)


@target_app.command("set")
def target_set(
    ref: RefArg,
    value: Annotated[str, typer.Option("--value", help=both("cli.ledger.help_value"))],
    weight: Annotated[float, typer.Option("--weight", help="weight (points)")],
    comparison: Annotated[str | None, typer.Option("--comparison", help="ge (≥) or le (≤)")] = None,
    source: Annotated[str | None, typer.Option("--source", help="auto, ledger or entered")] = None,
    tolerance: Annotated[float | None, typer.Option("--tolerance", help="linear band, default 0.2")] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="label of an indicator outside the catalogue")
    ] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    by: ByOpt = "",
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """设定 / set (or replace) a unit's target for a year, quarter or month."""
    service = _service(database, city)
    key = TargetKey.parse(ref)
    try:
        service.set_target(
            key,
            target_value=value,
            weight=weight,
            by=by or _default_by(),
            comparison=comparison,
            source=source,
            tolerance=tolerance,
            name=name,
            note=note,
        )
    except tabular.ImportRejected as exc:
        raise LedgerError("; ".join(i.reason for i in exc.issues)) from None
    console.print(both("cli.ledger.target_set", key=key), highlight=False)


@target_app.command("enter")
def target_enter(
    ref: RefArg,
    value: Annotated[str, typer.Option("--value", help="the achieved value")],
    evidence: Annotated[str, typer.Option("--evidence", help=both("cli.ledger.help_evidence"))],
    by: Annotated[str, typer.Option("--by", help=both("cli.ledger.help_entered_by"))],
    note: Annotated[str | None, typer.Option("--note")] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """填报 / enter the achieved value of an entered target, with evidence; it waits for approval."""
    service = _service(database, city)
    key = TargetKey.parse(ref)
    entry = service.enter(key, value, evidence, by=by, note=note)
    if as_json:
        print_json(entry.as_json())
        return
    console.print(
        both("cli.ledger.entered", key=key, value=f"{entry.value:g}", seq=entry.seq), highlight=False
    )


@target_app.command("approve")
def target_approve(
    ref: RefArg,
    by: Annotated[str, typer.Option("--by", help=both("cli.ledger.help_assessor"))],
    seq: Annotated[
        int | None, typer.Option("--seq", help="which entry (default: the latest pending)")
    ] = None,
    reject: Annotated[bool, typer.Option("--reject", help=both("cli.ledger.help_reject"))] = False,
    note: Annotated[str | None, typer.Option("--note")] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """审核 / approve (or --reject) an entered value."""
    service = _service(database, city)
    key = TargetKey.parse(ref)
    entry = service.review(key, by=by, approve=not reject, seq=seq, note=note)
    if as_json:
        print_json(entry.as_json())
        return
    console.print(both("cli.ledger.reviewed", key=key, seq=entry.seq, status=entry.status), highlight=False)


@target_app.command("entries")
def target_entries(
    period: Annotated[str | None, typer.Option("--period")] = None,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """填报记录 / entered values with evidence, who entered and who approved them."""
    service = _service(database, city)
    entries = service.entries(period=period)
    if as_json:
        print_json([e.as_json() for e in entries])
        return
    table = Table(title=both("cli.ledger.entries_title"))
    for col in ("target_ref", "seq", "value", "status", "entered", "reviewed", "evidence"):
        table.add_column(_heading(col), overflow="fold")
    for e in entries:
        table.add_row(
            str(e.key),
            str(e.seq),
            f"{e.value:g}",
            e.status,
            f"{e.entered_by} {e.entered_at:%Y-%m-%d}",
            f"{e.reviewed_by} {e.reviewed_at:%Y-%m-%d}" if e.reviewed_by and e.reviewed_at else "",
            e.evidence,
        )
    console.print(table)


@target_app.command("inspect")
def target_inspect(
    period: Annotated[str, typer.Option("--period", help="assessment period: 2026, 2026-Q3, 2026-07")],
    unit: Annotated[str, typer.Option("--unit", help="unit id")],
    note: Annotated[str, typer.Option("--note", help=both("cli.ledger.help_inspection_note"))],
    by: Annotated[str, typer.Option("--by", help="the assessor")],
    deduct: Annotated[float, typer.Option("--deduct", help=both("cli.ledger.help_deduct"))] = 0.0,
    indicator_key: Annotated[str | None, typer.Option("--indicator", help="the indicator concerned")] = None,
    on: Annotated[str | None, typer.Option("--on", help="inspection date (default today)")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """检查记录 / add an inspection note to a unit's assessment, optionally deducting points."""
    service = _service(database, city)
    day = None
    if on is not None:
        try:
            day = tabular.parse_date(on)
        except tabular.Bad as exc:
            raise LedgerError(f"--on: {exc}") from None
    n = service.inspect(period, unit, note, by=by, deduction=deduct, indicator_key=indicator_key, on=day)
    recorded = both(
        "cli.ledger.inspection_recorded",
        period=n.period,
        seq=n.seq,
        unit=n.unit_id,
        deduction=f"{n.deduction:g}",
    )
    console.print(recorded, highlight=False)


@target_app.command("indicators")
def target_indicators(as_json: JsonOpt = False) -> None:
    """指标目录 / the indicator catalogue: key, name, how it is measured, usual comparison."""
    from civicloop.ledger.indicators import CATALOGUE

    if as_json:
        print_json(
            [
                {"key": i.key, "zh": i.zh, "en": i.en, "source": i.source.value, "measure": i.measure.value,
                 "comparison": i.comparison.value, "filter": i.filter_help}
                for i in CATALOGUE.values()
            ]
        )  # fmt: skip
        return
    table = Table(title=both("cli.ledger.indicators_title"))
    indicator_zh, indicator_en = (t("cli.ledger.col_indicator", loc) for loc in ("zh-CN", "en"))
    rest = [_heading(c) for c in ("source", "measure", "comparison", "filter")]
    for col in ("key", indicator_zh, indicator_en, *rest):
        table.add_column(col, overflow="fold")
    for i in CATALOGUE.values():
        table.add_row(i.key, i.zh, i.en, i.source.value, i.measure.value, i.comparison.symbol, i.filter_help)
    console.print(table)


# ---------------------------------------------------------------------------------------------------
# assess
# ---------------------------------------------------------------------------------------------------


@assess_app.callback(invoke_without_command=True)
def assess_command(
    period: Annotated[
        str, typer.Option("--period", help="2026 · 2026-Q3 · 2026-07 · 2026-01-01..2026-11-30")
    ],
    as_json: JsonOpt = False,
    detail: Annotated[bool, typer.Option("--detail", help="every target with its evidence")] = False,
    export: Annotated[str | None, typer.Option("--export", help="xlsx or pdf (Chinese)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file for --export")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """目标责任考核 / score and rank every unit against its targets for a period, with the evidence."""
    from civicloop.ledger.assessment import assess

    if export is not None and export not in ("xlsx", "pdf"):
        fail(both("cli.ledger.bad_export", export=repr(export)))
    if export is not None and output is None:
        fail(both("cli.ledger.export_needs_output"))
    service = _service(database, city)
    result = assess(service.city, period)
    if export is not None and output is not None:
        from civicloop.ledger.report import write_pdf, write_xlsx

        (write_xlsx if export == "xlsx" else write_pdf)(result, output)
    if as_json:
        print_json(result.as_json())
        return
    _print_assessment(result, detail)
    if export is not None:
        console.print(both("cli.ledger.exported", output=output), highlight=False)


def _print_assessment(result: Any, detail: bool) -> None:
    from civicloop.ledger.report import RANK_HEADER, detail_rows, rank_rows
    from civicloop.ledger.report import title as report_title

    table = Table(title=report_title(result))
    for col in RANK_HEADER:
        table.add_column(col, overflow="fold")
    for row in rank_rows(result):
        table.add_row(*row)
    console.print(table)
    if not result.units:
        console.print(both("cli.ledger.no_targets", period=result.period.label), highlight=False)
    if detail:
        for u in result.units:
            table = Table(title=t("cli.ledger.unit_title", unit=u.unit.name, unit_id=u.unit.unit_id))
            for col in ("indicator", "source", "target", "actual", "status_done", "weight", "score", "basis"):
                table.add_column(t(f"cli.ledger.col_{col}"), overflow="fold")
            for r in detail_rows(u, records=3):
                table.add_row(*r[1:])
            console.print(table)
            for n in u.inspections:
                line = t(
                    "cli.ledger.inspection_line",
                    on=n.inspected_on,
                    inspector=n.inspector,
                    note=n.note,
                    deduction=f"{n.deduction:g}",
                )
                console.print(line, highlight=False)
    no_data = sum(1 for u in result.units for tg in u.targets if tg.score.status == "no_data")
    if no_data:
        console.print(both("cli.ledger.no_data", n=no_data), highlight=False)
