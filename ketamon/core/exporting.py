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
from pathlib import Path
from typing import IO, Any

from ketamon.core.store import Store
from ketamon.core.stored_vitals import (  # noqa: F401  (re-exported: scripts and tests read them here)
    CHUNK_ROWS, StoredVitalSigns, first_in_force_vitals_at, stored_vitals, vitals_replaced)

#: format -> (file suffix, file-dialog filter)
FORMATS = {
    "fhir": (".json", "FHIR JSON (*.json)"),
    "csv": (".csv", "CSV (*.csv)"),
    "form": (".json", "JSON (*.json)"),
}

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
