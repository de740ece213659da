"""A session's stored vital-sign sets read as plain rows, in chunks, for the
readers that go through all of them (the printed report, CSV and FHIR exports).
Below the exports and the report in the import order: they all read here."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from datetime import datetime, timezone

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
    order = (table.c.id,) if by_id else (table.c.measured_at, table.c.entered_at, table.c.id)
    query = select(table).where(table.c.session_id == session_id).order_by(*order)
    make = StoredVitalSigns._make
    with store.read() as db:
        conn = db.connection()
        if conn.dialect.name == "sqlite":
            if raw:
                cursor = _sqlite_cursor(conn, query)
                try:
                    while rows := cursor.fetchmany(chunk or CHUNK_ROWS):
                        yield from rows
                finally:
                    cursor.close()
                return
            yield from _sqlite_rows(conn, query, chunk or CHUNK_ROWS)
            return
        result = conn.execution_options(yield_per=chunk or CHUNK_ROWS).execute(query)
        for part in result.partitions():
            yield from map(make, part)


_COLUMNS = list(VitalSigns.__table__.c)
#: positions of the columns SQLite returns as text (UTC date-times) and as 0/1 (flags)
_TIMES = [i for i, c in enumerate(_COLUMNS) if isinstance(c.type, UTCDateTime)]
_FLAGS = [i for i, c in enumerate(_COLUMNS) if isinstance(c.type, Boolean)]


def _sqlite_cursor(conn, query):
    compiled = query.compile(dialect=conn.dialect)
    params = [compiled.params[name] for name in compiled.positiontup]
    return conn.connection.driver_connection.execute(str(compiled), params)


def _from_sqlite(r) -> Any:
    """A row as SQLite gives it (UTC times as text, flags 0/1) as the model's types
    give it (aware UTC date-times, booleans)."""
    r = list(r)
    for i in _TIMES:
        if r[i] is not None:
            r[i] = datetime.fromisoformat(r[i]).replace(tzinfo=timezone.utc)
    for i in _FLAGS:
        if r[i] is not None:
            r[i] = bool(r[i])
    return StoredVitalSigns._make(r)


def _sqlite_rows(conn, query, chunk: int) -> Iterator[Any]:
    """The rows from SQLite's own cursor, turned into the values the model's types
    give (aware UTC date-times, booleans) here: SQLAlchemy's per-value result
    processing was most of the time of a 12-hour export or printout."""
    cursor = _sqlite_cursor(conn, query)
    make, parse, times, flags = StoredVitalSigns._make, datetime.fromisoformat, _TIMES, _FLAGS
    try:
        while rows := cursor.fetchmany(chunk):
            for r in rows:
                r = list(r)
                for i in times:
                    if r[i] is not None:
                        r[i] = parse(r[i]).replace(tzinfo=timezone.utc)
                for i in flags:
                    if r[i] is not None:
                        r[i] = bool(r[i])
                yield make(r)
    finally:
        cursor.close()


def stored_vitals_raw(store: Store, session_id: int) -> tuple[list[tuple], Callable[[tuple], Any]]:
    """Every stored set of the session, ordered as `stored_vitals` orders them, as
    the database driver gives them (SQLite: UTC times as text
    "YYYY-MM-DD HH:MM:SS.ffffff", flags 0/1; other databases: already the model's
    types), with the function that turns one into a `StoredVitalSigns`. For a
    reader that looks at every set but needs typed values for a few (the printed
    summary thins a 1 Hz feed to one set per 5 minutes): converting 43 200 rows'
    times costs more than reading them. Columns in `StoredVitalSigns` order."""
    table = VitalSigns.__table__
    query = select(table).where(table.c.session_id == session_id).order_by(
        table.c.measured_at, table.c.entered_at, table.c.id)
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


def vitals_replaced(store: Store, session_id: int) -> dict[int, Any]:
    """{id of a superseded set: the correction or retraction that replaced it}
    (few rows: only entries that correct another)."""
    table = VitalSigns.__table__
    with store.read() as db:
        rows = db.connection().execute(select(table).where(table.c.session_id == session_id,
                                                           table.c.supersedes_id.is_not(None)))
        return {r.supersedes_id: r for r in map(StoredVitalSigns._make, rows)}


def first_in_force_vitals_at(store: Store, session_id: int, replaced_by: dict[int, Any]) -> Any:
    """When the first set in force was measured (None: no set in force). In force:
    not a retraction and not replaced, as the session report counts them."""
    rows = stored_vitals(store, session_id, chunk=200)
    try:
        for v in rows:
            if not v.retracted and v.id not in replaced_by:
                return v.measured_at
        return None
    finally:
        rows.close()  # ends the read now, not when collected
