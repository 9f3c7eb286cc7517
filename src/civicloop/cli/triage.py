"""``civicloop triage train|eval``: train the triage text classifier on a labelled CSV file, and
evaluate a saved model on another one; ``triage bootstrap|retrain``: train the city's category model;
``triage dedupe``: the intake's duplicate detection over a CSV file (mounted by :mod:`civicloop.cli.main`).

Exit codes: 0 success; 2 bad input (missing file or column, unusable data, unreadable model).
"""

from __future__ import annotations

import csv
import json
import math
import re
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from civicloop.cli.common import (
    CityOpt,
    CommandGroup,
    DatabaseOpt,
    console,
    fail,
    open_city,
    print_json,
)
from civicloop.intake.dedupe import BatchRow, BatchSettings, cluster_rows
from civicloop.kernel.i18n import both
from civicloop.triage.classifier import (
    DataError,
    TriageError,
    format_float,
    load_model,
    read_labelled_csv,
    table_reader,
    train_from_csv,
)
from civicloop.triage.text import PreSegmented

triage_app = CommandGroup(
    name="triage",
    help=both("cli.triage.help"),
    no_args_is_help=True,
    add_completion=False,
)

DataOpt = Annotated[Path, typer.Option("--data", help="CSV file (UTF-8, header row; .tsv = tab-separated)")]
TextColOpt = Annotated[str, typer.Option("--text-col", help="column with the message text")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="column with the label (category/department)")]
ModelOpt = Annotated[Path, typer.Option("--model", help="model file (.zip)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the metrics as JSON")]
PreSegOpt = Annotated[
    str,
    typer.Option(
        "--pre-segmented",
        help="auto: detect per message; yes: tokens are already separated by spaces; no: segment with jieba",
    ),
]


def _usage_error(exc: DataError) -> NoReturn:
    if exc.option:
        raise typer.BadParameter(str(exc), param_hint=f"'{exc.option}'")
    fail(str(exc))


def _read(data: Path, text_col: str, label_col: str) -> tuple[list[str], list[str]]:
    try:
        return read_labelled_csv(data, text_col, label_col)
    except DataError as exc:
        _usage_error(exc)


def _summary_table(title: str, m: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("messages (n)", str(m["n"]))
    table.add_row("accuracy", format_float(m["accuracy"]))
    table.add_row("macro-F1", format_float(m["macro_f1"]))
    table.add_row("threshold", format_float(m["threshold"]))
    table.add_row("auto-routed share", format_float(m["auto_route_share"]))
    table.add_row("auto-routed precision", format_float(m["auto_route_precision"]))
    if m.get("precision_lower_bound") is not None:
        table.add_row("expected precision (cv)", format_float(m.get("expected_precision")))
        table.add_row(
            f"lower bound ({m.get('bound_level', 0):.0%})", format_float(m["precision_lower_bound"])
        )
    transfer = m.get("threshold_transfer")
    if transfer:
        table.add_row("  nested: share", format_float(transfer["auto_route_share"]))
        table.add_row("  nested: precision", format_float(transfer["auto_route_precision"]))
    return table


def _label_table(m: dict[str, Any]) -> Table:
    table = Table(title="per label")
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, v in m["per_label"].items():
        table.add_row(
            label,
            format_float(v["precision"]),
            format_float(v["recall"]),
            format_float(v["f1"]),
            str(v["support"]),
        )
    return table


@triage_app.command("train")
def train(
    data: DataOpt,
    model: ModelOpt,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    target_precision: Annotated[
        float,
        typer.Option(
            "--target-precision",
            min=0.5,
            max=1.0,
            help="precision required of automatically routed messages (chooses the threshold)",
        ),
    ] = 0.98,
    pre_segmented: PreSegOpt = "auto",
    folds: Annotated[int, typer.Option("--folds", min=2, help="cross-validation folds")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="random seed of the fold split")] = 0,
    bound_level: Annotated[
        float,
        typer.Option(
            "--bound-level",
            min=0.0,
            max=0.999,
            help="confidence of the precision lower bound that must reach --target-precision (0: observed)",
        ),
    ] = 0.99,
    as_json: JsonOpt = False,
) -> None:
    """Learn labels from messages; print and store a cross-validated estimate of the metrics."""
    if pre_segmented not in ("auto", "yes", "no"):
        raise typer.BadParameter(both("cli.triage.pre_segmented"), param_hint="'--pre-segmented'")
    preseg: PreSegmented = pre_segmented  # type: ignore[assignment]
    _read(data, text_col, label_col)  # usage errors (file, columns) before the long part
    try:
        with console.status("training (cross-validation + final model)…") if not as_json else nullcontext():
            clf = train_from_csv(
                data,
                text_col,
                label_col,
                model,
                target_precision=target_precision,
                pre_segmented=preseg,
                folds=folds,
                random_state=seed,
                bound_level=bound_level,
            )
    except DataError as exc:
        _usage_error(exc)
    except TriageError as exc:
        fail(str(exc))
    cv = clf.cv_metrics
    if as_json:
        out = {
            "model": str(model),
            "labels": clf.labels,
            "threshold": clf.threshold,
            "cv": cv,
            "data_sha256": clf.meta["data_sha256"],
            "train_seconds": clf.meta["train_seconds"],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    console.print(_summary_table(f"{cv['folds']}-fold cross-validation on the training data", cv))
    console.print(_label_table(cv))
    console.print(
        both(
            "cli.triage.model_written",
            model=model,
            labels=len(clf.labels),
            messages=clf.meta["n_train"],
            seconds=f"{clf.meta['train_seconds']:.1f}",
            threshold=format_float(clf.threshold),
            precision=f"{target_precision:.0%}",
        ),
        highlight=False,
    )


@triage_app.command("eval")
def evaluate(
    model: ModelOpt,
    data: DataOpt,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a saved model on labelled messages, at the threshold stored in the model."""
    texts, labels = _read(data, text_col, label_col)
    try:
        clf = load_model(model)
    except TriageError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--model'") from exc
    try:
        metrics = clf.evaluate(texts, labels)
    except DataError as exc:
        _usage_error(exc)
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False, indent=2))
        return
    console.print(_summary_table(f"evaluation of {model.name} on {data.name}", metrics))
    console.print(_label_table(metrics))
    if metrics["is_training_data"]:
        console.print(both("cli.triage.training_data"))
    if metrics["labels_unknown_to_model"]:
        console.print(both("cli.triage.unknown_labels", labels=", ".join(metrics["labels_unknown_to_model"])))


@triage_app.command("bootstrap")
def triage_bootstrap(
    output: Annotated[Path | None, typer.Option(help="model file (default var/models/…)")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """训练类别模型 / train the city's category classifier from its profile and every correction so far."""
    from civicloop.triage.service import train_category_model

    c = open_city(database, city)
    report = train_category_model(c, path=output)
    summary = {"model": str(report.path), "examples": report.examples, "corrections": report.corrections,
               "labels": report.labels, **{k: report.cv.get(k) for k in
               ("accuracy", "macro_f1", "auto_route_share", "auto_route_precision")}}  # fmt: skip
    if json_out:
        print_json(summary)
    else:
        console.print(summary)


_RETRAIN_HELP = both("cli.triage.help_retrain")
triage_app.command("retrain", help=_RETRAIN_HELP)(triage_bootstrap)


# ---- dedupe: the intake's duplicate detection over a file ------------------------------------------

_TIME = re.compile(
    r"\s*(\d{4})\D(\d{1,2})\D(\d{1,2})(?:\D+(\d{1,2})\D(\d{1,2})(?:\D(\d{1,2})(?:\.\d+)?)?)?\D?\s*"
)


def _parse_time(value: str) -> datetime | None:
    """ISO 8601 (an aware time becomes naive UTC), or year-month-day [hour:minute[:second]] with any
    separators (2019/4/25 9:32:09, and the Chinese 年月日时分 forms): a naive local time; None when
    unreadable."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        m = _TIME.fullmatch(value)
        if m is None:
            return None
        y, mo, d, h, mi, sec = m.groups()
        try:
            return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0))
        except ValueError:
            return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _dedupe_rows(data: Path, cols: dict[str, str | None]) -> tuple[list[BatchRow], list[str]]:
    """The file's rows for :func:`cluster_rows`, and their ids (row numbers without ``--id-col``)."""
    if not data.is_file():
        raise typer.BadParameter(both("dedupe.file_missing", path=data), param_hint="'--data'")
    rows: list[BatchRow] = []
    ids: list[str] = []
    try:
        with data.open(encoding="utf-8-sig", newline="") as fh:
            reader = table_reader(fh, data)
            columns = list(reader.fieldnames or [])
            for option, col in cols.items():
                if col is not None and col not in columns:
                    raise typer.BadParameter(
                        both(
                            "dedupe.no_column", path=data.name, column=col, columns=", ".join(columns) or "-"
                        ),
                        param_hint=f"'{option}'",
                    )
            for n, rec in enumerate(reader):
                rows.append(_dedupe_row(n, rec, cols))
                id_col = cols["--id-col"]
                ids.append(rec[id_col] if id_col else str(n))
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(both("dedupe.not_utf8", path=data), param_hint="'--data'") from exc
    except csv.Error as exc:
        raise typer.BadParameter(both("dedupe.not_csv", path=data, error=exc), param_hint="'--data'") from exc
    if not rows:
        raise typer.BadParameter(both("dedupe.no_rows", path=data), param_hint="'--data'")
    return rows, ids


def _dedupe_row(n: int, rec: dict[str, str], cols: dict[str, str | None]) -> BatchRow:
    def cell(option: str) -> str:
        col = cols[option]
        return (rec.get(col) or "").strip() if col else ""

    at = None
    if raw := cell("--time-col"):
        at = _parse_time(raw)
        if at is None:
            raise typer.BadParameter(both("dedupe.bad_time", row=n, value=raw), param_hint="'--time-col'")
    point: list[float | None] = []
    for option in ("--lon-col", "--lat-col"):
        raw = cell(option)
        try:
            value = float(raw) if raw else None
        except ValueError:
            value = None
        if raw and (value is None or not math.isfinite(value)):
            raise typer.BadParameter(both("dedupe.bad_number", row=n, value=raw), param_hint=f"'{option}'")
        point.append(value)
    lon, lat = point if None not in point else (None, None)
    return BatchRow(cell("--text-col"), at, lon, lat, cell("--category-col") or None)


@triage_app.command("dedupe", help=both("dedupe.help"))
def dedupe(
    data: DataOpt,
    text_col: TextColOpt,
    time_col: Annotated[str | None, typer.Option("--time-col", help="column with the report time")] = None,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="column with the report id (table output)")
    ] = None,
    lon_col: Annotated[
        str | None, typer.Option("--lon-col", help="column with the longitude (WGS84)")
    ] = None,
    lat_col: Annotated[str | None, typer.Option("--lat-col", help="column with the latitude (WGS84)")] = None,
    category_col: Annotated[
        str | None, typer.Option("--category-col", help="column with the category")
    ] = None,
    radius: Annotated[float, typer.Option("--radius", min=0.0, help="duplicate radius in metres")] = 50.0,
    window_days: Annotated[
        float, typer.Option("--window-days", min=0.0, help="time window in days (with --time-col)")
    ] = 7.0,
    as_json: Annotated[bool, typer.Option("--json", help='print {"clusters": [[row, ...], ...]}')] = False,
) -> None:
    """Duplicate clusters in a CSV file: 0-based data rows, clusters of two or more."""
    if (lon_col is None) != (lat_col is None):
        raise typer.BadParameter(both("dedupe.lon_lat_together"), param_hint="'--lon-col'")
    cols = {"--text-col": text_col, "--time-col": time_col, "--id-col": id_col, "--lon-col": lon_col,
            "--lat-col": lat_col, "--category-col": category_col}  # fmt: skip
    rows, ids = _dedupe_rows(data, cols)
    clusters = cluster_rows(rows, BatchSettings(radius_m=radius, window=timedelta(days=window_days)))
    if as_json:
        typer.echo(json.dumps({"clusters": clusters}))
        return
    for members in clusters:
        typer.echo(" ".join(ids[i] for i in members))
    console.print(
        both("dedupe.clusters", clusters=len(clusters), members=sum(map(len, clusters)), rows=len(rows)),
        highlight=False,
    )
