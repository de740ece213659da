"""What each role sees when it tries something it may not do: the operation
refuses (not only a hidden button), the reason is shown, the audit trail has it."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
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
