"""A new city's profile, drafted (``civicloop city new``): valid at once, with what is left to decide.

:func:`draft_profile` writes the TOML text of a profile from the few facts a city knows on day one — its
id, name, time zone, calendar source, locale, districts (from its boundary file) and, optionally, its own
service list (:mod:`civicloop.profile.taxonomy`); without one the categories are the whole national
directory (GB/T 47678.5). Departments are drafted per service-list department or group (or per major of
the national directory) with free-text kinds, limits default to 2 working days, and the list of what the
city still has to decide comes back with the text. Pure: no file is read or written here.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from civicloop.kernel.i18n import Msg
from civicloop.profile.calendar import CN_SOURCE, HOLIDAYS_PREFIX
from civicloop.profile.categories import national_directory
from civicloop.profile.models import STANDARD_KINDS
from civicloop.profile.taxonomy import Service, local_codes, slugify

__all__ = ["CityDraft", "country_of", "draft_profile"]

DEFAULT_LIMIT = '{ amount = 2, unit = "work_day" }'


@cache
def _texts() -> dict[str, Any]:
    text = resources.files("civicloop.profile").joinpath("data", "scaffold.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True, slots=True)
class CityDraft:
    """What ``city new`` was told. ``districts`` are (code, name) pairs from the boundary file."""

    id: str
    name: str
    timezone: str
    calendar: str
    locale: str = "zh-CN"
    country: str | None = None
    division_code: str | None = None
    boundaries: str | None = None
    districts: Sequence[tuple[str, str]] = ()
    services: Sequence[Service] | None = None
    taxonomy_file: str = ""
    assigned_district_codes: bool = False
    notes: list[Msg] = field(default_factory=list)


def country_of(calendar: str, locale: str, country: str | None = None) -> str | None:
    """The country a new city is in: as given, else the ``holidays:`` source's, else CN for ``cn``/zh."""
    if country:
        return country
    if calendar.startswith(HOLIDAYS_PREFIX):
        return calendar[len(HOLIDAYS_PREFIX) :].split("-")[0]
    if calendar == CN_SOURCE or locale.lower().startswith("zh"):
        return "CN"
    return None


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _prefix(city_id: str) -> str:
    parts = [p for p in city_id.split("-") if p and p[0].isalpha()]
    letters = "".join(p[0] for p in parts).upper() if len(parts) > 1 else city_id[:2].upper()
    letters = "".join(c for c in letters if "A" <= c <= "Z")[:4]
    return letters or "C"


@dataclass(slots=True)
class _Dept:
    id: str
    name: str
    kind: str
    standard: str | None


def draft_profile(draft: CityDraft) -> tuple[str, list[Msg]]:
    """The profile's TOML text and what is left to decide (catalogue messages)."""
    lang = "en" if draft.locale.lower().startswith("en") else "zh-CN"
    words: dict[str, Any] = _texts()[lang]
    country = country_of(draft.calendar, draft.locale, draft.country)
    out: list[str] = [
        f"# City profile of {draft.name}, drafted by `civicloop city new`. Check it with",
        "# `civicloop city check` after every edit; docs/cities.md explains each section.",
        "",
        f"id = {_q(draft.id)}",
        f"name = {_q(draft.name)}",
    ]
    if lang == "en":
        out.append(f"name_en = {_q(draft.name)}")
    out.append(f"case_prefix = {_q(_prefix(draft.id))}")
    if country:
        out.append(f"country = {_q(country)}")
    if draft.division_code:
        out.append(f"division_code = {_q(draft.division_code)}")
    out += [f"timezone = {_q(draft.timezone)}", f"default_locale = {_q(draft.locale)}"]
    if draft.boundaries:
        out.append(f"boundaries = {_q(draft.boundaries)}")
    chinese = country == "CN"
    periods = (
        '[["08:00", "12:00"], ["14:00", "18:00"]]' if chinese else '[["09:00", "12:00"], ["13:00", "17:00"]]'
    )
    out += [
        "",
        "[calendar]",
        f"source = {_q(draft.calendar)}",
        f"work_periods = {periods}",
        'work_day_mode = "minutes"',
        # chinese-calendar learns next year's 调休 each November: count weekends only until then.
        f"fallback_weekends = {'true' if draft.calendar == CN_SOURCE else 'false'}",
        "",
    ]
    for code, name in draft.districts:
        out += ["[[districts]]", f"code = {_q(code)}", f"name = {_q(name)}", ""]

    center = _Dept(f"{draft.id}-center", words["center"], "city_management", "city_management")
    depts: dict[str, _Dept] = {center.id: center}
    categories: list[str] = []
    to_decide: list[Msg] = [Msg("profile.decide_prefix", prefix=_prefix(draft.id))]
    if draft.services is not None:
        codes = local_codes(list(draft.services), draft.taxonomy_file)
        unmapped = 0
        for s in draft.services:
            unit = s.department or s.group or words["center"]
            dept_id = f"{draft.id}-{slugify(unit)}"
            depts.setdefault(dept_id, _Dept(dept_id, unit, slugify(unit).replace("-", "_"), None))
            code = codes[s.code]
            limit = (
                f'{{ amount = {s.limit_hours:g}, unit = "work_hour" }}' if s.limit_hours else DEFAULT_LIMIT
            )
            lines = ["[[categories]]"]
            if not s.is_national:
                lines += ["local = true", f"code = {_q(code)}", f"major_name = {_q(s.group or unit)}"]
                lines.append(f"name = {_q(s.name)}")
                if s.national_code:
                    lines.append(f"national_code = {_q(s.national_code)}")
                else:
                    unmapped += 1
            else:
                lines.append(f"code = {_q(code)}")
            if lang == "en":
                lines.append(f"name_en = {_q(s.name)}")
            lines.append(f"source_code = {_q(s.code)}")
            lines.append(f"department = {_q(dept_id)}")
            keywords = [s.name, *s.keywords]
            lines.append(f"keywords = [{', '.join(_q(k) for k in dict.fromkeys(keywords))}]")
            lines += _condition(words, s.name, limit)
            categories.append("\n".join(lines))
        to_decide.append(Msg("profile.decide_taxonomy", count=len(draft.services), file=draft.taxonomy_file))
        if chinese and unmapped:
            to_decide.append(Msg("profile.decide_national_codes", count=unmapped))
    else:
        majors: dict[str, str] = _texts()["national_majors"]
        for matter in national_directory().matters():
            kind = majors.get(matter.major_code, "city_management")
            dept_id = f"{draft.id}-{kind.replace('_', '-')}"
            depts.setdefault(dept_id, _Dept(dept_id, words["kinds"][kind], kind, kind))
            lines = ["[[categories]]", f"code = {_q(matter.code)}", f"department = {_q(dept_id)}"]
            lines += _condition(words, matter.name, DEFAULT_LIMIT)
            categories.append("\n".join(lines))
        to_decide.append(Msg("profile.decide_directory", count=len(categories)))
    out += ["[routing]", f"fallback_department = {_q(center.id)}", ""]
    for d in depts.values():
        out += ["[[departments]]", f"id = {_q(d.id)}", f"name = {_q(d.name)}"]
        if lang == "en":
            out.append(f"name_en = {_q(d.name)}")
        out.append(f"kind = {_q(d.kind)}")
        if d.standard in STANDARD_KINDS:
            out.append(f"standard_kind = {_q(d.standard)}")
        out.append("")
    out += [c + "\n" for c in categories]
    to_decide += [
        Msg("profile.decide_departments", count=len(depts)),
        Msg("profile.decide_conditions"),
        Msg("profile.decide_routing"),
        Msg("profile.decide_calendar", source=draft.calendar),
    ]
    if draft.assigned_district_codes:
        to_decide.append(Msg("profile.decide_district_codes", count=len(draft.districts)))
    if not draft.districts:
        to_decide.append(Msg("profile.decide_no_districts"))
    return "\n".join(out), to_decide + list(draft.notes)


def _condition(words: dict[str, Any], name: str, limit: str) -> list[str]:
    return [
        "",
        "  [[categories.conditions]]",
        "  no = 1",
        f"  filing = {_q(words['filing'].format(name=name))}",
        f"  closing = {_q(words['closing'])}",
        f"  limits = {{ normal = {limit} }}",
    ]
