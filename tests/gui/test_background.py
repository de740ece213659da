"""Periodic work off the GUI thread: the alert tick and the sessions list's next-due
run their queries on a worker thread, their results arrive on the GUI thread, and
an overdue alert still reaches the banner on time."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from PySide6.QtWidgets import QApplication

from ketamon.core import ops
from ketamon.core.ops import alerting
from ketamon.gui import main_window
from ketamon.gui.background import Background
from ketamon.gui.main_window import MainWindow
from ketamon.gui.sound import RecordingSound

GUI_THREAD = threading.get_ident()


@pytest.fixture
def background(qapp):
    b = Background()
    yield b
    b.stop()
    b.deleteLater()


def test_a_job_runs_off_the_gui_thread_and_its_result_arrives_on_it(qtbot, background):
    ran_on, arrived_on = [], []
    background.run("job", lambda: ran_on.append(threading.get_ident()) or 42,
                   lambda result: arrived_on.append((threading.get_ident(), result)))
    qtbot.waitUntil(lambda: bool(arrived_on))
    assert ran_on[0] != GUI_THREAD and arrived_on == [(GUI_THREAD, 42)]


def test_a_slow_job_is_not_stacked_up_behind_itself(qtbot, background):
    release, results = threading.Event(), []
    assert background.run("tick", lambda: release.wait(5) and "first", results.append)
    assert not background.run("tick", lambda: "second", results.append)  # still busy: queued once
    assert not background.run("tick", lambda: "third", results.append)  # replaces the queued one
    release.set()
    qtbot.waitUntil(lambda: len(results) == 2)
    assert results == ["first", "third"] and not background.busy()


def test_a_failing_job_is_reported_and_the_next_one_runs(qtbot, background):
    errors, results = [], []
    background.run("tick", lambda: 1 / 0, results.append, errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ZeroDivisionError)
    background.run("tick", lambda: "ok", results.append)
    qtbot.waitUntil(lambda: results == ["ok"])


def test_after_stop_nothing_is_delivered(qtbot, background):
    release, results = threading.Event(), []
    background.run("job", lambda: release.wait(5), results.append)
    release.set()
    background.stop()  # waits for the running job, whose result is then posted
    assert not background.busy() and not background.run("job", lambda: 1, results.append)
    QApplication.processEvents()  # a posted delivery would arrive now; there must be none
    assert results == []


def test_the_overdue_alert_is_worked_out_off_the_gui_thread_and_reaches_the_banner(
        qtbot, store, nurse, clock, esketamine_session, ready_for_dose, runner, monkeypatch):
    ticks_on, due_on = [], []
    real_tick, real_due = alerting.tick, main_window.alerts.next_due_for_sessions
    monkeypatch.setattr(alerting, "tick", lambda *a, **k: ticks_on.append(threading.get_ident())
                        or real_tick(*a, **k))
    monkeypatch.setattr(main_window.alerts, "next_due_for_sessions",
                        lambda *a, **k: due_on.append(threading.get_ident()) or real_due(*a, **k))
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    first = clock.now()
    window = MainWindow(runner)
    qtbot.addWidget(window)
    window.alarm_monitor.sound = RecordingSound()
    window.show()
    chart = window.open_session(esketamine_session)
    window.alarm_monitor.timer.setInterval(20)
    clock.set(first + timedelta(minutes=42))  # nobody types; the timer runs the rules
    qtbot.waitUntil(lambda: "Vital signs overdue" in chart.alerts.banner.message.text(), timeout=5000)
    assert chart.alerts.banner.property("role") == "medium"
    qtbot.waitUntil(lambda: window.alarm_monitor.sound.requests[-1:] == ["medium"])
    qtbot.waitUntil(lambda: "Vitals overdue 2 min" in window.sessions.texts()[0])
    assert ticks_on and GUI_THREAD not in ticks_on
    assert due_on and GUI_THREAD not in due_on
