"""Print preview and exports from the window: the GUI side of documents.

The documents themselves (layout, the printed chart, the summary, the
monitoring form, headless PDF) live in `ketamon.documents`, which paints with
QtGui only; this module adds the dialogs: the print preview (QPrintPreviewDialog
painting the same pages) and the background export job.

Every print and export is audited first (`record_print`, `record_export`); a
refusal shows why and nothing opens or is written. Files are offered in the
workstation's documents folder under a name saying patient, session and date
(`ketamon.core.exporting.suggested_path`), and are readable by their owner only.
"""
from __future__ import annotations

import logging
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from ketamon.core.exporting import private_file, suggested_path
from ketamon.core.ops.exports import EXPORTS, record_export, record_print
from ketamon.core.rems import form_from_report
from ketamon.core.report import build_report
from ketamon.core.store import Store
from ketamon.documents.form import render_form
from ketamon.documents.layout import default_paper, setup_page
from ketamon.documents.pdf import ensure_app, printed_by, write_form_pdf, write_summary_pdf
from ketamon.documents.summary import render_summary

__all__ = ["ExportJob", "default_paper", "ensure_app", "export_session", "print_form_preview", "print_preview",
           "render_form", "render_summary", "write_form_pdf", "write_summary_pdf"]

log = logging.getLogger(__name__)


def print_preview(parent, runner, session_id: int, what: str = "summary", page_size: str | None = None):
    """Open the print preview (window-modal, does not block) for the summary or
    the monitoring form ("form"). The print is audited first; when the operation
    is refused the runner shows why and nothing opens (returns None)."""
    from PySide6.QtPrintSupport import QPrinter, QPrintPreviewDialog

    if runner.run(record_print, session_id, what, destination="print preview") is None:
        return None
    report = build_report(runner.store, session_id, printed_by=printed_by(runner.actor))
    if what == "form":
        form = form_from_report(report, store=runner.store)  # the version it was filed with
        render = lambda printer: render_form(form, printer)  # noqa: E731
        title = f"Esketamine monitoring form — {report.patient_name}"
    else:
        render = lambda printer: render_summary(report, printer)  # noqa: E731
        title = f"Session summary — {report.patient_name}"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    setup_page(printer, page_size or default_paper(runner.store))
    # "Print to file" offers the documents folder and a name saying patient, session
    # and date (Qt's own default is $HOME/print.pdf)
    printer.setOutputFileName(str(suggested_path(runner.store, session_id, "form_pdf" if what == "form"
                                                 else "summary")))
    printer.setDocName(Path(printer.outputFileName()).stem)
    dialog = QPrintPreviewDialog(printer, parent)
    dialog.setWindowTitle(title)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.paintRequested.connect(lambda target: render(private_output(target)))
    dialog._printer = printer  # keep it alive as long as the dialog
    dialog.open()
    return dialog


def private_output(printer):
    """A printer about to paint: when it prints to a PDF file, that file is first
    created readable by its owner only, so Qt writes into it and it never exists
    world-readable (a preview or a paper printer is left alone)."""
    from PySide6.QtGui import QPaintEngine

    # the preview paints through the same printer with a preview engine: no file then
    engine = printer.paintEngine()
    if engine is not None and engine.type() == QPaintEngine.Type.Pdf and printer.outputFileName():
        private_file(printer.outputFileName())
    return printer


def print_form_preview(parent, runner, session_id: int, page_size: str | None = None):
    return print_preview(parent, runner, session_id, "form", page_size)


# ---------------------------------------------------------------- exports from the GUI


class ExportJob(QObject):
    """An export written on a worker thread (a long session's FHIR bundle takes a
    while to build; the window must not freeze). `finished(path, error)` is
    emitted on the GUI thread once the file is in place; `error` is "" on success."""

    finished = Signal(str, str)
    _result = Signal(str, str)  # from the worker thread, queued to _done
    _running: set["ExportJob"] = set()

    def __init__(self, store: Store, session_id: int, fmt: str, path: str, parent_widget=None):
        super().__init__()
        self.store, self.session_id, self.fmt, self.path = store, session_id, fmt, path
        self.parent_widget = parent_widget
        self.error: str | None = None
        ExportJob._running.add(self)  # alive until done, whatever happens to the screen
        self._result.connect(self._done, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        job = self

        class _Work(QRunnable):
            def run(self) -> None:  # worker thread: core only, no widgets
                from ketamon.core.exporting import write_export

                try:
                    write_export(job.store, job.session_id, job.fmt, job.path)
                    job._result.emit(job.path, "")
                except Exception as exc:  # reported to the user on the GUI thread
                    log.exception("export of session %s as %s failed", job.session_id, job.fmt)
                    job._result.emit(job.path, str(exc) or type(exc).__name__)

        QThreadPool.globalInstance().start(_Work())

    @Slot(str, str)
    def _done(self, path: str, error: str) -> None:
        from ketamon.gui import prompts

        self.error = error
        ExportJob._running.discard(self)
        if error:
            parent = self.parent_widget if self.parent_widget is not None and shiboken6.isValid(
                self.parent_widget) else None
            prompts.warn(parent, "Export failed", f"The export was not written to {path}:\n{error}")
        self.finished.emit(path, error)


def export_session(parent, runner, session_id: int, fmt: str) -> ExportJob | None:
    """Ask where to save, audit the export (role-checked: a refusal writes nothing),
    then write the file in the background. A failure is shown as a warning."""
    from ketamon.core.exporting import FORMATS
    from ketamon.gui import prompts

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    path = prompts.ask_save_path(parent, f"Export {EXPORTS[fmt]}", str(suggested_path(runner.store, session_id, fmt)),
                                 FORMATS[fmt][1])
    if not path:
        return None
    if runner.run(record_export, session_id, fmt, destination=path) is None:
        return None
    job = ExportJob(runner.store, session_id, fmt, path, parent)
    job.start()
    return job
