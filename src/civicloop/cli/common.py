"""What every command group of the ``civicloop`` command line shares.

* The options every group takes, in one spelling: ``--database`` (or ``CIVICLOOP_DATABASE_URL``),
  ``--city``, ``--json``, ``--locale``.
* One exit-code convention: **0** done · **1** a check ran and failed (``audit verify``,
  ``rebuild --check`` …) · **2** bad input (an option, a field, a file, a missing database or city),
  with a message on stderr naming the option or field and the reason.
* :class:`CommandGroup`: a ``typer.Typer`` whose every command and callback runs inside
  :func:`command_errors`, so a command module never catches the shared errors itself.
* :func:`open_city`: the city of ``--database``/``--city``, or exit 2 saying what is missing.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import DBAPIError
from typer.models import CommandFunctionType

from civicloop import bootstrap
from civicloop.accounts.service import AccountError
from civicloop.city.service import City, CityNotInitialised
from civicloop.city.store import registered_city_ids
from civicloop.kernel.errors import DomainError
from civicloop.kernel.i18n import both
from civicloop.profile import ProfileError
from civicloop.store.backup import BackupError
from civicloop.store.database import database_exists, database_url, is_missing_table, make_engine

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CHECK_FAILED",
    "EXIT_OK",
    "CheckFailed",
    "CityOpt",
    "CommandGroup",
    "DatabaseOpt",
    "JsonOpt",
    "LocaleOpt",
    "city_ids",
    "command_errors",
    "console",
    "err_console",
    "existing_database",
    "fail",
    "open_city",
    "parse_day",
    "parse_moment",
    "print_json",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

console = Console()
err_console = Console(stderr=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database", envvar="CIVICLOOP_DATABASE_URL", help="SQLAlchemy URL (default ./var/civicloop.db)"
    ),
]
CityOpt = Annotated[str | None, typer.Option("--city", help=both("cli.help.city"))]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
LocaleOpt = Annotated[str, typer.Option("--locale", help="zh-CN | en")]


class CheckFailed(Exception):
    """A check ran and found problems (already reported by the command): exit status 1."""


# Errors a person can act on: bad values (ValueError covers pydantic's ValidationError and the
# capabilities' import and data errors), a missing file, profile, database or city, a refused change.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    DomainError,
    ValueError,
    FileNotFoundError,
    ProfileError,
    CityNotInitialised,
    AccountError,
    BackupError,
)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``错误 / error: message`` to stderr as plain text (no markup: ``[brackets]`` stay) and exit."""
    typer.echo(f"{both('cli.common.error')}: {message}", err=True)
    raise typer.Exit(code)


def describe(exc: BaseException) -> str:
    """The message of an input error, naming the field (pydantic: every ``field: reason``)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or exc.title}: {e['msg']}" for e in exc.errors()
        )
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return both("cli.common.no_such_file", file=exc.filename)
    return str(exc)


@contextmanager
def command_errors() -> Iterator[None]:
    """Bad input → its message and exit 2; a failed check → exit 1."""
    try:
        yield
    except CheckFailed as exc:
        if str(exc):
            typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CHECK_FAILED) from None
    except INPUT_ERRORS as exc:
        fail(describe(exc))
    except DBAPIError as exc:
        if not is_missing_table(exc):
            raise
        fail(both("cli.common.schema_outdated"))


P = ParamSpec("P")
R = TypeVar("R")


def handled(func: Callable[P, R]) -> Callable[P, R]:
    """The command *func* run inside :func:`command_errors` (Typer reads the signature through it)."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with command_errors():
            return func(*args, **kwargs)
        raise AssertionError  # pragma: no cover  (command_errors never swallows an exception)

    return run


class CommandGroup(typer.Typer):
    """A command group whose commands and callback all follow the exit-code convention."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[CommandFunctionType], CommandFunctionType]:
        register = super().command(*args, **kwargs)

        def decorator(func: CommandFunctionType) -> CommandFunctionType:
            register(handled(func))
            return func

        return decorator

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[CommandFunctionType], CommandFunctionType]:
        register = super().callback(*args, **kwargs)

        def decorator(func: CommandFunctionType) -> CommandFunctionType:
            register(handled(func))
            return func

        return decorator


def existing_database(database: str | None) -> str:
    """The URL of ``--database`` (or the default); exit 2 when it names a SQLite file that does not exist."""
    url = database or database_url()
    if not database_exists(url):
        fail(both("cli.common.no_database", url=url))
    return url


def open_city(database: str | None, city: str | None, *, calendar_warnings: bool = True) -> City:
    """The city of ``--database`` and ``--city``; exit 2 naming what is missing (the database, its
    initialisation, the city, or which of several cities). Asking never creates a database file."""
    url = existing_database(database)
    try:
        with warnings.catch_warnings():
            if not calendar_warnings:  # calendar coverage warnings are not every command's business
                warnings.simplefilter("ignore", UserWarning)
            return bootstrap.open_city(city, url)
    except CityNotInitialised as exc:
        option = "--city" if city is not None or "--city" in str(exc) else "--database"
        fail(f"{option}: {exc}")
    except ProfileError as exc:
        fail(str(exc))


def city_ids(database: str | None) -> list[str]:
    """The cities registered in the database; exit 2 when there is none (not initialised)."""
    url = existing_database(database)
    engine = make_engine(url)
    try:
        ids = registered_city_ids(engine)
    finally:
        engine.dispose()
    if not ids:
        fail(both("cli.common.not_initialised"))
    return ids


def parse_day(value: str, option: str) -> date:
    """``YYYY-MM-DD`` of *option*, or exit 2 naming it."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(both("cli.common.invalid_date", option=option, value=repr(value)))


def parse_moment(value: str | None, option: str = "--at") -> datetime | None:
    """An ISO 8601 time with its zone (None stays None), or exit 2 naming *option*."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(both("cli.common.invalid_time", option=option, value=repr(value)))
    if moment.tzinfo is None:
        fail(both("cli.common.time_without_zone", option=option, example=f"{value}+08:00"))
    return moment


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def print_json(value: Any) -> None:
    """Indented UTF-8 JSON on stdout (dates and times as ISO 8601)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default) + "\n")
