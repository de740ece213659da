"""Headless PDF writing of the summary and the monitoring form, for the command
line, scripts and the GUI alike. Needs a Qt GUI application for text layout
(QGuiApplication, created here when there is none; never QtWidgets).

Every print goes through `record_print` first (role check and audit trail); a
refusal prints nothing.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QGuiApplication, QPagedPaintDevice, QPdfWriter

from ketamon.core import settings
from ketamon.core.ops.exports import record_print
from ketamon.core.permissions import Actor
from ketamon.core.rems import build_form
from ketamon.core.report import build_report, printed_by_label
from ketamon.core.store import Store
from ketamon.documents.form import render_form
from ketamon.documents.layout import page_size, setup_page
from ketamon.documents.summary import render_summary

_app: QGuiApplication | None = None


def ensure_app() -> None:
    """Text layout needs a Qt GUI application; scripts and the CLI may not have
    one. Uses the running application when there is one (the GUI's QApplication)."""
    global _app
    if QGuiApplication.instance() is not None:
        return
    settings.use_offscreen_qt()
    _app = QGuiApplication([])


def write_pdf(path: str | os.PathLike, paper: str, title: str, render: Callable[[QPagedPaintDevice], int]) -> int:
    """Render into a temporary file beside `path`, then move it into place: a
    failed print never leaves half a PDF behind. Returns the number of pages."""
    ensure_app()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ketamon-", suffix=".pdf", dir=path.parent)
    os.close(fd)
    try:
        writer = QPdfWriter(tmp)
        writer.setResolution(600)
        writer.setCreator("ketamon")
        writer.setTitle(title)
        setup_page(writer, paper)
        pages = render(writer)
        del writer  # finishes the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return pages


def printed_by(actor: Actor) -> str:
    """The "Printed by" line's name and role."""
    return printed_by_label(actor.display_name, actor.role)


def write_summary_pdf(store: Store, actor: Actor, session_id: int, path: str | os.PathLike,
                      paper: str = "A4") -> int:
    """Print the session summary to a PDF (audited; refused without the PRINT
    permission). Returns the number of pages."""
    page_size(paper)
    record_print(store, actor, session_id, "summary", destination=str(path))
    report = build_report(store, session_id, printed_by=printed_by(actor))
    return write_pdf(path, paper, f"Session summary {session_id}", lambda dev: render_summary(report, dev))


def write_form_pdf(store: Store, actor: Actor, session_id: int, path: str | os.PathLike,
                   paper: str = "A4") -> int:
    """Print the esketamine monitoring form to a PDF (audited)."""
    page_size(paper)
    record_print(store, actor, session_id, "form", destination=str(path))
    form = build_form(store, session_id, printed_by=printed_by(actor))
    return write_pdf(path, paper, f"Esketamine monitoring form {session_id}", lambda dev: render_form(form, dev))
