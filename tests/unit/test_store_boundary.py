"""Data access only in store modules; schema upgrades started from one place (issue 14, "One house").

* A module that builds SQL with SQLAlchemy (``select``, ``insert``, ``func``, ``and_``, …, or the whole
  ``sqlalchemy`` namespace) is a store: ``*/store.py``, the ``store/`` package or its migrations. Service
  modules may import only types to pass a transaction through (``Connection``, ``Engine``, …) and the
  driver's exceptions. Everything else still building SQL is listed in ``ALLOWED`` with its reason.
* Only ``civicloop.store.database.migrate`` upgrades a schema (Alembic's ``command.upgrade``, or
  ``metadata.create_all``), and only the composition root and the documented entry points call it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "civicloop"

#: Names of ``sqlalchemy`` (and ``sqlalchemy.sql…``) that build statements or expressions.
SQL_BUILDING = frozenset(
    {
        "alias", "all_", "and_", "any_", "asc", "between", "bindparam", "case", "cast", "collate",
        "column", "delete", "desc", "distinct", "except_", "exists", "extract", "false", "func",
        "funcfilter", "insert", "intersect", "join", "lambda_stmt", "lateral", "literal",
        "literal_column", "not_", "null", "nulls_first", "nulls_last", "or_", "outerjoin", "over",
        "select", "table", "tablesample", "text", "true", "tuple_", "type_coerce", "union",
        "union_all", "update", "values", "within_group",
    }
)  # fmt: skip

#: Modules (paths under src/civicloop/, a trailing "/" for a whole package) that still build SQL outside a
#: store, each with its reason. Shrink this list; never grow it without saying why.
ALLOWED: dict[str, str] = {
    # The KPI engine computes on DuckDB on purpose; kpi/source.py reads the city database for it and is
    # the capability's store. kpi/assets.py and kpi/analysis.py read tables by reflection the same way
    # and are still to move into it.
    "kpi/source.py": "the KPI engine's store (DuckDB facts are read from here)",
    "kpi/assets.py": "reads the asset tables for the DuckDB facts; to move into kpi/source.py",
    "kpi/analysis.py": "reads the grid areas for the DuckDB analysis; to move into kpi/source.py",
}

#: Who may call ``migrate``: its home, the composition root (init_city) and the documented entry points.
MIGRATE_CALLERS = frozenset(
    {
        "store/database.py",  # defines it
        "bootstrap.py",  # init_city: create or upgrade, then register the city
    }
)


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def is_store(rel: str) -> bool:
    return rel.endswith("/store.py") or rel == "store.py" or rel.startswith("store/")


def allowed(rel: str) -> bool:
    return any(rel == key or (key.endswith("/") and rel.startswith(key)) for key in ALLOWED)


def sql_imports(source: str, filename: str = "<string>") -> Iterator[tuple[int, str]]:
    """``(line, name)`` of every SQL-building import from SQLAlchemy in *source*, at any depth."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy.sql"):
                    yield node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and (
            node.module == "sqlalchemy" or (node.module or "").startswith("sqlalchemy.sql")
        ):
            yield from ((node.lineno, a.name) for a in node.names if a.name in SQL_BUILDING | {"*"})


def calls_to(source: str, names: set[str], filename: str = "<string>") -> Iterator[tuple[int, str]]:
    """``(line, name)`` of every call of a function or method named in *names*."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name in names:
                yield node.lineno, name


def sources() -> Iterator[tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield relative(path), path.read_text(encoding="utf-8")


def test_only_store_modules_build_sql() -> None:
    offending = [
        f"src/civicloop/{rel}:{line}: {name}"
        for rel, text in sources()
        if not is_store(rel) and not allowed(rel)
        for line, name in sql_imports(text, rel)
    ]
    assert not offending, (
        "SQL is built outside a store module (move the query into the capability's store.py, or list "
        "the module in ALLOWED with its reason):\n" + "\n".join(offending)
    )


def test_the_allowed_modules_still_need_it() -> None:
    """An entry for a single module that no longer builds SQL must go (packages are cleaned elsewhere)."""
    texts = dict(sources())
    stale = [
        key for key in ALLOWED if not key.endswith("/") and not any(sql_imports(texts.get(key, ""), key))
    ]
    assert not stale, f"remove from ALLOWED, they build no SQL any more: {stale}"


def test_the_check_sees_what_it_must() -> None:
    seen = [name for _, name in sql_imports(
        "from sqlalchemy import Connection, select\n"
        "import sqlalchemy as sa\n"
        "def f():\n    from sqlalchemy.sql import func\n"
        "from sqlalchemy.exc import IntegrityError\n"
    )]  # fmt: skip
    assert sorted(seen) == ["func", "import sqlalchemy", "select"]
    assert not list(sql_imports("from sqlalchemy import Connection, Engine, Row\n"))
    assert is_store("geo/store.py") and is_store("store/migrations/versions/0001_core.py")
    assert not is_store("geo/service.py")
    assert allowed("kpi/source.py") and not allowed("geo/service.py") and not allowed("http/app.py")


def test_schema_upgrades_start_from_one_place() -> None:
    upgrades = [
        f"src/civicloop/{rel}:{line}: {name}"
        for rel, text in sources()
        if rel != "store/database.py" and not rel.startswith("store/migrations/")
        for line, name in calls_to(text, {"create_all", "upgrade"}, rel)
    ]
    assert not upgrades, "a schema upgrade outside civicloop.store.database.migrate:\n" + "\n".join(upgrades)
    callers = sorted({rel for rel, text in sources() if any(calls_to(text, {"migrate"}, rel))})
    assert set(callers) <= MIGRATE_CALLERS, f"migrate() called from {sorted(set(callers) - MIGRATE_CALLERS)}"
    assert "bootstrap.py" in callers  # init_city creates or upgrades the database
