"""The operations layer's machinery: the one way data changes.

An operation is a function `def name(op: Op, ...)` decorated with
`@operation(Permission.X)`. Callers (GUI, CLI, device feed, tests) call it as
`name(store, actor, ...)`; it runs in one transaction, checks the actor's role
first, validates its input, writes the audit trail, and returns a typed `OpChanges`
(ketamon.core.changes, also called `Changes`) describing what changed so each
screen can decide whether to refresh.

Operations never touch widgets and never prompt: a refusal is an exception whose
message is fit to show (ketamon.core.errors).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from ketamon.core import audit
from ketamon.core.changes import OpChanges
from ketamon.core.errors import NotFound, PermissionDenied, SessionLocked, ValidationError
from ketamon.core.models import Session, User
from ketamon.core.permissions import Actor, Permission
from ketamon.core.protocols import Protocol
from ketamon.core.store import Store


#: the name operations and screens have always used; OpChanges is the notice itself
Changes = OpChanges


@dataclass
class Op:
    """What an operation body works with: one transaction, who, and when."""

    db: DbSession
    store: Store
    actor: Actor
    now: datetime
    changes: Changes = field(default_factory=Changes)
    _audit: list[audit.PendingAudit] = field(default_factory=list)

    def audit(self, action: str, *, entity: str | None = None, entity_id: int | None = None,
              session_id: int | None = None, before: dict | None = None, after: dict | None = None,
              detail: str | None = None) -> None:
        self._audit.append(audit.PendingAudit(action, entity, entity_id, session_id, before, after, detail))

    def session(self, session_id: int, *, for_change: bool = True) -> Session:
        """Load a treatment session; refuse changes to a signed (locked) one."""
        s = self.db.get(Session, session_id)
        if s is None:
            raise NotFound(f"There is no session {session_id}.")
        if for_change and s.locked:
            raise SessionLocked(
                f"Session {session_id} is signed and locked; add an addendum instead."
            )
        return s

    def protocol(self, session: Session) -> Protocol:
        return self.store.protocols.get(session.protocol_id, session.protocol_version)

    def require(self, permission: Permission, what: str | None = None) -> None:
        """A second permission check inside an operation (e.g. for one field)."""
        if not self.actor.can(permission):
            raise PermissionDenied(_refusal(self.actor, permission, what))


def _refusal(actor: Actor, permission: Permission, what: str | None) -> str:
    return f"{actor.display_name} ({actor.role_label}) may not {what or permission.value}."


def record_refusal(store: Store, actor: Actor, name: str, message: str, session_id: int | None = None) -> None:
    """Refusals are audited in a transaction of their own (the refused one rolls back)."""
    with store.transaction() as db:
        audit.append(db, store.clock.now(), actor.user_id, actor.username,
                     [audit.PendingAudit("refused", entity="operation", session_id=session_id,
                                         detail=f"{name}: {message}")])


def _validation_detail(exc: ValidationError) -> str:
    """What the audit keeps of a refused entry. The message is kept (refusal
    messages name fields and values, never a patient); the value only for fields
    that are not private (ketamon.core.inputs.PRIVATE: names, free text, passwords)."""
    from ketamon.core.inputs import PRIVATE

    value = "" if exc.field in PRIVATE or exc.value is None else f" = {str(exc.value)[:80]}"
    field = f" [{exc.field}{value}]" if exc.field else ""
    return f"{exc}{field}"


def _check_account_active(op: Op) -> None:
    """A disabled account's open window must not keep working: checked in every operation."""
    if op.actor.user_id is not None and not op.db.scalar(select(User.active).where(User.id == op.actor.user_id)):
        raise PermissionDenied(f"The account {op.actor.username} is disabled or unknown; sign in again.")


def _session_id_of(positional: list[str], args: tuple, kwargs: dict) -> int | None:
    """The session a refused call was about, so the refusal shows in that session's audit."""
    sid = kwargs.get("session_id")
    if sid is None and "session_id" in positional and positional.index("session_id") < len(args):
        sid = args[positional.index("session_id")]
    return sid if isinstance(sid, int) and not isinstance(sid, bool) and 0 < sid < 2**31 else None


P = ParamSpec("P")
R = TypeVar("R")


def operation(permission: Permission | None, what: str | None = None
              ) -> Callable[[Callable[Concatenate[Op, P], Any]], Callable[Concatenate[Store, Actor, P], Changes]]:
    """Make `fn(op, ...)` an operation callable as `fn(store, actor, ...) -> Changes`.

    `permission` None means any signed-in user (e.g. signing out)."""

    def wrap(fn: Callable[Concatenate[Op, P], Any]) -> Callable[Concatenate[Store, Actor, P], Changes]:
        positional = list(inspect.signature(fn).parameters)[1:]  # after `op`

        @functools.wraps(fn)
        def run(store: Store, actor: Actor, *args: P.args, **kwargs: P.kwargs) -> Changes:
            if permission is not None and not actor.can(permission):
                message = _refusal(actor, permission, what)
                sid = _session_id_of(positional, args, kwargs)
                record_refusal(store, actor, fn.__name__, message, sid)
                raise PermissionDenied(message)
            try:
                with store.transaction() as db:
                    op = Op(db=db, store=store, actor=actor, now=store.clock.now())
                    _check_account_active(op)
                    op.changes.result = fn(op, *args, **kwargs)
                    db.flush()
                    audit.append(db, op.now, actor.user_id, actor.username, op._audit)
            except PermissionDenied as exc:  # an op.require() inside the body: audited too
                sid = _session_id_of(positional, args, kwargs)
                record_refusal(store, actor, fn.__name__, str(exc), sid)
                raise
            except ValidationError as exc:  # refused input is audited (README): field and value, no names
                record_refusal(store, actor, fn.__name__, _validation_detail(exc),
                               _session_id_of(positional, args, kwargs))
                raise
            return op.changes

        run.permission = permission  # type: ignore[attr-defined]
        run.body = fn  # type: ignore[attr-defined]
        return run

    return wrap
