"""Who may see and touch which case (scope): a department its own cases, an inspector their grids.

Roles decide *what* may be done (the domain's action table); scope decides *where*. Kept apart so that
the authorization matrix test can exercise both independently.
"""

from __future__ import annotations

from civicloop.cases.core import Actor, CaseState
from civicloop.kernel.vocabulary import Role


def can_view(actor: Actor, state: CaseState) -> bool:
    if actor.role in (Role.SYSTEM, Role.ADMIN):
        return True
    if actor.role is Role.DEPARTMENT:
        return actor.department_id is not None and state.department_id == actor.department_id
    if actor.role is Role.CITIZEN:
        return state.reporter_id is not None and state.reporter_id == actor.id
    if actor.role is Role.INSPECTOR and actor.grid_codes:
        return state.grid_code in actor.grid_codes or state.reporter_id == actor.id
    if actor.district_codes:
        return state.district_code in actor.district_codes
    return True


def can_act(actor: Actor, state: CaseState) -> bool:
    """Scope for acting; the role check itself belongs to the domain."""
    return can_view(actor, state)
