"""Commands that set up and safeguard a database: ``civicloop init``, ``civicloop backup``,
``civicloop restore``. Mounted by :mod:`civicloop.cli.main`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from civicloop.bootstrap import init_city
from civicloop.cli.common import DatabaseOpt, console, existing_database, fail
from civicloop.kernel.i18n import both
from civicloop.profile import ProfileError, bundled_profiles
from civicloop.profile.models import is_city_id
from civicloop.store.backup import backup, restore
from civicloop.store.database import make_engine


def init_command(
    profile: Annotated[
        str, typer.Option("--profile", help="bundled profile name or a profile.toml path")
    ] = "taiyuan",
    geography: Annotated[
        bool | None, typer.Option("--geography/--no-geography", help="load demo geography (default: demo)")
    ] = None,
    database: DatabaseOpt = None,
    city_id: Annotated[str | None, typer.Option("--city", help=both("cli.help.init_city"))] = None,
) -> None:
    """初始化 / create the database for a city from its profile (idempotent)."""
    name = profile if "/" not in profile and not profile.endswith(".toml") else str(Path(profile).resolve())
    if city_id is not None and not is_city_id(city_id):
        fail(f"--city: {both('cli.admin.bad_city_id', value=repr(city_id))}")
    try:
        city = init_city(name, database, city_id=city_id)
    except ProfileError as exc:
        fail(f"--profile: {exc}")
    console.print(
        both(
            "cli.admin.initialised",
            name=city.profile.name,
            city=city.id,
            categories=len(city.profile.categories),
            departments=len(city.profile.departments),
            url=city.engine.url.render_as_string(),
        )
    )
    if geography is None:
        geography = name in bundled_profiles()  # the demo city ships generated streets, grids, assets
    if geography:
        from civicloop.demo.geography import load_demo_geography

        loaded = load_demo_geography(city)
        console.print(both("cli.admin.geography", loaded=loaded.as_dict()))


def backup_command(
    path: Annotated[Path, typer.Argument(help="backup file to write")],
    database: DatabaseOpt = None,
) -> None:
    """备份 / a consistent copy of the whole database (SQLite online backup, or pg_dump)."""
    result = backup(make_engine(existing_database(database)), path)
    console.print(
        both("cli.admin.backup_written", path=result.path, size=f"{result.bytes:,}", kind=result.kind)
    )


def restore_command(
    path: Annotated[Path, typer.Argument(help="backup file to restore")],
    force: Annotated[bool, typer.Option("--force", help="replace a database that holds data")] = False,
    database: DatabaseOpt = None,
) -> None:
    """恢复 / restore a backup into the database (empty, or replaced with --force)."""
    result = restore(make_engine(database), path, force=force)
    console.print(both("cli.admin.restored", path=path, kind=result.kind))
