"""Every chair in view (issue 10, point 2): the sessions list marks each session's
highest active alert (colour and ***/**/*) and overdue vitals, most urgent on
top, updated from the background fetch when alerts are raised or cleared (no
GUI-thread query per notice); while a chart is open, another chair's
unacknowledged alert shows in a strip that jumps there on a click or Ctrl+J."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ketamon.core import alert_views, ops
from ketamon.gui import main_window
from ketamon.gui.theme import colour

GUI_THREAD = threading.get_ident()


@pytest.fixture
def chairs(store, nurse, actors):
    """Three sessions today, one patient each: Adams, Brook, Chen (in that order)."""
    ids = {}
    for n, name in enumerate(("Adams", "Brook", "Chen"), start=1):
        pid = ops.create_patient(store, nurse, mrn=f"MRN-{n}", family_name=name, given_name="Pat",
                                 birth_date=date(1980, 1, n), sex="female", weight_kg=60.0).result
        ids[name] = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56",
                                       lot_number="LOT-1", physician_id=actors["physician"].user_id,
                                       scheduled_at=store.clock.now() + timedelta(minutes=n)).result
    return ids


@pytest.fixture
def window(chairs, monkeypatch, small_window):  # the chairs exist before the window lists them
    return small_window


def names(window) -> list[str]:
    return [t.splitlines()[0] for t in window.sessions.texts()]


def item_of(window, session_id):
    lst = window.sessions.list
    return next(lst.item(i) for i in range(lst.count()) if lst.item(i).data(Qt.ItemDataRole.UserRole) == session_id)


def test_the_list_marks_each_chairs_highest_alert_and_puts_the_most_urgent_on_top(
        qtbot, window, runner, store, nurse, clock, chairs, monkeypatch):
    assert names(window) == ["ADAMS, Pat", "BROOK, Pat", "CHEN, Pat"]  # the day's order while all is calm
    list_queries, chair_queries = [], []
    real_sessions_on, real_states = main_window.sessions_on, alert_views.chair_states
    monkeypatch.setattr(main_window, "sessions_on", lambda *a, **k: list_queries.append(1) or real_sessions_on(*a, **k))
    monkeypatch.setattr(alert_views, "chair_states",
                        lambda *a, **k: chair_queries.append(threading.get_ident()) or real_states(*a, **k))

    runner.run(ops.report_technical_problem, "pump", "Infusion pump reports occlusion", priority="low",
               session_id=chairs["Brook"])
    runner.run(ops.record_vitals, chairs["Chen"], systolic=120, diastolic=80, heart_rate=72, spo2=84, resp_rate=14,
               consciousness="A", on_oxygen=False)
    runner.run(ops.report_technical_problem, "probe", "SpO2 probe off the finger", priority="medium",
               session_id=chairs["Chen"])
    qtbot.waitUntil(lambda: names(window) == ["*** CHEN, Pat", "* BROOK, Pat", "ADAMS, Pat"], timeout=5000)

    chen, brook, adams = window.sessions.texts()
    assert "SpO2 84" in chen.splitlines()[-1] and chen.endswith("(+1)")  # the highest, and one more active
    assert brook.splitlines()[-1] == "Infusion pump reports occlusion"
    assert adams.splitlines()[0] == "ADAMS, Pat" and "occlusion" not in adams
    assert item_of(window, chairs["Chen"]).background().color() == QColor(colour("alert_high"))
    assert item_of(window, chairs["Brook"]).background().color() == QColor(colour("alert_low"))
    assert "SpO2 84" in item_of(window, chairs["Chen"]).toolTip()
    # the alerts reached the list through the background fetch, not a GUI-thread reload per notice
    assert list_queries == [] and chair_queries and GUI_THREAD not in chair_queries

    # Chen's SpO2 recovers: its high alert clears, the medium one stays; Brook's low is below it
    runner.run(ops.record_vitals, chairs["Chen"], systolic=120, diastolic=80, heart_rate=72, spo2=97, resp_rate=14,
               consciousness="A", on_oxygen=False)
    qtbot.waitUntil(lambda: names(window)[0] == "** CHEN, Pat", timeout=5000)
    runner.run(ops.technical_problem_resolved, "probe", session_id=chairs["Chen"])
    qtbot.waitUntil(lambda: names(window)[0] == "* BROOK, Pat", timeout=5000)
    assert names(window) == ["* BROOK, Pat", "ADAMS, Pat", "CHEN, Pat"], window.sessions.texts()
    assert item_of(window, chairs["Chen"]).background().style() == Qt.BrushStyle.NoBrush


def test_overdue_vitals_are_marked_and_come_before_calm_chairs(qtbot, window, store, nurse, clock, chairs,
                                                               ready_for_dose):
    ready_for_dose(chairs["Chen"])
    ops.record_dose(store, nurse, chairs["Chen"], "nasal_device")
    window.alarm_monitor.stop()  # the overdue *alert* is another test's: here the list's own overdue state
    clock.advance(minutes=42)
    window.sessions.due.forget()
    qtbot.waitUntil(lambda: "Vitals overdue 2 min" in window.sessions.texts()[0], timeout=5000)
    assert names(window)[0] == "CHEN, Pat"
    assert item_of(window, chairs["Chen"]).background().color() == QColor(colour("alert_medium_soft"))


def test_another_chairs_unacknowledged_alert_is_called_at_the_top_of_the_list_and_jumps_there(
        qtbot, window, runner, store, chairs):
    window.open_session(chairs["Adams"])
    assert not window.other_chairs.isVisible()
    runner.run(ops.report_technical_problem, "probe", "SpO2 probe off the finger", priority="high",
               session_id=chairs["Chen"])
    runner.run(ops.report_technical_problem, "pump", "Infusion pump reports occlusion", priority="low",
               session_id=chairs["Brook"])
    qtbot.waitUntil(lambda: window.other_chairs.isVisible(), timeout=5000)
    strip = window.other_chairs.text()
    assert strip.startswith("*** CHEN, Pat: SpO2 probe off the finger") and "+1 more chair" in strip
    assert "Ctrl+J" in strip and "Ctrl+J" in window.other_chairs.toolTip()

    qtbot.mouseClick(window.other_chairs, Qt.MouseButton.LeftButton)
    assert window.current_chart().session_id == chairs["Chen"]
    assert window.sessions.selected_session_id() == chairs["Chen"]
    # from Chen's chart, the strip names the other chair still waiting: Brook
    assert window.other_chairs.text().startswith("* BROOK, Pat: Infusion pump reports occlusion")

    qtbot.keyClick(window, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert window.current_chart().session_id == chairs["Brook"]

    # acknowledged alerts no longer call from the strip
    runner.run(ops.acknowledge_alert, session_id=chairs["Chen"])
    qtbot.waitUntil(lambda: not window.other_chairs.isVisible(), timeout=5000)
