"""Domain errors: values a person can act on, rendered as a sentence in either language."""

from __future__ import annotations

from civicloop.kernel.i18n import message
from civicloop.kernel.vocabulary import Action, Role, Stage


class DomainError(Exception):
    """Base class. ``render(locale)`` gives the sentence; ``str()`` gives Chinese then English."""

    key = ""

    def fields(self) -> dict[str, object]:
        return {}

    def render(self, locale: str = "zh-CN") -> str:
        return message(self.key, locale, **self.fields())

    def __str__(self) -> str:
        return f"{self.render('zh-CN')} / {self.render('en')}"


class IllegalAction(DomainError):
    """The action is not possible in the case's current stage (or not for that role there)."""

    key = "illegal_action"

    def __init__(self, case: str, state: Stage | None, action: Action, role: Role) -> None:
        self.case, self.state, self.action, self.role = case, state, action, role
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {
            "case": self.case,
            "state_zh": self.state.zh if self.state else "新建",
            "state_en": self.state.en if self.state else "new",
            "action_zh": self.action.zh,
            "action_en": self.action.en,
            "role_zh": self.role.zh,
            "role_en": self.role.en,
        }


class RoleNotAllowed(DomainError):
    key = "role_not_allowed"

    def __init__(self, action: Action, role: Role, allowed: frozenset[Role]) -> None:
        self.action, self.role, self.allowed = action, role, allowed
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        ordered = sorted(self.allowed, key=lambda r: r.value)
        return {
            "action_zh": self.action.zh,
            "action_en": self.action.en,
            "role_zh": self.role.zh,
            "role_en": self.role.en,
            "allowed_zh": "、".join(r.zh for r in ordered),
            "allowed_en": ", ".join(r.en for r in ordered),
        }


class MissingField(DomainError):
    key = "missing_field"

    def __init__(self, action: Action, field: str) -> None:
        self.action, self.field = action, field
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"action_zh": self.action.zh, "action_en": self.action.en, "field": self.field}


class InvalidField(DomainError):
    key = "invalid_field"

    def __init__(self, field: str, reason_zh: str, reason_en: str) -> None:
        self.field, self.reason_zh, self.reason_en = field, reason_zh, reason_en
        super().__init__(str(self))

    def fields(self) -> dict[str, object]:
        return {"field": self.field, "reason_zh": self.reason_zh, "reason_en": self.reason_en}


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
