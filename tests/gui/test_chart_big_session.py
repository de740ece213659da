"""A session with a monitor feeding a vital-sign set every second: the event log
folds the device readings away unless asked, and every new entry, correction or
set from another workstation still shows in the log and on the plot (the chart
keeps the sets it read and only reads new ones)."""
from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ketamon.core import ops, scenario
from ketamon.core.chart import load_chart
from ketamon.core.store import Store

#: more than the plot draws with symbols (chart_plot.SYMBOLS_UP_TO), so the big-series path is used
READINGS = 450


def device_session(store, nurse) -> int:
    return scenario.device_session(store, nurse, hours=READINGS / 3600, hz=1)


def device_lines(chart) -> list[str]:
    return [r for r in chart.event_log.rows_text() if "[device]" in r]


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())


def type_set_and_enter(qtbot, chart, systolic: str, diastolic: str, heart_rate: str) -> None:
    row = chart.vitals_row
    row.focus_first()
    qtbot.waitUntil(lambda: row.fields["systolic"].hasFocus())
    for i, value in enumerate((systolic, diastolic, heart_rate)):
        if i:
            qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        qtbot.keyClicks(QApplication.focusWidget(), value)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)


def test_device_readings_are_folded_until_the_nurse_asks(qtbot, open_chart, store, nurse):
    chart = open_chart(device_session(store, nurse))
    log = chart.event_log
    assert device_lines(chart) == []
    assert log.device_toggle.isVisible() and not log.device_toggle.isChecked()
    assert log.device_toggle.text() == f"Show device readings ({READINGS})"
    assert len(chart.plot.series("heart_rate")[0]) == READINGS  # the plot always has them all

    click(qtbot, log.device_toggle)
    assert log.device_toggle.isChecked()
    assert len(device_lines(chart)) == READINGS
    assert "HR 70, SpO2 97%, RR 14 [device]" in device_lines(chart)[0]

    click(qtbot, log.device_toggle)
    assert device_lines(chart) == []


def test_a_manual_entry_is_logged_and_plotted_in_a_big_session(qtbot, open_chart, store, nurse, clock):
    chart = open_chart(device_session(store, nurse))
    clock.advance(seconds=30)
    type_set_and_enter(qtbot, chart, "141", "88", "93")

    rows = chart.event_log.rows_text()
    assert any("BP 141/88" in r and "HR 93" in r and "Sam Carter RN" in r for r in rows)
    xs, hr = chart.plot.series("heart_rate")
    assert len(hr) == READINGS + 1 and hr[-1] == 93.0 and xs[-1] == clock.now().timestamp()
    assert chart.plot.series("systolic")[1][-1] == 141.0
    # the 1 Hz heart rate is a line; the few BP sets keep their ▼ markers
    assert chart.plot.curves["heart_rate"].opts["symbol"] is None
    assert chart.plot.curves["systolic"].opts["symbol"] == "t"

    clock.advance(seconds=30)
    type_set_and_enter(qtbot, chart, "139", "86", "91")
    xs, hr = chart.plot.series("heart_rate")
    assert hr[-2:] == [93.0, 91.0] and len(hr) == READINGS + 2
    assert sum("BP 1" in r and "[device]" not in r for r in chart.event_log.rows_text()) == 2


def test_correcting_a_device_reading_shows_it_struck_through_even_when_folded(qtbot, open_chart, store, nurse,
                                                                              clock):
    sid = device_session(store, nurse)
    chart = open_chart(sid)
    log = chart.event_log
    artefact = load_chart(store, sid).vitals[100]
    click(qtbot, log.device_toggle)
    log.select_entry("vital_signs", artefact.id)
    click(qtbot, log.correct_button)
    dialog = log.correction_dialog
    assert dialog is not None and dialog.fields["heart_rate"].text() == str(artefact.heart_rate)
    dialog.fields["heart_rate"].selectAll()
    qtbot.keyClicks(dialog.fields["heart_rate"], "66")
    qtbot.keyClicks(dialog.reason, "probe slipped")
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: log.correction_dialog is None)

    click(qtbot, log.device_toggle)  # fold the routine readings again
    assert not log.device_toggle.isChecked()
    assert log.device_toggle.text() == f"Show device readings ({READINGS - 1})"
    rows = log.rows_text()
    assert len(rows) == 2
    assert f"HR {artefact.heart_rate}" in rows[0] and "Superseded" in rows[0]
    assert "HR 66" in rows[1] and "Correction: probe slipped" in rows[1]
    font = log.model.data(log.model.index(0, 2), Qt.ItemDataRole.FontRole)
    assert font is not None and font.strikeOut()
    xs, hr = chart.plot.series("heart_rate")
    assert len(hr) == READINGS and hr[xs.index(artefact.measured_at.timestamp())] == 66.0


def test_a_set_saved_at_another_workstation_appears_on_refresh(qtbot, open_chart, store, nurse, clock):
    sid = device_session(store, nurse)
    chart = open_chart(sid)
    chair_two = Store(store.url, clock=clock, run_migrations=False)
    try:
        clock.advance(seconds=10)
        ops.record_vitals(chair_two, nurse, sid, systolic=150, diastolic=92, heart_rate=101,
                          comment="taken at chair two")
    finally:
        chair_two.dispose()
    chart.refresh()
    assert any("BP 150/92" in r and "taken at chair two" in r for r in chart.event_log.rows_text())
    assert chart.plot.series("heart_rate")[1][-1] == 101.0
    assert chart.plot.series("systolic")[0][-1] == (clock.now()).timestamp()
    assert chart.plot.series("systolic")[0][-2] < (clock.now() - timedelta(seconds=10)).timestamp()
