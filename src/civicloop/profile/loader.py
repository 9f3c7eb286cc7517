"""Load a city profile (城市配置) from TOML, reporting every problem with its file and key path."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from civicloop.profile.models import _LOADER_CONTEXT, CityProfile, ProfileIssue, profile_issues

PROFILE_FILE = "profile.toml"
_BARE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_MAX_LISTED = 10


class ProfileError(Exception):
    """A profile that cannot be used: ``file: key: reason``, e.g.
    ``profile.toml: categories[12].conditions[0].limits.normal.unit: must be one of work_hour, …``.

    ``key`` is the dotted key path (empty for whole-file problems), ``line`` the line of a TOML syntax
    error, ``more`` further problems found in the same pass.
    """

    def __init__(
        self,
        file: str,
        key: str,
        reason: str,
        *,
        line: int | None = None,
        more: Sequence[ProfileIssue] = (),
    ) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        self.line = line
        self.more = tuple(more)
        super().__init__(str(self))

    @property
    def issues(self) -> tuple[ProfileIssue, ...]:
        """Every problem found, this one first."""
        return (ProfileIssue(self.key, self.reason), *self.more)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        head = f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"
        if not self.more:
            return head
        lines = [head, f"  ({len(self.more)} more problem(s) in {self.file})"]
        lines += [f"  {issue}" for issue in self.more[:_MAX_LISTED]]
        if len(self.more) > _MAX_LISTED:
            lines.append(f"  … and {len(self.more) - _MAX_LISTED} more")
        return "\n".join(lines)

    @classmethod
    def from_issues(cls, file: str, issues: Sequence[ProfileIssue]) -> ProfileError:
        first, *rest = issues
        return cls(file, first.key, first.reason, more=rest)


def bundled_profiles() -> tuple[str, ...]:
    """Names of the profiles shipped in ``civicloop/profiles`` (e.g. "taiyuan")."""
    root = resources.files("civicloop.profiles")
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and p.joinpath(PROFILE_FILE).is_file()))


def load_profile(name_or_path: str | os.PathLike[str]) -> CityProfile:
    """Load a city profile.

    A bare name such as "taiyuan" loads the bundled ``civicloop/profiles/taiyuan/profile.toml``; anything
    else is a path to a profile TOML file or to a directory holding ``profile.toml`` (write
    ``./taiyuan`` for a local directory of that name). Raises ``ProfileError``.
    """
    if isinstance(name_or_path, str) and _BARE_NAME.fullmatch(name_or_path):
        resource = resources.files("civicloop.profiles").joinpath(name_or_path, PROFILE_FILE)
        if not resource.is_file():
            bundled = ", ".join(bundled_profiles()) or "none"
            raise ProfileError(
                name_or_path,
                "",
                f"no bundled profile of that name (bundled: {bundled}); pass a path to a profile.toml",
            )
        return _load_bundled(name_or_path)
    path = Path(name_or_path)
    if path.is_dir():
        path = path / PROFILE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "", f"cannot read the file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ProfileError(str(path), "", f"not UTF-8 text: {exc}") from exc
    profile = load_profile_text(text, file=str(path))
    profile._source_dir = str(path.resolve().parent)
    return profile


@cache
def _load_bundled(name: str) -> CityProfile:
    # Bundled profiles never change at run time and profiles are frozen, so one instance is shared.
    resource: Traversable = resources.files("civicloop.profiles").joinpath(name, PROFILE_FILE)
    profile = load_profile_text(resource.read_text(encoding="utf-8"), file=str(resource))
    profile._source_dir = str(Path(str(resource)).parent)
    return profile


def load_profile_text(text: str, file: str = "<string>") -> CityProfile:
    """Parse and validate profile TOML text; ``file`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno attribute; the position is in the message.
        match = _TOML_LINE.search(str(exc))
        raise ProfileError(
            file, "", f"invalid TOML: {exc}", line=int(match.group(1)) if match else None
        ) from exc
    return parse_profile(data, file=file)


def parse_profile(data: Mapping[str, Any], file: str = "<data>") -> CityProfile:
    """Validate already-parsed profile data (a TOML document as a dict)."""
    try:
        profile = CityProfile.model_validate(dict(data), context={_LOADER_CONTEXT: True})
    except ValidationError as exc:
        raise ProfileError.from_issues(file, [_issue(err) for err in _root_errors(exc.errors())]) from None
    issues = profile_issues(profile)
    if issues:
        raise ProfileError.from_issues(file, issues)
    return profile


def _root_errors(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop "too short" errors caused by a failing item inside the same list.

    pydantic counts only the items that validated, so one bad condition also reports its category's
    ``conditions`` (and the profile's ``categories``) as too short: noise that hides the real problem.
    """
    locs = [tuple(e["loc"]) for e in errors]

    def caused_by_item(loc: tuple[int | str, ...]) -> bool:
        return any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)

    return [e for e in errors if e["type"] != "too_short" or not caused_by_item(tuple(e["loc"]))]


def _key_path(loc: Sequence[int | str]) -> str:
    """pydantic's loc ("categories", 12, "limits") → the TOML key path ``categories[12].limits``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _expected(ctx: Mapping[str, Any]) -> str:
    # pydantic renders choices as "'a', 'b' or 'c'"; a person editing TOML wants the bare values.
    return str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")


def _issue(err: ErrorDetails) -> ProfileIssue:
    """Turn one pydantic error into a key path and a plain reason."""
    loc = list(err["loc"])
    kind = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    got = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
    if loc and loc[-1] == "[key]":
        # A dict key that is not allowed, e.g. limits.critical: pydantic appends a "[key]" marker.
        loc = loc[:-1]
        reason = f"is not an allowed key; must be one of {_expected(ctx)}"
    elif kind == "missing":
        reason = "is required"
    elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
        reason = "unknown key (not part of the profile format; check the spelling)"
    elif kind in ("literal_error", "enum"):
        reason = f"must be one of {_expected(ctx)}{got}"
    elif kind == "value_error":
        reason = str(ctx.get("error", err["msg"]))
    elif kind == "too_short":
        reason = f"needs at least {ctx.get('min_length')} item(s)"
    elif kind == "string_too_short":
        reason = "must not be empty"
    elif kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        reason = f"must be a date such as 2026-10-01 ({ctx.get('error', 'not a date')}){got}"
    elif kind in ("time_parsing", "time_type"):
        reason = f'must be a time such as "08:00" ({ctx.get("error", "not a time")}){got}'
    else:
        msg = err["msg"]
        reason = (msg[len("Input ") :] if msg.startswith("Input ") else msg[:1].lower() + msg[1:]) + got
    return ProfileIssue(_key_path(loc), reason)
