"""Print preview and the background export driven like a user would. The PDFs
themselves are tested headless in tests/test_documents.py."""
import json

import pytest
from sqlalchemy import select

from ketamon.core.models import AuditEntry
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
    assert ("ask_save_path", "Export FHIR R4 bundle", f"ketamon-session-{sid}-fhir.json") in responder.shown
    (row,) = audit_rows(store, "export")
    assert row.detail == f"FHIR R4 bundle → {target}"
    responder.paths = [None]  # the user cancels the save dialog: nothing happens
    assert printing.export_session(parent, runner, sid, "csv") is None
    assert len(audit_rows(store, "export")) == 1
