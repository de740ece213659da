"""Each screen refreshes only what it shows, only when that changed, and a hidden
page does no work until it is shown (typed change notices, ketamon.core.changes)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ketamon.core import ops
from ketamon.gui import review_queue, staff
from ketamon.gui.main_window import MainWindow
from ketamon.gui.sound import RecordingSound


@pytest.fixture
def window(qtbot, runner):
    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.alarm_monitor.sound = RecordingSound()
    w.resize(1440, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def reloads(chart) -> list:
    seen: list = []
    chart.refreshed.connect(seen.append)
    return seen


def test_the_initiator_is_handed_to_every_screen(qtbot, runner, esketamine_session):
    seen = []
    runner.changed.connect(seen.append)
    marker = object()
    changes = runner.run(ops.add_note, esketamine_session, "Calm", initiator=marker)
    assert changes.notes and seen == [changes] and seen[0].initiator is marker


def test_acknowledging_updates_the_banner_without_reloading_the_chart(qtbot, window, runner, infusion_session):
    chart = window.open_session(infusion_session)
    runner.run(ops.record_vitals, infusion_session, systolic=186, diastolic=92)
    assert "186" in chart.alerts.banner.message.text()
    seen = reloads(chart)
    qtbot.keyClick(chart.vitals_row.fields["systolic"], Qt.Key.Key_F9)
    assert "(acknowledged)" in chart.alerts.banner.message.text()
    assert seen == []  # nothing the plot, log or dose panel show has changed


def test_a_print_reloads_no_chart(qtbot, window, runner, esketamine_session):
    chart = window.open_session(esketamine_session)
    seen = reloads(chart)
    record_bar_before = chart.record_bar.record
    changes = runner.run(ops.record_print, esketamine_session, "summary")
    assert changes.exports and window.status_message.text() == "✓ Session summary printed"
    assert seen == [] and chart.record_bar.record is record_bar_before


def test_a_chart_behind_another_does_no_work_and_catches_up_when_shown(qtbot, window, runner, esketamine_session,
                                                                       infusion_session):
    behind = window.open_session(esketamine_session)
    front = window.open_session(infusion_session)
    assert not behind.isVisible() and front.isVisible()
    seen = reloads(behind)
    runner.run(ops.add_note, esketamine_session, "Patient asleep, rousable")
    assert seen == []
    window.open_session(esketamine_session)
    assert len(seen) == 1
    assert any("Patient asleep, rousable" in line for line in behind.event_log.rows_text())


def test_hidden_pages_search_only_when_shown(qtbot, runner, esketamine_session, monkeypatch):
    searches, queues = [], []
    real_find, real_queue = staff.find_sessions, review_queue.alerts.review_queue
    monkeypatch.setattr(staff, "find_sessions", lambda *a, **k: searches.append(1) or real_find(*a, **k))
    monkeypatch.setattr(review_queue.alerts, "review_queue", lambda *a, **k: queues.append(1) or real_queue(*a, **k))
    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.alarm_monitor.sound = RecordingSound()
    w.show()
    w.open_session(esketamine_session)
    runner.run(ops.record_vitals, esketamine_session, systolic=186, diastolic=92)  # an alert and an entry
    assert searches == [] and queues == []  # neither page has been looked at
    w.tabs.setCurrentWidget(w.records_page)
    assert searches == [1] and w.records_page.texts()
    w.tabs.setCurrentWidget(w.review_queue)
    assert queues == [1] and w.review_queue.rows
    assert "186" in w.review_queue.rows[0].message


def test_the_users_page_lists_accounts_only_for_those_who_see_it(qtbot, runner, actors, monkeypatch):
    from ketamon.gui import users_page

    listed = []
    real = users_page.list_users
    monkeypatch.setattr(users_page, "list_users", lambda *a, **k: listed.append(1) or real(*a, **k))
    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.alarm_monitor.sound = RecordingSound()
    w.show()
    assert listed == [] and not w.tabs.isTabVisible(w.users_page_index)  # a nurse: hidden, and idle
    runner.set_actor(actors["admin"])
    assert w.tabs.currentWidget() is w.users_page and listed == [1]
    assert "nurse" in [row[0] for row in w.users_page.rows()]
