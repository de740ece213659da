"""The vital-signs row as a nurse uses it: type, Tab, Enter — and the set is
stored, plotted and in the event log; refusals keep what was typed."""
from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ketamon.core.chart import load_chart
from ketamon.gui.widgets import local_hm


def type_into_focus(qtbot, text: str) -> None:
    """Type where the keyboard focus is, as a person would."""
    qtbot.keyClicks(QApplication.focusWidget(), text)


def press(qtbot, key) -> None:
    qtbot.keyClick(QApplication.focusWidget(), key)


def type_set(qtbot, chart, *values: str) -> None:
    """Sys, Dia, HR, SpO2, RR … typed with Tab between them, focus starting on Sys."""
    chart.vitals_row.focus_first()
    qtbot.waitUntil(lambda: chart.vitals_row.fields["systolic"].hasFocus())
    for i, value in enumerate(values):
        if i:
            press(qtbot, Qt.Key.Key_Tab)
        type_into_focus(qtbot, value)


def test_typed_set_is_stored_plotted_and_logged(qtbot, open_chart, store, esketamine_session, clock):
    chart = open_chart(esketamine_session)
    type_set(qtbot, chart, "132", "84", "76", "98", "14")
    press(qtbot, Qt.Key.Key_Return)

    (v,) = load_chart(store, esketamine_session).vitals
    assert (v.systolic, v.diastolic, v.heart_rate, v.spo2, v.resp_rate) == (132, 84, 76, 98, 14)
    assert v.measured_at == clock.now() and not v.late
    assert v.temperature is None and v.consciousness is None  # not typed: stored empty
    assert v.on_oxygen is False  # SpO2 taken with the O2 box unticked: on air

    xs, ys = chart.plot.series("systolic")
    assert ys == [132.0] and xs == [clock.now().timestamp()]
    assert chart.plot.series("diastolic")[1] == [84.0]
    assert chart.plot.series("heart_rate")[1] == [76.0]
    assert chart.plot.series("spo2")[1] == [98.0]

    (line,) = [r for r in chart.event_log.rows_text() if "BP 132/84" in r]
    assert "HR 76" in line and "SpO2 98%" in line and "Sam Carter RN" in line

    row = chart.vitals_row
    assert all(f.text() == "" for f in row.fields.values())  # cleared for the next set
    assert row.fields["systolic"].hasFocus()  # ready to type the next one
    assert "Vital signs saved" in row.message.text() and not row.message.is_refusal


def test_impossible_systolic_is_refused_and_the_typed_text_stays(qtbot, open_chart, store,
                                                                  esketamine_session):
    chart = open_chart(esketamine_session)
    type_set(qtbot, chart, "400", "80", "76")
    press(qtbot, Qt.Key.Key_Return)

    row = chart.vitals_row
    assert row.message.is_refusal
    assert "Systolic BP 400 mmHg" in row.message.text() and "40–300" in row.message.text()
    assert load_chart(store, esketamine_session).vitals == []
    assert [row.fields[n].text() for n in ("systolic", "diastolic", "heart_rate")] == ["400", "80", "76"]
    assert row.fields["systolic"].property("invalid") is True
    assert row.fields["systolic"].hasFocus()  # straight back to the value at fault
    assert chart.plot.series("systolic") == ([], [])
    assert not any("400" in r for r in chart.event_log.rows_text())

    # fixing the value and pressing Enter again saves the rest as typed
    qtbot.keyClick(row.fields["systolic"], Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(row.fields["systolic"], "140")
    press(qtbot, Qt.Key.Key_Enter)
    (v,) = load_chart(store, esketamine_session).vitals
    assert (v.systolic, v.diastolic, v.heart_rate) == (140, 80, 76)
    assert row.fields["systolic"].property("invalid") is False


def test_earlier_measured_at_labels_the_entry_late(qtbot, open_chart, store, esketamine_session, clock):
    chart = open_chart(esketamine_session)
    earlier = clock.now() - timedelta(minutes=20)
    type_set(qtbot, chart, "128", "80", "70")
    qtbot.keyClicks(chart.vitals_row.measured_at, local_hm(earlier))
    qtbot.keyClick(chart.vitals_row.measured_at, Qt.Key.Key_Return)

    (v,) = load_chart(store, esketamine_session).vitals
    assert v.late and v.measured_at == earlier
    (line,) = [r for r in chart.event_log.rows_text() if "BP 128/80" in r]
    assert line.startswith(local_hm(earlier)) and "Late entry" in line
    assert local_hm(clock.now()) in line  # when it was typed, shown beside it
    assert chart.plot.series("systolic")[0] == [earlier.timestamp()]


def test_a_time_that_is_not_a_time_is_refused_before_anything_is_stored(qtbot, open_chart, store,
                                                                        esketamine_session):
    chart = open_chart(esketamine_session)
    type_set(qtbot, chart, "128", "80")
    qtbot.keyClicks(chart.vitals_row.measured_at, "25:99")
    qtbot.keyClick(chart.vitals_row.measured_at, Qt.Key.Key_Return)
    assert "Measured at “25:99” is not a time" in chart.vitals_row.message.text()
    assert chart.vitals_row.measured_at.property("invalid") is True
    assert load_chart(store, esketamine_session).vitals == []


def test_only_what_was_typed_is_stored(qtbot, open_chart, store, esketamine_session):
    chart = open_chart(esketamine_session)
    type_set(qtbot, chart, "", "", "88")
    press(qtbot, Qt.Key.Key_Return)
    (v,) = load_chart(store, esketamine_session).vitals
    assert v.heart_rate == 88
    assert (v.systolic, v.diastolic, v.spo2, v.resp_rate, v.temperature, v.on_oxygen) == (None,) * 6
    assert chart.plot.series("systolic") == ([], []) and chart.plot.series("heart_rate")[1] == [88.0]


def test_oxygen_and_acvpu_from_the_keyboard(qtbot, open_chart, store, esketamine_session):
    chart = open_chart(esketamine_session)
    type_set(qtbot, chart, "120", "75", "80", "94", "16", "37,2")
    press(qtbot, Qt.Key.Key_Tab)
    assert chart.vitals_row.on_oxygen.hasFocus()
    press(qtbot, Qt.Key.Key_Space)
    press(qtbot, Qt.Key.Key_Tab)
    type_into_focus(qtbot, "V")
    press(qtbot, Qt.Key.Key_Return)
    (v,) = load_chart(store, esketamine_session).vitals
    assert v.on_oxygen is True and v.consciousness == "V" and v.temperature == 37.2
    assert any("SpO2 94% on O2" in r and "ACVPU V" in r for r in chart.event_log.rows_text())


def test_correcting_a_set_keeps_the_original_struck_through(qtbot, open_chart, store, esketamine_session,
                                                              responder, clock):
    chart = open_chart(esketamine_session)
    type_set(qtbot, chart, "185", "90", "80")
    press(qtbot, Qt.Key.Key_Return)
    (first,) = load_chart(store, esketamine_session).vitals
    clock.advance(minutes=2)

    log = chart.event_log
    log.select_entry("vital_signs", first.id)
    assert log.correct_button.isEnabled()
    qtbot.mouseClick(log.correct_button, Qt.MouseButton.LeftButton)
    dialog = log.correction_dialog
    assert dialog is not None and dialog.fields["systolic"].text() == "185"

    dialog.fields["systolic"].selectAll()
    qtbot.keyClicks(dialog.fields["systolic"], "135")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)  # no reason yet
    assert dialog.isVisible() and "reason" in dialog.message.text()
    qtbot.keyClicks(dialog.reason, "typed 185 for 135")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: log.correction_dialog is None)

    now = load_chart(store, esketamine_session)
    (v,) = now.vitals
    assert v.systolic == 135 and v.supersedes_id == first.id and v.measured_at == first.measured_at
    assert chart.plot.series("systolic")[1] == [135.0]
    rows = log.rows_text()
    old_row = next(i for i, line in enumerate(log.model.lines) if line.entity_id == first.id)
    assert "Superseded" in rows[old_row]
    font = log.model.data(log.model.index(old_row, 2), Qt.ItemDataRole.FontRole)
    assert font is not None and font.strikeOut()
    assert any("BP 135/90" in r and "Correction: typed 185 for 135" in r for r in rows)

    # and the corrected set, entered in error after all: retracted with a reason
    responder.texts.append("wrong patient")
    log.select_entry("vital_signs", v.id)
    qtbot.mouseClick(log.error_button, Qt.MouseButton.LeftButton)
    assert load_chart(store, esketamine_session).vitals == []
    assert chart.plot.series("systolic") == ([], [])
    assert any("Entered in error: wrong patient" in r for r in log.rows_text())
