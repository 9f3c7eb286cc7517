"""Users brought in from an existing system: a CSV file, all rows or none (docs/migration.md).

Columns (UTF-8, a header row; ``username`` and ``role`` required):

``username, role, department_id, district_codes, grid_codes, display_name, password_hash``

* ``role`` is one of :class:`~civicloop.accounts.service.AccountRole`; ``department_id`` must be a
  department of the city's profile (the department list moves into the profile first);
* ``district_codes`` / ``grid_codes``: the scope, several codes separated by ``;`` or ``|``;
* passwords are never in the file in clear: ``password_hash`` may carry the old system's **argon2**
  hash (``$argon2id$…``), kept as is; a row without one gets a generated initial password, written only
  to the file the caller names (mode 0600), for handing over and changing at first login
  (``civicloop user passwd``). A ``password`` column refuses the whole file.

Every row is checked first; any problem refuses the file, naming the row (its line in the file), the
column and the reason; usernames already taken are refused the same way. Then all users are written in
one transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError

from civicloop.accounts import secrets, store
from civicloop.accounts.service import AccountError, AccountService, User
from civicloop.kernel.i18n import both, t

COLUMNS = (
    "username",
    "role",
    "department_id",
    "district_codes",
    "grid_codes",
    "display_name",
    "password_hash",
)
REQUIRED = ("username", "role")
CLEAR_PASSWORD_COLUMNS = ("password", "passwd", "pwd", "mima")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One refused row: its line in the file (the header is line 1), the column and why."""

    line: int
    column: str
    value: str
    reason: tuple[str, str]  # zh-CN, en

    def render(self, locale: str) -> str:
        reason = self.reason[1] if locale.startswith("en") else self.reason[0]
        return t("migrate.row_problem", locale, line=self.line, column=self.column, value=self.value,
                 reason=reason)  # fmt: skip


def _r(key: str, **fields: object) -> tuple[str, str]:
    return t(key, "zh-CN", **fields), t(key, "en", **fields)


class UserImportError(ValueError):
    """The file was refused (nothing written): every problem found, in both languages."""

    def __init__(self, source: str, problems: list[RowProblem]) -> None:
        self.source = source
        self.problems = problems
        head = t("migrate.users_refused", "en", file=source, n=len(problems))
        super().__init__(head + "".join(f"\n  {p.render('en')}" for p in problems[:200]))

    def render(self, locale: str | None = None) -> str:
        """In *locale*, or (None) each line in Chinese and English, as the command line speaks."""
        if locale is not None:
            head = t("migrate.users_refused", locale, file=self.source, n=len(self.problems))
            return head + "".join(f"\n  {p.render(locale)}" for p in self.problems[:200])
        head = both("migrate.users_refused", file=self.source, n=len(self.problems))
        lines = (f"\n  {p.render('zh-CN')} / {p.render('en')}" for p in self.problems[:200])
        return head + "".join(lines)


@dataclass
class UserImportResult:
    users: list[User]
    generated: dict[str, str] = field(default_factory=dict)  # username → initial password
    kept_hashes: int = 0


def _codes(value: str) -> list[str]:
    return [c.strip() for c in value.replace("|", ";").split(";") if c.strip()]


def _argon2(value: str) -> bool:
    try:
        extract_parameters(value)
    except (InvalidHashError, ValueError):
        return False
    return True


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line, row)]) of a UTF-8 (with or without BOM) CSV file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserImportError(
            str(path), [RowProblem(1, "-", "", _r("migrate.not_utf8", reason=exc))]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    rows = []
    for row in reader:
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        rows.append((reader.line_num, clean))
    return header, rows


def check_header(source: str, header: Iterable[str]) -> None:
    cols = list(header)
    problems = []
    for name in cols:
        if name.lower() in CLEAR_PASSWORD_COLUMNS:
            problems.append(RowProblem(1, name, "", _r("migrate.clear_password")))
        elif name not in COLUMNS:
            problems.append(RowProblem(1, name, "", _r("migrate.unknown_column", known=", ".join(COLUMNS))))
    for name in REQUIRED:
        if name not in cols:
            problems.append(RowProblem(1, name, "", _r("migrate.missing_column")))
    if problems:
        raise UserImportError(source, problems)


def import_users(
    accounts: AccountService, path: Path, *, dry_run: bool = False, generate: bool = True
) -> UserImportResult:
    """Check every row of *path*, then write all users in one transaction (unless *dry_run*).

    Raises :class:`UserImportError` naming each refused row, column and reason (nothing written).
    ``generate=False`` refuses rows without a ``password_hash`` instead of generating a password.
    """
    source = str(path)
    if not path.is_file():
        raise UserImportError(source, [RowProblem(0, "-", source, _r("migrate.no_file"))])
    header, rows = read_rows(path)
    check_header(source, header)
    problems: list[RowProblem] = []
    checked: list[tuple[int, User, dict[str, object], str | None]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        hashed = row.get("password_hash", "")
        if hashed and not _argon2(hashed):
            problems.append(RowProblem(line, "password_hash", hashed[:12] + "…", _r("migrate.not_argon2")))
            continue
        if not hashed and not generate:
            problems.append(RowProblem(line, "password_hash", "", _r("migrate.hash_needed")))
            continue
        try:
            user, record = accounts.new_user_row(
                row.get("username", ""),
                row.get("role", ""),
                hashed,
                department_id=row.get("department_id") or None,
                district_codes=_codes(row.get("district_codes", "")),
                grid_codes=_codes(row.get("grid_codes", "")),
                display_name=row.get("display_name") or None,
            )
        except AccountError as exc:
            column = {"department": "department_id", "district": "district_codes", "grid": "grid_codes"}
            name = column.get(exc.field or "", exc.field or "-")
            problems.append(RowProblem(line, name, row.get(name, ""), (exc.message_zh, exc.message_en)))
            continue
        if user.username in seen:
            reason = _r("migrate.duplicate_username", line=seen[user.username])
            problems.append(RowProblem(line, "username", user.username, reason))
            continue
        seen[user.username] = line
        checked.append((line, user, record, None if hashed else ""))
    if problems:
        raise UserImportError(source, problems)
    result = UserImportResult(users=[u for _, u, _, _ in checked])
    for _line, user, record, pending in checked:
        if pending is None:
            result.kept_hashes += 1
            continue
        password = secrets.random_password()
        result.generated[user.username] = password
        if not dry_run:
            record["password_hash"] = secrets.hash_password(accounts.hasher, password)
    if dry_run:
        return result
    taken = store.insert_users(accounts.engine, accounts.city_id, [r for _, _, r, _ in checked])
    if taken:
        line_of = {u.username: line for line, u, _, _ in checked}
        raise UserImportError(
            source,
            [RowProblem(line_of[n], "username", n, _r("migrate.username_taken")) for n in taken],
        )
    return result


def write_passwords(path: Path, generated: dict[str, str]) -> None:
    """The generated initial passwords as ``username,password`` rows, readable by the owner only; an
    existing file is never overwritten."""
    with open(path, "x", encoding="utf-8", newline="", opener=_private) as fh:
        out = csv.writer(fh)
        out.writerow(("username", "password"))
        out.writerows(sorted(generated.items()))


def _private(name: str, flags: int) -> int:
    import os

    return os.open(name, flags, 0o600)
