"""The main window: today's sessions on the left, pages on the right, and a
status line that always says what was last saved — or why it was not.

The window builds all its parts itself, in `MainWindow.__init__`, in plain code:
the pages (Session chart, Records, Alert review, Users for administrators), the
alarm monitor (alert tick and tone) and the access controls (lock screen, switch
user, idle lock). To add a page, add it there with `add_page(title, widget)`; no
registry, nothing set on the window from outside. A page other than the chart may be
given as a function that builds it: it is built when its tab is first shown.

Signal `chart_opened(SessionChart)` when a session's chart is first built.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import alert_views as alerts, schedule
from ketamon.core.auth import AuthPolicy
from ketamon.core.chart import SessionRow, sessions_on
from ketamon.core.errors import KetamonError, PermissionDenied, SessionLocked
from ketamon.core.lifecycle import AFTER_FIRST_DOSE, BEFORE_DOSE
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import Permission
from ketamon.gui import prompts
from ketamon.gui.background import Background
from ketamon.gui.chart_view import SessionChart
from ketamon.gui.dialogs import NewPatientDialog, NewSessionDialog
from ketamon.gui.lock import AccessControls
from ketamon.gui.runner import OpRunner
from ketamon.gui.sound import AlarmMonitor
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import format_elapsed, local_hm

ROUTE_LABELS = {"nasal": "Nasal spray", "iv": "IV infusion", "im": "IM injection"}
#: states of a session in progress (a "current" session)
IN_PROGRESS = AFTER_FIRST_DOSE
#: change flags that alter what the sessions list shows (who, state, first dose). Not
#: "alerts": a row shows none, and with 16 chairs the alert tick and the rules raise
#: or clear alerts every few seconds; reloading the list (a query on the GUI thread)
#: for each of them stalled typing.
LIST_FLAGS = ("lifecycle", "patients", "doses")
#: change flags that move when vital signs are next due (a set, a dose, the state)
DUE_FLAGS = ("vitals", "doses", "lifecycle")


def row_text(row: SessionRow, now: datetime, due: str = "") -> str:
    """Short lines: who; route and state; elapsed (or when); what is due next."""
    lines = [row.patient_name, f"{ROUTE_LABELS.get(row.route, row.route)} · {row.state_label}"]
    if row.first_dose_at is not None and row.state in IN_PROGRESS:
        third = f"Elapsed {format_elapsed(now - row.first_dose_at)}"
    elif row.first_dose_at is not None:
        third = f"First dose {local_hm(row.first_dose_at)}"
    else:
        third = f"Scheduled {local_hm(row.scheduled_at)}"
    lines.append(third)
    if due:
        lines.append(due)
    return "\n".join(lines)


def current_session_id(rows: list[SessionRow]) -> int | None:
    """The session to open first: the longest-running one in progress, else the
    next planned one, else none."""
    running = [r for r in rows if r.state in IN_PROGRESS and r.first_dose_at is not None]
    if running:
        return min(running, key=lambda r: r.first_dose_at).session_id
    waiting = [r for r in rows if r.state in BEFORE_DOSE | {"dosing"}]
    return waiting[0].session_id if waiting else None


class DueTimes:
    """When the next vital signs are due for each of today's sessions. Asked every
    second for every row, so it only reads what it holds; `fetch` recomputes all
    rows at once, off the GUI thread, at most every few seconds (a due time only
    moves when an entry is saved: `forget()` then)."""

    def __init__(self, store, background: Background, max_age_s: float = 3.0):
        self.store, self.background, self.max_age_s = store, background, max_age_s
        self.items: dict[int, schedule.DueItem | None] = {}
        self._fetched_at: datetime | None = None

    def text(self, row: SessionRow, now: datetime) -> str:
        """'Vitals due 10:40', 'Vitals overdue 6 min', or '' (nothing due, or not known yet)."""
        item = self.items.get(row.session_id)
        return "" if item is None else f"Vitals {schedule.short_due_text(item, now)}"

    def fetch(self, session_ids: list[int], now: datetime, done) -> None:
        """Recompute when older than max_age_s (or forgotten); `done()` on the GUI thread after."""
        if self._fetched_at is not None and abs((now - self._fetched_at).total_seconds()) < self.max_age_s:
            return
        self._fetched_at = now
        store, ids = self.store, list(session_ids)

        def arrived(items: dict[int, schedule.DueItem | None]) -> None:
            self.items = items
            done()

        self.background.run("next due", lambda: alerts.next_due_for_sessions(store, ids, now), arrived)

    def forget(self) -> None:
        self._fetched_at = None


class SessionsPanel(QFrame):
    """Today's sessions, with New patient / New session."""

    session_selected = Signal(int)

    def __init__(self, runner: OpRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sessionsPanel")
        self.runner = runner
        self.rows: list[SessionRow] = []
        #: where "next vitals due" is worked out (never on the GUI thread)
        self.background = Background(self)
        #: "next vitals due" per row, shown every second, recomputed every few
        self.due = DueTimes(runner.store, self.background)
        runner.changed.connect(lambda changes: self.due.forget() if changes.any_of(*DUE_FLAGS) else None)
        self.title = QLabel("Today")
        self.title.setObjectName("sessionsTitle")
        self.list = QListWidget()
        self.list.setObjectName("sessionList")
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentItemChanged.connect(self._current_changed)
        self.new_patient_button = QPushButton("New patient…")
        self.new_session_button = QPushButton("New session…")
        set_role(self.new_session_button, "primary")
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.new_session_button)
        buttons.addWidget(self.new_patient_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.setFixedWidth(280)

    def reload(self) -> None:
        now = self.runner.store.clock.now()
        current = self.selected_session_id()
        self.rows = sessions_on(self.runner.store, now=now)
        self.title.setText(f"Today, {now.astimezone():%a %d %b}")
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for row in self.rows:
                item = QListWidgetItem(row_text(row, now))
                item.setData(Qt.ItemDataRole.UserRole, row.session_id)
                item.setToolTip(f"{row.patient_name} ({row.mrn})\n{row.protocol_name}")
                self.list.addItem(item)
            if not self.rows:
                empty = QListWidgetItem("No sessions today.\nUse New session to open one.")
                empty.setFlags(Qt.ItemFlag.NoItemFlags)
                self.list.addItem(empty)
            if current is not None:
                self._select(current)
        finally:
            self.list.blockSignals(False)
        self.tick(now)

    def tick(self, now: datetime) -> None:
        self._show_texts(now)
        self.due.fetch([r.session_id for r in self.rows], now,
                       lambda: self._show_texts(self.runner.store.clock.now()))

    def _show_texts(self, now: datetime) -> None:
        for i, row in enumerate(self.rows):
            item = self.list.item(i)
            text = row_text(row, now, self.due.text(row, now))
            if item is not None and item.text() != text:
                item.setText(text)

    def stop(self) -> None:
        """The window closes: wait for a running query and drop its result."""
        self.background.stop()

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def selected_session_id(self) -> int | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _select(self, session_id: int) -> bool:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == session_id:
                self.list.setCurrentRow(i)
                return True
        return False

    def select(self, session_id: int) -> None:
        """Select a session's row (opens its chart)."""
        self._select(session_id)

    def _current_changed(self, item: QListWidgetItem | None, _previous) -> None:
        if item is not None and item.data(Qt.ItemDataRole.UserRole) is not None:
            self.session_selected.emit(item.data(Qt.ItemDataRole.UserRole))


class MainWindow(QMainWindow):
    #: a session's chart was built (once per session)
    chart_opened = Signal(object)

    def __init__(self, runner: OpRunner, parent: QWidget | None = None, *, policy: AuthPolicy | None = None,
                 idle_lock: bool = True):
        """`policy` sets sign-in lock-out and the idle lock (default: the clinic's);
        without `idle_lock` (a screenshot) only "Lock screen" locks."""
        super().__init__(parent)
        self.runner = runner
        self.setWindowTitle("ketamon")
        self.charts: dict[int, SessionChart] = {}
        self.patient_dialog: NewPatientDialog | None = None
        self.session_dialog: NewSessionDialog | None = None
        self._last_patient_id: int | None = None

        self.sessions = SessionsPanel(runner)
        self.sessions.session_selected.connect(self.open_session)
        self.sessions.new_patient_button.clicked.connect(self.new_patient)
        self.sessions.new_session_button.clicked.connect(lambda: self.new_session())

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.chart_stack = QStackedWidget()
        self.empty_chart = QLabel("Choose a session on the left, or open a new one.")
        self.empty_chart.setObjectName("emptyChart")
        self.empty_chart.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_stack.addWidget(self.empty_chart)
        self.chart_page_index = self.add_page("Session chart", self.chart_stack)
        #: pages other than the chart are built when first shown (or asked for:
        #: `records_page` …); until then their tab holds an empty placeholder
        self._unbuilt: dict[QWidget, Callable[[], QWidget]] = {}
        self.tabs.currentChanged.connect(self._page)
        self.records_page_index = self.add_page("Records", self._build_records_page)
        self.review_page_index = self.add_page("Alert review", self._build_review_queue)
        self.users_page_index = self.add_page("Users", self._build_users_page)
        self.settings_page_index = self.add_page("Settings", self._build_settings_page)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sessions)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.status_message = QLabel("")
        self.status_message.setObjectName("statusMessage")
        self.status_user = QLabel("")
        self.status_user.setObjectName("statusUser")
        self.statusBar().addWidget(self.status_message, 1)
        self.statusBar().addPermanentWidget(self.status_user)
        #: Lock screen (Ctrl+L), Switch user…, and the idle lock
        self.access = AccessControls(self, runner, policy, idle_lock=idle_lock)
        self.lock_button = self.access.lock_button
        self.switch_user_button = self.access.switch_user_button
        self.idle_lock = self.access.idle_lock
        self.statusBar().addPermanentWidget(self.lock_button)
        self.statusBar().addPermanentWidget(self.switch_user_button)
        #: the alert timer (overdue checks, escalation) and the alarm tone
        self.alarm_monitor = AlarmMonitor(runner, parent=self)

        runner.changed.connect(self._on_changed)
        runner.refused.connect(self._on_refused)
        runner.actor_changed.connect(self._show_actor)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.sessions.reload()
        self._show_actor(runner.actor)
        # from the first event-loop turn: a tick on its worker thread while the window
        # is still being built (a chart opened, shown) would take the GIL from it
        self._closed = False
        QTimer.singleShot(0, self, lambda: None if self._closed else self.alarm_monitor.start())

    # ------------------------------------------------------------ pages

    def add_page(self, title: str, page: QWidget | Callable[[], QWidget]) -> int:
        """Add a page (tab) on the right; returns its index. `page` is the widget, or
        a function that builds it when the tab is first shown: the window shows
        sooner, and a page nobody opens costs nothing."""
        if isinstance(page, QWidget):
            return self.tabs.addTab(page, title)
        placeholder = QWidget()
        self._unbuilt[placeholder] = page
        return self.tabs.addTab(placeholder, title)

    def _page(self, index: int) -> QWidget:
        """The page of tab `index`, built now (in place of its placeholder, keeping the
        tab's place, title and visibility) if it was not yet."""
        placeholder = self.tabs.widget(index)
        build = self._unbuilt.pop(placeholder, None)
        if build is None:
            return placeholder
        page = build()
        visible, current = self.tabs.isTabVisible(index), self.tabs.currentIndex()
        self.tabs.blockSignals(True)  # the tab stays where it is: no "current changed" for the swap
        try:
            self.tabs.insertTab(index, page, self.tabs.tabText(index))
            self.tabs.removeTab(index + 1)
            self.tabs.setTabVisible(index, visible)
            self.tabs.setCurrentIndex(current)
        finally:
            self.tabs.blockSignals(False)
        placeholder.deleteLater()
        return page

    def _build_records_page(self) -> QWidget:
        from ketamon.gui.staff import RecordsPage

        return RecordsPage(self.runner, open_chart=self.open_session)

    def _build_review_queue(self) -> QWidget:
        from ketamon.gui.review_queue import ReviewQueue

        queue = ReviewQueue(self.runner)
        queue.open_session.connect(self.open_session)
        return queue

    def _build_users_page(self) -> QWidget:
        from ketamon.gui.users_page import UsersPage

        return UsersPage(self.runner)

    def _build_settings_page(self) -> QWidget:
        from ketamon.gui.settings_page import SettingsPage

        return SettingsPage(self.runner)

    @property
    def records_page(self):
        """Finding past sessions; print, export, open a record."""
        return self._page(self.records_page_index)

    @property
    def review_queue(self):
        """Alerts across all chairs (physicians review them here)."""
        return self._page(self.review_page_index)

    @property
    def users_page(self):
        """User accounts; its tab shows only to those who may manage users."""
        return self._page(self.users_page_index)

    @property
    def settings_page(self):
        """Clinic-wide settings; its tab shows only to those who may change them."""
        return self._page(self.settings_page_index)

    def show_page(self, widget: QWidget) -> None:
        self.tabs.setCurrentWidget(widget)

    def open_session(self, session_id: int) -> SessionChart:
        """Show a session's chart (built once, then kept, so half-typed values survive switching)."""
        chart = self.charts.get(session_id)
        if chart is None:
            chart = SessionChart(self.runner, session_id)
            self.charts[session_id] = chart
            self.chart_stack.addWidget(chart)
            self.chart_opened.emit(chart)
        self.chart_stack.setCurrentWidget(chart)
        self.tabs.setCurrentIndex(self.chart_page_index)
        if self.sessions.selected_session_id() != session_id:
            self.sessions.list.blockSignals(True)
            self.sessions.select(session_id)
            self.sessions.list.blockSignals(False)
        self.setWindowTitle(f"ketamon — {chart.chart.patient.display_name}")
        chart.vitals_row.focus_first()
        return chart

    def current_chart(self) -> SessionChart | None:
        w = self.chart_stack.currentWidget()
        return w if isinstance(w, SessionChart) else None

    def open_current_session(self) -> SessionChart | None:
        """Open the longest-running session in progress (or the next planned one)."""
        sid = current_session_id(self.sessions.rows)
        return self.open_session(sid) if sid is not None else None

    # ------------------------------------------------------------ dialogs

    def new_patient(self) -> NewPatientDialog:
        self.patient_dialog = NewPatientDialog(self.runner, self)
        self.patient_dialog.finished.connect(self._patient_dialog_closed)
        self.patient_dialog.open()
        return self.patient_dialog

    def _patient_dialog_closed(self, _result: int) -> None:
        dialog, self.patient_dialog = self.patient_dialog, None
        if dialog is not None:
            if dialog.patient_id is not None:
                self._last_patient_id = dialog.patient_id
            dialog.deleteLater()

    def new_session(self, patient_id: int | None = None) -> NewSessionDialog:
        self.session_dialog = NewSessionDialog(self.runner, self, patient_id or self._last_patient_id)
        self.session_dialog.finished.connect(self._session_dialog_closed)
        self.session_dialog.open()
        return self.session_dialog

    def _session_dialog_closed(self, _result: int) -> None:
        dialog, self.session_dialog = self.session_dialog, None
        if dialog is not None:
            if dialog.session_id is not None:  # the list has the new session already (_on_changed)
                self.open_session(dialog.session_id)
            dialog.deleteLater()

    # ------------------------------------------------------------ status

    def show_status(self, text: str, refusal: bool = False) -> None:
        set_role(self.status_message, "refusal" if refusal else "ok")
        self.status_message.setText(("Not saved: " if refusal else "✓ ") + text)

    def _on_changed(self, changes: Changes) -> None:
        if changes.message:
            self.show_status(changes.message)
        if changes.any_of(*LIST_FLAGS) or any(
                sid not in {r.session_id for r in self.sessions.rows} for sid in changes.sessions):
            self.sessions.reload()

    def _on_refused(self, title: str, message: str) -> None:
        self.show_status(message, refusal=True)
        error = self.runner.last_error
        # Being refused for who one is, or a locked record, is not fixed by retyping:
        # say it where it cannot be missed. Unexpected failures likewise.
        if error is None or isinstance(error, (PermissionDenied, SessionLocked)) or not isinstance(
                error, KetamonError):
            prompts.warn(self, title, message)

    def _show_actor(self, actor) -> None:
        self.status_user.setText(f"{actor.display_name} · {actor.role_label}" if actor else "Not signed in")
        may_manage = actor is not None and actor.can(Permission.MANAGE_USERS)
        self.tabs.setTabVisible(self.users_page_index, may_manage)
        self.tabs.setTabVisible(self.settings_page_index,
                                actor is not None and actor.can(Permission.MANAGE_SETTINGS))
        self.show_home_page()

    def show_home_page(self) -> None:
        """Administrators do not chart: their work is on the Users page."""
        actor = self.runner.actor
        if actor is not None and actor.role == "admin":
            self.tabs.setCurrentIndex(self.users_page_index)

    def tick(self) -> None:
        self.sessions.tick(self.runner.store.clock.now())

    def wait_for_background(self, timeout_ms: int = 5000) -> None:
        """Block until the background queries (next due, alert tick) are done; their
        results arrive with the next event-loop turn. For a screenshot or a benchmark
        only: it stalls the window, which is what the background is there to avoid."""
        for background in (self.sessions.background, self.alarm_monitor.background):
            background.pool.waitForDone(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Nothing runs for a closed window: the timers stop and running queries are waited for."""
        self._closed = True
        self.timer.stop()
        self.alarm_monitor.stop()
        self.sessions.stop()
        super().closeEvent(event)
