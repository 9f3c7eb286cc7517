"""Domain errors: values a person can act on, rendered as a sentence in either language."""

from __future__ import annotations

from civicloop.kernel.i18n import Localized, Msg, current_locale, has, normalise_locale, t
from civicloop.kernel.vocabulary import Action, Labelled, Role, Stage


class DomainError(Exception):
    """Base class. ``render(locale)`` gives the sentence; ``str()`` gives Chinese then English."""

    key = ""

    def fields(self) -> dict[str, object]:
        return {}

    def render(self, locale: str | None = None) -> str:
        """The sentence in *locale* (default: the current locale)."""
        values = {
            k: (v.render(locale) if isinstance(v, Msg | Localized) else v) for k, v in self.fields().items()
        }
        return t(f"errors.{self.key}", locale, **values)

    def __str__(self) -> str:
        return f"{self.render('zh-CN')} / {self.render('en')}"


def _word(value: Labelled) -> Msg:
    return Msg(f"vocabulary.{value.value}")


def field_label(field: str) -> Msg | str:
    """The label a person reads for an input field (``fields.<name>``: 问题描述 / description); the name
    itself when the catalogue has none. ``photos.3`` is labelled as ``photos``."""
    base = field.split(".", 1)[0]
    return Msg(f"fields.{base}") if has(f"fields.{base}") else field


class IllegalAction(DomainError):
    """The action is not possible in the case's current stage (or not for that role there)."""

    key = "illegal_action"

    def __init__(self, case: str, state: Stage | None, action: Action, role: Role) -> None:
        self.case, self.state, self.action, self.role = case, state, action, role
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {
            "case": self.case,
            "state": _word(self.state) if self.state else Msg("errors.new_case"),
            "action": _word(self.action),
            "role": _word(self.role),
        }


class AlreadyRated(DomainError):
    """回访: this reporter already rated this closure of the case (one rating per reporter per closure)."""

    key = "already_rated"

    def __init__(self, case: str) -> None:
        self.case = case
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"case": self.case}


class RoleNotAllowed(DomainError):
    key = "role_not_allowed"

    def __init__(self, action: Action, role: Role, allowed: frozenset[Role]) -> None:
        self.action, self.role, self.allowed = action, role, allowed
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        ordered = sorted(self.allowed, key=lambda r: r.value)
        return {
            "action": _word(self.action),
            "role": _word(self.role),
            "allowed": Localized(
                t("errors.list_separator", "zh-CN").join(r.zh for r in ordered),
                t("errors.list_separator", "en").join(r.en for r in ordered),
            ),
        }


class MissingField(DomainError):
    key = "missing_field"

    def __init__(self, action: Action, field: str) -> None:
        self.action, self.field = action, field
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"action": _word(self.action), "field": field_label(self.field)}


class InvalidField(DomainError):
    """A value that was refused: the field and why (a catalogue message, or legacy zh/en texts)."""

    key = "invalid_field"

    def __init__(self, field: str, reason: Msg | str, reason_en: str | None = None) -> None:
        self.field = field
        self.reason: Msg | None = reason if isinstance(reason, Msg) else None
        self.reason_zh = reason.render("zh-CN") if isinstance(reason, Msg) else reason
        self.reason_en = reason.render("en") if isinstance(reason, Msg) else (reason_en or reason)
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {
            "field": field_label(self.field),
            "reason": self.reason or _Pair(self.reason_zh, self.reason_en),
        }


class _Pair(Msg):
    """Legacy reasons given as two texts (until every caller passes a catalogue message)."""

    def __init__(self, zh: str, en: str) -> None:
        self.key, self.fields, self._texts = "", {}, (zh, en)

    def render(self, locale: str | None = None) -> str:
        return self._texts[1] if normalise_locale(locale or current_locale()) == "en" else self._texts[0]


class TimeRunsBackwards(DomainError):
    key = "time_backwards"

    def __init__(self, case: str, at: str, last: str) -> None:
        self.case, self.at, self.last = case, at, last
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"case": self.case, "at": self.at, "last": self.last}


class CaseNotFound(DomainError):
    key = "case_not_found"

    def __init__(self, case: str) -> None:
        self.case = case
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"case": self.case}


class OutOfScope(DomainError):
    key = "out_of_scope"

    def __init__(self, actor: str, case: str) -> None:
        self.actor, self.case = actor, case
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"actor": self.actor, "case": self.case}


class ConcurrentChange(DomainError):
    key = "concurrent_change"

    def __init__(self, case: str) -> None:
        self.case = case
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"case": self.case}
