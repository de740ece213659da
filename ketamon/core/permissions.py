"""Roles and what each may do. Enforced in the operations layer (ops.base), so a
hidden button is never the only protection.

From the issue: nurses chart and acknowledge; physicians also review alerts,
change patient limits and sign; front-desk staff view, print and export only;
admins manage users and protocols (and verify the audit trail, which means
seeing patient records) but never chart. tests/test_permissions_matrix.py checks
every operation against every role, so change this table and that test together."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

ROLES = ("nurse", "physician", "staff", "admin", "service")
ROLE_LABELS = {"nurse": "Nurse", "physician": "Physician", "staff": "Front desk", "admin": "Administrator",
               "service": "Service account"}


class Permission(str, Enum):
    VIEW = "view patient records"
    REGISTER = "register patients and sessions"
    CHART = "chart clinical entries"
    ACKNOWLEDGE = "acknowledge alerts"
    REVIEW = "review alerts"
    SET_LIMITS = "change a patient's limits"
    DECIDE = "record a pre-dose decision"
    SIGN = "sign session records"
    ADDENDUM = "add an addendum to a signed record"
    PRINT = "print session summaries"
    EXPORT = "export session records"
    MANAGE_USERS = "manage users"
    MANAGE_PROTOCOLS = "manage protocols"
    AUDIT = "verify the audit trail"
    MANAGE_SETTINGS = "change the clinic's settings"
    RECEIVE_DEVICE_DATA = "store bedside monitor data"


_NURSE = {
    Permission.VIEW,
    Permission.REGISTER,
    Permission.CHART,
    Permission.ACKNOWLEDGE,
    Permission.ADDENDUM,
    Permission.PRINT,
    Permission.EXPORT,
}
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "nurse": frozenset(_NURSE),
    "physician": frozenset(
        _NURSE | {Permission.REVIEW, Permission.SET_LIMITS, Permission.DECIDE, Permission.SIGN}
    ),
    "staff": frozenset({Permission.VIEW, Permission.PRINT, Permission.EXPORT}),
    # command line only; the device feed's listener runs as a service account
    "service": frozenset({Permission.VIEW, Permission.PRINT, Permission.EXPORT, Permission.RECEIVE_DEVICE_DATA}),
    "admin": frozenset({Permission.VIEW, Permission.MANAGE_USERS, Permission.MANAGE_PROTOCOLS, Permission.AUDIT,
                        Permission.MANAGE_SETTINGS}),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: the signed-in user (or the configured default user)."""

    user_id: int | None
    username: str
    display_name: str
    role: str

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


#: Used by tools that act as the system itself (the alert timer, device feed set-up).
#: It has no role permissions: it may run only the operations declared with
#: `@operation(..., system=True)` (re-evaluating alerts, reporting a technical problem).
SYSTEM = Actor(None, "system", "ketamon", "system")

#: The prefix of the command-line operator's name (`ketamon users …`, run by whoever
#: can open the database file): "cli:<os user>", role admin, no user account.
OPERATOR_PREFIX = "cli:"


def is_system(actor: Actor) -> bool:
    """The system itself (no user account): exactly SYSTEM, nothing that merely
    claims a role."""
    return actor.user_id is None and actor == SYSTEM


def is_command_line_operator(actor: Actor) -> bool:
    """The operator of `ketamon users` on the server: someone who can already open
    the database file, recorded in the audit as "cli:<os user>". Administrator
    rights only, never a clinical role."""
    return actor.user_id is None and actor.username.startswith(OPERATOR_PREFIX) and actor.role == "admin"


#: One line per role for the people who hand out accounts (CLI, user dialogs).
ROLE_SUMMARIES = {
    "nurse": "charts sessions and acknowledges alerts",
    "physician": "charts, reviews alerts, changes patient limits and signs records",
    "staff": "views, prints and exports session records only",
    "admin": "manages users and protocols; does not chart",
    "service": "prints and exports from the command line only (scripts), receives bedside monitor data "
               "(`ketamon feed listen`); cannot sign in to the app",
}
