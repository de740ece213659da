"""The README's chart picture: the demo's esketamine session at the moment things
go wrong, charted through the real window as a nurse would (make screenshots).

A critical set is typed into the vitals row (BP 186/104, SpO2 88 %: high alerts),
F9 acknowledges, a side effect is clicked and a long note saved, so the banner,
the message lines and the status line all hold long texts; then the window is
rendered at the given size.

    python docs/pressure_screenshot.py OUT.png 1366x768
"""
from __future__ import annotations

import sys
import time


def main(out: str, size: str) -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from ketamon.cli import window_size
    from ketamon.core import ops
    from ketamon.core.auth import active_actor
    from ketamon.core.demo import open_demo
    from ketamon.core.store import default_url
    from ketamon.gui.app import build_window, make_application, save_screenshot

    width, height = window_size(size)
    app = make_application()
    store = open_demo(default_url(demo=True), fresh=True)
    window = build_window(store, active_actor(store, "nurse"), idle_lock=False)
    window.setWindowTitle(window.windowTitle() + "  (demo data)")
    window.resize(width, height)
    window.show()
    chart = window.current_chart()
    row = chart.vitals_row
    for name, value in (("systolic", 186), ("diastolic", 104), ("heart_rate", 124), ("spo2", 88),
                        ("resp_rate", 22)):
        QTest.keyClicks(row.fields[name], str(value))
    QTest.keyClicks(row.comment, "feels far away, room spinning; husband at the bedside")
    QTest.keyClick(row.fields["systolic"], Qt.Key.Key_Return)
    chart.alerts.banner.ack_button.click()  # F9
    chart.side_effects.score_buttons["nausea"][6].click()
    QTest.keyClicks(chart.event_log.note, "Dr Shah informed of BP 186/104 and SpO2 88 %; oxygen 2 l/min by "
                                          "nasal cannula started, repeat set in 5 minutes as agreed")
    QTest.keyClick(chart.event_log.note, Qt.Key.Key_Return)
    # meanwhile another chair's blood pressure is high: its call at the top of the list
    other = next(r.session_id for r in window.sessions.rows if r.session_id != chart.session_id and r.chair)
    ops.record_vitals(store, window.runner.actor, other, systolic=192, diastolic=112, heart_rate=128)
    window.sessions.reload()
    deadline = time.monotonic() + 10
    while not window.other_chairs.isVisible() and time.monotonic() < deadline:
        QApplication.processEvents()
    row.focus_first()
    QApplication.processEvents()
    ok = save_screenshot(window, out, size=(width, height))
    window.close()
    store.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
