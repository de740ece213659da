"""The chair screen holds its layout when things go wrong (issue 10, points 1 and 9):
at 1366×768 and 1920×1080, with a high alert acknowledged by F9, more alerts
behind it and long messages on every line, the window keeps its size, every
input of the vitals row and Save keeps the size it asks for, the event log shows
at least six rows and the alert banner stays one line. The window fits a
1366×768 screen and opens where it was closed on this workstation; the plot
keeps its legend and limit labels off the data and its SpO2 panel readable."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QMargins, QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel

from ketamon.core import ops
from ketamon.gui.event_log import MIN_ROWS
from ketamon.gui.main_window import MainWindow, fit_within

SIZES = [(1366, 768), (1920, 1080)]
LONG_COMMENT = ("patient says she feels very far away and the room is spinning; husband at the bedside, "
                "asked to stay; eyes closed, responds to voice")
LONG_NOTE = ("Dr Shah informed of BP 186/104 and SpO2 88 %; oxygen 2 l/min by nasal cannula started, "
             "patient repositioned upright, repeat set in 5 minutes as agreed")


@pytest.fixture
def dosed_session(store, nurse, esketamine_session, ready_for_dose) -> int:
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    return esketamine_session


def open_window(qtbot, runner, session_id: int, size: tuple[int, int]) -> MainWindow:
    window = MainWindow(runner)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.open_session(session_id)
    window.activateWindow()
    qtbot.waitUntil(lambda: window.size() == QSize(*size) and window.isActiveWindow())  # F9 reaches it
    return window


def type_set(qtbot, chart, comment: str = "", **values) -> None:
    """Type a set into the vitals row and press Enter, as a nurse does."""
    row = chart.vitals_row
    for name, value in values.items():
        row.fields[name].setFocus()
        qtbot.keyClicks(row.fields[name], str(value))
    if comment:
        qtbot.keyClicks(row.comment, comment)
    qtbot.keyClick(row.fields["systolic"], Qt.Key.Key_Return)


def under_pressure(qtbot, window: MainWindow) -> None:
    """A critical set (high alerts: BP 186, SpO2 88), F9, a side effect, a long
    note, then a refused systolic 400: every message line holds a long text."""
    chart = window.current_chart()
    type_set(qtbot, chart, LONG_COMMENT, systolic=186, diastolic=104, heart_rate=124, spo2=88, resp_rate=22)
    assert chart.alerts.banner.property("role") == "high"
    qtbot.keyClick(chart.vitals_row.fields["systolic"], Qt.Key.Key_F9)
    assert "(acknowledged)" in chart.alerts.banner.message.text()
    chart.side_effects.score_buttons["nausea"][7].click()
    qtbot.keyClicks(chart.event_log.note, LONG_NOTE)
    qtbot.keyClick(chart.event_log.note, Qt.Key.Key_Return)
    type_set(qtbot, chart, systolic=400)
    assert chart.vitals_row.message.text().startswith("Not saved: Systolic BP 400")
    assert window.status_message.text().startswith("Not saved: Systolic BP 400")
    qtbot.wait(50)  # the layouts settle on the event loop (nothing to wait for but the loop itself)


def bottom_in(window: MainWindow, widget) -> int:
    return widget.mapTo(window, QPoint(0, widget.height())).y()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_layout_holds_with_a_high_alert_and_long_messages(qtbot, runner, dosed_session, size):
    window = open_window(qtbot, runner, dosed_session, size)
    chart = window.current_chart()
    banner = chart.alerts.banner
    quiet_height = banner.height()

    under_pressure(qtbot, window)

    # the window did not grow, and could not have: everything fits at this size
    assert window.size() == QSize(*size)
    assert window.minimumSizeHint().width() <= size[0] and window.minimumSizeHint().height() <= size[1]
    # every vitals input and Save keeps the height it asks for (digits readable) and its width
    row = chart.vitals_row
    for field in [*row.fields.values(), row.measured_at, row.comment, row.consciousness]:
        assert field.height() >= field.sizeHint().height(), field.objectName()
        assert field.width() >= field.minimumSizeHint().width(), field.objectName()
    assert row.save_button.height() >= row.save_button.sizeHint().height()
    assert row.save_button.width() >= row.save_button.sizeHint().width()
    assert bottom_in(window, row.save_button) <= window.statusBar().y()  # not clipped by the status line
    # the event log shows at least six whole rows, above the status line
    log = chart.event_log
    assert log.visible_rows() >= MIN_ROWS
    assert bottom_in(window, log.table) <= window.statusBar().y()
    assert log.model.rowCount() >= MIN_ROWS  # there are rows to show, and the newest is in view
    last = log.model.index(log.model.rowCount() - 1, 2)
    assert log.table.viewport().rect().contains(log.table.visualRect(last).center())
    # scrolled to the newest, the top row is whole (not cut in half) and so is the newest
    top = log.model.index(log.table.rowAt(0), 2)
    assert log.table.visualRect(top).top() == 0
    assert log.table.visualRect(last).bottom() < log.table.viewport().height()
    # the banner is one line, as high as with no alert, the rest behind "+N more"
    assert banner.height() == quiet_height == banner.one_line_height()
    assert "\n" not in QLabel.text(banner.message)
    assert banner.message.fontMetrics().height() * 2 > banner.message.height()
    assert banner.more.isVisible() and banner.more.text() == f"+{len(banner.others)} more"
    assert len(banner.others) >= 1
    menu = banner.show_others()
    assert [a.text() for a in menu.actions()][0].startswith(banner.others[0].mark)
    menu.close()
    assert all(a.message in banner.message.toolTip() for a in banner.others)
    # the note field keeps room to see what is typed beside the log's two messages
    note_room = log.note.width() + log.message.width() + chart.side_effects.message.width()
    assert log.note.width() >= note_room // 2 - 1
    # long messages are one line each: the whole text on hover
    assert window.status_message.height() < 2 * window.status_message.fontMetrics().height()
    assert row.message.height() < 2 * row.message.fontMetrics().height()


def test_messages_never_resize_the_window(qtbot, runner, dosed_session):
    window = open_window(qtbot, runner, dosed_session, (1366, 768))
    window.show_status("x" * 600, refusal=True)
    chart = window.current_chart()
    chart.vitals_row.message.show_refusal("y " * 400)
    chart.event_log.message.show_ok("z " * 400)
    qtbot.wait(50)
    assert window.size() == QSize(1366, 768)
    assert window.status_message.text() == "Not saved: " + "x" * 600  # whole, though shown elided
    assert window.status_message.elided and window.status_message.toolTip() == window.status_message.text()


def test_the_window_fits_a_1366_by_768_screen(qtbot, runner, dosed_session, monkeypatch):
    window = open_window(qtbot, runner, dosed_session, (1440, 900))
    under_pressure(qtbot, window)
    screen = QRect(0, 0, 1366, 768)
    monkeypatch.setattr(window, "available_area", lambda: screen)
    window.fit_to_screen(QSize(1600, 1000))
    qtbot.waitUntil(lambda: window.width() <= 1366 and window.height() <= 768)
    frame = window.frameGeometry()
    assert screen.contains(frame), frame
    assert window.minimumSizeHint().width() <= window.width()
    assert window.minimumSizeHint().height() <= window.height()
    # with a title bar (30 px) and a task bar, the inside is what is left
    assert fit_within(QRect(500, 400, 1440, 900), QRect(0, 28, 1366, 740), QMargins(1, 30, 1, 1)) == \
        QRect(1, 58, 1364, 709)


def test_the_window_opens_where_it_was_closed_on_this_workstation(qtbot, runner, tmp_path, monkeypatch):
    monkeypatch.setenv("KETAMON_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(MainWindow, "available_area", lambda self: QRect(0, 0, 1920, 1080))
    first = MainWindow(runner)
    qtbot.addWidget(first)
    first.remember_geometry = True
    first.restore_geometry()  # nothing saved yet: the default size, within the screen
    first.show()
    qtbot.waitExposed(first)
    first.resize(780, 770)  # within the offscreen test screen (800×800): Qt fits a restored window to it
    qtbot.waitUntil(lambda: first.size() == QSize(780, 770))
    first.close()
    assert (tmp_path / "workstation.ini").exists()

    second = MainWindow(runner)
    qtbot.addWidget(second)
    second.restore_geometry()
    assert second.size() == QSize(780, 770)


def test_the_plot_keeps_its_legend_and_limit_labels_off_the_data(qtbot, runner, dosed_session):
    window = open_window(qtbot, runner, dosed_session, (1366, 768))
    under_pressure(qtbot, window)
    plot = window.current_chart().plot
    bp_box = plot.bp_plot.getViewBox().sceneBoundingRect()
    spo2_vb = plot.spo2_plot.getViewBox()
    for box in (bp_box, spo2_vb.sceneBoundingRect()):
        assert not plot.legend.sceneBoundingRect().intersects(box)
        for axis in (plot.bp_plot.getAxis("right"), plot.spo2_plot.getAxis("right")):
            labels = axis.mapRectToScene(QRectF(0, 0, axis.width(), axis.height()))
            assert labels.left() >= box.right() - 1 or labels.top() >= box.bottom() - 1
    # limit labels, one line of text apart at least, each on its own limit
    line = plot.fontMetrics().height() * 0.9
    for p in (plot.bp_plot, plot.spo2_plot):
        labels = plot.limit_labels(p)
        ys = [p.getViewBox().mapViewToScene(QPoint(0, int(v))).y() for v, _ in labels]
        assert all(abs(a - b) >= line for a, b in zip(ys, ys[1:]))
    assert [text for _, text in plot.limit_labels(plot.bp_plot)][-1] == "SBP 180"  # the critical one is shown
    # SpO2: the critical line is labelled, and 87 is told from 92 at a glance
    critical = [b for b in plot.limit_bands if b.parameter == "spo2" and b.tier == "critical"][0]
    assert (critical.low, critical.label) in plot.limit_labels(plot.spo2_plot)

    def y_of(value: float) -> float:
        return spo2_vb.mapViewToScene(spo2_vb.mapSceneToView(spo2_vb.sceneBoundingRect().topLeft())
                                      .__class__(0, value)).y()

    assert y_of(87) - y_of(92) >= 12  # pixels between 87 % and 92 %
    assert spo2_vb.sceneBoundingRect().bottom() - y_of(87) >= 8  # 87 % is not on the panel's edge


def test_the_bp_panel_gets_the_height_at_1366_by_768(qtbot, runner, dosed_session):
    """The events lane is one line of short labels, so the BP trend is readable on
    the smallest screen: its panel is 100 px high or more (it was 60)."""
    window = open_window(qtbot, runner, dosed_session, (1366, 768))
    under_pressure(qtbot, window)
    panel = window.current_chart().side_effects
    for kind, score in (("dissociation", 2), ("sedation", 4), ("nausea", 3)):  # a crowd at one time
        panel.score_buttons[kind][score].click()
    plot = window.current_chart().plot
    qtbot.waitUntil(lambda: len(plot.event_texts()) == 5)
    qtbot.wait(50)  # the labels are laid out on the event loop once the range settled
    bp_height = plot.bp_plot.getViewBox().sceneBoundingRect().height()
    lane_height = plot.events_plot.getViewBox().sceneBoundingRect().height()
    spo2_height = plot.spo2_plot.getViewBox().sceneBoundingRect().height()
    assert bp_height >= 100, (bp_height, lane_height, spo2_height)
    assert plot.event_rows == 1 and lane_height < 1.5 * plot.fontMetrics().height()
    assert bp_height > spo2_height  # the trend that needs reading has the bigger panel
    # each mark keeps its whole text on hover; the lane shows short texts that never overlap
    labels = plot._event_labels
    assert [label.item.toolTip() for label in labels] == [t.removeprefix("◆ ") for t in plot.event_texts()]
    assert {"Device 1", "◆ Dissociation 2", "◆ MOAA/S 4", "◆ Nausea 3"} <= set(plot.event_texts())
    shown = plot.shown_event_texts()
    assert all(text in (label.short, label.flipped, label.marker) for text, label in zip(shown, labels))
    assert shown[-1] in (labels[-1].short, labels[-1].flipped)  # the newest keeps its words
    assert "Diss 2" in {label.short.removeprefix("◆ ") for label in labels}  # short forms
    worded = [label.item.sceneBoundingRect() for label in labels if len(label.item.textItem.toPlainText()) > 1]
    assert all(not a.intersects(b) for i, a in enumerate(worded) for b in worded[i + 1:])


def test_screenshot_at_a_given_size(tmp_path):
    from ketamon.cli import main

    out = tmp_path / "chart.png"
    db = tmp_path / "demo.sqlite3"
    assert main(["--db", f"sqlite:///{db}", "--demo", "--screenshot", str(out), "--size", "1366x768"]) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1366, 768)


def test_another_chairs_high_alert_above_a_chart_under_pressure_keeps_the_window_on_a_1366_by_768_screen(
        qtbot, runner, store, nurse, dosed_session, infusion_session):
    """The strip naming another chair's alert takes its line from the chart, never
    from the screen: the window's minimum stays within 1366×768."""
    window = open_window(qtbot, runner, dosed_session, (1366, 768))
    under_pressure(qtbot, window)
    ops.record_vitals(store, nurse, infusion_session, systolic=190, diastolic=110, heart_rate=130, spo2=86)
    window.sessions.reload()
    qtbot.waitUntil(lambda: window.other_chairs.isVisible(), timeout=5000)
    qtbot.wait(50)  # the layouts settle on the event loop
    assert window.minimumSizeHint().height() <= 768, window.minimumSizeHint()
    assert window.size() == QSize(1366, 768)
    chart = window.current_chart()
    assert bottom_in(window, chart.event_log) <= window.statusBar().y()
