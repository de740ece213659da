"""Starting the desktop app: QApplication, stylesheet, store, who is acting,
the main window (or a screenshot of it).

Start-up is kept light: nothing heavy runs before the first window shows.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import sys

from ketamon.core import settings
from ketamon.core.auth import active_actor
from ketamon.core.permissions import Actor
from ketamon.core.store import Store, UnusableDatabase

log = logging.getLogger(__name__)

SCREENSHOT_SIZE = (1440, 900)
DEMO_USER = "nurse"
#: where the chart goes, until it is built (right after the window is first drawn)
OPENING_CHART = "Opening the chart…"
#: after the window title of the demo
DEMO_TITLE = "  (demo data)"
#: what must not wait for a first paint that may not come (a window started minimised, or
#: on another desktop): its chart, and then the alarm monitor, at most this long after it shows
AT_LATEST_MS = 2000
#: modules the window does not need to show: loaded on first use, or right after the
#: window (or the sign-in dialog) shows, instead of before it. The operations' input
#: schemas are pydantic models (importing pydantic and building them costs 0.2–0.3 s);
#: the first save needs them, showing the window does not.
DEFERRED_IMPORTS = ("ketamon.core.inputs",)


def defer_imports(names: tuple[str, ...] = DEFERRED_IMPORTS) -> None:
    """Register each module as a lazy module: `from ketamon.core import inputs` binds
    it at once, and its code runs on the first attribute read (importlib's LazyLoader).
    Nothing changes for a module that is already imported."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)


def load_deferred_imports(names: tuple[str, ...] = DEFERRED_IMPORTS) -> None:
    """Run the deferred modules now (on the GUI thread: LazyLoader is not thread-safe
    on Python 3.11), when the window waits for a person, so the first save does not."""
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            getattr(module, "__doc__", None)  # any attribute read runs a lazy module


def open_store(args: argparse.Namespace) -> Store:
    """The demo database (seeded on first use) with --demo, else the clinic's."""
    from ketamon.commands.common import resolve_url

    url = resolve_url(args)
    if getattr(args, "demo", False):
        from ketamon.core.demo import open_demo

        return open_demo(url, fresh=bool(getattr(args, "fresh_demo", False)))
    return Store(url)


def signs_in(args: argparse.Namespace) -> bool:
    """Whether someone signs in at start (a screenshot and the start-up benchmark do not)."""
    return not getattr(args, "screenshot", None) and not settings.get("bench_startup")


def choose_actor(store: Store, args: argparse.Namespace) -> Actor | None:
    """Who the app acts as: whoever signs in (ketamon.gui.signin). On an empty
    database the administrator account is created first; with --demo the dialog
    is prefilled with the demo nurse, but it is still a real sign-in. None when
    the person cancels (the app then quits).

    --screenshot takes no input: it acts, without a dialog, as the demo nurse
    (--demo), else the user named by KETAMON_USER, else the first active nurse."""
    if signs_in(args):
        from ketamon.gui.signin import sign_in_at_start

        return sign_in_at_start(store, demo=bool(getattr(args, "demo", False)))
    wanted = settings.get("user") or (DEMO_USER if getattr(args, "demo", False) else None)
    actor = active_actor(store, wanted)
    if actor is None:
        log.warning("no user to act as (KETAMON_USER=%s)", wanted or "")
    return actor


def make_application():
    """The one QApplication, styled. Reuses an existing one (tests)."""
    from PySide6.QtGui import QFont, QIcon
    from PySide6.QtWidgets import QApplication

    from ketamon.core.resources import resource
    from ketamon.gui import theme

    # The GUI thread shares the GIL with the workers (gui/background.py, a device
    # feed): every Qt event passes Python event filters, and with the default 5 ms
    # switch interval each waited up to 5 ms for a busy worker; with 16 chairs the
    # waits queued into stalls of ~0.5 s. A shorter interval hands the GIL back sooner.
    sys.setswitchinterval(0.0005)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("ketamon")
        app.setApplicationDisplayName("ketamon")
        app.setStyle("Fusion")
        app.setWindowIcon(QIcon(str(resource("icons", "ketamon.svg"))))
    font = QFont()
    font.setFamilies([f.strip() for f in theme.variables()["font_family"].split(",")])
    font.setPointSizeF(theme.point_size())
    app.setFont(font)
    app.setStyleSheet(theme.stylesheet())
    return app


def build_window(store: Store, actor: Actor | None, session_id: int | None = None, *, idle_lock: bool = True,
                 chart_after_paint: bool = False):
    """The main window with a chart open: the asked-for session, else the current one
    (an administrator starts on the Users page).

    With `chart_after_paint` (how the app starts) the window is first drawn with its
    sessions list, the session selected and "Opening the chart…" where the chart goes;
    the chart (pyqtgraph, the session's read model) is built on the event-loop turn
    after that first paint (ketamon.gui.first_paint); the caller starts the alarm
    monitor (`window.start_alarm_monitor()`, see `settle`)."""
    from ketamon.gui.main_window import MainWindow, current_session_id
    from ketamon.gui.runner import OpRunner

    runner = OpRunner(store, actor)
    window = MainWindow(runner, idle_lock=idle_lock, start_alarms=not chart_after_paint)
    runner.setParent(window)
    if not chart_after_paint:
        if session_id is not None:
            window.open_session(session_id)
        else:
            window.open_current_session()
    else:
        if session_id is None:
            session_id = current_session_id(window.sessions.rows)
        if session_id is not None:
            from ketamon.gui.first_paint import after_first_paint

            waiting_text = window.empty_chart.text()
            window.empty_chart.setText(OPENING_CHART)
            window.sessions.list.blockSignals(True)  # selected, not opened (yet)
            window.sessions.select(session_id)
            window.sessions.list.blockSignals(False)
            after_first_paint(window, lambda: open_first_chart(window, session_id, waiting_text),
                              at_latest_ms=AT_LATEST_MS)
    window.show_home_page()
    return window


def open_first_chart(window, session_id: int, waiting_text: str) -> None:
    """The chart the window was drawn waiting for, on the page the person is on now
    (they may have chosen another session or page meanwhile: then that stays)."""
    from ketamon.core.errors import KetamonError
    from ketamon.core.ops.base import safe_error_text

    window.empty_chart.setText(waiting_text)
    if window.current_chart() is not None or not window.isVisible():
        return
    page = window.tabs.currentIndex()
    try:
        window.open_session(session_id)
    except Exception as exc:  # noqa: BLE001 (the window stays usable; the person is told in words)
        if isinstance(exc, KetamonError):
            why = str(exc)
        else:
            log.error("opening the first chart failed: %s", safe_error_text(exc))
            why = f"Something went wrong ({safe_error_text(exc)})."
        from ketamon.gui import prompts

        prompts.warn(window, "Opening the chart", f"The chart could not be opened. {why} "
                                                  "Choose the session on the left to try again.")
    window.tabs.setCurrentIndex(page)


def save_screenshot(window, path: str, page: str | None = None, size: tuple[int, int] | None = None) -> bool:
    """Render the window offscreen at `size` (default SCREENSHOT_SIZE) into a PNG;
    `page` picks a tab by its title (e.g. "Alert review", "Records")."""
    from PySide6.QtWidgets import QApplication

    window.resize(*(size or SCREENSHOT_SIZE))
    window.show()
    if page:
        titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        if page not in titles:
            print(f"no page {page!r}; pages: {', '.join(titles)}", file=sys.stderr)
            return False
        window.tabs.setCurrentIndex(titles.index(page))
    for _ in range(3):  # background results (next due, alert tick) arrive; layouts and the plot settle
        window.wait_for_background()
        QApplication.processEvents()
    chart = window.current_chart()
    if chart is not None:
        chart.tick()
        chart.plot.fit()
        QApplication.processEvents()
    return window.grab().save(path)


def mark_demo(window) -> None:
    """Say in the title that this is demo data (whichever chart is open)."""
    if not window.windowTitle().endswith(DEMO_TITLE):
        window.setWindowTitle(window.windowTitle() + DEMO_TITLE)


def when_drawn(window, function) -> None:
    """Run `function` once the window and its first chart are on the screen: after the
    chart's plot is first painted (the chart is built after the window's first paint),
    else right after the window's; if they are not painted (minimised), AT_LATEST_MS
    after each shows."""
    from PySide6.QtCore import QTimer

    from ketamon.gui.first_paint import after_first_paint

    def after_window() -> None:
        chart = window.current_chart()
        if chart is None:
            QTimer.singleShot(0, window, function)
        else:
            after_first_paint(chart.plot.viewport(), function, at_latest_ms=AT_LATEST_MS)

    after_first_paint(window, after_window, at_latest_ms=AT_LATEST_MS)


def settle(window) -> None:
    """What waits until the window and its chart are drawn: DEFERRED_IMPORTS are loaded
    (on the GUI thread), then the alarm monitor starts. In that order: its tick runs on a
    worker thread and its operations read the input schemas, whose lazy module must not
    be run by two threads at once."""
    load_deferred_imports()
    window.start_alarm_monitor()


def report_startup(app, window) -> None:
    """KETAMON_BENCH_STARTUP: print "shown <time>" on the turn after the window is first
    painted, then "chart <time>" after the first chart's plot is (at once when there is
    no chart to open), and quit."""
    import time

    from ketamon.gui.first_paint import after_first_paint

    def drawn() -> None:
        print("chart", time.time(), flush=True)
        app.quit()

    window.chart_opened.connect(lambda chart: after_first_paint(chart.plot.viewport(), drawn))
    after_first_paint(window, lambda: print("shown", time.time(), flush=True), first=True)
    after_first_paint(window, lambda: None if window.current_chart() is not None else drawn())


#: the status line's sentence when showing a screen failed (the traceback is in the log)
SCREEN_FAILED = ("Something went wrong while showing this screen; what was saved is safe. "
                 "The details are in the log for the clinic IT.")


def error_hook(window):
    """The running app's `sys.excepthook`: an error raised into Qt's event loop (a
    slot, a paint, a timer) reaches the person as a sentence on the status line,
    never as a traceback, and the log keeps the traceback (without patient data).
    A database that cannot be reached is the banner's, not an error. Saving never
    comes here: every operation runs through the OpRunner, which refuses in words."""
    import shiboken6

    from ketamon.core.live import is_unreachable
    from ketamon.gui.runner import log_failure
    from ketamon.gui.theme import set_role

    def hook(kind, exc, tb) -> None:
        if issubclass(kind, (KeyboardInterrupt, SystemExit)):
            sys.__excepthook__(kind, exc, tb)
            return
        alive = shiboken6.isValid(window)
        if alive and is_unreachable(exc):
            log.warning("database unreachable: a screen kept what it showed")
            window.runner.set_reachable(False)
            return
        log_failure("a screen", exc)
        if alive:
            set_role(window.status_message, "refusal")
            window.status_message.setText(SCREEN_FAILED)

    return hook


def run_app(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer

    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        settings.use_offscreen_qt(always=True)
    defer_imports()
    app = make_application()
    if signs_in(args):
        QTimer.singleShot(0, load_deferred_imports)  # while the sign-in dialog waits for a password
    try:
        store = open_store(args)
    except UnusableDatabase as exc:  # one sentence instead of starting; the file is left as it was
        from ketamon.commands.common import resolve_url

        message = f"cannot open the database {resolve_url(args)}: {exc}"
        print(message, file=sys.stderr)
        if signs_in(args):
            from ketamon.gui import prompts

            prompts.warn(None, "ketamon", message)
        return 2
    try:
        actor = choose_actor(store, args)
        if actor is None and not screenshot:
            return 0  # sign-in cancelled
        window = build_window(store, actor, getattr(args, "session", None), idle_lock=not screenshot,
                              chart_after_paint=not screenshot)
        if getattr(args, "demo", False):
            mark_demo(window)
            if not screenshot:  # again once the first chart is open (opening one sets the title)
                from ketamon.gui.first_paint import after_first_paint

                after_first_paint(window, lambda: mark_demo(window), at_latest_ms=AT_LATEST_MS)
        if screenshot:
            ok = save_screenshot(window, screenshot, getattr(args, "page", None), getattr(args, "size", None))
            window.close()
            window.deleteLater()
            if not ok:
                print(f"could not write {screenshot}", file=sys.stderr)
                return 1
            return 0
        window.restore_geometry()  # where it was on this workstation, within the screen
        window.remember_geometry = True
        if settings.get("bench_startup"):  # benchmarks/launch.py and bench.py: the two times, then quit
            report_startup(app, window)
        when_drawn(window, lambda: settle(window))
        window.show()
        sys.excepthook = error_hook(window)
        try:
            code = app.exec()
        finally:
            sys.excepthook = sys.__excepthook__
        if window.runner.actor is not None:
            from ketamon.core import ops
            from ketamon.core.errors import KetamonError

            try:
                ops.sign_out(store, window.runner.actor, reason="closed ketamon")
            except KetamonError:
                pass
        return code
    finally:
        from PySide6.QtCore import QCoreApplication, QEvent

        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        store.dispose()
