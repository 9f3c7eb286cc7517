"""The one catalogue of words (简体中文 default, English).

Every user-facing message — domain errors, API and Open311 errors, CLI output, reports and the web UI —
is a key in ``kernel/messages/*.toml``. A file holds one area; its name is the key's first part
(``errors.toml`` → ``errors.invalid_field``) and each entry is a table with one text per locale::

    [invalid_field]
    zh-CN = "字段「{label}」无效：{reason}"
    en = "Field {label} is invalid: {reason}"

Fields use :meth:`str.format` names and must be the same in every locale (a test checks this, and that
no key lacks a locale). The browser gets the same catalogue as JSON (``/api/v1/i18n/{locale}``).

Why TOML files and not gettext: the two languages sit side by side for whoever edits a message, the
files need no compile step, and the same data is served to the browser unchanged.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib import resources
from typing import Final

DEFAULT_LOCALE: Final = "zh-CN"
LOCALES: Final = ("zh-CN", "en")

_current: ContextVar[str] = ContextVar("civicloop_locale", default=DEFAULT_LOCALE)


class UnknownMessage(KeyError):
    """A key that is not in the catalogue (a programming error: the test suite finds them)."""


@cache
def _catalogue() -> dict[str, dict[str, str]]:
    messages: dict[str, dict[str, str]] = {}
    folder = resources.files("civicloop.kernel") / "messages"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        area = entry.name.removesuffix(".toml")
        _flatten(area, tomllib.loads(entry.read_text(encoding="utf-8")), messages)
    return messages


def _flatten(prefix: str, table: Mapping[str, object], out: dict[str, dict[str, str]]) -> None:
    for name, value in table.items():
        if not isinstance(value, Mapping):
            raise ValueError(f"catalogue {prefix}.{name}: expected a table of locales, got {value!r}")
        if any(locale in value for locale in LOCALES):
            texts = {str(k): str(v) for k, v in value.items()}
            out[f"{prefix}.{name}"] = texts
        else:
            _flatten(f"{prefix}.{name}", value, out)


def messages() -> Mapping[str, Mapping[str, str]]:
    """Every key with its texts per locale (tests and tools)."""
    return _catalogue()


def has(key: str) -> bool:
    return key in _catalogue()


def normalise_locale(value: str | None) -> str:
    """Map 'en-US', 'en', 'zh', 'zh-Hans', an Accept-Language header … onto a supported locale."""
    if not value:
        return DEFAULT_LOCALE
    first = value.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT_LOCALE


def current_locale() -> str:
    """The locale of the running command or request (set with :func:`use_locale`)."""
    return _current.get()


@contextmanager
def use_locale(locale: str | None) -> Iterator[str]:
    token = _current.set(normalise_locale(locale))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_locale(locale: str | None) -> str:
    """Set the locale for the rest of this context (a CLI run); returns the normalised locale."""
    value = normalise_locale(locale)
    _current.set(value)
    return value


def t(key: str, locale: str | None = None, /, **fields: object) -> str:
    """The text of *key* in *locale* (default: the current locale), with *fields* filled in."""
    try:
        texts = _catalogue()[key]
    except KeyError:
        raise UnknownMessage(key) from None
    loc = normalise_locale(locale) if locale is not None else _current.get()
    template = texts.get(loc) or texts[DEFAULT_LOCALE]
    return template.format(**fields) if fields else template


def both(key: str, /, **fields: object) -> str:
    """Chinese, then English: for text whose reader's language is unknown (logs, exception strings)."""
    zh, en = t(key, "zh-CN", **fields), t(key, "en", **fields)
    return zh if zh == en else f"{zh} / {en}"


class Localized:
    """A value that exists in each language (a city's or a department's name)."""

    __slots__ = ("en", "zh")

    def __init__(self, zh: str, en: str | None = None) -> None:
        self.zh, self.en = zh, en or zh

    def render(self, locale: str | None = None) -> str:
        loc = normalise_locale(locale) if locale is not None else _current.get()
        return self.en if loc == "en" else self.zh

    def __str__(self) -> str:
        return self.zh

    def __repr__(self) -> str:
        return f"Localized({self.zh!r}, {self.en!r})"


class Msg:
    """A message not yet rendered: a key and its fields, rendered in the reader's language later.

    Fields that are themselves :class:`Msg` (a reason inside an error) or :class:`Localized` (a name that
    exists in each language) render in the same locale.
    """

    __slots__ = ("fields", "key")

    def __init__(self, key: str, /, **fields: object) -> None:
        if key not in _catalogue():
            raise UnknownMessage(key)
        self.key = key
        self.fields = fields

    def render(self, locale: str | None = None) -> str:
        loc = normalise_locale(locale) if locale is not None else _current.get()
        values = {k: (v.render(loc) if isinstance(v, Msg | Localized) else v) for k, v in self.fields.items()}
        return t(self.key, loc, **values)

    def __str__(self) -> str:
        zh, en = self.render("zh-CN"), self.render("en")
        return zh if zh == en else f"{zh} / {en}"

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, **{self.fields!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.key, self.fields) == (other.key, other.fields)

    def __hash__(self) -> int:
        return hash(self.key)


def fields_of(template: str) -> set[str]:
    """The ``str.format`` field names in *template*."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def for_browser(locale: str) -> dict[str, str]:
    """The whole catalogue in one locale, as the web pages load it (falls back to Chinese per key)."""
    loc = normalise_locale(locale)
    return {key: texts.get(loc) or texts[DEFAULT_LOCALE] for key, texts in _catalogue().items()}


# The catalogue's first messages were the domain errors; old callers used ``message(key)``.
def message(key: str, locale: str = DEFAULT_LOCALE, **fields: object) -> str:
    return t(key if "." in key else f"errors.{key}", locale, **fields)
