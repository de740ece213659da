"""A session's stored vital-sign sets read as plain rows, in chunks, for the
readers that go through all of them (the printed report, CSV and FHIR exports).
Below the exports and the report in the import order: they all read here."""
from __future__ import annotations

import gc
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from datetime import datetime

from sqlalchemy import Boolean, select

from ketamon.core.models import UTCDateTime, VitalSigns
from ketamon.core.store import Store

#: vital-sign sets read from the database at a time
CHUNK_ROWS = 2000

#: a stored vital-sign set as read for an export: the model's column names as
#: attributes, read-only. A plain tuple: reading an attribute of a database row
#: object costs about twenty times as much, and an export reads ~20 per set.
StoredVitalSigns = namedtuple("StoredVitalSigns", [c.key for c in VitalSigns.__table__.c])


def stored_vitals(store: Store, session_id: int, *, by_id: bool = False, chunk: int | None = None,
                  raw: bool = False) -> Iterator[Any]:
    """Every stored vital-sign set of the session (corrections and retractions
    included) as plain rows with the model's attribute names, ordered by
    (measured_at, entered_at, id) or, `by_id`, as stored; read `chunk` rows at a
    time. No ORM objects: 43 200 of them cost seconds and hundreds of megabytes.
    `raw`: plain tuples in the same column order, as the driver gives them (on
    SQLite UTC times as text "YYYY-MM-DD HH:MM:SS.ffffff" and flags 0/1; other
    databases already typed), for a writer that formats every value itself."""
    table = VitalSigns.__table__
    order = (table.c.id,) if by_id else IN_TIME_ORDER
    query = select(table).where(table.c.session_id == session_id).order_by(*order)
    with store.read() as db:
        conn = db.connection()
        if raw and conn.dialect.name == "sqlite":
            cursor = _sqlite_cursor(conn, query)
            try:
                while rows := cursor.fetchmany(chunk or CHUNK_ROWS):
                    yield from rows
            finally:
                cursor.close()
            return
        yield from vitals_rows(conn, query, chunk)


def stored_vitals_raw(store: Store, session_id: int) -> tuple[list[tuple], Callable[[tuple], Any]]:
    """Every stored set of the session, ordered as `stored_vitals` orders them, as
    the database driver gives them (SQLite: UTC times as text
    "YYYY-MM-DD HH:MM:SS.ffffff", flags 0/1; other databases: already the model's
    types), with the function that turns one into a `StoredVitalSigns`. For a
    reader that looks at every set but needs typed values for a few (the printed
    summary thins a 1 Hz feed to one set per 5 minutes): converting 43 200 rows'
    times costs more than reading them. Columns in `StoredVitalSigns` order."""
    table = VitalSigns.__table__
    query = select(table).where(table.c.session_id == session_id).order_by(*IN_TIME_ORDER)
    with store.read() as db:
        conn = db.connection()
        if conn.dialect.name == "sqlite":
            cursor = _sqlite_cursor(conn, query)
            try:
                return cursor.fetchall(), _from_sqlite
            finally:
                cursor.close()
    return list(stored_vitals(store, session_id)), _as_is


def _as_is(row: Any) -> Any:
    return row


#: (measured_at, entered_at, id): the order the chart, the report and the exports list sets in
IN_TIME_ORDER = (VitalSigns.__table__.c.measured_at, VitalSigns.__table__.c.entered_at, VitalSigns.__table__.c.id)


def vitals_rows(conn, query, chunk: int | None = None) -> Iterator[Any]:
    """The rows of `query` (a `select(VitalSigns.__table__)`: every column, in the
    table's order) on `conn` as StoredVitalSigns, read `chunk` at a time. On SQLite
    through its own cursor (see _sqlite_chunks): that statement is not seen by
    SQLAlchemy's events, so a statement counter misses it."""
    for part in vitals_chunks(conn, query, chunk):
        yield from part


def vitals_chunks(conn, query, chunk: int | None = None) -> Iterator[list[Any]]:
    """vitals_rows a list of `chunk` rows at a time (cheaper per row, for a reader
    that takes them all)."""
    if conn.dialect.name == "sqlite":
        yield from _sqlite_chunks(conn, query, chunk or CHUNK_ROWS)
        return
    # for this statement only: Connection.execution_options would keep a server-side
    # cursor on for the rest of the caller's transaction (an operation's inserts too)
    result = conn.execute(query, execution_options={"yield_per": chunk or CHUNK_ROWS})
    make = StoredVitalSigns._make
    for part in result.partitions():
        yield list(map(make, part))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector paused while many rows are read at once: stored
    rows hold no references that could make a cycle, yet every 700 new objects
    set a collection going over everything the program holds (about half the time
    of reading a 12-hour session's 43 200 sets in the window's process)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def is_vital_signs(entry: Any) -> bool:
    """Whether `entry` is a vital-sign set: a model object or a stored row (the
    chart holds stored rows)."""
    return isinstance(entry, (VitalSigns, StoredVitalSigns))


_COLUMNS = list(VitalSigns.__table__.c)
#: positions of the columns SQLite returns as text (UTC date-times) and as 0/1 (flags)
_TIMES = [i for i, c in enumerate(_COLUMNS) if isinstance(c.type, UTCDateTime)]
_FLAGS = [i for i, c in enumerate(_COLUMNS) if isinstance(c.type, Boolean)]


def _sqlite_chunks(conn, query, chunk: int) -> Iterator[list[Any]]:
    """The rows from SQLite's own cursor, turned into the values the model's types
    give (aware UTC date-times, booleans) here: SQLAlchemy's per-value result
    processing was most of the time of a 12-hour export or printout. (The stored
    text is naive UTC: parsed with "+00:00" appended, which is ~6× cheaper than
    parsing and then replacing the time zone.)"""
    cursor = _sqlite_cursor(conn, query)
    try:
        while rows := cursor.fetchmany(chunk):
            yield list(map(_from_sqlite, rows))
    finally:
        cursor.close()


def _sqlite_cursor(conn, query):
    """`query` run on SQLite's own cursor (not seen by SQLAlchemy's events)."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup]
    return conn.connection.driver_connection.execute(str(compiled), params)


def _from_sqlite(r, new=tuple.__new__, parse=datetime.fromisoformat) -> Any:
    """A row as SQLite gives it (UTC times as text, flags 0/1) as the model's types
    give it (aware UTC date-times, booleans)."""
    r = list(r)
    for i in _TIMES:
        if r[i] is not None:
            r[i] = parse(r[i] + "+00:00")
    for i in _FLAGS:
        r[i] = _FLAG[r[i]]
    return new(StoredVitalSigns, r)  # StoredVitalSigns._make without its call


#: SQLite's 0/1 (or NULL) as the flag columns' values
_FLAG = {0: False, 1: True, None: None}


def vitals_replaced(store: Store, session_id: int) -> dict[int, Any]:
    """{id of a superseded set: the correction or retraction that replaced it}
    (few rows: only entries that correct another)."""
    table = VitalSigns.__table__
    with store.read() as db:
        rows = db.connection().execute(select(table).where(table.c.session_id == session_id,
                                                           table.c.supersedes_id.is_not(None)))
        return {r.supersedes_id: r for r in map(StoredVitalSigns._make, rows)}


def first_in_force_vitals_at(store: Store, session_id: int, replaced_by: dict[int, Any],
                             verdicts: dict[int, Any] | None = None) -> Any:
    """When the first set in force was measured (None: no set in force). In force:
    not a retraction, not replaced and not a device set marked artefact
    (`verdicts`: {set id: Verdict}), as the session report counts them."""
    artefacts = {i for i, v in (verdicts or {}).items() if v.verdict == "artefact"}
    rows = stored_vitals(store, session_id, chunk=200)
    try:
        for v in rows:
            if not v.retracted and v.id not in replaced_by and v.id not in artefacts:
                return v.measured_at
        return None
    finally:
        rows.close()  # ends the read now, not when collected
