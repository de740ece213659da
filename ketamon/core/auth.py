"""Signing in: the rules, not the record. The rows that change when someone signs
in (failed-attempt counter, lock-out, audit) are written by ketamon.core.ops.users.

- Lock-out: after `max_failed_attempts` wrong passwords in a row an account is
  refused for `lockout_minutes`, even with the right password. Time comes from
  `store.clock` so tests drive it.
- Idle lock: after `idle_lock_minutes` without keyboard or mouse input the GUI
  covers the window until the same user types their password (or someone else
  signs in). Nothing typed is lost.
- First run: a database without any user asks for an administrator account. A
  database that has users but no active administrator does NOT: that would be a
  way round the passwords. Use `ketamon users add --role admin` on the server.

Never log, store or audit a password, and never put a password hash in the audit
trail (ops.users.user_snapshot leaves it out).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from sqlalchemy import func, select

from ketamon.core.errors import ValidationError
from ketamon.core.models import User
from ketamon.core.permissions import ROLE_LABELS, ROLES, Actor
from ketamon.core.store import Store

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

#: The one message for an unknown user name and a wrong password, so the dialog
#: does not tell a stranger which user names exist.
WRONG_CREDENTIALS = "Wrong user name or password."


@dataclass(frozen=True)
class AuthPolicy:
    """How strict sign-in is. Defaults suit a treatment room; an administrator
    changes them for the whole clinic on the Settings page (ketamon.core.settings:
    signin_attempts, lockout_minutes, idle_lock_minutes). Until then each
    workstation's environment variables named below apply."""

    #: wrong passwords in a row before the account is locked (KETAMON_SIGNIN_ATTEMPTS)
    max_failed_attempts: int = 5
    #: how long a locked account stays locked (KETAMON_LOCKOUT_MINUTES)
    lockout_minutes: int = 15
    #: minutes without input before the screen locks; 0 turns it off (KETAMON_IDLE_LOCK_MINUTES)
    idle_lock_minutes: int = 10

    @classmethod
    def for_clinic(cls, db_or_store=None) -> "AuthPolicy":
        """The clinic's policy as in force (`db_or_store` None: no database at hand,
        this workstation's variables, else the defaults)."""
        from ketamon.core import settings

        names = ("signin_attempts", "lockout_minutes", "idle_lock_minutes")
        return cls(*(e.value for e in settings.clinic_entries(db_or_store, names)))

    @classmethod
    def from_env(cls) -> "AuthPolicy":
        """This workstation's variables only; prefer `for_clinic(store)`."""
        return cls.for_clinic(None)


def actor_for(user: User) -> Actor:
    return Actor(user.id, user.username, user.display_name, user.role)


def normalise_username(username: str) -> str:
    """User names are compared without case or surrounding spaces."""
    return (username or "").strip().lower()


def check_username(username: str) -> str:
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise ValidationError(
            "A user name is 2–64 characters: letters, digits, dot, dash or underscore, "
            "starting with a letter or digit.", "username", name)
    return name


def check_display_name(display_name: str) -> str:
    name = (display_name or "").strip()
    if not name:
        raise ValidationError("Enter the person's name as it should appear on the chart.", "display_name", name)
    if len(name) > 128:
        raise ValidationError("A name can have at most 128 characters.", "display_name", None)
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        labels = ", ".join(f"{r} ({ROLE_LABELS[r]})" for r in ROLES)
        raise ValidationError(f"Role must be one of: {labels}.", "role", role)
    return role


def check_new_password(password: str, username: str | None = None) -> None:
    """A new password's rules. The message never repeats the password (ValidationError.value is None)."""
    if password is None or len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise ValidationError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.", "password", None)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"A password can have at most {MAX_PASSWORD_LENGTH} characters.", "password", None)
    if username and password.strip().lower() == normalise_username(username):
        raise ValidationError("The password cannot be the user name.", "password", None)


def needs_first_admin(store: Store) -> bool:
    """True only for a database without any user account (first run)."""
    with store.read() as db:
        return not db.scalar(select(func.count()).select_from(User))


def find_user(store: Store, username: str) -> User | None:
    with store.read() as db:
        return db.scalar(select(User).where(User.username == normalise_username(username)))


def active_actor(store: Store, username: str | None = None, *, role: str = "nurse") -> Actor | None:
    """The active user named `username`, else the first active user with `role`
    (the demo's screenshot and the benchmark act without a sign-in dialog)."""
    with store.read() as db:
        q = select(User).where(User.active.is_(True))
        q = q.where(User.username == username) if username else q.where(User.role == role).order_by(User.id)
        user = db.scalar(q.limit(1))
        return None if user is None else Actor(user.id, user.username, user.display_name, user.role)


def list_users(store: Store) -> list[User]:
    with store.read() as db:
        return list(db.scalars(select(User).order_by(User.role, User.username)))
