"""Alerts as the nurse meets them in the session chart: a red banner with ***
the moment a high BP is saved, F9 or a click acknowledges (stored, tone paused,
"Audio paused" shown), the overdue alert arriving from the timer while nobody
types, the limit lines on the plot, what is due next, and the physician's
pre-dose decision and limits from the chart."""
from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt

from ketamon.core import alert_views, alerts, ops
from ketamon.core.models import Assessment
from ketamon.gui.main_window import MainWindow
from ketamon.gui.runner import OpRunner
from ketamon.gui.sound import AlarmMonitor, RecordingSound


def enter_vitals(qtbot, chart, **values) -> None:
    """Type a set into the chart's vital-signs row and press Enter, as a nurse does."""
    row = chart.vitals_row
    field = None
    for name, value in values.items():
        field = row.fields[name]
        field.setFocus()
        qtbot.keyClicks(field, str(value))
    qtbot.keyClick(field, Qt.Key.Key_Return)


def banner(chart):
    return chart.alerts.banner


def db_alerts(store, sid):
    return alert_views.session_alerts(store, sid)


@pytest.fixture
def monitor(runner):
    m = AlarmMonitor(runner, RecordingSound())
    yield m
    m.stop()
    m.deleteLater()


def test_a_high_bp_shows_red_at_once_and_f9_acknowledges(qtbot, open_chart, store, infusion_session, clock,
                                                           monitor):
    chart = open_chart(infusion_session)
    assert banner(chart).message.text() == "No active alerts"
    assert banner(chart).property("role") == "quiet" and not banner(chart).ack_button.isEnabled()
    enter_vitals(qtbot, chart, systolic=186, diastolic=92, heart_rate=80)

    b = banner(chart)
    assert b.property("role") == "high" and b.mark.text() == "***"
    assert "BP 186/92: systolic 186 above the critical limit 180" in b.message.text()
    assert chart.alerts.list.items_text("patient")[0].startswith("***")
    assert "ACTIVE" in chart.alerts.list.items_text("patient")[0]
    qtbot.waitUntil(lambda: monitor.sound.requests == ["high"])  # the tone sounds once it is saved

    qtbot.waitUntil(chart.isActiveWindow)
    chart.vitals_row.fields["systolic"].setFocus()  # typing the next set: F9 still works
    qtbot.keyClick(chart.vitals_row.fields["systolic"], Qt.Key.Key_F9)

    (a,) = db_alerts(store, infusion_session)
    assert a.acknowledged_at == clock.now() and a.acknowledged_by == "Sam Carter RN" and a.active
    assert b.audio.text() == "Audio paused 2 min 00 s" and b.audio.isVisible()
    assert "(acknowledged)" in b.message.text()
    clock.advance(seconds=90)
    chart.tick()
    assert b.audio.text() == "Audio paused 30 s"
    with qtbot.waitSignal(monitor.polled):
        monitor.poll()
    assert monitor.sound.requests == ["high"]  # silenced: no new tone
    clock.advance(seconds=30)
    with qtbot.waitSignal(monitor.polled):
        monitor.poll()
    assert monitor.sound.requests == ["high", "high"]  # still high after 2 min: it sounds again


def test_clicking_acknowledge_stores_it(qtbot, open_chart, store, nurse, infusion_session):
    ops.record_side_effect(store, nurse, infusion_session, "sedation", score=1)
    chart = open_chart(infusion_session)
    chart.refresh()
    b = banner(chart)
    assert b.property("role") == "high" and "Deep sedation: MOAA/S 1" in b.message.text()
    qtbot.mouseClick(b.ack_button, Qt.MouseButton.LeftButton)
    (a,) = db_alerts(store, infusion_session)
    assert a.acknowledged_by == "Sam Carter RN"
    assert not b.ack_button.isEnabled()


def test_a_cleared_condition_leaves_the_banner_but_stays_in_the_list(qtbot, open_chart, store, infusion_session,
                                                                     clock):
    chart = open_chart(infusion_session)
    enter_vitals(qtbot, chart, systolic=165, diastolic=85)
    assert banner(chart).property("role") == "medium" and banner(chart).mark.text() == "**"
    clock.advance(minutes=5)
    enter_vitals(qtbot, chart, systolic=132, diastolic=80)
    assert banner(chart).message.text() == "No active alerts"
    (line,) = chart.alerts.list.items_text("patient")
    assert "cleared" in line and "Systolic" not in line and "systolic 165" in line


def test_the_overdue_alert_arrives_from_the_timer_while_nobody_types(qtbot, store, nurse, clock, esketamine_session,
                                                                     ready_for_dose, runner):
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    first = clock.now()
    window = MainWindow(runner)
    qtbot.addWidget(window)
    window.alarm_monitor.sound = RecordingSound()
    chart = window.open_session(esketamine_session)
    window.alarm_monitor.timer.setInterval(20)
    clock.set(first + timedelta(minutes=20))
    chart.tick()
    assert banner(chart).due.text() == "Vitals due in 20 min 00 s — 40 min after first device"
    clock.set(first + timedelta(minutes=42))  # nobody types; the timer runs the rules
    qtbot.waitUntil(lambda: banner(chart).property("role") == "medium", timeout=3000)
    assert "Vital signs overdue: 40 min after first device" in banner(chart).message.text()
    assert window.alarm_monitor.sound.requests[-1] == "medium"
    chart.tick()
    assert banner(chart).due.text() == "Vitals OVERDUE 2 min — 40 min after first device"
    assert banner(chart).due.property("role") == "overdue"
    qtbot.waitUntil(lambda: "Vitals overdue 2 min" in window.sessions.texts()[0])
    enter_vitals(qtbot, chart, systolic=132, diastolic=84, heart_rate=76)
    assert banner(chart).message.text() == "No active alerts"


def test_the_plot_shows_the_limits_and_a_physicians_change(qtbot, store, clock, actors, patient_id,
                                                           infusion_session):
    doctor = OpRunner(store, actors["physician"])
    from ketamon.gui.chart_view import SessionChart

    chart = SessionChart(doctor, infusion_session)
    qtbot.addWidget(chart)
    chart.show()
    bands = [(b.parameter, b.low, b.high, b.label) for b in chart.plot.limit_bands]
    assert bands == [("systolic", 90, None, "SBP 90"), ("systolic", None, 160, "SBP 160"),
                     ("systolic", None, 180, "SBP 180"), ("heart_rate", None, 110, "HR 110"),
                     ("spo2", 95, None, "SpO2 95"), ("spo2", 92, None, "SpO2 92")]
    assert chart.plot.limit_bands[-1].shade  # the critical SpO2 zone is shaded, and its line labelled
    assert chart.alerts.limits_box.edit_button.isVisible()
    dialog = chart.alerts.edit_limits()
    field = dialog.fields[("systolic", "abnormal", "high")]
    field.clear()
    qtbot.keyClicks(field, "170")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "Say why" in dialog.error.text() and dialog.isVisible()  # the reason is required
    qtbot.keyClicks(dialog.reason, "Known hypertension, usual SBP 160s")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.saved
    qtbot.waitUntil(lambda: chart.alerts.limits_dialog is None)
    limits = alert_views.session_limits(store, infusion_session)
    assert limits.ranges["systolic"].abnormal.high == 170
    assert "SBP 170 (pt)" in [b.label for b in chart.plot.limit_bands]
    assert "Known hypertension" in chart.alerts.limits_box.text.text()
    doctor.deleteLater()


def test_a_nurse_cannot_edit_limits_from_the_chart(qtbot, open_chart, infusion_session):
    chart = open_chart(infusion_session)
    assert not chart.alerts.limits_box.edit_button.isVisible()
    assert "Protocol limits" in chart.alerts.limits_box.text.text()


def test_the_physician_records_the_predose_decision_from_the_banner(qtbot, store, nurse, actors,
                                                                    esketamine_session, ready_for_dose):
    ready_for_dose(esketamine_session, baseline=False)
    ops.record_vitals(store, nurse, esketamine_session, systolic=152, diastolic=94, heart_rate=72, spo2=98,
                      resp_rate=14)
    from ketamon.gui.chart_view import SessionChart

    nurse_runner = OpRunner(store, nurse)
    nurse_chart = SessionChart(nurse_runner, esketamine_session)
    qtbot.addWidget(nurse_chart)
    assert "a physician must record a pre-dose decision" in banner(nurse_chart).message.text()
    assert not banner(nurse_chart).decision_button.isVisibleTo(nurse_chart)

    doctor = OpRunner(store, actors["physician"])
    chart = SessionChart(doctor, esketamine_session)
    qtbot.addWidget(chart)
    chart.show()
    assert banner(chart).decision_button.isVisible()
    qtbot.mouseClick(banner(chart).decision_button, Qt.MouseButton.LeftButton)
    dialog = chart.alerts.decision_dialog
    dialog.proceed.setChecked(True)
    qtbot.keyClicks(dialog.reason, "Usual BP 150/90 at home; proceed, BP every 10 min")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: chart.alerts.decision_dialog is None)
    with store.read() as db:
        (a,) = [x for x in db.query(Assessment).all() if x.kind == "predose_decision"]
    assert a.items["proceed"] is True and a.comment.startswith("Usual BP") and a.entered_by_id == doctor.actor.user_id
    assert banner(chart).message.text() == "No active alerts"
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")  # the gate is open
    nurse_runner.deleteLater()
    doctor.deleteLater()


def test_audio_off_is_shown_when_the_clinic_switched_tones_off(qtbot, open_chart, store, actors, infusion_session,
                                                               monitor):
    ops.set_alarm_sound(store, actors["admin"], False, reason="visual alarms only in room 2")
    chart = open_chart(infusion_session)
    enter_vitals(qtbot, chart, systolic=186, diastolic=92)
    assert banner(chart).property("role") == "high"
    assert banner(chart).audio.text() == "Audio off"
    with qtbot.waitSignal(monitor.polled):
        monitor.poll()
    assert monitor.sound.requests == [] and monitor.status.audio == "Audio off"


def test_technical_alerts_have_their_own_tab(qtbot, open_chart, store, infusion_session):
    from ketamon.core.permissions import SYSTEM

    ops.report_technical_problem(store, SYSTEM, "feed", "Monitor feed lost", session_id=infusion_session)
    chart = open_chart(infusion_session)
    chart.refresh()
    lst = chart.alerts.list
    assert lst.items_text("patient") == ["None"]
    assert lst.items_text("technical")[0].startswith("**") and "Monitor feed lost" in lst.items_text("technical")[0]
    assert lst.tabs.tabText(1) == "Technical (1)"


def test_the_scripted_session_is_visible_to_the_nurse_and_in_the_physicians_queue(
        qtbot, open_chart, store, nurse, actors, esketamine_session, clock, ready_for_dose):
    """The issue's "done when", on screen: see tests/test_alerts_scenario.py for the script."""
    from test_alerts_scenario import play

    from ketamon.gui.review_queue import ReviewQueue

    chart = open_chart(esketamine_session)
    seen = {}

    def look(minute: int) -> None:
        chart.refresh()  # what the chart does on OpRunner.changed
        chart.tick()
        b = banner(chart)
        seen[minute] = (b.property("role"), b.mark.text(), b.message.text(), b.more.text())

    play(store, nurse, esketamine_session, clock, lambda s: ready_for_dose(s, baseline=False), each_minute=look)
    assert seen[19][0] == "quiet"
    assert seen[20][:2] == ("high", "***") and "BP 188/112: systolic 188 above the critical limit 180" in seen[20][2]
    assert seen[25][:2] == ("high", "***") and "BP above 180/110 for 5 min or more (now 184/108)" in seen[25][2]
    # two high alerts: the newer (sedation) leads, the other is counted
    assert "Deep sedation: MOAA/S 2" in seen[26][2] and seen[26][3] == "+1 more"
    assert seen[30][3] == "+2 more"  # BP, sedation and NEWS2 (P scores 3)
    assert seen[37][:2] == ("high", "***") and "Deep sedation: MOAA/S 1" in seen[37][2]
    assert seen[40][:2] == ("low", "*") and "NEWS2 4" in seen[40][2]
    assert seen[47][:2] == ("medium", "**") and "Vital signs overdue: 40 min after first device" in seen[47][2]
    assert seen[52][:2] == ("high", "***") and "Vital signs overdue" in seen[52][2]
    assert seen[55][0] == "quiet"
    lines = chart.alerts.list.items_text("patient")
    assert len(lines) == 4 and all("cleared" in line for line in lines)

    doctor = OpRunner(store, actors["physician"])
    queue = ReviewQueue(doctor)
    qtbot.addWidget(queue)
    queue.show()  # a page loads when shown
    shown = [queue.table.item(r, 3).text() for r in range(queue.table.rowCount())]
    assert [queue.table.item(r, 0).text() for r in range(queue.table.rowCount())] == ["***", "***", "***", "*"]
    assert shown[0].startswith("Vital signs overdue: 40 min after first device")
    assert shown[1].startswith("Deep sedation: MOAA/S 1") and shown[2].startswith("BP above 180/110")
    assert shown[3].startswith("NEWS2 4")
    doctor.deleteLater()
