"""The export files, one way for the CLI, the GUI and scripts: the text of each
format and an atomic write. Audit first with `ops.record_export`, then write.

Safe to call from a worker thread (it only reads the database), so a large
session's export never freezes the window.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ketamon.core.store import Store

#: format -> (file suffix, file-dialog filter)
FORMATS = {
    "fhir": (".json", "FHIR JSON (*.json)"),
    "csv": (".csv", "CSV (*.csv)"),
    "form": (".json", "JSON (*.json)"),
}


def export_text(store: Store, session_id: int, fmt: str) -> str:
    if fmt == "fhir":
        from ketamon.core.fhir import session_bundle

        return json.dumps(session_bundle(store, session_id), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        from ketamon.core.csv_export import session_csv

        return session_csv(store, session_id)
    if fmt == "form":
        from ketamon.core.rems import build_form

        return json.dumps(build_form(store, session_id).as_dict(), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown export format {fmt!r}")


def suggested_filename(session_id: int, fmt: str) -> str:
    """No patient name in the file name: files get copied to places the record does not go."""
    kind = {"fhir": "fhir", "csv": "vitals", "form": "monitoring-form"}[fmt]
    return f"ketamon-session-{session_id}-{kind}{FORMATS[fmt][0]}"


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file beside `path`, then move it into place: a reader
    never sees half a file and a failure leaves nothing behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ketamon-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
