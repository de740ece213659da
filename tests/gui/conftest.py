"""GUI test fixtures: the real stylesheet, a scripted answer for every modal
question, and a check that no test leaves a window behind (as napari does)."""
from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication

from ketamon.gui import prompts


def _key(widget) -> int:
    return shiboken6.getCppPointer(widget)[0]


@pytest.fixture(scope="session", autouse=True)
def styled_app(qapp):
    """The one QApplication with ketamon's stylesheet and font, as users see it."""
    from ketamon.gui.app import make_application

    return make_application()


@pytest.fixture(autouse=True)
def responder():
    """Every modal question in a GUI test is answered by script (never a real dialog);
    `responder.shown` says what would have been shown."""
    scripted = prompts.ScriptedResponder()
    previous, prompts.responder = prompts.responder, scripted
    yield scripted
    prompts.responder = previous


@pytest.fixture(autouse=True)
def no_leaked_widgets(qapp):
    """Fail a test that leaves a top-level widget alive (register widgets with
    qtbot.addWidget, or give them a parent, so they are closed and deleted)."""
    before = {_key(w) for w in QApplication.topLevelWidgets()}
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    leaked = [w for w in QApplication.topLevelWidgets()
              if _key(w) not in before and w.objectName() != "qt_scrollarea_viewport"]
    if leaked:
        names = ", ".join(f"{type(w).__name__}({w.windowTitle() or w.objectName()!r})" for w in leaked)
        for w in leaked:  # do not let one leak fail every later test
            w.close()
            w.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        pytest.fail(f"test leaked top-level widgets: {names}")


@pytest.fixture
def runner(store, nurse):
    """An OpRunner acting as the nurse, on the test store (FakeClock)."""
    from ketamon.gui.runner import OpRunner

    r = OpRunner(store, nurse)
    yield r
    r.deleteLater()


@pytest.fixture
def open_chart(qtbot, runner):
    """`open_chart(session_id)` → a shown SessionChart, closed after the test."""
    from ketamon.gui.chart_view import SessionChart

    def open_(session_id: int) -> SessionChart:
        chart = SessionChart(runner, session_id)
        qtbot.addWidget(chart)
        chart.resize(1200, 820)
        chart.show()
        qtbot.waitExposed(chart)
        chart.activateWindow()
        return chart

    return open_


def shown_window(qtbot, runner, size: tuple[int, int] = (1366, 768)):
    """A main window, shown (at 1366×768: the smallest screen it is laid out for)."""
    from ketamon.gui.main_window import MainWindow

    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def small_window(qtbot, runner):
    """The main window, shown at 1366×768 (the smallest screen it is laid out for)."""
    return shown_window(qtbot, runner)
