"""The charts the main window keeps: a few, so that what is half-typed in one
survives switching to another, but not every chart ever opened (each holds its
session's sets, and opening grew slower with every chart kept). The chart opened
longest ago is closed, unless something typed in it is not saved."""
from __future__ import annotations

import gc
import weakref

import pytest
import shiboken6

from ketamon.core import ops
from ketamon.gui import heap, main_window
from tests.gui.conftest import shown_window


@pytest.fixture
def sessions(store, nurse, patient_id, actors):
    def make(n: int) -> list[int]:
        return [ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                                   lot_number="LOT-1", physician_id=actors["physician"].user_id).result
                for _ in range(n)]
    return make


def charts_in_stack(w) -> list:
    return [c for c in w.chart_stack.findChildren(type(w.current_chart()))
            if c is not w.spare_chart.waiting and shiboken6.isValid(c) and c.parent() is w.chart_stack]


def test_the_chart_opened_longest_ago_is_closed_but_never_one_holding_what_was_typed(
        qtbot, runner, sessions, monkeypatch, nurse):
    monkeypatch.setattr(main_window, "KEPT_CHARTS", 3)
    monkeypatch.setattr(heap, "COLLECT_AFTER_MS", 0)
    s1, s2, s3, s4, s5 = sessions(5)
    w = shown_window(qtbot, runner)
    first = w.open_session(s1)
    qtbot.keyClicks(first.vitals_row.fields["systolic"], "14")  # half-typed, then the nurse goes elsewhere
    second = w.open_session(s2)
    w.open_session(s3)
    w.open_session(s1)  # back to the first: it is now the one opened last
    w.open_session(s4)
    assert list(w.charts) == [s3, s1, s4]  # the second was opened longest ago
    qtbot.waitUntil(lambda: not shiboken6.isValid(second), timeout=2000)
    w.open_session(s5)
    # the third goes; the first stays although opened before the fourth: it holds "14"
    assert set(w.charts) == {s1, s4, s5}
    assert w.charts[s1] is first and first.vitals_row.fields["systolic"].text() == "14"
    qtbot.waitUntil(lambda: sorted(c.session_id for c in charts_in_stack(w)) == sorted(w.charts), timeout=2000)

    # a closed chart is built again when chosen, with its own session
    again = w.open_session(s2)
    assert again is not second and again.session_id == s2 and w.current_chart() is again
    assert again.chart.session.id == s2
    assert set(w.charts) == {s1, s5, s2}  # and the fourth, now opened longest ago of those holding nothing, goes

    # the charts left behind meet notices and a change of user without an error
    # (pytest-qt fails the test on an exception raised in a slot)
    for name, value in (("systolic", "128"), ("diastolic", "82"), ("heart_rate", "70"), ("spo2", "97")):
        again.vitals_row.fields[name].setText(value)
    assert again.vitals_row.save() is not None
    runner.set_actor(nurse)
    # with every other chart holding something typed, they all stay
    for chart in w.charts.values():
        chart.event_log.note.setText("to add")
        chart.event_log.note.setModified(True)
    w.open_session(s3)
    assert set(w.charts) == {s1, s5, s2, s3}


def test_a_closed_chart_is_freed_though_its_widgets_were_frozen(qtbot, runner, sessions, monkeypatch):
    """The window freezes what it builds (ketamon.gui.heap): a closed chart's
    reference cycles stay until everything is collected once, a moment after."""
    monkeypatch.setattr(main_window, "KEPT_CHARTS", 1)
    monkeypatch.setattr(heap, "COLLECT_AFTER_MS", 0)
    s1, s2 = sessions(2)
    w = shown_window(qtbot, runner)
    chart = w.open_session(s1)
    gone = weakref.ref(chart.plot.curves["systolic"])
    del chart
    heap.settle()  # the chart's objects are frozen, as in the running window
    w.open_session(s2)
    qtbot.waitUntil(lambda: gone() is None, timeout=3000)
    assert gc.get_freeze_count() > 0  # what is alive is frozen again


def test_a_chart_with_an_entry_waiting_for_the_database_holds_it(qtbot, runner, sessions):
    """A side effect clicked during an outage leaves no typed field behind, only the
    entry waiting to be sent: its chart is not closed either."""
    from PySide6.QtWidgets import QWidget

    from ketamon.gui.runner import Pending

    (s1,) = sessions(1)
    w = shown_window(qtbot, runner)
    chart = w.open_session(s1)
    assert not chart.holds_input()
    gone = QWidget()
    gone.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(gone), timeout=2000)
    runner.pending.append(Pending(ops.record_side_effect, (s1, "nausea"), {}, owner=gone))
    assert not chart.holds_input()  # another screen's, now closed: not this chart's
    runner.pending.append(Pending(ops.record_side_effect, (s1, "nausea"), {}, owner=chart.side_effects))
    assert chart.holds_input()
    runner.pending.clear()
