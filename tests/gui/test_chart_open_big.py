"""Opening the chart of a session a monitor fed for hours: every set is drawn and
in the log (folded, then unfolded), and the first open — nothing read before —
costs about what building any chart and reading the rows cost, not a model
object and a log line per set (it once took seconds: ketamon.core.chart)."""
from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ketamon.core import ops
from ketamon.core.chart import forget_chart_cache
from ketamon.gui.chart_view import SessionChart
from tests.test_chart_rows import add_device_sets, stored

#: sets in the big session (the timing test): a few hours at 1 Hz
BIG = 20_000


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())


def test_every_set_is_drawn_and_in_the_log_which_unfolds_the_device_readings(qtbot, open_chart, store, nurse,
                                                                            clock, infusion_session):
    sid = infusion_session
    ops.record_vitals(store, nurse, sid, systolic=124, diastolic=80, heart_rate=72, spo2=98)
    add_device_sets(store, sid, clock.now() + timedelta(seconds=1), 900, nurse.user_id)
    clock.advance(seconds=1000)
    ops.record_vitals(store, nurse, sid, systolic=131, diastolic=84, heart_rate=75, spo2=97)
    forget_chart_cache(store)
    chart = open_chart(sid)
    rows = stored(store, sid)

    xs, hr = chart.plot.series("heart_rate")  # every set, at its time, with its value
    assert xs == [r.measured_at.timestamp() for r in rows] and hr == [float(r.heart_rate) for r in rows]
    assert len(chart.plot.series("systolic")[0]) == 2

    log = chart.event_log
    folded = log.rows_text()
    assert sum("BP 124/80" in r for r in folded) == 1 and sum("BP 131/84" in r for r in folded) == 1
    assert not any("[device]" in r for r in folded)
    assert log.device_toggle.text() == "Show device readings (900)"

    click(qtbot, log.device_toggle)  # unfold: one line per set, in time order
    lines = [r for r in log.rows_text() if r.split(" | ")[1] == "Vital signs"]
    assert len(lines) == len(rows) == 902
    assert "HR 60, SpO2 90%, RR 12 [device]" in lines[1] and "BP 131/84" in lines[-1]

    clock.advance(seconds=5)  # a new monitor set while unfolded: its line appears
    ops.record_vitals(store, nurse, sid, heart_rate=123, spo2=95, source="device")
    chart.refresh()
    assert "HR 123, SpO2 95% [device]" in log.rows_text()[-1]
    assert chart.plot.series("heart_rate")[1][-1] == 123.0

    click(qtbot, log.device_toggle)  # folded again
    assert log.rows_text() == folded


def _fetch_all(path: str, session_id: int) -> None:
    with sqlite3.connect(path) as con:
        con.execute("SELECT * FROM vital_signs WHERE session_id = ?", (session_id,)).fetchall()


def _open_and_draw(qtbot, runner, session_id: int) -> float:
    """Seconds from building the chart to its plot drawn (nothing kept before)."""
    forget_chart_cache(runner.store)
    t0 = time.perf_counter()
    chart = SessionChart(runner, session_id)
    qtbot.addWidget(chart)
    chart.resize(1200, 820)
    chart.show()
    chart.plot.viewport().repaint()
    QApplication.processEvents()
    took = time.perf_counter() - t0
    chart.close()
    return took


def test_the_first_open_of_a_big_session_costs_about_a_small_chart_and_reading_its_rows(
        qtbot, runner, store, nurse, clock, infusion_session, esketamine_session):
    big, small = infusion_session, esketamine_session
    ops.record_vitals(store, nurse, small, systolic=124, diastolic=80, heart_rate=72, spo2=98)
    add_device_sets(store, big, clock.now(), BIG, nurse.user_id)
    clock.advance(seconds=BIG + 10)
    path = store.url.removeprefix("sqlite:///")
    opened, floors = [], []
    for _ in range(3):  # interleaved, the least of each: the machine's load moves both alike
        t0 = time.perf_counter()
        _fetch_all(path, big)  # the database's own floor: every row of the session, every column
        read = time.perf_counter() - t0
        floors.append(read + _open_and_draw(qtbot, runner, small))  # + building and drawing any chart
        opened.append(_open_and_draw(qtbot, runner, big))
    # a model object and a log line per set made this ~10× the floor; what remains
    # is rows and a plot of 20,000 points
    assert min(opened) < 3 * min(floors), (opened, floors)
