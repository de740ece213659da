"""OpRunner: how widgets run operations. It supplies the store and the signed-in
actor, turns a refusal into a message the user reads (nothing is stored then),
and broadcasts the typed OpChanges so every screen refreshes from one signal
(each deciding from its flags, and from `initiator`, whether what it shows changed).

Other workstations' notices arrive through `receive` (ketamon.gui.live_bridge) and
are broadcast on the same `changed` signal: a screen refreshes from a change made
at another chair exactly as from one made here. When the database cannot be
reached the operation is refused with a technical sentence (`connection` tells the
banner), nothing is shown as saved, and what was typed stays in its field.

An entry the nurse submits with `send` (not `run`) carries an entry key (a UUID
made at Enter). If the database cannot be reached it is kept here, pending, and
the screen says "not saved yet"; when the database answers again it is sent
again automatically with the same key, so an entry whose first commit did go
through (the connection dropped during it) is stored once (ops.charting's entry
keys). `settled` tells the screen that sent it how it ended. Pending entries are
also kept on disk (ketamon.gui.pending_journal) and sent when the next run starts.

A screen's own reads (a reload on a notice, on being shown, on a timer) go through
`screen_read`: when the database cannot be reached the screen keeps what it shows,
the banner says so, and the read is done again once the database answers."""
from __future__ import annotations

import functools
import inspect
import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from ketamon.core.errors import DatabaseUnreachable, KetamonError
from ketamon.core.live import UNREACHABLE, is_unreachable
from ketamon.core.ops.base import Changes, is_database_error, safe_error_text
from ketamon.core.permissions import Actor
from ketamon.core.store import Store
from ketamon.gui import pending_journal

log = logging.getLogger(__name__)

#: what a screen says of an entry kept while the database cannot be reached
PENDING = "Not saved yet — will be sent when the database answers."


@dataclass(eq=False)
class Pending:
    """An entry submitted while the database could not be reached, kept to be sent
    again with its entry key. `changes` / `refusal` say how it ended (`settled`)."""

    operation: Callable[..., Changes]
    args: tuple
    kwargs: dict
    #: the widget that sent it (it shows the outcome), and the screen for `changes.initiator`
    owner: object | None = None
    initiator: object | None = None
    changes: Changes | None = None
    refusal: str | None = None
    #: the arguments as the screen gave them (before the key and the time were added)
    asked: dict | None = None
    #: who pressed Enter: the entry is theirs even if another user signs in meanwhile
    actor: Actor | None = None

    def asks(self, operation: Callable[..., Changes], args: tuple, kwargs: dict) -> bool:
        """The same entry as this one, submitted again."""
        return (operation, args, kwargs) == (self.operation, self.args, self.asked)


class OpRunner(QObject):
    #: emitted after every successful operation
    changed = Signal(object)  # OpChanges
    #: emitted when an operation was refused: (title, message)
    refused = Signal(str, str)
    #: the signed-in user changed (sign-in, switch user, sign-out → None)
    actor_changed = Signal(object)
    #: whether the clinic database can be reached: (reachable, sentence)
    connection = Signal(bool, str)
    #: a pending entry was sent again and saved (its `changes`) or refused (its `refusal`)
    settled = Signal(object)  # Pending

    def __init__(self, store: Store, actor: Actor | None, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self._actor = actor
        #: the last refusal's message and exception (None after a success), so a
        #: widget can show the reason next to the control that caused it
        self.last_refusal: str | None = None
        self.last_error: BaseException | None = None
        #: False from a failure to reach the database until the connection is back
        self.reachable = True
        #: screens' reads that met an unreachable database, to do again when it
        #: answers: (id(screen), method name) → (screen, method, arguments)
        self._missed: dict[tuple[int, str], tuple[QObject, Callable[..., Any], tuple]] = {}
        #: entries submitted while the database was unreachable, oldest first; those
        #: a previous run left are sent once this one has started
        self._journal = pending_journal.journal_path(store.url)
        self.pending: list[Pending] = [
            Pending(pending_journal.operation_of(item), tuple(item["args"]), item["kwargs"],
                    actor=pending_journal.actor_of(item)) for item in pending_journal.load(self._journal)]
        if self.pending:
            QTimer.singleShot(0, self._send_pending)
        #: the entry the last `send` kept pending (None when it was saved or refused)
        self.last_pending: Pending | None = None

    @property
    def actor(self) -> Actor | None:
        return self._actor

    def set_actor(self, actor: Actor | None) -> None:
        self._actor = actor
        self.actor_changed.emit(actor)

    def run(self, operation: Callable[..., Changes], *args: Any, initiator: object | None = None,
            **kwargs: Any) -> Changes | None:
        """Run `operation(store, actor, *args, **kwargs)`. Returns its changes, or
        None when it was refused (the reason has been emitted via `refused`).

        `initiator` (the screen that asked) goes into `changes.initiator`, so that
        screen may skip refreshing what it has already updated itself."""
        return self._run_as(self._actor, operation, *args, initiator=initiator, **kwargs)

    def _run_as(self, actor: Actor | None, operation: Callable[..., Changes], *args: Any,
                initiator: object | None = None, **kwargs: Any) -> Changes | None:
        self.last_refusal, self.last_error = None, None
        if actor is None:
            self.last_refusal = "Sign in first."
            self.refused.emit("Not signed in", self.last_refusal)
            return None
        try:
            changes = operation(self.store, actor, *args, **kwargs)
        except KetamonError as exc:
            self.last_refusal, self.last_error = str(exc), exc
            self.refused.emit("Not saved", str(exc))
            return None
        except Exception as exc:
            if is_unreachable(exc):
                self._unreachable(exc)
                return None
            log_failure(f"operation {getattr(operation, '__name__', operation)}", exc)
            self.last_refusal, self.last_error = ("Something went wrong and nothing was saved. "
                                                  "The details are in the log; please tell the clinic IT."), exc
            self.refused.emit("Not saved", self.last_refusal)
            return None
        changes.initiator = initiator
        self.set_reachable(True)
        self.changed.emit(changes)
        return changes

    def send(self, operation: Callable[..., Changes], *args: Any, owner: object | None = None,
             initiator: object | None = None, when: str | None = None, **kwargs: Any) -> Changes | None:
        """Run an entry operation with an entry key; if the database cannot be
        reached, keep it pending (`last_pending`, `last_refusal` = PENDING) to be sent
        again when it answers. `when` names the operation's time parameter: left
        empty ("now"), it is set to the moment of Enter, so a later send keeps it."""
        self.last_pending = next((p for p in self.pending if p.asks(operation, args, kwargs)), None)
        if self.last_pending is not None:  # Enter again on what is already waiting: never twice
            self.last_refusal, self.last_error = PENDING, DatabaseUnreachable(PENDING)
            return None
        asked = dict(kwargs)
        kwargs.setdefault("entry_key", str(uuid.uuid4()))
        changes = self.run(operation, *args, initiator=initiator, **kwargs)
        if changes is None and isinstance(self.last_error, DatabaseUnreachable):
            if when is not None and kwargs.get(when) is None:
                kwargs[when] = self.store.clock.now()
            self.last_pending = Pending(operation, args, kwargs, owner, initiator, asked=asked, actor=self._actor)
            self.pending.append(self.last_pending)
            self._journal_do(pending_journal.keep, pending_journal.entry(operation, args, kwargs, self._actor))
            self.last_refusal = PENDING
        return changes

    def _send_pending(self) -> None:
        """The database answers again: send what was kept, oldest first, each with
        its key; stop (keeping the rest) if it is gone again."""
        while self.pending and self.reachable:
            p = self.pending[0]
            changes = self._run_as(p.actor, p.operation, *p.args, initiator=p.initiator, **p.kwargs)
            if changes is None and isinstance(self.last_error, DatabaseUnreachable):
                return
            self.pending.pop(0)
            self._journal_do(pending_journal.forget, p.kwargs["entry_key"])
            p.changes, p.refusal = changes, None if changes is not None else self.last_refusal
            self.settled.emit(p)

    def _journal_do(self, what: Callable[[Any, Any], None], arg: Any) -> None:
        """Keep or forget a waiting entry on disk; if the disk fails the entries still
        wait here (in memory), and the log says so."""
        try:
            what(self._journal, arg)
        except (OSError, TypeError, ValueError) as exc:  # a full disk, a value JSON cannot hold
            log.error("a waiting entry not kept on disk: %s", getattr(exc, "strerror", None) or type(exc).__name__)

    def receive(self, changes: Changes) -> None:
        """A notice from the clinic database: broadcast it like a local change,
        unless it is this workstation's own (already broadcast by `run`)."""
        if changes.origin == self.store.origin:
            return
        changes.initiator = None
        self.changed.emit(changes)

    def set_reachable(self, reachable: bool, sentence: str = "") -> None:
        """Tell the banner when the database's reachability changes."""
        if reachable != self.reachable:
            self.reachable = reachable
            self.connection.emit(reachable, sentence or ("Database reachable" if reachable else UNREACHABLE))
            if reachable and self.pending:
                QTimer.singleShot(0, self._send_pending)  # after the caller's own work (a save's broadcast)
            if reachable and self._missed:
                QTimer.singleShot(0, self._read_missed)

    def read_again(self, owner: QObject, name: str, read: Callable[..., Any], args: tuple) -> None:
        """A screen's read (`owner`'s method `name`) met an unreachable database: say
        so, and do it again once the database answers (once per screen and method;
        the notices it missed meanwhile are merged into one)."""
        key = (id(owner), name)
        if key in self._missed and args and isinstance(args[0], Changes) \
                and isinstance(self._missed[key][2][0], Changes):
            # into a new notice: the ones missed were handed to every screen
            args = (Changes().merge(self._missed[key][2][0]).merge(args[0]), *args[1:])
        self._missed[key] = (owner, read, args)
        self.set_reachable(False)

    def _read_missed(self) -> None:
        missed, self._missed = self._missed, {}
        for key, (owner, read, args) in missed.items():
            if not shiboken6.isValid(owner):
                continue  # a screen closed meanwhile
            if self.reachable:
                read(owner, *args)  # again through screen_read: if it fails, it is missed again
            else:
                self._missed.setdefault(key, (owner, read, args))

    def _unreachable(self, exc: BaseException) -> None:
        log.warning("database unreachable: %s", " ".join(safe_error_text(exc).split()[:1]))
        self.last_refusal, self.last_error = UNREACHABLE, DatabaseUnreachable(UNREACHABLE)
        self.set_reachable(False)
        self.refused.emit("Not saved", UNREACHABLE)


def screen_read(method: Callable[..., Any]) -> Callable[..., Any]:
    """For a screen's method that reads the database to show it (its `self.runner`
    is the window's OpRunner): if the database cannot be reached, the method returns
    None with the screen as it was, the banner says the database cannot be reached,
    and the method runs again when it answers. Any other failure is raised."""

    # a Qt signal connected to the method hands it what the signal carries; PySide
    # drops what the method does not take, and so must its wrapper
    code = method.__code__
    takes = None if code.co_flags & inspect.CO_VARARGS else code.co_argcount - 1

    @functools.wraps(method)
    def read(self, *args: Any) -> Any:
        args = args[:takes]
        try:
            return method(self, *args)
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            log.warning("database unreachable: %s.%s kept what it showed", type(self).__name__, method.__name__)
            self.runner.read_again(self, method.__name__, read, args)
            return None

    return read


def send_here(runner: OpRunner, line, operation: Callable[..., Changes], *args: Any, when: str | None = None,
              **kwargs: Any) -> Changes | None:
    """widgets.run_here for an entry (a dose, a side effect): sent with an entry key,
    kept while the database is away, and how a later send ended is said on `line`
    (a MessageLine) too."""
    if line.findChild(_SaidOn) is None:
        _SaidOn(runner, line)
    changes = runner.send(operation, *args, owner=line, when=when, **kwargs)
    _say(line, changes, runner.last_refusal)
    return changes


class _SaidOn(QObject):
    """Says on its message line how the entries sent from there while the database
    was away ended; a child of the line, so it goes (and stops listening) with it."""

    def __init__(self, runner: OpRunner, line: QObject):
        super().__init__(line)
        self.line = line
        runner.settled.connect(self._settled)

    def _settled(self, pending: Pending) -> None:
        if pending.owner is self.line:
            _say(self.line, pending.changes, pending.refusal)


def _say(line, changes: Changes | None, refusal: str | None) -> None:
    if changes is None:
        line.show_refusal(refusal or "the entry was refused.")
    else:
        line.show_ok(changes.message or "Saved")


def log_failure(what: str, exc: BaseException) -> None:
    """Log an unexpected failure of `what` ("operation add_note") for the clinic IT
    without patient data: a database error's text (PostgreSQL's DETAIL line names
    the key's value, e.g. an MRN) is cut to its first line; the traceback keeps its
    frames, never a message."""
    chain, seen = [], set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    if not any(is_database_error(e) for e in chain):
        log.error("%s failed", what, exc_info=exc)
        return
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s failed: %s\n%s", what, " <- ".join(safe_error_text(e) for e in chain), frames)
