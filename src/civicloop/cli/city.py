"""Onboarding a city: ``civicloop city new`` (draft a profile), ``city check`` (validate one) and
``city taxonomy`` (preview a service-list import). Mounted by :mod:`civicloop.cli.main`.

``city new`` writes nothing until everything is known to be sound: the boundary file is read and
checked, the service list parsed, the profile drafted and validated, and only then the directory
(``profile.toml`` + ``boundaries.geojson``) is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from civicloop.cli.common import EXIT_BAD_INPUT, CommandGroup, JsonOpt, console, fail, print_json
from civicloop.geo.boundaries import BoundaryImportError, areas_to_geojson, read_district_file
from civicloop.kernel.i18n import both
from civicloop.profile import ProfileError, load_profile, load_profile_text
from civicloop.profile.calendar import parse_calendar_source
from civicloop.profile.models import ProfileIssue
from civicloop.profile.scaffold import CityDraft, country_of, draft_profile
from civicloop.profile.taxonomy import TaxonomyError, local_codes, read_taxonomy

city_app = CommandGroup(help=both("onboarding.help"), no_args_is_help=True)

BOUNDARY_FILE = "boundaries.geojson"
_LOCALES = ("zh-CN", "en")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: Districts of a city outside China without codes in its file are numbered from here (100101, …).
FOREIGN_DISTRICT_BASE = 100100


@city_app.command("new")
def new_command(
    city_id: Annotated[str, typer.Argument(metavar="ID", help="jurisdiction id, a lower-case slug")],
    name: Annotated[str, typer.Option("--name", help="the city's name")],
    boundaries: Annotated[
        Path, typer.Option("--boundaries", help="district boundaries (GeoJSON, GeoPackage)")
    ],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone, e.g. America/New_York")],
    calendar: Annotated[str, typer.Option("--calendar", help="cn, or holidays:COUNTRY[-SUBDIVISION]")],
    locale: Annotated[str, typer.Option("--locale", help="zh-CN or en")] = "zh-CN",
    taxonomy: Annotated[
        Path | None, typer.Option("--taxonomy", help="the city's service list (services.json/.xml, CSV)")
    ] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="ISO 3166 code (default: from --calendar)")
    ] = None,
    division_code: Annotated[
        str | None, typer.Option("--division-code", help="GB/T 2260 city code (cities in China)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="directory to create (default ./ID)")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """新建城市配置 / draft a valid profile for a new city and say what is left to decide."""
    if not _ID.fullmatch(city_id):
        fail(both("onboarding.bad_id", value=city_id))
    if not name.strip():
        fail(both("onboarding.empty_name"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone: {both('clock.unknown_timezone', timezone=repr(timezone))}")
    try:
        parse_calendar_source(calendar)
    except ValueError as exc:
        fail(f"--calendar: {exc}")
    if locale not in _LOCALES:
        fail(both("onboarding.bad_locale", value=locale, allowed=", ".join(_LOCALES)))
    resolved = country_of(calendar, locale, country)
    if resolved == "CN" and not division_code:
        fail(both("onboarding.division_code_needed"))
    target = output or Path(city_id)
    if target.exists():
        fail(both("onboarding.exists", path=target))
    try:
        number_from = None if resolved == "CN" else FOREIGN_DISTRICT_BASE
        areas, _, numbered = read_district_file(boundaries, number_from=number_from)
    except BoundaryImportError as exc:
        fail(f"--boundaries: {exc}")
    services = None
    if taxonomy is not None:
        try:
            services = read_taxonomy(taxonomy)
            local_codes(services, str(taxonomy))
        except TaxonomyError as exc:
            fail(f"--taxonomy: {exc}")
    draft = CityDraft(
        id=city_id, name=name.strip(), timezone=timezone, calendar=calendar, locale=locale, country=resolved,
        division_code=division_code, boundaries=BOUNDARY_FILE,
        districts=[(a.code, a.name) for a in areas], services=services,
        taxonomy_file=str(taxonomy or ""),
        assigned_district_codes=numbered,
    )  # fmt: skip
    text, to_decide = draft_profile(draft)
    try:
        load_profile_text(text, file=str(target / "profile.toml"))
    except ProfileError as exc:
        # The options made an invalid profile (e.g. a division code that is not a city's): say which key.
        fail(str(exc))
    _write_directory(target, text, areas_to_geojson(areas))
    if json_out:
        print_json(
            {
                "profile": str(target / "profile.toml"),
                "boundaries": str(target / BOUNDARY_FILE),
                "districts": len(areas),
                "to_decide": [m.render("en") for m in to_decide],
            }
        )
        return
    console.print(
        both("onboarding.written", path=target / "profile.toml", districts=len(areas)), highlight=False
    )
    console.print(both("onboarding.to_decide"))
    for m in to_decide:
        console.print(f"  • {m}", highlight=False)
    console.print(both("onboarding.next", path=target / "profile.toml"), highlight=False)


def _write_directory(target: Path, profile_text: str, boundaries: dict[str, Any]) -> None:
    """Write both files into a temporary directory beside ``target``, then rename it into place."""
    parent = target.resolve().parent
    if not parent.is_dir():
        fail(both("onboarding.no_parent", path=parent))
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=parent))
    try:
        (tmp / "profile.toml").write_text(profile_text, encoding="utf-8")
        (tmp / BOUNDARY_FILE).write_text(json.dumps(boundaries, ensure_ascii=False), encoding="utf-8")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def profile_problems(path: str) -> tuple[str, list[ProfileIssue], dict[str, Any]]:
    """(file, problems, summary) of a profile: its own checks, then its boundary file's."""
    try:
        # A path that exists is a path, even when it looks like a bundled profile's name.
        profile = load_profile(str(Path(path).resolve()) if Path(path).exists() else path)
    except ProfileError as exc:
        return exc.file, list(exc.issues), {}
    file = str(Path(path) / "profile.toml") if Path(path).is_dir() else path
    summary: dict[str, Any] = {
        "id": profile.id,
        "name": profile.name,
        "country": profile.country_code or None,
        "calendar": profile.calendar.source,
        "categories": len(profile.categories),
        "local_categories": sum(1 for c in profile.categories if c.local),
        "unmapped_local_categories": sum(1 for c in profile.categories if c.reporting_code is None),
        "departments": len(profile.departments),
        "districts": len(profile.districts),
    }
    problems: list[ProfileIssue] = []
    boundary = profile.boundaries_path()
    if boundary is not None:
        try:
            areas, _, _ = read_district_file(boundary)
        except BoundaryImportError as exc:
            problems.append(ProfileIssue("boundaries", str(exc)))
        else:
            codes = {a.code for a in areas}
            for i, d in enumerate(profile.districts):
                if d.code not in codes:
                    reason = both("onboarding.district_not_in_file", code=d.code, file=boundary)
                    problems.append(ProfileIssue(f"districts[{i}].code", reason))
            summary["boundary_districts"] = len(areas)
    return file, problems, summary


@city_app.command("check")
def check_command(
    profile: Annotated[str, typer.Argument(metavar="PROFILE", help="a profile.toml or its directory")],
    json_out: JsonOpt = False,
) -> None:
    """检查城市配置 / validate a profile: every problem as file: key: reason (exit 2 when invalid)."""
    file, problems, summary = profile_problems(profile)
    if json_out:
        print_json(
            {
                "file": file,
                "valid": not problems,
                "problems": [{"file": file, "key": p.key, "reason": p.reason} for p in problems],
                "summary": summary,
            }
        )
        if problems:
            raise typer.Exit(EXIT_BAD_INPUT)
        return
    if problems:
        for p in problems:
            typer.echo(f"{file}: {p}", err=True)
        typer.echo(both("onboarding.invalid", count=len(problems), file=file), err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    console.print(both("onboarding.valid", file=file, **summary), highlight=False)


@city_app.command("taxonomy")
def taxonomy_command(
    file: Annotated[Path, typer.Argument(help="services.json, services.xml or a CSV service list")],
    json_out: JsonOpt = False,
) -> None:
    """服务目录预览 / preview how a city's service list becomes its categories."""
    try:
        services = read_taxonomy(file)
        codes = local_codes(services, str(file))
    except TaxonomyError as exc:
        fail(str(exc))
    rows = [
        {
            "row": s.row,
            "service_code": s.code,
            "code": codes[s.code],
            "local": not s.is_national,
            "name": s.name,
            "group": s.group,
            "national_code": s.code if s.is_national else s.national_code,
            "department": s.department or s.group or None,
            "limit_hours": s.limit_hours,
        }
        for s in services
    ]
    if json_out:
        print_json({"file": str(file), "services": rows})
        return
    table = Table(title=both("onboarding.taxonomy_title", file=file, count=len(rows)))
    for col in ("service_code", "code", "name", "group", "national_code", "department"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            *(
                str(r[c] or "—")
                for c in ("service_code", "code", "name", "group", "national_code", "department")
            )
        )
    console.print(table)
