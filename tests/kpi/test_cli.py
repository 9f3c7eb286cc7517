"""The commands `civicloop kpi`, `report`, `import-cases`: their exact options are a contract."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from civicloop.cli.main import app
from tests.kpi.history import History, S

runner = CliRunner()
DATA = Path(__file__).parent / "data"


def test_kpi_json_prints_one_object_per_group_with_snake_case_kpis(sqlite_month: tuple[History, str]) -> None:
    _, url = sqlite_month
    res = runner.invoke(
        app,
        [
            "kpi",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--by",
            "department",
            "--json",
            "--database",
            url,
        ],
    )
    assert res.exit_code == 0, res.output
    groups = json.loads(res.stdout)
    assert isinstance(groups, list) and {g["group"] for g in groups} >= {S, "ty-roads", None}
    san = next(g for g in groups if g["group"] == S)
    assert san["on_time_closure_rate"] == 0.5 and san["due_to_close"] == 6 and san["closed_on_time"] == 3
    assert san["grade"] == "C" and san["rank"] == 1 and "fixed_only" in san["rules"]
    # Every key ending in _rate, at any depth, is a rate: within [0, 1] or no data; score terms are points.
    found: list[tuple[str, object]] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("_rate"):
                    found.append((f"{path}.{key}", value))
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(groups, "")
    assert found and all(v is None or (isinstance(v, float | int) and 0 <= v <= 1) for _, v in found), [
        (k, v)
        for k, v in found
        if not (v is None or 0 <= v <= 1)  # type: ignore[operator]
    ]
    assert san["score_terms"] and all(k.endswith("_points") for k in san["score_terms"])


def test_kpi_by_every_grouping_and_explain(sqlite_month: tuple[History, str]) -> None:
    h, url = sqlite_month
    for by in ("district", "street", "community", "grid", "category", "inspector", "operator", "shift_leader",
               "dispatcher", "city"):  # fmt: skip
        res = runner.invoke(
            app, ["kpi", "--period", "2026-11", "--by", by, "--json", "--no-rules", "--database", url]
        )
        assert res.exit_code == 0, (by, res.output)
        assert json.loads(res.stdout)
    res = runner.invoke(
        app,
        ["kpi", "--period", "2026-11", "--by", "department", "--explain", "on_time_closure_rate",
         "--group", S, "--json", "--database", url],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["numerator"]["cases"] == sorted(h.ids[c] for c in ("C1", "C3", "C5"))
    assert out["denominator"]["count"] == 6
    res = runner.invoke(app, ["kpi", "--period", "2026-11", "--by", "nowhere", "--database", url])
    assert res.exit_code == 2 and "nowhere" in res.output


def test_report_command_writes_the_workbook(sqlite_month: tuple[History, str], tmp_path: Path) -> None:
    _, url = sqlite_month
    out = tmp_path / "r.xlsx"
    res = runner.invoke(
        app, ["report", "--period", "2026-11", "--format", "xlsx", "--output", str(out), "--database", url]
    )
    assert res.exit_code == 0, res.output
    assert "部门评价 Departments" in load_workbook(out).sheetnames
    res = runner.invoke(app, ["report", "--period", "2026-13", "--format", "xlsx", "--database", url])
    assert res.exit_code == 2


def test_import_cases_command_reports_bad_rows_by_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'imp.db'}"
    assert runner.invoke(app, ["init", "--database", url]).exit_code == 0
    bad = tmp_path / "bad.csv"
    lines = (DATA / "nyc311_sample.csv").read_text().splitlines()
    cols = lines[0].split(",")
    row = lines[2].split(",")
    row[cols.index("Agency")] = "HPD"
    bad.write_text("\n".join([lines[0], lines[1], ",".join(row), *lines[3:6]]) + "\n")
    res = runner.invoke(
        app, ["import-cases", str(bad), "--mapping", str(DATA / "nyc311_mapping.toml"), "--database", url]
    )
    assert res.exit_code == 2 and "line 3" in res.output
    res = runner.invoke(
        app,
        ["import-cases", str(bad), "--mapping", str(DATA / "nyc311_mapping.toml"), "--skip-bad", "--json",
         "--database", url],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["imported"] == 4 and out["bad_rows"][0]["line"] == 3
