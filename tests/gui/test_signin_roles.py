"""What each role sees when it tries something it may not do: the operation
refuses (not only a hidden button), the reason is shown, the audit trail has it."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from sqlalchemy import func, select

from ketamon.core.models import AuditEntry, VitalSigns
from ketamon.gui.main_window import MainWindow
from ketamon.gui.runner import OpRunner


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_front_desk_and_admin_cannot_chart_and_are_told_why(qtbot, store, actors, esketamine_session, responder,
                                                            role):
    actor = actors[role]
    runner = OpRunner(store, actor)
    window = MainWindow(runner)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.show()
    chart = window.open_session(esketamine_session)
    # no charting controls are shown to them (issue 10, point 5)...
    assert [w for w in chart.charting_controls if w.isVisible()] == []
    assert not window.sessions.new_session_button.isVisible()
    # ...and the operation itself still refuses (a stale window, a script)
    row = chart.vitals_row
    qtbot.keyClicks(row.fields["systolic"], "128")
    qtbot.keyClicks(row.fields["diastolic"], "82")
    qtbot.keyClick(row.fields["diastolic"], Qt.Key.Key_Return)
    expected = f"{actor.display_name} ({actor.role_label}) may not chart clinical entries."
    assert any(kind == "warn" and expected in text for kind, _title, text in responder.shown)
    assert expected in window.status_message.text()
    assert row.fields["systolic"].text() == "128"  # what was typed stays
    with store.read() as db:
        assert db.scalar(select(func.count()).select_from(VitalSigns)) == 0
        refused = db.scalars(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert [(r.username, r.session_id) for r in refused] == [(actor.username, esketamine_session)]
    assert "record_vitals" in refused[0].detail


def test_front_desk_sees_no_charting_controls_and_not_the_nurses_messages(qtbot, store, actors, esketamine_session):
    """A nurse charts, then the front desk takes over the workstation: the vitals
    row, Save, the dose and side-effect panels, notes and corrections, New
    session and New patient go; the nurse's "saved" line goes with her."""
    runner = OpRunner(store, actors["nurse"])
    window = MainWindow(runner)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.show()
    chart = window.open_session(esketamine_session)
    row = chart.vitals_row
    assert row.isVisible() and chart.dose_panel.isVisible() and chart.side_effects.isVisible()
    assert window.sessions.new_session_button.isVisible() and window.sessions.new_patient_button.isVisible()
    qtbot.keyClicks(row.fields["systolic"], "128")
    qtbot.keyClicks(row.fields["diastolic"], "82")
    qtbot.keyClick(row.fields["diastolic"], Qt.Key.Key_Return)
    assert window.status_message.text().startswith("✓ ")

    runner.set_actor(actors["staff"])
    hidden = (row, chart.dose_panel, chart.side_effects, chart.event_log.note, chart.event_log.note_button,
              chart.event_log.correct_button, chart.event_log.error_button, window.sessions.new_session_button,
              window.sessions.new_patient_button, window.sessions.move_button)
    assert [w for w in hidden if w.isVisible()] == []
    assert not any(b.isVisible() for b in row.findChildren(QPushButton))  # Save is in the row
    assert window.status_message.text() == ""
    assert chart.plot.isVisible() and chart.event_log.table.isVisible()  # the chart itself is still there to read

    runner.set_actor(actors["nurse"])  # a nurse signs in again: everything is back
    assert all(w.isVisible() for w in hidden)


def test_the_physician_is_not_shown_what_was_said_to_the_nurse(qtbot, store, actors, esketamine_session):
    runner = OpRunner(store, actors["nurse"])
    window = MainWindow(runner)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.show()
    chart = window.open_session(esketamine_session)
    row = chart.vitals_row
    qtbot.keyClicks(row.fields["systolic"], "128")
    qtbot.keyClicks(row.fields["diastolic"], "82")
    qtbot.keyClick(row.fields["diastolic"], Qt.Key.Key_Return)
    assert row.message.text().startswith("✓ ") and window.status_message.text().startswith("✓ ")
    runner.set_actor(actors["physician"])
    assert row.isVisible()  # a physician charts too
    assert row.message.text() == "" and window.status_message.text() == ""
    assert window.review_queue.message.text() == ""
