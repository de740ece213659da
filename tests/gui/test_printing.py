"""Print preview and the background export driven like a user would. The PDFs
themselves are tested headless in tests/test_documents.py."""
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from ketamon.core.exporting import documents_folder
from ketamon.core.models import AuditEntry, Session
from ketamon.gui import printing
from ketamon.gui.runner import OpRunner
from records_data import full_session


def audit_rows(store, action):
    with store.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.fixture
def charted(store, clock, actors, esketamine_session):
    first = full_session(store, clock, actors, esketamine_session)
    return esketamine_session, first


def session_day(store, sid) -> str:
    with store.read() as db:
        return f"{db.get(Session, sid).scheduled_at.astimezone():%Y-%m-%d}"


def _preview_widget(dialog):
    from PySide6.QtPrintSupport import QPrintPreviewWidget

    return dialog.findChild(QPrintPreviewWidget)


def _close(qtbot, dialog):
    dialog.close()
    qtbot.waitUntil(lambda: not dialog.isVisible())


def test_print_preview_shows_the_summary_pages(qtbot, store, actors, charted):
    from PySide6.QtWidgets import QWidget

    sid, _ = charted
    parent = QWidget()
    qtbot.addWidget(parent)
    runner = OpRunner(store, actors["staff"], parent)
    dialog = printing.print_preview(parent, runner, sid)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.isVisible())
    preview = _preview_widget(dialog)
    qtbot.waitUntil(lambda: preview.pageCount() >= 2)
    assert "NGUYEN, Lan" in dialog.windowTitle()
    (row,) = audit_rows(store, "print")
    assert row.detail == "Session summary → print preview" and row.username == "desk"
    _close(qtbot, dialog)


def test_print_preview_of_the_form(qtbot, store, actors, charted):
    from PySide6.QtWidgets import QWidget

    sid, _ = charted
    parent = QWidget()
    qtbot.addWidget(parent)
    runner = OpRunner(store, actors["nurse"], parent)
    dialog = printing.print_form_preview(parent, runner, sid)
    qtbot.waitUntil(lambda: _preview_widget(dialog).pageCount() >= 1)
    assert dialog.windowTitle().startswith("Esketamine monitoring form")
    _close(qtbot, dialog)


def test_print_preview_refused_for_a_role_without_print(qtbot, store, actors, charted):
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    runner = OpRunner(store, actors["admin"], parent)
    with qtbot.waitSignal(runner.refused) as refused:
        assert printing.print_preview(parent, runner, charted[0]) is None
    assert "may not print" in refused.args[1]
    assert audit_rows(store, "print") == []


def test_export_from_the_screen_is_audited_and_written_in_the_background(qtbot, store, actors, charted, tmp_path,
                                                                          responder):
    from fhir.resources.R4B.bundle import Bundle
    from PySide6.QtWidgets import QWidget

    sid, _ = charted
    parent = QWidget()
    qtbot.addWidget(parent)
    runner = OpRunner(store, actors["staff"], parent)
    target = tmp_path / "out" / "bundle.json"
    responder.paths = [str(target)]
    job = printing.export_session(parent, runner, sid, "fhir")
    with qtbot.waitSignal(job.finished, timeout=20000) as done:
        pass
    assert done.args == [str(target), ""]
    Bundle.model_validate(json.loads(target.read_text()))
    suggested = documents_folder() / f"ketamon-MRN-1-session{sid}-{session_day(store, sid)}-fhir.json"
    assert ("ask_save_path", "Export FHIR R4 bundle", str(suggested)) in responder.shown
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    (row,) = audit_rows(store, "export")
    assert row.detail == f"FHIR R4 bundle → {target}"
    responder.paths = [None]  # the user cancels the save dialog: nothing happens
    assert printing.export_session(parent, runner, sid, "csv") is None
    assert len(audit_rows(store, "export")) == 1


def test_print_to_pdf_defaults_to_the_documents_folder_and_writes_an_owner_only_file(qtbot, store, actors, charted,
                                                                                      tmp_path, monkeypatch):
    """Qt's own default was $HOME/print.pdf, world-readable: now the workstation's
    documents folder, a name saying patient, session and date, and mode 0600."""
    from PySide6.QtWidgets import QWidget

    monkeypatch.setenv("KETAMON_DOCUMENTS_DIR", str(tmp_path / "clinic documents"))
    sid, _ = charted
    parent = QWidget()
    qtbot.addWidget(parent)
    runner = OpRunner(store, actors["staff"], parent)
    old_umask = os.umask(0o022)  # a usual umask: files would be world-readable
    try:
        dialog = printing.print_preview(parent, runner, sid)
        qtbot.waitUntil(lambda: _preview_widget(dialog).pageCount() > 0)
        default = Path(dialog._printer.outputFileName())
        assert default == tmp_path / "clinic documents" / f"ketamon-MRN-1-session{sid}-{session_day(store, sid)}" \
                                                          "-summary.pdf"
        assert not default.exists()  # the preview wrote no file
        dialog.paintRequested.emit(dialog._printer)  # "Print" with "Print to file (PDF)" chosen
    finally:
        os.umask(old_umask)
    assert default.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    _close(qtbot, dialog)
