"""Who may see and touch which case (scope): a department its own cases, an inspector their grids.

Roles decide *what* may be done (the domain's action table); scope decides *where*. Kept apart so that
the authorization matrix test can exercise both independently.
"""

from __future__ import annotations

from civicloop.cases.core import Actor, CaseState
from civicloop.kernel.vocabulary import Role


def can_view(actor: Actor, state: CaseState) -> bool:
    return can_view_fields(
        actor,
        department_id=state.department_id,
        reporter_id=state.reporter_id,
        grid_code=state.grid_code,
        district_code=state.district_code,
    )


def can_view_fields(
    actor: Actor,
    *,
    department_id: str | None,
    reporter_id: str | None,
    grid_code: str | None,
    district_code: str | None,
) -> bool:
    """:func:`can_view` on the only fields scope looks at (for read models that keep no whole state)."""
    if actor.role in (Role.SYSTEM, Role.ADMIN):
        return True
    if actor.role is Role.DEPARTMENT:
        return actor.department_id is not None and department_id == actor.department_id
    if actor.role is Role.CITIZEN:
        return reporter_id is not None and reporter_id == actor.id
    if actor.role is Role.INSPECTOR and actor.grid_codes:
        return grid_code in actor.grid_codes or reporter_id == actor.id
    if actor.district_codes:
        return district_code in actor.district_codes
    return True


def can_act(actor: Actor, state: CaseState) -> bool:
    """Scope for acting; the role check itself belongs to the domain."""
    return can_view(actor, state)


# ---- who may see what beyond the action table (the same rules for the workflow API and the web) ----------

#: The intake review queue with its triage suggestions (受理/立案审核): intake staff and who oversees them.
REVIEW_ROLES = frozenset({Role.OPERATOR, Role.SHIFT_LEADER, Role.LEADER, Role.ADMIN})
#: The routing suggestion of a filed case: dispatchers and who oversees them.
DISPATCH_ADVICE_ROLES = frozenset({Role.DISPATCHER, Role.LEADER, Role.ADMIN})
#: A reporter's contact details, and erasing them (匿名化): the hotline operators and administrators.
REPORTER_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})


def has_role(actor: Actor, roles: frozenset[Role]) -> bool:
    """Whether *actor*'s role is one of *roles* (a viewer account acts as a leader that takes no action)."""
    return actor.role in roles


def sees_duplicates(actor: Actor) -> bool:
    """Whether category suggestions show *actor* the nearby open cases that may be the same problem: staff
    working cases do; the public and administrators (who work on accounts, not cases) do not."""
    return actor.role not in (Role.CITIZEN, Role.ADMIN)
