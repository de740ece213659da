"""Keyboard first (issue 10, point 6): a full set with temperature and ACVPU in
at most 20 keys, Measured at one shortcut away, every shortcut in its tooltip,
and F1 listing the shortcuts the window really has."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication

from ketamon.core.chart import load_chart
from ketamon.gui import shortcuts
from ketamon.gui.main_window import MainWindow

KEYS = {"\n": Qt.Key.Key_Return, "\t": Qt.Key.Key_Tab}


def type_keys(qtbot, keys: str) -> int:
    """Press each key into whatever has the focus, as a nurse types; returns the count."""
    for ch in keys:
        target = QApplication.focusWidget()
        assert target is not None
        if ch in KEYS:
            qtbot.keyClick(target, KEYS[ch])
        else:
            qtbot.keyClicks(target, ch)
    return len(keys)


def test_a_full_set_with_temperature_and_acvpu_takes_17_keys(qtbot, open_chart, store, infusion_session):
    chart = open_chart(infusion_session)
    row = chart.vitals_row
    row.focus_first()
    qtbot.waitUntil(lambda: row.fields["systolic"].hasFocus())
    count = type_keys(qtbot, "124" "80" "72" "98" "14" "36.8" "A" "\n")
    assert count == 17 and count <= 20
    (v,) = load_chart(store, infusion_session).vitals
    assert (v.systolic, v.diastolic, v.heart_rate, v.spo2, v.resp_rate, v.temperature, v.consciousness) == (
        124, 80, 72, 98, 14, 36.8, "A")
    assert row.fields["systolic"].hasFocus()  # ready for the next set


def test_a_field_waits_when_another_digit_could_follow(qtbot, open_chart, store, infusion_session):
    chart = open_chart(infusion_session)
    row = chart.vitals_row
    row.focus_first()
    qtbot.waitUntil(lambda: row.fields["systolic"].hasFocus())
    type_keys(qtbot, "30")  # systolic 300 is possible: it waits for the third digit or Tab
    assert row.fields["systolic"].hasFocus()
    type_keys(qtbot, "\t" "10")  # diastolic 10 could be 100
    assert row.fields["diastolic"].hasFocus()
    type_keys(qtbot, "0" "72" "100")  # SpO2 100: nothing can follow
    assert row.fields["resp_rate"].hasFocus()
    type_keys(qtbot, "8")  # RR 8 could be 80
    assert row.fields["resp_rate"].hasFocus()


def test_measured_at_is_one_shortcut_away_for_a_late_entry(qtbot, open_chart, store, infusion_session, clock):
    chart = open_chart(infusion_session)
    row = chart.vitals_row
    row.focus_first()
    qtbot.waitUntil(lambda: row.fields["systolic"].hasFocus())
    type_keys(qtbot, "124" "80")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)
    assert row.measured_at.hasFocus()
    earlier = (clock.now().astimezone().replace(second=0, microsecond=0)).strftime("%H%M")
    clock.advance(minutes=20)
    type_keys(qtbot, earlier + "\n")
    (v,) = load_chart(store, infusion_session).vitals
    assert v.systolic == 124 and v.late
    assert "Alt+M" in row.measured_at.toolTip()


def test_f1_lists_every_shortcut_and_each_button_says_its_key(qtbot, runner, infusion_session):
    window = MainWindow(runner, idle_lock=False)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    chart = window.open_session(infusion_session)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(chart.vitals_row.fields["systolic"], Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    assert dialog.isVisible()
    listed = dict(dialog.entries)
    for key in ("F1", "F9", "Ctrl+L", "Alt+M", "Alt+O", "Enter"):
        assert key in listed, (key, listed)
    assert listed["F9"].startswith("Acknowledge")
    assert dialog.table.rowCount() == len(dialog.entries)
    # the list is the window's own shortcuts: one made now appears in it
    shortcuts.bind(window, "Ctrl+Shift+Y", "A shortcut added later", lambda: None)
    assert ("Ctrl+Shift+Y", "A shortcut added later") in shortcuts.collect(window)
    # every button with a key says the key in its tooltip
    for button in window.findChildren(QAbstractButton):
        if not button.shortcut().isEmpty():
            assert shortcuts.key_text(button.shortcut()) in button.toolTip(), button.text()
    assert "(F9)" in chart.alerts.banner.ack_button.toolTip()
    assert "Ctrl+L" in window.lock_button.toolTip()
    assert "(Enter)" in chart.vitals_row.save_button.toolTip()
    dialog.close()
