"""The main window: today's sessions, the new patient / new session dialogs,
the status line, the parts the window and chart build, and `--screenshot`."""
from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from ketamon.core import ops
from ketamon.core.chart import list_patients, load_chart
from ketamon.gui.chart_plot import LimitBand
from ketamon.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, runner):
    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.resize(1440, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_todays_sessions_are_listed_with_route_state_and_elapsed_time(qtbot, store, nurse, clock,
                                                                       esketamine_session, infusion_session,
                                                                       ready_for_dose, runner):
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    w = MainWindow(runner)
    qtbot.addWidget(w)
    texts = w.sessions.texts()
    assert len(texts) == 2
    assert texts[0].splitlines()[:2] == ["NGUYEN, Lan", "Nasal spray · Dosing"]
    assert texts[0].splitlines()[2] == "Elapsed 0 min"
    assert texts[1].splitlines()[:2] == ["NGUYEN, Lan", "IV infusion · Planned"]
    clock.advance(minutes=12, seconds=5)
    w.tick()
    assert w.sessions.texts()[0].splitlines()[2] == "Elapsed 12 min"
    # the current session (in progress) is the one opened first
    chart = w.open_current_session()
    assert chart.session_id == esketamine_session and w.current_chart() is chart


def test_choosing_a_session_opens_its_chart(qtbot, window, esketamine_session, infusion_session):
    window.sessions.reload()
    window.sessions.list.setCurrentRow(1)
    assert window.current_chart().session_id == infusion_session
    assert window.tabs.currentIndex() == window.chart_page_index
    window.sessions.list.setCurrentRow(0)
    assert window.current_chart().session_id == esketamine_session
    assert set(window.charts) == {esketamine_session, infusion_session}


def test_new_patient_dialog_registers_the_patient(qtbot, window, store):
    click(qtbot, window.sessions.new_patient_button)
    d = window.patient_dialog
    assert d is not None and d.isVisible()
    qtbot.keyClicks(d.mrn, "MRN-7")
    qtbot.keyClicks(d.family_name, "Okafor")
    qtbot.keyClicks(d.given_name, "Daniel")
    qtbot.keyClicks(d.birth_date, "1977-09-02")
    d.sex.setCurrentIndex(d.sex.findData("male"))
    qtbot.keyClicks(d.weight, "82,5")
    qtbot.keyClicks(d.allergies, "penicillin")
    d.contraindications["arteriovenous_malformation"].setChecked(True)
    d.medications["benzodiazepines"].setChecked(True)
    click(qtbot, d.save_button)
    qtbot.waitUntil(lambda: window.patient_dialog is None)

    (p,) = list_patients(store)
    assert (p.display_name, p.mrn, p.birth_date, p.weight_kg) == ("OKAFOR, Daniel", "MRN-7", date(1977, 9, 2),
                                                                  82.5)
    assert "Patient OKAFOR, Daniel registered" in window.status_message.text()


def test_a_refused_patient_keeps_the_dialog_open_with_the_reason(qtbot, window, patient_id, store):
    click(qtbot, window.sessions.new_patient_button)
    d = window.patient_dialog
    qtbot.keyClicks(d.mrn, "MRN-1")  # already taken by the fixture's patient
    qtbot.keyClicks(d.family_name, "Other")
    qtbot.keyClicks(d.given_name, "Person")
    qtbot.keyClicks(d.birth_date, "12.03.1990")
    d.sex.setCurrentIndex(d.sex.findData("female"))
    click(qtbot, d.save_button)
    assert d.isVisible() and window.patient_dialog is d
    assert "MRN-1 already exists" in d.message.text()
    assert d.family_name.text() == "Other"  # nothing typed is lost
    assert len(list_patients(store)) == 1
    d.reject()


def test_new_session_shows_the_dose_from_the_weight_and_opens_the_chart(qtbot, window, store, patient_id,
                                                                        actors):
    click(qtbot, window.sessions.new_session_button)
    d = window.session_dialog
    d.select_patient(patient_id)
    d.select_protocol("iv-ketamine-0.5")
    assert d.weight.isVisible() and d.weight.text() == "61"
    assert d.dose.text() == "30.5 mg (0.5 mg/kg × 61.0 kg) over 40 min"
    d.weight.selectAll()
    qtbot.keyClicks(d.weight, "70")
    assert d.dose.text() == "35 mg (0.5 mg/kg × 70.0 kg) over 40 min"
    assert d.physician.currentData() == actors["physician"].user_id
    click(qtbot, d.save_button)
    qtbot.waitUntil(lambda: window.session_dialog is None)

    chart = window.current_chart()
    assert chart is not None
    s = load_chart(store, chart.session_id).session
    assert (s.protocol_id, s.planned_dose_mg, s.dose_weight_kg) == ("iv-ketamine-0.5", 35.0, 70.0)
    assert "30.5" not in chart.header.session_facts.text()
    assert "35 mg (0.5 mg/kg × 70.0 kg)" in chart.header.session_facts.text()
    assert any(t.startswith("NGUYEN, Lan\nIV infusion") for t in window.sessions.texts())


def test_fixed_and_prescriber_doses_in_the_new_session_dialog(qtbot, window, store, patient_id):
    click(qtbot, window.sessions.new_session_button)
    d = window.session_dialog
    d.select_patient(patient_id)
    d.select_protocol("esketamine-84")
    assert d.dose.text() == "84 mg (3 devices × 28 mg)" and not d.weight.isVisible()
    d.select_protocol("im-ketamine")
    assert d.prescribed.isVisible() and "prescriber's dose is required" in d.dose.text()
    click(qtbot, d.save_button)
    assert d.isVisible() and "the prescriber's dose (mg) is required" in d.message.text()
    qtbot.keyClicks(d.prescribed, "30")
    assert d.dose.text() == "30 mg (prescriber's dose)"
    click(qtbot, d.save_button)
    qtbot.waitUntil(lambda: window.session_dialog is None)
    assert load_chart(store, window.current_chart().session_id).session.planned_dose_mg == 30.0


def test_status_line_says_what_was_saved_and_what_was_refused(qtbot, window, store, esketamine_session,
                                                              clock, responder, actors):
    window.sessions.reload()
    chart = window.open_session(esketamine_session)
    row = chart.vitals_row
    qtbot.keyClicks(row.fields["heart_rate"], "80")
    qtbot.keyClick(row.fields["heart_rate"], Qt.Key.Key_Return)
    status = window.status_message
    assert status.text() == f"✓ Vital signs saved ({clock.now().astimezone():%H:%M})"
    assert status.property("role") == "ok"

    qtbot.keyClicks(row.fields["spo2"], "140")
    qtbot.keyClick(row.fields["spo2"], Qt.Key.Key_Return)
    assert status.text().startswith("Not saved: SpO2 140 %") and status.property("role") == "refusal"
    assert responder.shown == []  # a typing slip is said beside the row, no box to dismiss

    window.runner.set_actor(actors["staff"])  # front desk may not chart: said where it cannot be missed
    row.fields["spo2"].clear()
    qtbot.keyClick(row.fields["heart_rate"], Qt.Key.Key_Return)
    (kind, _title, text), = responder.shown
    assert kind == "warn" and "may not chart" in text
    assert "Alex Morgan · Front desk" == window.status_user.text()


def test_the_window_and_the_chart_build_their_own_parts(qtbot, runner, esketamine_session):
    """Every window has the same pages and every chart the same parts, whatever was
    built before (nothing is registered process-wide)."""
    from PySide6.QtWidgets import QLabel

    for _ in range(2):
        w = MainWindow(runner)
        qtbot.addWidget(w)
        w.show()
        tabs = [w.tabs.tabText(i) for i in range(w.tabs.count())]
        assert tabs == ["Session chart", "Records", "Alert review", "Central station", "Technical alerts", "Users", "Settings"]
        assert not w.tabs.isTabVisible(tabs.index("Users"))  # a nurse does not manage users
        assert not w.tabs.isTabVisible(tabs.index("Settings"))  # nor change clinic settings
        assert w.lock_button.isVisible() and w.switch_user_button.isVisible()
        chart = w.open_session(esketamine_session)
        assert chart.alerts.banner.isVisibleTo(chart) and chart.alerts.banner.message.text() == "No active alerts"
        assert chart.record_bar.isVisibleTo(chart) and chart.record_bar.open_button.text() == "Pre-dose checks…"
        assert chart.alerts.list.isVisibleTo(chart) and chart.alerts.limits_box.isVisibleTo(chart)
        assert w.add_page("Extra", QLabel("extra")) == len(tabs)
        w.close()

    plot = chart.plot
    plot.set_limit_bands([])
    before = len(plot.bp_plot.items)
    plot.set_limit_bands([LimitBand("systolic", 90, 160, label="Sys 90–160"),
                          LimitBand("spo2", low=92, tier="critical", shade=True)])
    assert len(plot.bp_plot.items) == before + 2  # a line at 90 and at 160
    assert plot.plot_for("spo2") is plot.spo2_plot
    plot.set_limit_bands([])
    assert len(plot.bp_plot.items) == before


def test_screenshot_of_the_demo(tmp_path):
    from ketamon.cli import main

    out = tmp_path / "chart.png"
    db = tmp_path / "demo.sqlite3"
    assert main(["--db", f"sqlite:///{db}", "--demo", "--fresh-demo", "--screenshot", str(out)]) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1440, 900)
    assert out.stat().st_size > 50_000
    colours = {image.pixel(x, y) for x in range(0, 1440, 12) for y in range(0, 900, 12)}
    assert len(colours) > 40  # a real picture, not a blank window


def test_screenshot_of_another_page_and_a_wrong_page_name(tmp_path, capsys):
    from ketamon.cli import main

    db = tmp_path / "demo.sqlite3"
    records = tmp_path / "records.png"
    assert main(["--db", f"sqlite:///{db}", "--demo", "--screenshot", str(records), "--page", "Records"]) == 0
    chart = tmp_path / "chart.png"
    assert main(["--db", f"sqlite:///{db}", "--demo", "--screenshot", str(chart)]) == 0
    assert QImage(str(records)) != QImage(str(chart))  # the Records page, not the chart
    wrong = tmp_path / "wrong.png"
    assert main(["--db", f"sqlite:///{db}", "--demo", "--screenshot", str(wrong), "--page", "Nope"]) == 1
    assert "no page 'Nope'" in capsys.readouterr().err and not wrong.exists()


def test_the_list_keeps_its_rows_when_the_database_goes_away_during_a_reload(qtbot, window, runner, monkeypatch,
                                                                              esketamine_session):
    """A notice arrives as the clinic server goes away: the today list keeps what it
    showed, the window says the database cannot be reached, and nothing is raised
    into Qt's event loop (it was: a reload read on the GUI thread without a net)."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from ketamon.gui import main_window

    window.sessions.reload()
    shown = window.sessions.texts()
    assert shown and runner.reachable

    def gone(*_a, **_k):
        raise OperationalError("SELECT …", {}, psycopg.OperationalError("connection refused"))

    monkeypatch.setattr(main_window, "sessions_on", gone)
    window.sessions.reload()  # as a notice's reload does
    assert window.sessions.texts() == shown
    assert not runner.reachable


def test_an_error_raised_into_the_event_loop_reaches_the_person_as_a_sentence(qtbot, window, runner, monkeypatch,
                                                                              caplog):
    """The running app's excepthook (gui/app.py error_hook): a fault in a slot is a
    sentence on the status line, the traceback is in the log; a database that
    cannot be reached is the banner's."""
    import logging
    import sys

    from PySide6.QtCore import QTimer

    from ketamon.gui.app import SCREEN_FAILED, error_hook
    from tests.gui.test_outage_screens import _gone

    def broken_slot():
        raise ValueError("a fault in a screen")

    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(sys, "excepthook", error_hook(window))
    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: window.status_message.text() == SCREEN_FAILED, timeout=2000)
    assert "a fault in a screen" in caplog.text and "broken_slot" in caplog.text  # the log has the traceback
    assert runner.reachable

    def database_gone():
        raise _gone()

    window.status_message.setText("")
    QTimer.singleShot(0, database_gone)
    qtbot.waitUntil(lambda: not runner.reachable, timeout=2000)
    assert window.status_message.text() == ""  # the banner says it, not an error sentence
