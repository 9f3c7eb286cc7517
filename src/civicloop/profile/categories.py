"""The national category directory (管理部件和事项目录) of GB/T 47678.5-2026.

Two kinds share one code space: a **component** (管理部件) is a physical asset such as a manhole cover or a
street light; a **matter** (管理事项, the old 事件) is a problem a case is about. For every component type
the standard adds one "…异常" matter with the *same* code (component 01001 供水井盖, matter 01001
供水井盖异常), so a code alone is ambiguous: always carry the kind. civicloop case categories use the
matter codes.

The data is a public transcription of the standard, not checked against the official text; see
``profile/data/PROVENANCE.md`` for the missing codes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

CategoryKind = Literal["component", "matter"]

_DIRECTORY_FILE = "categories_gbt47678_5.csv"


@dataclass(frozen=True, slots=True)
class Category:
    """One entry of the directory: a component type (部件) or a management matter (管理事项).

    ``code`` is the 5-digit 2-digit major + 3-digit minor code as text, so "01001" keeps its leading zero.
    """

    kind: CategoryKind
    code: str
    major_code: str
    major_name: str
    name: str

    @property
    def minor_code(self) -> str:
        """The 3-digit minor (小类) part of the code."""
        return self.code[2:]


@dataclass(frozen=True, slots=True)
class Major:
    """A major class (大类) of one kind, e.g. matter major 06 市容环境类."""

    kind: CategoryKind
    code: str
    name: str


class CategoryDirectory:
    """The directory of components and matters, looked up by (kind, code)."""

    def __init__(self, categories: tuple[Category, ...]) -> None:
        self._all = categories
        self._index: dict[tuple[str, str], Category] = {}
        for cat in categories:
            key = (cat.kind, cat.code)
            if key in self._index:
                raise ValueError(f"duplicate {cat.kind} code {cat.code} in the category directory")
            self._index[key] = cat

    def get(self, kind: CategoryKind, code: str) -> Category:
        """The entry of that kind and code; KeyError names both when there is none."""
        try:
            return self._index[(kind, code)]
        except KeyError:
            raise KeyError(f"no {kind} with code {code!r} in the GB/T 47678.5 directory") from None

    def find(self, code: str) -> tuple[Category, ...]:
        """Every entry with that code, of either kind (component first)."""
        return tuple(c for k in ("component", "matter") if (c := self._index.get((k, code))) is not None)

    def matters(self) -> tuple[Category, ...]:
        """The management matters (管理事项), in code order."""
        return tuple(c for c in self._all if c.kind == "matter")

    def components(self) -> tuple[Category, ...]:
        """The component types (管理部件), in code order."""
        return tuple(c for c in self._all if c.kind == "component")

    def majors(self, kind: CategoryKind | None = None) -> tuple[Major, ...]:
        """The major classes (大类), components first, optionally of one kind only."""
        seen: dict[tuple[str, str], Major] = {}
        for c in self._all:
            if kind is None or c.kind == kind:
                seen.setdefault((c.kind, c.major_code), Major(c.kind, c.major_code, c.major_name))
        return tuple(seen.values())

    def is_national_major(self, major_code: str) -> bool:
        """True if any entry of either kind uses this major code (01–10 in the 2026 standard)."""
        return any(c.major_code == major_code for c in self._all)

    def __contains__(self, item: object) -> bool:
        """``(kind, code)`` tuples and ``Category`` values match exactly; a bare code matches either kind."""
        if isinstance(item, Category):
            return self._index.get((item.kind, item.code)) == item
        if isinstance(item, tuple) and len(item) == 2:
            return item in self._index
        if isinstance(item, str):
            return bool(self.find(item))
        return False

    def __iter__(self) -> Iterator[Category]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)


def parse_directory(text: str) -> CategoryDirectory:
    """Build a directory from CSV text with the columns kind, code, major_code, major_name, name."""
    rows: list[Category] = []
    for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        kind = row["kind"]
        code = row["code"]
        if kind not in ("component", "matter"):
            raise ValueError(f"line {n}: kind must be component or matter, got {kind!r}")
        # Codes are text: a spreadsheet round trip that dropped the leading zero must fail loudly here.
        if len(code) != 5 or not code.isdigit() or code[:2] != row["major_code"]:
            raise ValueError(f"line {n}: code {code!r} is not 5 digits starting with its major code")
        checked_kind: CategoryKind = "component" if kind == "component" else "matter"
        rows.append(Category(checked_kind, code, row["major_code"], row["major_name"], row["name"]))
    return CategoryDirectory(tuple(rows))


@cache
def national_directory() -> CategoryDirectory:
    """The GB/T 47678.5-2026 directory shipped with civicloop (153 components, 250 matters)."""
    text = resources.files("civicloop.profile").joinpath("data", _DIRECTORY_FILE).read_text(encoding="utf-8")
    return parse_directory(text)
