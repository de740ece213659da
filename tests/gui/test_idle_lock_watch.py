"""The idle lock's app-wide event filter runs only while it has work (every Qt
event passes it, and a chart build sends thousands): after input it sleeps until
the next check. Input after each check still postpones the lock, and a locked
screen still blocks everything under the cover."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLineEdit

from ketamon.core.auth import AuthPolicy
from ketamon.gui.lock import IdleLock
from ketamon.gui.main_window import MainWindow

POLICY = AuthPolicy(max_failed_attempts=3, lockout_minutes=15, idle_lock_minutes=10)


@pytest.fixture
def desk(qtbot, runner, esketamine_session, monkeypatch):
    calls = []
    real = IdleLock.eventFilter

    def counted(self, obj, event):
        calls.append(event.type())
        return real(self, obj, event)

    monkeypatch.setattr(IdleLock, "eventFilter", counted)
    window = MainWindow(runner, policy=POLICY)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    chart = window.open_session(esketamine_session)
    yield window, chart, window.idle_lock, calls
    window.idle_lock.uninstall()


def test_input_after_every_check_keeps_the_screen_unlocked(qtbot, desk, clock):
    window, chart, idle, _ = desk
    for _ in range(4):  # she types every 6 minutes: 24 minutes, never 10 without input
        clock.advance(minutes=6)
        qtbot.keyClicks(chart.vitals_row.fields["spo2"], "9")
        idle.check()
        assert not idle.locked
    clock.advance(minutes=10)
    idle.check()
    assert idle.locked


def test_after_input_building_widgets_passes_no_event_through_the_filter(qtbot, desk):
    window, chart, idle, calls = desk
    qtbot.keyClicks(chart.vitals_row.fields["spo2"], "9")  # input seen: the filter sleeps
    calls.clear()
    built = [QLineEdit(chart) for _ in range(20)]
    for w in built:
        w.show()
    assert calls == [] and not idle.locked
    idle.check()  # the next check watches again
    qtbot.keyClicks(chart.vitals_row.fields["spo2"], "8")
    assert calls


def test_a_locked_screen_still_blocks_typing_under_the_cover(qtbot, desk):
    window, chart, idle, _ = desk
    field = chart.vitals_row.fields["systolic"]
    qtbot.keyClicks(field, "12")  # the filter sleeps after this input …
    idle.lock()  # … and locking wakes it
    qtbot.keyClicks(field, "3")
    assert idle.locked and field.text() == "12"
