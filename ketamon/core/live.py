"""Live notices between workstations: what one workstation changed, heard by the others.

Publishing (`publish`, called by the operation gate inside the operation's own
transaction, so a notice exists only if the change was committed):
- PostgreSQL: `NOTIFY ketamon, '<json>'`; the server delivers it at commit, never
  for a rolled-back transaction. The payload is the compact notice (flags, sessions,
  patients, origin, who); PostgreSQL refuses payloads of 8000 bytes or more, so a
  notice touching very many sessions is sent as "everything changed" instead.
- SQLite: a row in `change_log`; other processes notice that the file changed
  through `PRAGMA data_version` (one cheap call per poll) and only then read the
  rows after the last one they saw. Rows older than the newest KEEP are pruned; a
  reader that finds its next id pruned (it slept) refreshes everything rather than
  missing a change.

Listening (`Listener`): a thread with its own connection (PostgreSQL: a dedicated
psycopg connection doing LISTEN; SQLite: its own sqlite3 connection polling) that
hands each notice, as the `OpChanges` the operation returned (with its `origin`),
to a callback. When the database goes away it reports so, retries with backoff,
and once back it delivers one "refresh everything" notice: what was changed while
it was away is then on every screen.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as DbSession

from ketamon.core.changes import FLAGS, OpChanges
from ketamon.core.lifecycle import LIVE
from ketamon.core.models import ChangeLog, Session
from ketamon.core.store import Store

log = logging.getLogger(__name__)

#: the PostgreSQL channel
CHANNEL = "ketamon"
#: PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
MAX_PAYLOAD = 7900
#: SQLite: how many change_log rows are kept (a reader further behind refreshes everything)
KEEP = 1000
#: how the listener's connection shows in pg_stat_activity
APPLICATION_NAME = "ketamon-live"
#: what a notice's origin is when the listener itself asks for a full refresh
LISTENER_ORIGIN = "database"
#: how often the SQLite listener looks at the change counter, and the PostgreSQL one checks its connection
POLL_SECONDS = 0.1
PING_SECONDS = 5.0
#: reconnect backoff: first wait, longest wait
BACKOFF = (0.2, 5.0)


def payload(changes: OpChanges, by: str | None = None) -> str:
    """The compact notice: flags, sessions, patients, origin and who (no message:
    it is for the status bar of the workstation that acted). Too long for NOTIFY:
    the sessions and patients are dropped and `all` set (refresh everything)."""
    data = {"flags": sorted(changes.flags), "sessions": sorted(changes.sessions),
            "patients": sorted(changes.patient_ids), "origin": changes.origin, "by": by}
    text_ = json.dumps(data, separators=(",", ":"))
    if len(text_.encode()) <= MAX_PAYLOAD:
        return text_
    data.update(sessions=[], patients=[], all=True)
    return json.dumps(data, separators=(",", ":"))


def publish(db: DbSession, changes: OpChanges, *, at: datetime, by: str | None = None) -> None:
    """Send the notice of an operation about to commit, in its transaction (`at`:
    the operation's time, which dates the SQLite row)."""
    if not changes:
        return
    notice = payload(changes, by)
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_notify(:channel, :notice)"), {"channel": CHANNEL, "notice": notice})
        return
    # through the connection, not the ORM session: the audit's tracking of
    # clinical writes has nothing to do with these rows
    conn = db.connection()
    new_id = conn.execute(insert(ChangeLog).values(at=at, notice=notice)
                          .returning(ChangeLog.id)).scalar_one()
    if new_id % 100 == 0:
        conn.execute(delete(ChangeLog).where(ChangeLog.id <= new_id - KEEP))


def parse(notice: str, store: Store | None = None) -> OpChanges:
    """A published notice as OpChanges; one that says "everything" (too long for
    NOTIFY, or from a newer ketamon with a flag this one does not know) becomes a
    full refresh."""
    try:
        data = json.loads(notice)
        if not data.get("all"):
            return OpChanges.from_json(notice)
    except (ValueError, TypeError, AttributeError):
        data = {}
    return full_refresh(store, origin=str(data.get("origin") or LISTENER_ORIGIN))


def full_refresh(store: Store | None, *, origin: str = LISTENER_ORIGIN,
                 message: str = "Caught up with the clinic database") -> OpChanges:
    """A notice that makes every screen reload what it shows: every flag, and every
    session a screen may have open (under way, or scheduled or opened in the last day)."""
    changes = OpChanges(origin=origin, message=message)
    changes.mark(**{name: True for name in FLAGS})
    if store is not None:
        changes.sessions = set(open_session_ids(store))
    return changes


def open_session_ids(store: Store) -> list[int]:
    since = store.clock.now() - timedelta(days=1)
    with store.read() as db:
        return list(db.scalars(select(Session.id).where(or_(Session.state.in_(LIVE), Session.created_at >= since,
                                                                Session.scheduled_at >= since))))


# ---------------------------------------------------------------- listening


class Listener:
    """Hears the clinic database's notices in a thread of its own.

    `on_notice(changes)` is called in that thread for each notice (from any
    workstation, this one included: the receiver compares `changes.origin`).
    `on_status(reachable, sentence)` is called when the connection is lost or back."""

    def __init__(self, store: Store, on_notice: Callable[[OpChanges], None],
                 on_status: Callable[[bool, str], None] | None = None):
        self.store = store
        self.on_notice = on_notice
        self.on_status = on_status or (lambda _ok, _text: None)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        u = make_url(store.url)
        self.postgres = u.get_backend_name() == "postgresql"
        self._conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
        self._sqlite_path = u.database if not self.postgres else None

    def start(self) -> "Listener":
        self._thread = threading.Thread(target=self._run, name="ketamon-live", daemon=True)
        self._thread.start()
        return self

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once the listener hears notices (LISTEN done, or the SQLite position read)."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        """Connect, listen until the connection fails, then retry with backoff; after
        a loss, the first successful connection delivers a full refresh."""
        wait, lost = BACKOFF[0], False
        while not self._stop.is_set():
            try:
                self._listen(caught_up=lost)
            except Exception as exc:  # noqa: BLE001 - any failure of the connection: retry
                if self._stop.is_set():
                    return
                if not lost:
                    log.warning("live notices: connection lost (%s)", type(exc).__name__)
                    self.on_status(False, "Database unreachable")
                lost = True
                self._stop.wait(wait)
                wait = min(wait * 2, BACKOFF[1])
                continue
            return

    def _caught_up(self) -> None:
        self.on_status(True, "Database reachable again")
        self.on_notice(full_refresh(self.store, message="Database reachable again: every screen is up to date; "
                                                        "an entry kept on screen can be saved now"))

    def _listen(self, *, caught_up: bool) -> None:
        if self.postgres:
            self._listen_postgres(caught_up)
        else:
            self._listen_sqlite(caught_up)

    def _listen_postgres(self, caught_up: bool) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5,
                             application_name=APPLICATION_NAME) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._ready.set()
            if caught_up:
                self._caught_up()
            pinged = time.monotonic()
            while not self._stop.is_set():
                for n in conn.notifies(timeout=POLL_SECONDS * 5):
                    self.on_notice(parse(n.payload, self.store))
                    if self._stop.is_set():
                        return
                if time.monotonic() - pinged > PING_SECONDS:  # a silent network drop shows here
                    conn.execute("SELECT 1")
                    pinged = time.monotonic()

    def _listen_sqlite(self, caught_up: bool) -> None:
        if not self._sqlite_path or self._sqlite_path == ":memory:":
            self._ready.set()  # nobody else can write to a private database
            self._stop.wait()
            return
        con = sqlite3.connect(self._sqlite_path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            last = con.execute("SELECT coalesce(max(id), 0) FROM change_log").fetchone()[0]
            version = con.execute("PRAGMA data_version").fetchone()[0]
            self._ready.set()
            if caught_up:
                self._caught_up()
            while not self._stop.wait(POLL_SECONDS):
                now = con.execute("PRAGMA data_version").fetchone()[0]
                if now != version:
                    version = now
                    last = self._read_sqlite(con, last)
        finally:
            con.close()

    def _read_sqlite(self, con: sqlite3.Connection, last: int) -> int:
        """Deliver the rows after `last`; a gap (rows pruned before they were read)
        becomes one full refresh. Returns the new last id."""
        rows = con.execute("SELECT id, notice FROM change_log WHERE id > ? ORDER BY id", (last,)).fetchall()
        if not rows:
            return last
        if rows[0][0] != last + 1:
            self.on_notice(full_refresh(self.store))
            return rows[-1][0]
        for _id, notice in rows:
            self.on_notice(parse(notice, self.store))
        return rows[-1][0]


# ---------------------------------------------------------------- connection trouble


#: PostgreSQL error classes that mean the connection, not the statement, failed:
#: 08 connection exception; 57P01-03 the server shutting down or starting
_LOST_CODES = ("08", "57P01", "57P02", "57P03")
#: SQLite's primary result codes that mean its file cannot be reached (a clinic's
#: database file on a network share that went away), not a refusal or a fault:
#: SQLITE_IOERR (10) and SQLITE_CANTOPEN (14). "database is locked" (SQLITE_BUSY)
#: is not one of them: the file answers, another writer holds it
_SQLITE_LOST = (10, 14)

UNREACHABLE = "Database unreachable — your entry is kept, not saved; retrying…"


def is_unreachable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database could not be reached,
    as opposed to a refusal or a fault in ketamon."""
    from sqlalchemy.exc import DBAPIError

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, DBAPIError):
            code = getattr(e.orig, "sqlstate", None) or ""
            if e.connection_invalidated or code.startswith(_LOST_CODES):
                return True
            # psycopg's own failure to connect (no server there, refused, timed out) has no code
            if not code and type(e.orig).__module__.startswith("psycopg") and \
                    type(e.orig).__name__ in ("OperationalError", "InterfaceError"):
                return True
            sqlite_code = getattr(e.orig, "sqlite_errorcode", None)  # extended: the low byte is the primary
            if isinstance(sqlite_code, int) and (sqlite_code & 0xFF) in _SQLITE_LOST:
                return True
        e = e.__cause__ or e.__context__
    return False


def ping(store: Store) -> None:
    """One round trip to the database (raises when it cannot be reached). On SQLite
    it reads the file itself (its schema's version): a connection left open to a
    file on a share that went away answers a bare SELECT 1 from memory."""
    with store.read() as db:
        db.execute(text("PRAGMA schema_version" if store.engine.dialect.name == "sqlite" else "SELECT 1"))
