"""A city's own service list (服务目录) as profile categories: ``civicloop city new --taxonomy``.

Formats: an Open311 GeoReport v2 ``services.json`` (a list of services) or ``services.xml``
(``<services><service>…``), or CSV with a header row. Fields (CSV columns): ``service_code`` (or
``code``), ``service_name`` (or ``name``), ``group``, ``description``, ``keywords`` (comma-separated), and
civicloop's optional extras ``gbt_code`` (or ``national_code``: the GB/T 47678.5 matter the service is
reported as nationally), ``department`` (the unit that handles it, free text), ``limit_hours`` (the
handling limit in working hours).

A service whose code is itself a national matter code stays a national category; every other service
becomes a local category (扩展类) with a civicloop code: each ``group`` is one local major (11, 12, …) in
order of first appearance, its services numbered 001, 002, … in file order; the city's own code is kept
as ``source_code``. Any problem — a missing code or name, a duplicate code, a bad GB/T code or limit —
raises :class:`TaxonomyError` naming the file, the row and the reason, before anything is built.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import (  # type: ignore[import-untyped]  # no entities, no DTD fetches
    ParseError,
    fromstring,
)

from civicloop.kernel.i18n import t
from civicloop.profile.categories import national_directory

__all__ = ["Service", "TaxonomyError", "local_codes", "parse_taxonomy", "read_taxonomy", "slugify"]

FIRST_LOCAL_MAJOR = 11
_SLUG_PART = re.compile(r"[^a-z0-9]+")


class TaxonomyError(ValueError):
    """A service list that cannot be imported: ``file: row N: key: reason`` (row 0: the whole file)."""

    def __init__(self, file: str, row: int, key: str, reason: str) -> None:
        self.file, self.row, self.key, self.reason = file, row, key, reason
        where = f"{file}: row {row}" if row else file
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class Service:
    """One service of a city's list, as read (``row``: CSV line, or 1-based entry of JSON/XML)."""

    row: int
    code: str
    name: str
    group: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    national_code: str | None = None
    department: str | None = None
    limit_hours: float | None = None

    @property
    def is_national(self) -> bool:
        """The city's code is a GB/T 47678.5 matter code (the service stays a national category)."""
        return ("matter", self.code) in national_directory()


def slugify(text: str, fallback: str = "unit") -> str:
    """A lower-case slug of letters, digits and hyphens ("Public Works" → "public-works")."""
    return _SLUG_PART.sub("-", text.lower()).strip("-") or fallback


def _first(entry: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = entry.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _service(file: str, row: int, entry: dict[str, Any]) -> Service:
    def bad(key: str, reason: str) -> TaxonomyError:
        return TaxonomyError(file, row, key, reason)

    code = _first(entry, "service_code", "code")
    if not code:
        raise bad("service_code", t("profile.taxonomy_missing", "en"))
    name = _first(entry, "service_name", "name")
    if not name:
        raise bad("service_name", t("profile.taxonomy_missing", "en"))
    national = _first(entry, "gbt_code", "national_code") or None
    if national is not None and ("matter", national) not in national_directory():
        raise bad("gbt_code", t("profile.not_a_matter_code", "en", code=national))
    raw_limit = _first(entry, "limit_hours")
    limit: float | None = None
    if raw_limit:
        try:
            limit = float(raw_limit)
        except ValueError:
            limit = -1.0
        if not (0 < limit < 10_000):
            raise bad("limit_hours", t("profile.taxonomy_bad_limit", "en", value=repr(raw_limit)))
    raw_kw = entry.get("keywords")
    words = raw_kw if isinstance(raw_kw, list) else str(raw_kw or "").split(",")
    return Service(
        row=row,
        code=code,
        name=name,
        group=_first(entry, "group"),
        description=_first(entry, "description"),
        keywords=tuple(w for w in (str(k).strip() for k in words) if w),
        national_code=national,
        department=_first(entry, "department") or None,
        limit_hours=limit,
    )


def _file_error(file: str, key: str, **fields: object) -> TaxonomyError:
    """A whole-file problem (row 0) with its catalogue reason."""
    return TaxonomyError(file, 0, "", t(f"profile.{key}", "en", **fields))


def _entries(file: str, text: str, kind: str) -> list[tuple[int, dict[str, Any]]]:
    if kind == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _file_error(file, "taxonomy_bad_file", kind="JSON", error=exc) from None
        if isinstance(doc, dict) and isinstance(doc.get("services"), list):
            doc = doc["services"]
        if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
            raise _file_error(file, "taxonomy_not_a_list")
        return list(enumerate(doc, start=1))
    if kind == "xml":
        if "<!DOCTYPE" in text or "<!ENTITY" in text:  # no entity expansion from a file we were handed
            raise _file_error(file, "taxonomy_doctype")
        try:
            root = fromstring(text)
        except (ParseError, DefusedXmlException) as exc:
            raise _file_error(file, "taxonomy_bad_file", kind="XML", error=exc) from None
        if root.tag != "services":
            raise _file_error(file, "taxonomy_not_a_list")
        return [
            (i, {c.tag: (c.text or "") for c in s}) for i, s in enumerate(root.findall("service"), start=1)
        ]
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise _file_error(file, "taxonomy_not_a_list")
    # Line numbers as a spreadsheet shows them: the header is line 1.
    return [(n, dict(r)) for n, r in enumerate(reader, start=2)]


def parse_taxonomy(text: str, file: str = "<taxonomy>", kind: str | None = None) -> list[Service]:
    """Parse a service list (``kind`` json, xml or csv; default from the file name's extension)."""
    kind = kind or Path(file).suffix.lower().lstrip(".")
    if kind not in ("json", "xml", "csv"):
        raise _file_error(file, "taxonomy_bad_kind", kind=kind or "?")
    services: list[Service] = []
    first: dict[str, int] = {}
    for row, entry in _entries(file, text, kind):
        service = _service(file, row, entry)
        if service.code in first:
            reason = t("profile.taxonomy_duplicate", "en", code=service.code, first=first[service.code])
            raise TaxonomyError(file, row, "service_code", reason)
        first[service.code] = row
        services.append(service)
    if not services:
        raise _file_error(file, "taxonomy_empty")
    return services


def read_taxonomy(path: str | Path) -> list[Service]:
    """Read and parse a service list file; TaxonomyError names the file for any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _file_error(str(p), "taxonomy_unreadable", error=exc) from None
    return parse_taxonomy(text, str(p))


def local_codes(services: list[Service], file: str = "<taxonomy>") -> dict[str, str]:
    """service code → civicloop category code: national codes kept, the rest numbered by group."""
    majors: dict[str, int] = {}
    counts: dict[int, int] = {}
    out: dict[str, str] = {}
    for s in services:
        if s.is_national:
            out[s.code] = s.code
            continue
        major = majors.setdefault(s.group, FIRST_LOCAL_MAJOR + len(majors))
        if major > 99:
            raise TaxonomyError(file, s.row, "group", t("profile.taxonomy_too_many_groups", "en"))
        counts[major] = counts.get(major, 0) + 1
        if counts[major] > 999:
            raise TaxonomyError(file, s.row, "group", t("profile.taxonomy_too_many_groups", "en"))
        out[s.code] = f"{major:02d}{counts[major]:03d}"
    return out
