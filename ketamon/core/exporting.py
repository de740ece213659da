"""The export files, one way for the CLI, the GUI and scripts: each format
written straight to a file, atomically. Audit first with `ops.record_export`,
then write.

A 12-hour session with 1 Hz device data has 43 200 vital-sign sets (a FHIR
bundle of several hundred megabytes). The exports therefore never hold the
session's vital signs, nor the file, in memory: the rest of the record comes
from the session report built without its vital signs, the sets are read from
the database in chunks (`stored_vitals`) and each row or resource is written as
it is made. Do not build the whole text first (`export_text` is for small
sessions and tests).

Safe to call from a worker thread (it only reads the database), so a large
session's export never freezes the window.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from ketamon.core.models import VitalSigns
from ketamon.core.store import Store

#: format -> (file suffix, file-dialog filter)
FORMATS = {
    "fhir": (".json", "FHIR JSON (*.json)"),
    "csv": (".csv", "CSV (*.csv)"),
    "form": (".json", "JSON (*.json)"),
}

#: vital-sign sets read from the database at a time
CHUNK_ROWS = 2000

#: a stored vital-sign set as read for an export: the model's column names as
#: attributes, read-only. A plain tuple: reading an attribute of a database row
#: object costs about twenty times as much, and an export reads ~20 per set.
StoredVitalSigns = namedtuple("StoredVitalSigns", [c.key for c in VitalSigns.__table__.c])


def stored_vitals(store: Store, session_id: int, *, by_id: bool = False, chunk: int | None = None) -> Iterator[Any]:
    """Every stored vital-sign set of the session (corrections and retractions
    included) as plain rows with the model's attribute names, ordered by
    (measured_at, entered_at, id) or, `by_id`, as stored; read `chunk` rows at a
    time. No ORM objects: 43 200 of them cost seconds and hundreds of megabytes."""
    table = VitalSigns.__table__
    order = (table.c.id,) if by_id else (table.c.measured_at, table.c.entered_at, table.c.id)
    query = select(table).where(table.c.session_id == session_id).order_by(*order)
    make = StoredVitalSigns._make
    with store.read() as db:
        result = db.connection().execution_options(yield_per=chunk or CHUNK_ROWS).execute(query)
        for part in result.partitions():
            yield from map(make, part)


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


def export_to(store: Store, session_id: int, fmt: str, out: IO[str]) -> None:
    """Write the export in `fmt` to the text stream `out`, as it is made."""
    if fmt == "fhir":
        from ketamon.core.fhir import write_session_bundle

        write_session_bundle(store, session_id, out)
    elif fmt == "csv":
        from ketamon.core.csv_export import write_session_csv

        write_session_csv(store, session_id, out)
    elif fmt == "form":
        from ketamon.core.rems import build_form

        out.write(json.dumps(build_form(store, session_id).as_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        raise ValueError(f"unknown export format {fmt!r}")


def write_export(store: Store, session_id: int, fmt: str, path: str | os.PathLike) -> None:
    """Write the export in `fmt` to `path` atomically (see `write_atomic`), streamed."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    with atomic_file(path) as fh:
        export_to(store, session_id, fmt, fh)


def export_text(store: Store, session_id: int, fmt: str) -> str:
    """The whole export as one string (small sessions, tests; see the module doc)."""
    buf = io.StringIO(newline="")
    export_to(store, session_id, fmt, buf)
    return buf.getvalue()


def suggested_filename(session_id: int, fmt: str) -> str:
    """No patient name in the file name: files get copied to places the record does not go."""
    kind = {"fhir": "fhir", "csv": "vitals", "form": "monitoring-form"}[fmt]
    return f"ketamon-session-{session_id}-{kind}{FORMATS[fmt][0]}"


class atomic_file:
    """A text file (UTF-8, line ends as written) that appears at `path` only when
    the block ends without an error: written beside it, synced, then moved into
    place. A reader never sees half a file and a failure leaves nothing behind."""

    def __init__(self, path: str | os.PathLike):
        self.target = Path(path)

    def __enter__(self) -> IO[str]:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=".ketamon-", dir=self.target.parent)
        try:
            self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=1 << 20)
        except BaseException:
            os.close(fd)
            Path(self.tmp).unlink(missing_ok=True)
            raise
        return self.fh

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if kind is None:
                os.replace(self.tmp, self.target)
        finally:
            if kind is not None or Path(self.tmp).exists():
                Path(self.tmp).unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (see `atomic_file`)."""
    with atomic_file(path) as fh:
        fh.write(text)
