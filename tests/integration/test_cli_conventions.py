"""The command line's one convention, for every group: each command answers ``--help``; bad input exits 2
with a plain-text message on stderr naming the option or field; a check that finds problems exits 1."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel
from sqlalchemy import text
from typer.testing import CliRunner

from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.cli.common import CheckFailed, CommandGroup
from civicloop.cli.main import app
from civicloop.kernel.vocabulary import Role

runner = CliRunner()


def _commands(group: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    """(command path, callback) of every command and group callback under *group*."""
    if group.registered_callback is not None:
        yield path, group.registered_callback.callback
    for command in group.registered_commands:
        assert command.name, f"{' '.join(path)}: every command is mounted under an explicit name"
        yield (*path, command.name), command.callback
    for sub in group.registered_groups:
        assert sub.name and sub.typer_instance is not None
        yield from _commands(sub.typer_instance, (*path, sub.name))


def _groups(group: typer.Typer) -> Iterator[typer.Typer]:
    yield group
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        yield from _groups(sub.typer_instance)


def test_every_command_answers_help() -> None:
    paths = [p for p, _ in _commands(app)]
    assert len(paths) > 60 and ("geo", "components", "import") in paths and ("kpi",) in paths
    for path in paths:
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert "Usage:" in res.output and "--help" in res.output, path


def test_every_command_runs_inside_the_shared_error_handling() -> None:
    # Every group is a CommandGroup, so every command is wrapped: none catches the shared errors itself.
    assert all(isinstance(g, CommandGroup) for g in _groups(app))
    for path, callback in _commands(app):
        assert callback is not None and hasattr(callback, "__wrapped__"), path


def test_the_top_level_commands_and_groups_keep_their_names_and_order() -> None:
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert names == [
        "init", "simulate", "rebuild", "demo", "backup", "restore", "report", "import-cases", "locate-cases",
        "serve", "case", "audit", "triage", "geo", "grid", "patrol", "ledger", "target", "assess", "kpi",
        "apikey", "user", "city",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def sqlite_city(tmp_path_factory: pytest.TempPathFactory) -> City:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'c.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # calendar coverage of next year
        city = init_city("taiyuan", url)
    return city


def _url(city: City) -> str:
    return city.engine.url.render_as_string(hide_password=False)


def _bad_geojson(tmp: Path) -> str:
    path = tmp / "bad.geojson"
    feature = {"type": "Feature", "properties": {"code": "140105"}, "geometry": None}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return str(path)


def _projected_geojson(tmp: Path) -> str:
    """Gauss-Kruger metres in a GeoJSON file that declares no crs (read as lon/lat by RFC 7946)."""
    path = tmp / "projected.geojson"
    ring = [[500000, 4190000], [500200, 4190000], [500200, 4190200], [500000, 4190000]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "properties": {"code": "140105001001001"}, "geometry": geometry}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return str(path)


def _dedupe_csv(tmp: Path) -> str:
    """Hotline messages: 0 and 1 the same words (spacing, width, greeting), 3 a copy of 2 eleven days
    later; 4 says something else."""
    path = tmp / "messages.csv"
    rows = [
        "id,text,time,lon,lat",
        "a,您好，幸福小区东门路灯不亮已经三天了，晚上出行很不安全。谢谢！,2026-03-02 09:15,,",
        "b,幸福小区东门 路灯不亮 已经3天了  晚上出行很不安全,2026/3/3 10:00:00,,",
        "c,建设路公交站旁垃圾堆放无人清理，气味难闻,2026-03-02T08:00:00+08:00,,",
        "d,建设路公交站旁垃圾堆放无人清理，气味难闻。,2026-03-13 08:00,,",
        "e,北门井盖缺失，有人差点掉进去,2026-03-02 11:00,,",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_triage_dedupe_prints_the_clusters_of_data_rows(tmp_path: Path) -> None:
    data = _dedupe_csv(tmp_path)
    res = runner.invoke(app, ["triage", "dedupe", "--data", data, "--text-col", "text", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"clusters": [[0, 1], [2, 3]]}  # text only: no window
    res = runner.invoke(app, ["triage", "dedupe", "--data", data, "--text-col", "text", "--time-col", "time",
                              "--id-col", "id", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"clusters": [[0, 1]]}  # 11 days apart: not the same report


# (arguments, what the message must name); "DB" is replaced by --database URL of an initialised city.
BAD_INPUT: list[tuple[list[str], str]] = [
    (["init", "--profile", "nowhere", "--database", "NEWDB"], "--profile"),
    (["case", "list", "--stage", "[red]sideways", "DB"], "--stage: 未知环节 '[red]sideways'"),
    (["case", "act", "TY-2026-0000001", "fly", "--as", "dispatcher", "DB"], "ACTION"),
    (["case", "report", "--as", "mayor", "DB"], "--as"),
    (["simulate", "--start", "2026-13-01", "DB"], "--start"),
    (["rebuild", "--database", "MISSINGDB"], "--database"),
    (["audit", "verify", "--city", "atlantis", "DB"], "--city"),
    (["backup", "BACKUP", "--database", "MISSINGDB"], "--database"),
    (["report", "--period", "2026-13", "DB"], "--period"),
    (["import-cases", "MISSING.csv", "--mapping", "MISSING.toml", "DB"], "CSV"),
    (["serve", "--city", "atlantis", "DB"], "--city"),
    (["triage", "eval", "--model", "MISSING.zip", "--data", "MISSING.csv"], "'--data'"),
    (["triage", "bootstrap", "--city", "atlantis", "DB"], "--city"),
    (["geo", "import", "BADGEO", "--level", "district"], "feature #0 (code 140105)"),  # was exit 1
    (["geo", "locate", "--lon", "112.5", "--lat", "37.8", "--crs", "pluto", "DB"], "'--crs'"),
    (["geo", "components", "show", "14010606010900001", "DB"], "COMPONENT_ID"),  # was exit 1
    (["geo", "geocode", "--address", "   ", "DB"], "--address"),
    (["geo", "import-places", "MISSING.csv", "DB"], "PATH"),
    (["grid", "generate", "DB"], "no communities stored"),  # was exit 1
    (["patrol", "lights", "--district", "140105", "--at", "2026-06-01T20:30", "DB"], "--at: 时间必须带时区"),
    (["patrol", "lights", "--district", "140105", "DB"], "no street lights"),  # was exit 1
    (["ledger", "add", "projects", "-f", "[x]", "DB"], "-f takes key=value (got '[x]')"),
    (["target", "set", "nonsense", "--value", "1", "--weight", "1", "DB"], "period/unit/indicator"),
    (["assess", "--period", "2026", "--export", "docx", "DB"], "--export"),
    (["kpi", "--period", "2026-11", "--by", "nowhere", "DB"], "--by"),
    (["kpi", "hotspots", "--period", "2026-11", "--level", "planet", "DB"], "--level"),
    (["apikey", "revoke", "nope", "DB"], "KEY_OR_ID"),
    (["user", "create", "--username", "li", "--role", "mayor", "DB"], "unknown role"),
    (
        [
            "city",
            "new",
            "x",
            "--name",
            "X",
            "--boundaries",
            "BADGEO",
            "--timezone",
            "UTC",
            "--calendar",
            "nope",
        ],
        "--calendar",
    ),
    (["city", "check", "MISSING.toml"], "missing.toml: cannot read the file"),
    (["city", "taxonomy", "MISSING.csv"], "missing.csv: cannot read the file"),
    (["user", "import", "MISSING.csv", "DB"], "no such file"),
    (["user", "grant", "nobody", "--to", "atlantis", "DB"], "--to: 城市 atlantis 不在数据库中"),
    (["geo", "import", "PROJECTED", "--level", "grid"], "declares no coordinate system"),
    (["triage", "dedupe", "--data", "MISSING.csv", "--text-col", "text", "--json"], "'--data'"),
    (["triage", "dedupe", "--data", "DEDUPE.csv", "--text-col", "body", "--json"], "'--text-col'"),
    (
        ["triage", "dedupe", "--data", "DEDUPE.csv", "--text-col", "text", "--time-col", "when"],
        "'--time-col'",
    ),
    (["triage", "dedupe", "--data", "DEDUPE.csv", "--text-col", "text", "--time-col", "id"], "'--time-col'"),
    (["triage", "dedupe", "--data", "DEDUPE.csv", "--text-col", "text", "--lon-col", "id"], "'--lon-col'"),
]


@pytest.mark.parametrize(("args", "named"), BAD_INPUT, ids=[" ".join(a[:2]) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_naming_the_option_or_field(
    args: list[str], named: str, sqlite_city: City, tmp_path: Path
) -> None:
    replace = {
        "NEWDB": f"sqlite:///{tmp_path / 'new.db'}",
        "MISSINGDB": f"sqlite:///{tmp_path / 'missing.db'}",
        "BACKUP": str(tmp_path / "out.backup"),
        "MISSING.csv": str(tmp_path / "missing.csv"),
        "MISSING.toml": str(tmp_path / "missing.toml"),
        "MISSING.zip": str(tmp_path / "missing.zip"),
        "BADGEO": _bad_geojson(tmp_path) if "BADGEO" in args else "",
        "PROJECTED": _projected_geojson(tmp_path) if "PROJECTED" in args else "",
        "DEDUPE.csv": _dedupe_csv(tmp_path) if "DEDUPE.csv" in args else "",
    }
    argv: list[str] = []
    for a in args:
        argv += ["--database", _url(sqlite_city)] if a == "DB" else [replace.get(a, a)]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2, res.output
    assert named in " ".join(res.stderr.split()), res.stderr  # plain text: brackets are kept
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "missing.db").exists()  # asking never creates a database
    assert not (tmp_path / "new.db").exists()


def test_failed_checks_exit_1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        city = init_city("taiyuan", url)
    fields = {"channel": "inspector", "category_code": "06010", "lon": 112.55, "lat": 37.86}
    case_id = city.cases.report(Actor(id="ins-1", role=Role.INSPECTOR), fields).case_id
    db = ["--database", url]
    assert runner.invoke(app, ["rebuild", "--check", *db]).exit_code == 0
    assert runner.invoke(app, ["audit", "verify", *db]).exit_code == 0

    with city.engine.begin() as conn:  # the projection says something the events never did
        conn.execute(text("UPDATE cases SET stage = 'closed' WHERE case_id = :k"), {"k": case_id})
    res = runner.invoke(app, ["rebuild", "--check", "--json", *db])
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["differences"][0]["case_id"] == case_id

    with city.engine.begin() as conn:  # an edited event (after removing the append-only guard)
        conn.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
        conn.execute(text("UPDATE events SET note = 'nothing happened' WHERE case_id = :k"), {"k": case_id})
    res = runner.invoke(app, ["audit", "verify", *db])
    assert res.exit_code == 1, res.output
    assert case_id in res.stdout and "TAMPERED" in res.stdout


def test_a_schema_older_than_the_code_is_bad_input_asking_for_init(tmp_path: Path) -> None:
    # Commands do not upgrade the schema themselves (that is `civicloop init`); they say so.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        city = init_city("taiyuan", url)
    with city.engine.begin() as conn:  # as if created before the ledgers existed
        names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
        for name in names:
            if name.startswith("ledger_"):
                conn.execute(text(f"DROP TABLE {name}"))
    res = runner.invoke(app, ["ledger", "list", "projects", "--database", url])
    assert res.exit_code == 2, res.output
    assert "--database" in res.stderr and "civicloop init" in res.stderr


def test_the_shared_wrapper_maps_errors_to_exit_codes(tmp_path: Path) -> None:
    class Settings(BaseModel):
        port: int

    group = CommandGroup()

    @group.command("settings")
    def settings() -> None:
        Settings.model_validate({"port": "eighty"})

    @group.command("open")
    def open_file() -> None:
        (tmp_path / "absent.toml").read_text()

    @group.command("check")
    def check() -> None:
        raise CheckFailed("2 problems found")

    @group.command("bug")
    def bug() -> None:
        raise KeyError("a programming error is not bad input")

    res = runner.invoke(group, ["settings"])
    assert res.exit_code == 2 and "port: Input should be a valid integer" in res.stderr
    res = runner.invoke(group, ["open"])
    assert res.exit_code == 2 and "no such file" in res.stderr and "absent.toml" in res.stderr
    res = runner.invoke(group, ["check"])
    assert res.exit_code == 1 and "2 problems found" in res.stderr
    res = runner.invoke(group, ["bug"])
    assert isinstance(res.exception, KeyError)  # not turned into a message: a traceback for a bug
