"""An Enter in the vitals row repaints what changed — the fields, the message,
the plot, the new log line — and not the rest of the window (issue 8: every
saved set repainted the whole chart, buttons and all, once more after the parts
that changed). The event log appends a saved set's line; a late one still lands
in its place, and a selected line stays selected."""
from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication, QPushButton

from ketamon.gui.widgets import local_hm


class PaintSpy(QObject):
    """Counts the Paint events of the widgets it watches."""

    def __init__(self, widgets):
        super().__init__()
        self.counts = {id(w): 0 for w in widgets}
        self.widgets = list(widgets)
        for w in self.widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Paint and id(obj) in self.counts:
            self.counts[id(obj)] += 1
        return False

    def painted(self, widget) -> int:
        return self.counts[id(widget)]

    def remove(self):
        for w in self.widgets:
            w.removeEventFilter(self)


@pytest.fixture
def window(small_window):
    return small_window


def _enter_set(qtbot, chart, sys_: str, dia: str, at: str = "") -> None:
    row = chart.vitals_row
    for name, value in (("systolic", sys_), ("diastolic", dia), ("heart_rate", "72"), ("spo2", "98")):
        row.fields[name].setText(value)
    row.measured_at.setText(at)
    qtbot.keyClick(row.fields["spo2"], Qt.Key.Key_Return)


def _settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()


def test_an_enter_repaints_the_parts_that_changed_and_not_the_rest(qtbot, window, esketamine_session, clock):
    chart = window.open_session(esketamine_session)
    qtbot.waitExposed(chart)
    _enter_set(qtbot, chart, "128", "80")  # the message line appears once: its first layout is allowed
    clock.advance(minutes=5)
    _settle(qtbot)
    unchanged = [*chart.side_effects.findChildren(QPushButton), window.sessions]
    changed = [chart.plot.viewport(), chart.event_log.table.viewport(), chart.vitals_row.message]
    spy = PaintSpy(unchanged + changed)
    try:
        _enter_set(qtbot, chart, "131", "82")
        qtbot.waitUntil(lambda: spy.painted(chart.plot.viewport()) > 0)
        _settle(qtbot)
        assert "Vital signs saved" in chart.vitals_row.message.text()
        assert all(spy.painted(w) > 0 for w in changed), "the new value, its log line and the message are drawn"
        again = [type(w).__name__ + ":" + (w.text() if isinstance(w, QPushButton) else "")
                 for w in unchanged if spy.painted(w)]
        assert again == [], f"repainted though nothing in them changed: {again}"
    finally:
        spy.remove()


def test_the_tabs_still_lay_out_when_their_pages_change(qtbot, window, esketamine_session):
    """The calm tab widget passes on what matters: another page, another size."""
    chart = window.open_session(esketamine_session)
    page = window.tabs.currentWidget()
    before = page.size()
    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: page.size() != before)
    assert page.width() > before.width() and page.height() > before.height()
    window.tabs.setCurrentIndex(window.tabs.count() - 1)
    other = window.tabs.currentWidget()
    qtbot.waitUntil(lambda: other.isVisible())
    assert other.size() == window.tabs.currentWidget().size() and not chart.isVisible()


def test_the_log_appends_a_saved_set_and_puts_a_late_one_in_its_place(qtbot, window, esketamine_session, clock):
    chart = window.open_session(esketamine_session)
    log = chart.event_log
    _enter_set(qtbot, chart, "128", "80")
    clock.advance(minutes=10)
    _enter_set(qtbot, chart, "140", "90")
    rows = log.rows_text()
    assert "BP 140/90" in rows[-1] and "BP 128/80" in rows[-2]

    log.table.selectRow(len(rows) - 2)  # the nurse is looking at the 128/80 line
    selected = log.selected_line()
    assert selected is not None and "128/80" in selected.text
    late = local_hm(clock.now() - timedelta(minutes=5))
    clock.advance(seconds=30)
    _enter_set(qtbot, chart, "150", "95", at=late)  # measured between the two: a late entry
    rows = log.rows_text()
    order = [next(i for i, r in enumerate(rows) if f"BP {bp}" in r) for bp in ("128/80", "150/95", "140/90")]
    assert order == sorted(order), rows
    assert log.selected_line() is selected, "the line the nurse selected stays selected"

    clock.advance(minutes=1)
    _enter_set(qtbot, chart, "135", "85")
    assert "BP 135/85" in log.rows_text()[-1]
    assert log.model.rowCount() == len(log.rows_text())


def test_a_device_reading_the_log_does_not_show_leaves_the_log_unpainted(qtbot, window, store, nurse,
                                                                        esketamine_session, ready_for_dose, clock):
    """A monitor's set each second refreshes the chart; the log, which folds device
    readings away, keeps its lines and its selection and is not laid out or
    painted again (it was reset once a second: with 16 chairs the GUI thread's
    longest stall came from repainting it)."""
    from ketamon.core import ops

    ready_for_dose(esketamine_session)
    chart = window.open_session(esketamine_session)
    log = chart.event_log
    _enter_set(qtbot, chart, "128", "80")
    _settle(qtbot)
    # the first reading shows the log's "Show device readings" switch: a new layout
    clock.advance(seconds=1)
    window.runner.run(ops.record_vitals, esketamine_session, source="device", heart_rate=79, spo2=97)
    _settle(qtbot)
    log.table.selectRow(0)
    _settle(qtbot)
    lines, selected = list(log.model.lines), log.selected_line()
    resets = []
    log.model.modelReset.connect(lambda: resets.append(1))
    spy = PaintSpy([log.table.viewport(), chart.plot.viewport()])
    try:
        for second in range(3):
            clock.advance(seconds=1)
            window.runner.run(ops.record_vitals, esketamine_session, source="device", heart_rate=80 + second,
                              spo2=97)
            qtbot.waitUntil(lambda: spy.painted(chart.plot.viewport()) > second)
            _settle(qtbot)
        assert len(chart.plot.series("heart_rate")[0]) >= 4 + 2  # the readings are drawn
        assert log.device_toggle.text() == "Show device readings (4)"
        assert log.model.lines == lines and log.selected_line() is selected
        assert resets == [] and spy.painted(log.table.viewport()) == 0
    finally:
        spy.remove()
