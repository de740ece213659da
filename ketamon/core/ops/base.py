"""The operations layer's machinery: the one way data changes.

An operation is a function `def name(op: Op, ...)` decorated with
`@operation(Permission.X)`. Callers (GUI, CLI, device feed, tests) call it as
`name(store, actor, ...)`; it runs in one transaction, checks the actor's role
first, validates its input, writes the audit trail, and returns a typed `OpChanges`
(ketamon.core.changes, also called `Changes`) describing what changed so each
screen can decide whether to refresh.

Operations never touch widgets and never prompt: a refusal is an exception whose
message is fit to show (ketamon.core.errors).

Who acts is read from the database inside the operation's own transaction: the
`Actor` a caller hands in only names the user (its id); that user's row gives the
role, whether the account is still active and whether it must change its password
first. A stale or forged Actor can therefore do no more than its user. The only
identities without a user row are the system (the alert timer, `SYSTEM`, only for
operations declared `system=True`) and the command-line operator of `ketamon users`.

Several workstations: what an operation checks and then writes is locked for the
transaction (`Op.session()` takes the session row FOR NO KEY UPDATE on PostgreSQL; SQLite
already locks the whole file with BEGIN IMMEDIATE), so the second of two
simultaneous changes sees the first and is refused in words. A unique-key race
(two registering one MRN at once) runs the operation once more, so its own check
refuses in its words; the database's error text, which can carry the key's value
(patient data), never reaches the user or the log.
"""
from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session as DbSession

from ketamon.core import audit, formats, live
from ketamon.core.changes import OpChanges
from ketamon.core.errors import NotFound, PermissionDenied, SessionLocked, ValidationError
from ketamon.core.models import Session, User
from ketamon.core.permissions import Actor, Permission, is_command_line_operator, is_system
from ketamon.core.protocols import Protocol
from ketamon.core.store import Store


#: the name operations and screens have always used; OpChanges is the notice itself
Changes = OpChanges


# ---------------------------------------------------------------- one commit for several operations


class _Joined(threading.local):
    """This thread's `one_commit` block: its store and its open transaction."""

    store: Store | None = None
    db: DbSession | None = None


_joined = _Joined()


@contextmanager
def one_commit(store: Store) -> Iterator[None]:
    """Operations this thread runs on `store` inside the block share one
    transaction, each in a savepoint of its own: a refused or failed one rolls back
    only its own rows (its refusal audited in a savepoint of its own), and the
    audit chain runs through them in order. One commit at the end, so one fsync
    for all of them: the monitor listener stores a burst of messages so.

    Nothing is durable before the block ends: whoever answers for an operation run
    inside it (an acknowledgement) must answer after it, and answer "not stored"
    for all of them when it raises (the commit failed: nothing was stored). Only
    operations (and refusals) join the block: code that opens store.transaction()
    itself inside it would, on SQLite, wait for the block's own write lock."""
    if _joined.db is not None:
        raise RuntimeError("one_commit blocks do not nest")
    with store.transaction() as db:
        _joined.store, _joined.db = store, db
        try:
            yield
        finally:
            _joined.store = _joined.db = None


@contextmanager
def _transaction(store: Store) -> Iterator[DbSession]:
    """An operation's transaction: store.transaction(), or inside this thread's
    one_commit block on the same store, a savepoint of the block's."""
    db = _joined.db
    if db is None or _joined.store is not store:
        with store.transaction() as db:
            yield db
        return
    kept = audit.touched(db)
    try:
        with db.begin_nested():
            yield db
    except BaseException:
        audit.touched(db, kept)  # the rows the rolled-back savepoint wrote are not to be listed
        raise

#: How an operation locks the row it checks: FOR NO KEY UPDATE on PostgreSQL, which
#: two changes of one row cannot both hold, but which does not wait for a transaction
#: that merely inserts an entry pointing at that row (its foreign-key check holds
#: KEY SHARE); plain FOR UPDATE would make such an insert and a change of its session
#: wait for each other. Nothing on SQLite.
ROW_LOCK = {"key_share": True}


@dataclass
class Op:
    """What an operation body works with: one transaction, who, and when."""

    db: DbSession
    store: Store
    actor: Actor
    now: datetime
    changes: Changes = field(default_factory=Changes)
    _audit: list[audit.PendingAudit] = field(default_factory=list)
    #: work kept even when the operation is refused and rolled back, run after the
    #: rollback in a transaction of its own (a wrong password counts toward lock-out)
    on_refusal: list[Callable[[Store], None]] = field(default_factory=list)
    #: sessions read afresh and locked in this transaction (`session_row`), held here:
    #: the database session's identity map keeps rows only while they are referenced
    _locked: dict[int, Session] = field(default_factory=dict)

    def audit(self, action: str, *, entity: str | None = None, entity_id: int | None = None,
              session_id: int | None = None, before: dict | None = None, after: dict | None = None,
              detail: str | None = None) -> None:
        self._audit.append(audit.PendingAudit(action, entity, entity_id, session_id, before, after, detail))

    def session_row(self, session_id: int) -> Session | None:
        """The session's row, locked and read afresh the first time in this
        transaction (see `session`); once locked, no other workstation can change
        it before this transaction ends, so later calls need no query."""
        if session_id in self._locked:
            return self._locked[session_id]
        s = self.db.get(Session, session_id, with_for_update=ROW_LOCK, populate_existing=True)
        if s is not None:
            self._locked[session_id] = s
        return s

    def session(self, session_id: int, *, for_change: bool = True) -> Session:
        """Load a treatment session; refuse changes to a signed (locked) one.

        `for_change` locks the session row until the transaction ends (FOR NO KEY UPDATE on
        PostgreSQL; a no-op on SQLite, whose writers already hold the file), and
        re-reads it: whatever another workstation committed meanwhile (a signature,
        a correction of the same entry) is seen before this one checks and writes.
        Everything charted into one session is thereby one change at a time."""
        s = self.session_row(session_id) if for_change else self.db.get(Session, session_id)
        if s is None:
            raise NotFound(f"There is no session {session_id}.")
        if for_change and s.locked:
            raise SessionLocked(f"Session {session_id} is signed and locked; add an addendum instead."
                                f"{_signed_by(self, s)}")
        return s

    def protocol(self, session: Session) -> Protocol:
        return self.store.protocols.get(session.protocol_id, session.protocol_version)

    def require(self, permission: Permission, what: str | None = None) -> None:
        """A second permission check inside an operation (e.g. for one field)."""
        if not self.actor.can(permission):
            raise PermissionDenied(_refusal(self.actor, permission, what))


def local_hm(when) -> str:
    """A stored (UTC) time as the workstation's local HH:MM, as every refusal says it."""
    return formats.clock_time(when)


def user_label(db: DbSession, user_id: int | None) -> str:
    """"Sam Carter RN" for a user id, as a refusal names who did something first."""
    u = db.get(User, user_id) if user_id is not None else None
    return u.display_name if u is not None else "the system"


def _signed_by(op: Op, s: Session) -> str:
    if s.signed_at is None:
        return ""
    return f" Signed by {user_label(op.db, s.signed_by_id)} at {local_hm(s.signed_at)}."


def _refusal(actor: Actor, permission: Permission, what: str | None) -> str:
    return f"{actor.display_name} ({actor.role_label}) may not {what or permission.value}."


def printable(text: str) -> str:
    """Text as the audit may store it: control characters (a NUL byte, which
    PostgreSQL refuses in text, an escape sequence) written out as \\xNN."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else f"\\x{ord(ch):02x}" for ch in text)


def record_refusal(store: Store, actor: Actor, name: str, message: str, session_id: int | None = None) -> None:
    """Refusals are audited in a transaction of their own (the refused one rolls back).
    The refused input may hold anything a keyboard or a script can send: stored printable."""
    with _transaction(store) as db:
        audit.append(db, store.clock.now(), actor.user_id, actor.username,
                     [audit.PendingAudit("refused", entity="operation", session_id=session_id,
                                         detail=printable(f"{name}: {message}"))])


def _kept_on_refusal(store: Store, op: Op | None) -> None:
    """Run what a refused operation asked to keep (`Op.on_refusal`), after its rollback."""
    for keep in (op.on_refusal if op is not None else ()):
        keep(store)


def _validation_detail(exc: ValidationError) -> str:
    """What the audit keeps of a refused entry. The message is kept (refusal
    messages name fields and values, never a patient); the value only for fields
    that are not private (ketamon.core.inputs.PRIVATE: names, free text, passwords)."""
    from ketamon.core.inputs import PRIVATE

    value = "" if exc.field in PRIVATE or exc.value is None else f" = {str(exc.value)[:80]}"
    field = f" [{exc.field}{value}]" if exc.field else ""
    return f"{exc}{field}"


#: what a unique-key race that the operation's own check cannot name is refused with
CONFLICT = ("Another workstation saved the same thing at the same moment, so nothing was saved here. "
            "Look again at what is now recorded and try again if it is still needed.")


def _acting(op: Op, permission: Permission | None, what: str | None, name: str, *, system: bool,
            during_password_change: bool) -> Actor:
    """Who really acts: the user row behind `op.actor`, read in this transaction.

    The handed Actor's role is never trusted: a disabled account's open window, an
    Actor built with someone else's role, or one without a user id can do no more
    than the user (or nothing). Returns the Actor the operation and its audit use."""
    handed = op.actor
    if handed.user_id is None:
        if is_system(handed):
            if not system:
                raise PermissionDenied(f"The system itself may not {what or _what(permission, name)}; "
                                       "a signed-in user must.")
            return handed
        if not is_command_line_operator(handed):
            raise PermissionDenied("Nobody is signed in: sign in first.")
        who = handed
    else:
        u = op.db.get(User, handed.user_id, populate_existing=True)
        if u is None or not u.active:
            raise PermissionDenied(f"The account {handed.username} is disabled or unknown; sign in again.")
        who = Actor(u.id, u.username, u.display_name, u.role)
        if u.must_change_password and not during_password_change:
            raise PermissionDenied(f"{who.display_name} must choose a new password before doing anything else "
                                   "(an administrator reset it); change it, or sign out.")
    if permission is not None and not who.can(permission):
        raise PermissionDenied(_refusal(who, permission, what))
    return who


def _what(permission: Permission | None, name: str) -> str:
    return permission.value if permission is not None else name.replace("_", " ")


def is_database_error(exc: BaseException) -> bool:
    """A database driver's error (its text may carry bound values: see safe_error_text)."""
    return isinstance(exc, DBAPIError)


def safe_error_text(exc: BaseException) -> str:
    """What may be logged of an unexpected error: its type and the database's first
    line, never the DETAIL/HINT lines or bound values (PostgreSQL's DETAIL says
    "Key (mrn)=(MRN-100231) already exists": patient data)."""
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        first = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else ""
        code = getattr(orig, "sqlstate", None) or getattr(exc, "code", None)
        return f"{type(orig).__name__ if orig is not None else type(exc).__name__}" + \
            (f" [{code}]" if code else "") + (f": {first}" if first else "")
    return type(exc).__name__


def _session_id_of(positional: list[str], args: tuple, kwargs: dict) -> int | None:
    """The session a refused call was about, so the refusal shows in that session's audit."""
    sid = kwargs.get("session_id")
    if sid is None and "session_id" in positional and positional.index("session_id") < len(args):
        sid = args[positional.index("session_id")]
    return sid if isinstance(sid, int) and not isinstance(sid, bool) and 0 < sid < 2**31 else None


P = ParamSpec("P")
R = TypeVar("R")


def operation(permission: Permission | None, what: str | None = None, *, system: bool = False,
              during_password_change: bool = False
              ) -> Callable[[Callable[Concatenate[Op, P], Any]], Callable[Concatenate[Store, Actor, P], Changes]]:
    """Make `fn(op, ...)` an operation callable as `fn(store, actor, ...) -> Changes`.

    `permission` None means any signed-in user (e.g. signing out). `system=True`
    lets the system itself (`SYSTEM`, the alert timer) run it as well, whatever the
    permission. `during_password_change=True` lets a user whose password was reset
    run it before choosing a new one (only changing the password, signing out and
    locking the screen may)."""

    def wrap(fn: Callable[Concatenate[Op, P], Any]) -> Callable[Concatenate[Store, Actor, P], Changes]:
        positional = list(inspect.signature(fn).parameters)[1:]  # after `op`

        @functools.wraps(fn)
        def run(store: Store, actor: Actor, *args: P.args, **kwargs: P.kwargs) -> Changes:
            # Two tries only for a unique-key race: the second run's own check sees the
            # other workstation's row and refuses in words ("A patient with MRN … already exists.").
            for attempt in (1, 2):
                who, op = actor, None
                try:
                    with _transaction(store) as db:
                        op = Op(db=db, store=store, actor=actor, now=store.clock.now(),
                                changes=Changes(origin=store.origin))
                        op.actor = who = _acting(op, permission, what, fn.__name__, system=system,
                                                 during_password_change=during_password_change)
                        op.changes.result = fn(op, *args, **kwargs)
                        db.flush()
                        audit.append(db, op.now, who.user_id, who.username, op._audit)
                        # in the same transaction: other workstations hear of it only if it commits
                        live.publish(db, op.changes, at=op.now, by=who.username)
                    return op.changes
                except PermissionDenied as exc:  # the gate's, or an op.require() inside the body: audited
                    sid = _session_id_of(positional, args, kwargs)
                    record_refusal(store, who, fn.__name__, str(exc), sid)
                    _kept_on_refusal(store, op)
                    raise
                except ValidationError as exc:  # refused input is audited (README): field and value, no names
                    if not getattr(exc, "audited_by_caller", False):  # the device feed counts its repeats
                        record_refusal(store, who, fn.__name__, _validation_detail(exc),
                                       _session_id_of(positional, args, kwargs))
                    _kept_on_refusal(store, op)
                    raise
                except IntegrityError:
                    if attempt == 2:
                        # never the database's text: its DETAIL line carries the key's value
                        exc = ValidationError(CONFLICT)
                        record_refusal(store, who, fn.__name__, CONFLICT, _session_id_of(positional, args, kwargs))
                        raise exc from None
            raise AssertionError("unreachable")  # pragma: no cover

        run.permission = permission  # type: ignore[attr-defined]
        run.system = system  # type: ignore[attr-defined]
        run.during_password_change = during_password_change  # type: ignore[attr-defined]
        run.body = fn  # type: ignore[attr-defined]
        return run

    return wrap
