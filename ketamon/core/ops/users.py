"""User accounts and signing in.

Account changes (add, disable, enable, reset a password) are operations that need
Permission.MANAGE_USERS. Signing in has no actor yet, so `sign_in` and
`create_first_admin` are plain functions; they still write the audit trail in the
same transaction as the change, like an operation does.

Audit actions written here: sign_in, sign_in_failed, locked_out, unlock,
sign_out, screen_locked, create/disable/enable/reset_password/change_password on
entity "user". A password is never written anywhere, and neither is its hash
into the audit trail. An unknown user name is not recorded either: people type
their password into the user-name field more often than one would think.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, select

from ketamon.core import audit
from ketamon.core.auth import (
    WRONG_CREDENTIALS,
    AuthPolicy,
    actor_for,
    check_display_name,
    check_new_password,
    check_role,
    check_username,
    normalise_username,
)
from ketamon.core.errors import AuthenticationError, NotFound, ValidationError
from ketamon.core.models import User
from ketamon.core import inputs
from ketamon.core.ops.base import Op, operation
from ketamon.core.passwords import hash_password, needs_rehash, verify_password
from ketamon.core.permissions import ROLE_LABELS, Actor, Permission
from ketamon.core.store import Store, exclusive

#: What the audit trail keeps of a user row: everything but the password hash.
USER_FIELDS = ("id", "username", "display_name", "role", "active", "failed_attempts", "locked_until",
               "must_change_password", "created_at")

SIGN_IN_PURPOSES = {"sign_in": "signed in", "switch": "signed in (switched user)", "unlock": "unlocked the screen"}


def user_snapshot(user: User) -> dict:
    return {k: audit.jsonable(getattr(user, k)) for k in USER_FIELDS}


def _workstation() -> str:
    try:
        return socket.gethostname() or "unknown workstation"
    except OSError:
        return "unknown workstation"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against for an unknown user name so that it takes as long as a real check."""
    return hash_password("ketamon: no such user")


@dataclass(frozen=True)
class SignedIn:
    actor: Actor
    #: an administrator reset the password: ask for a new one before anything else
    must_change_password: bool


def _locked_message(user: User) -> str:
    until = user.locked_until.astimezone().strftime("%H:%M")
    return (f"The account {user.username} is locked after too many wrong passwords. "
            f"Try again after {until}, or ask an administrator to reset the password.")


def _count_wrong_password(user: User, now: datetime, policy: AuthPolicy, where: str) -> tuple[bool, list[str]]:
    """One more wrong password for `user`: the counter, and the lock-out when it is
    reached. Returns (now locked, audit details: the attempt, then the lock-out)."""
    user.failed_attempts = (user.failed_attempts or 0) + 1
    details = [f"wrong password ({user.failed_attempts} of {policy.max_failed_attempts}), {where}"]
    if user.failed_attempts < policy.max_failed_attempts:
        return False, details
    user.locked_until = now + timedelta(minutes=policy.lockout_minutes)
    user.failed_attempts = 0
    details.append(f"locked for {policy.lockout_minutes} minutes after {policy.max_failed_attempts} wrong passwords")
    return True, details


def check_password_again(op: Op, what: str, password: str) -> None:
    """The signed-in user confirms an act with their password (signing a record).

    A wrong password is refused in words and counts like a wrong sign-in: the
    counter and the lock-out are kept although the operation rolls back. A locked
    account is refused even with the right password."""
    user = _user(op, op.actor.user_id)
    if user.locked_until is not None and user.locked_until > op.now:
        verify_password(_dummy_hash(), password or "")
        raise ValidationError(_locked_message(user), "password", None)
    if verify_password(user.password_hash, password or ""):
        return
    user_id, where = user.id, f"when confirming {what}, on {_workstation()}"

    def count(store: Store) -> None:
        with store.transaction() as db:
            u = db.get(User, user_id, with_for_update=True)
            _locked, details = _count_wrong_password(u, store.clock.now(), AuthPolicy.for_clinic(store), where)
            db.flush()
            audit.append(db, store.clock.now(), u.id, u.username,
                         [audit.PendingAudit(action, entity="user", entity_id=u.id, detail=detail)
                          for action, detail in zip(("sign_in_failed", "locked_out"), details)])

    op.on_refusal.append(count)
    raise ValidationError(f"The password is wrong, so {what} was not done. Type your own password to confirm.",
                          "password", None)


def sign_in(store: Store, username: str, password: str, *, purpose: str = "sign_in",
            policy: AuthPolicy | None = None) -> SignedIn:
    """Check a user name and password; record the attempt either way.

    Raises AuthenticationError with a message to show in the dialog. A failure is
    committed (counter, lock-out, audit) before the error is raised.
    """
    if purpose not in SIGN_IN_PURPOSES:
        raise ValueError(f"unknown sign-in purpose {purpose!r}")
    policy = policy or AuthPolicy.for_clinic(store)
    name = normalise_username(username)
    where = _workstation()
    failure: str | None = None
    result: SignedIn | None = None
    with store.transaction() as db:
        now = store.clock.now()
        user = db.scalar(select(User).where(User.username == name).with_for_update())
        items: list[audit.PendingAudit] = []
        if user is None:
            verify_password(_dummy_hash(), password or "")
            items.append(audit.PendingAudit("sign_in_failed", entity="user",
                                            detail=f"unknown user name, on {where}"))
            audit.append(db, now, None, None, items)
            failure = WRONG_CREDENTIALS
        else:
            def fail(message: str, *details: str) -> None:
                nonlocal failure
                failure = message
                for action, detail in zip(("sign_in_failed", "locked_out"), details):
                    items.append(audit.PendingAudit(action, entity="user", entity_id=user.id, detail=detail))

            if user.locked_until is not None and user.locked_until > now:
                verify_password(_dummy_hash(), password or "")
                fail(_locked_message(user), f"account locked, on {where}")
            elif not verify_password(user.password_hash, password or ""):
                locked, details = _count_wrong_password(user, now, policy, f"on {where}")
                fail(_locked_message(user) if locked else WRONG_CREDENTIALS, *details)
            elif not user.active:
                fail(f"The account {user.username} is disabled. Ask an administrator.",
                     f"account disabled, on {where}")
            else:
                user.failed_attempts = 0
                user.locked_until = None
                if needs_rehash(user.password_hash):
                    user.password_hash = hash_password(password)
                action = "unlock" if purpose == "unlock" else "sign_in"
                items.append(audit.PendingAudit(action, entity="user", entity_id=user.id,
                                                detail=f"{SIGN_IN_PURPOSES[purpose]} as {ROLE_LABELS[user.role]}, "
                                                       f"on {where}"))
                result = SignedIn(actor_for(user), bool(user.must_change_password))
            db.flush()
            audit.append(db, now, user.id, user.username, items)
    if failure is not None:
        raise AuthenticationError(failure)
    assert result is not None
    return result


def create_first_admin(store: Store, *, username: str, display_name: str, password: str) -> Actor:
    """First run: create the administrator on a database without any user.

    Refused once any account exists, so it cannot be used to get round passwords."""
    name = check_username(username)
    display = check_display_name(display_name)
    check_new_password(password, name)
    with store.transaction() as db:
        # Two workstations on a new database at once: the second waits here, then
        # sees the first one's administrator and is refused (SQLite: BEGIN IMMEDIATE).
        exclusive(db, "first administrator")
        first = db.scalar(select(User).order_by(User.id).limit(1))
        if first is not None:
            raise AuthenticationError(
                f"This database already has user accounts: {first.display_name} ({first.username}) was "
                f"created at {first.created_at.astimezone().strftime('%H:%M')}. Sign in instead.")
        now = store.clock.now()
        u = User(username=name, display_name=display, role="admin", password_hash=hash_password(password),
                 active=True, failed_attempts=0, must_change_password=False, created_at=now)
        db.add(u)
        db.flush()
        audit.append(db, now, u.id, u.username,
                     [audit.PendingAudit("create", entity="user", entity_id=u.id, after=user_snapshot(u),
                                         detail=f"first administrator, created on first run on {_workstation()}")])
        return actor_for(u)


@operation(None, during_password_change=True)
def sign_out(op: Op, *, reason: str = "signed out") -> None:
    """Record that the signed-in user left (sign-out, switch user, app closed)."""
    inputs.SignOutInput.check(op, locals())
    op.audit("sign_out", entity="user", entity_id=op.actor.user_id, detail=f"{reason}, on {_workstation()}")
    op.changes.message = f"{op.actor.display_name} signed out"


@operation(None, during_password_change=True)
def lock_screen(op: Op, *, reason: str = "locked") -> None:
    """Record that the screen was locked (by the user, or after idle minutes)."""
    inputs.SignOutInput.check(op, locals())
    op.audit("screen_locked", entity="user", entity_id=op.actor.user_id, detail=f"{reason}, on {_workstation()}")
    op.changes.message = "Screen locked"


# ---------------------------------------------------------------- accounts


def _user(op: Op, user: int | str) -> User:
    if isinstance(user, int):
        u = op.db.get(User, user)
    else:
        u = op.db.scalar(select(User).where(User.username == normalise_username(user)))
    if u is None:
        raise NotFound(f"There is no user {user}.")
    return u


def _active_admins(op: Op) -> int:
    return op.db.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True)))


@operation(Permission.MANAGE_USERS)
def add_user(op: Op, *, username: str, display_name: str, role: str, password: str,
             must_change_password: bool = False) -> int:
    """A new account. `must_change_password` asks for a new password at first sign-in."""
    inputs.AddUserInput.check(op, locals())
    name = check_username(username)
    display = check_display_name(display_name)
    check_role(role)
    check_new_password(password, name)
    if op.db.scalar(select(User.id).where(User.username == name)) is not None:
        raise ValidationError(f"The user name {name} is already taken.", "username", name)
    u = User(username=name, display_name=display, role=role, password_hash=hash_password(password), active=True,
             failed_attempts=0, must_change_password=must_change_password, created_at=op.now)
    op.db.add(u)
    op.db.flush()
    op.audit("create", entity="user", entity_id=u.id, after=user_snapshot(u))
    op.changes.mark(users=True)
    op.changes.created.append(("user", u.id))
    op.changes.message = f"{ROLE_LABELS[role]} {display} ({name}) added"
    return u.id


@operation(Permission.MANAGE_USERS)
def disable_user(op: Op, user: int | str, *, reason: str | None = None) -> None:
    """Disabled accounts cannot sign in; their entries keep their name. Never deleted."""
    inputs.UserInput.check(op, locals())
    u = _user(op, user)
    if u.id == op.actor.user_id:
        raise ValidationError("You cannot disable your own account.", "username", u.username)
    if not u.active:
        raise ValidationError(f"{u.username} is already disabled.", "username", u.username)
    if u.role == "admin" and _active_admins(op) <= 1:
        raise ValidationError("This is the last active administrator; add another one first.",
                              "username", u.username)
    before = user_snapshot(u)
    u.active = False
    op.audit("disable", entity="user", entity_id=u.id, before=before, after=user_snapshot(u), detail=reason)
    op.changes.mark(users=True)
    op.changes.message = f"{u.display_name} ({u.username}) disabled"


@operation(Permission.MANAGE_USERS)
def enable_user(op: Op, user: int | str) -> None:
    inputs.UserInput.check(op, locals())
    u = _user(op, user)
    if u.active:
        raise ValidationError(f"{u.username} is already active.", "username", u.username)
    before = user_snapshot(u)
    u.active = True
    op.audit("enable", entity="user", entity_id=u.id, before=before, after=user_snapshot(u))
    op.changes.mark(users=True)
    op.changes.message = f"{u.display_name} ({u.username}) enabled"


@operation(Permission.MANAGE_USERS)
def reset_password(op: Op, user: int | str, new_password: str, *, must_change: bool = True) -> None:
    """Set a temporary password (the user chooses their own at next sign-in) and lift a lock-out."""
    inputs.ResetPasswordInput.check(op, locals())
    u = _user(op, user)
    check_new_password(new_password, u.username)
    before = user_snapshot(u)
    u.password_hash = hash_password(new_password)
    u.failed_attempts = 0
    u.locked_until = None
    u.must_change_password = must_change
    op.audit("reset_password", entity="user", entity_id=u.id, before=before, after=user_snapshot(u))
    op.changes.mark(users=True)
    op.changes.message = f"Password of {u.username} reset"


@operation(None, during_password_change=True)
def change_password(op: Op, current_password: str, new_password: str) -> None:
    """The signed-in user changes their own password (any role)."""
    inputs.ChangePasswordInput.check(op, locals())
    if op.actor.user_id is None:
        raise ValidationError("Only a signed-in user can change their password.")
    u = _user(op, op.actor.user_id)
    if not verify_password(u.password_hash, current_password or ""):
        raise ValidationError("The current password is wrong.", "current_password", None)
    check_new_password(new_password, u.username)
    if verify_password(u.password_hash, new_password):
        raise ValidationError("Choose a password different from the current one.", "password", None)
    before = user_snapshot(u)
    u.password_hash = hash_password(new_password)
    u.must_change_password = False
    op.audit("change_password", entity="user", entity_id=u.id, before=before, after=user_snapshot(u))
    op.changes.mark(users=True)
    op.changes.message = "Password changed"
