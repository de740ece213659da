"""How the app starts its window (ketamon.gui.app.build_window with
chart_after_paint, as `ketamon` runs it): the window is drawn first, with the
sessions list and the current session selected, and its chart is built on the
turn after that first paint; whatever the person chose meanwhile stays."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget

from ketamon.core import ops
from ketamon.gui import app
from ketamon.gui.app import OPENING_CHART, build_window


class FirstPaintSeen(QObject):
    """Records what the window held when Qt first painted any part of it."""

    def __init__(self, window, what):
        super().__init__()
        self.window, self.what, self.seen = window, what, []
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802
        if event.type() == QEvent.Type.Paint and not self.seen and isinstance(obj, QWidget) and \
                obj.window() is self.window:
            self.seen.append(self.what())
        return False

    def stop(self):
        QApplication.instance().removeEventFilter(self)


def started(qtbot, store, actor, **kw):
    window = build_window(store, actor, idle_lock=False, chart_after_paint=True, **kw)
    qtbot.addWidget(window)
    window.resize(1440, 900)
    return window


def test_the_window_is_drawn_with_its_list_before_the_chart_is_built(qtbot, store, nurse, esketamine_session,
                                                                     infusion_session, ready_for_dose):
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")  # in progress: the current session
    window = started(qtbot, store, nurse)
    assert window.current_chart() is None and window.charts == {}
    assert window.sessions.selected_session_id() == esketamine_session
    watch = FirstPaintSeen(window, lambda: (window.current_chart(), window.empty_chart.text(),
                                            len(window.sessions.texts())))
    try:
        window.show()
        qtbot.waitUntil(lambda: window.current_chart() is not None, timeout=10_000)
    finally:
        watch.stop()
    assert watch.seen == [(None, OPENING_CHART, 2)]  # drawn: both sessions listed, "Opening the chart…"
    chart = window.current_chart()
    assert chart.session_id == esketamine_session
    assert window.tabs.currentIndex() == window.chart_page_index
    assert window.windowTitle() == "ketamon — NGUYEN, Lan"
    assert window.empty_chart.text() != OPENING_CHART  # back to its own words, should it show again
    assert set(window.charts) == {esketamine_session}


def test_a_session_chosen_before_the_chart_arrives_stays_open(qtbot, store, nurse, esketamine_session,
                                                              infusion_session, ready_for_dose):
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    window = started(qtbot, store, nurse)
    rows = [row.session_id for row in window.sessions.rows]
    window.sessions.list.setCurrentRow(rows.index(infusion_session))  # the nurse clicks the other chair
    assert window.current_chart().session_id == infusion_session
    window.show()
    qtbot.waitUntil(lambda: window.empty_chart.text() != OPENING_CHART, timeout=10_000)
    assert window.current_chart().session_id == infusion_session
    assert set(window.charts) == {infusion_session}  # the first choice was not built over it


def test_an_administrator_stays_on_the_users_page(qtbot, store, actors, esketamine_session):
    window = started(qtbot, store, actors["admin"])
    window.show()
    qtbot.waitUntil(lambda: window.empty_chart.text() != OPENING_CHART, timeout=10_000)
    assert window.tabs.currentIndex() == window.users_page_index
    assert set(window.charts) == {esketamine_session}  # built behind it, as before


def test_the_alert_tick_starts_after_the_chart_is_drawn_and_the_schemas_are_loaded(qtbot, monkeypatch, store, nurse,
                                                                                    esketamine_session):
    """The tick runs operations on a worker thread, and operations read the input
    schemas: their lazy module is run first, on the GUI thread (app.settle)."""
    window = started(qtbot, store, nurse)
    seen = []
    monkeypatch.setattr(app, "load_deferred_imports", lambda: seen.append(("schemas", window.current_chart())))
    monkeypatch.setattr(window.alarm_monitor, "start", lambda: seen.append(("alert tick", window.current_chart())))
    app.when_drawn(window, lambda: app.settle(window))
    window.show()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=10_000)
    chart = window.current_chart()
    assert chart is not None and chart.session_id == esketamine_session
    assert seen == [("schemas", chart), ("alert tick", chart)]


def test_a_chart_that_cannot_be_opened_is_said_in_words_and_the_window_stays(qtbot, monkeypatch, store, nurse,
                                                                            esketamine_session, responder):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    window = started(qtbot, store, nurse)

    def fails(_session_id):
        raise OperationalError("SELECT …", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(window, "open_session", fails)
    window.show()
    qtbot.waitUntil(lambda: bool(responder.shown), timeout=10_000)
    assert responder.shown == [("warn", "Opening the chart",
                                "The chart could not be opened. Something went wrong (OperationalError [e3q8]: "
                                "database is locked). Choose the session on the left to try again.")]
    assert window.isVisible() and window.current_chart() is None
    assert window.empty_chart.text() == "Choose a session on the left, or open a new one."


class NoPaint(QObject):
    """Swallows every paint of the window, as for a window started minimised or on
    another desktop: shown, never painted."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802
        return event.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and obj.window() is self.window

    def stop(self):
        QApplication.instance().removeEventFilter(self)


def test_a_window_never_painted_still_gets_its_chart_and_its_alert_tick(qtbot, monkeypatch, store, nurse,
                                                                        esketamine_session):
    monkeypatch.setattr(app, "AT_LATEST_MS", 300)
    window = started(qtbot, store, nurse)
    seen = []
    monkeypatch.setattr(app, "load_deferred_imports", lambda: seen.append("schemas"))
    monkeypatch.setattr(window.alarm_monitor, "start", lambda: seen.append("alert tick"))
    app.when_drawn(window, lambda: app.settle(window))
    blind = NoPaint(window)
    try:
        window.show()
        qtbot.waitUntil(lambda: len(seen) == 2, timeout=10_000)
        assert window.current_chart().session_id == esketamine_session
    finally:
        blind.stop()
    assert seen == ["schemas", "alert tick"]
