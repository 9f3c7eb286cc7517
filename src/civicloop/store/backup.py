"""Backup and restore of a whole civicloop database.

SQLite: the online backup API (a consistent copy while the server keeps writing). PostgreSQL: pg_dump in
its custom format and pg_restore, from the machine's PostgreSQL client tools. A restore goes into an
empty database (or replaces one with ``force``); ``civicloop audit verify`` afterwards proves the log.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import Engine, inspect, make_url

from civicloop.kernel.i18n import both


class BackupError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    bytes: int
    kind: str


def backup(engine: Engine, path: str | os.PathLike[str]) -> BackupResult:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        source = _sqlite_path(engine)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return BackupResult(target, target.stat().st_size, "sqlite")
    if engine.dialect.name == "postgresql":
        _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}", *_pg_args(engine)])
        return BackupResult(target, target.stat().st_size, "pg_dump")
    raise BackupError(f"no backup method for {engine.dialect.name}")


def restore(engine: Engine, path: str | os.PathLike[str], *, force: bool = False) -> BackupResult:
    source = Path(path)
    if not source.is_file():
        raise BackupError(both("store.backup_not_found", path=source))
    if not force and inspect(engine).has_table("events"):
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT COUNT(*) FROM events").scalar()
        if count:
            raise BackupError(both("store.restore_would_replace", count=count))
    if engine.dialect.name == "sqlite":
        engine.dispose()
        target = _sqlite_path(engine)
        with sqlite3.connect(source) as src:
            if src.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                raise BackupError(both("store.backup_damaged", path=source))
            with sqlite3.connect(target) as dst:
                src.backup(dst)
        return BackupResult(Path(target), Path(target).stat().st_size, "sqlite")
    if engine.dialect.name == "postgresql":
        engine.dispose()
        _run(
            [
                _pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                *_pg_args(engine, flag="--dbname"),
                str(source),
            ]
        )
        return BackupResult(source, source.stat().st_size, "pg_restore")
    raise BackupError(f"no restore method for {engine.dialect.name}")


def _sqlite_path(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return database


def _pg_args(engine: Engine, flag: str = "--dbname") -> list[str]:
    """libpq connection arguments from the SQLAlchemy URL (including a unix-socket ``host=`` query)."""
    url = make_url(engine.url.render_as_string(hide_password=False))
    parts = urlsplit(url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql"))
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    conninfo = [f"dbname={url.database}"]
    host = query.get("host") or url.host
    if host:
        conninfo.append(f"host={unquote(host)}")
    if url.port:
        conninfo.append(f"port={url.port}")
    if url.username:
        conninfo.append(f"user={url.username}")
    env_password = url.password
    if env_password:
        os.environ.setdefault("PGPASSWORD", str(env_password))
    return [f"{flag}={' '.join(conninfo)}"]


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise BackupError(both("store.tool_missing", name=name))


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[:2000]}")
