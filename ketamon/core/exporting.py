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
import re
import tempfile
from datetime import date
from pathlib import Path
from typing import IO, Any

import platformdirs
from sqlalchemy import select

from ketamon.core import settings
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


#: what a file holds -> (the word in its name, its suffix): the exports, the printed summary and form
DOCUMENTS = {"fhir": ("fhir", ".json"), "csv": ("vitals", ".csv"), "form": ("monitoring-form", ".json"),
             "summary": ("summary", ".pdf"), "form_pdf": ("monitoring-form", ".pdf")}

_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def documents_folder() -> Path:
    """Where printed and exported files go unless the user picks another place: the
    workstation's `documents_dir`, else the user's documents folder + /ketamon
    (never the home folder or whatever the current directory happens to be)."""
    return settings.get("documents_dir") or Path(platformdirs.user_documents_dir()) / "ketamon"


def safe_name_part(text: str) -> str:
    """Letters and digits only, runs of anything else as one dash: a file name that
    is the same on every system and cannot climb out of its folder."""
    return _UNSAFE.sub("-", text or "").strip("-")[:64] or "unknown"


def document_name(mrn: str, session_id: int, day: date, kind: str) -> str:
    """`ketamon-<MRN>-session<id>-<yyyy-mm-dd>-<what>.<suffix>`: found again by
    patient, session and date. The MRN, never the patient's name: files get
    copied to places the record does not go."""
    word, suffix = DOCUMENTS[kind]
    return f"ketamon-{safe_name_part(mrn)}-session{int(session_id)}-{day:%Y-%m-%d}-{word}{suffix}"


def suggested_path(store: Store, session_id: int, kind: str) -> Path:
    """The default file for a session's print or export, in the documents folder
    (made if missing, readable by its owner only: the save dialog opens there)."""
    from ketamon.core.models import Patient, Session

    with store.read() as db:
        row = db.execute(select(Patient.mrn, Session.scheduled_at).join(Patient, Patient.id == Session.patient_id)
                         .where(Session.id == session_id)).first()
    if row is None:
        raise KeyError(session_id)
    folder = documents_folder()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / document_name(row.mrn, session_id, row.scheduled_at.astimezone().date(), kind)


def private_file(path: str | os.PathLike) -> Path:
    """An empty file at `path` readable and writable by its owner only, created
    that way (0600; any old file of that name is replaced), for a writer that
    opens the path itself (Qt's print-to-PDF). Its folder is made owner-only too."""
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return target


class atomic_file:
    """A text file (UTF-8, line ends as written) that appears at `path` only when
    the block ends without an error: written beside it, synced, then moved into
    place. A reader never sees half a file and a failure leaves nothing behind.
    Readable by its owner only (0600), from its creation on."""

    def __init__(self, path: str | os.PathLike):
        self.target = Path(path)

    def __enter__(self) -> IO[str]:
        self.target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file readable by its owner only (0600); os.replace keeps that
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
