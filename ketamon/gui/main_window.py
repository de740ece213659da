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
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMargins, QRect, QSettings, QSize, QTimer, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import alert_views as alerts, ops, schedule, settings
from ketamon.core.auth import AuthPolicy
from ketamon.core.chart import SessionRow, sessions_on
from ketamon.core.errors import KetamonError, PermissionDenied, SessionLocked
from ketamon.core.lifecycle import AFTER_FIRST_DOSE, BEFORE_DOSE
from ketamon.core.live import is_unreachable
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import Permission
from ketamon.gui import heap, prompts
from ketamon.gui.background import Background
from ketamon.gui.elided import ElidedLabel
from ketamon.gui.feed_listener import FeedListener
from ketamon.gui.first_paint import after_first_paint
from ketamon.gui.lock import AccessControls
from ketamon.gui.live_bridge import LiveBridge
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.sound import AlarmMonitor
from ketamon.gui.spare_chart import SpareChart
from ketamon.gui.theme import colour, set_role
from ketamon.gui.tabs import CalmTabWidget
from ketamon.gui import shortcuts
from ketamon.gui.widgets import clear_all_messages, format_elapsed, local_hm

if TYPE_CHECKING:  # imported when first used, not to show the window (ketamon.gui.app draws it
    # first, then builds the chart): the chart brings pyqtgraph and numpy, the dialogs the printed summary
    from ketamon.gui.chart_view import SessionChart
    from ketamon.gui.dialogs import NewPatientDialog, NewSessionDialog

#: charts kept built, so that what is half-typed in one survives switching to
#: another; past this many, the chart opened longest ago that holds nothing typed is
#: closed (each keeps its session's sets — a 12-hour 1 Hz chart tens of MB — and
#: opening a chart grew slower with every chart kept: ~25 % with 40)
KEPT_CHARTS = 8
ROUTE_LABELS = {"nasal": "Nasal spray", "iv": "IV infusion", "im": "IM injection"}
#: states of a session in progress (a "current" session)
IN_PROGRESS = AFTER_FIRST_DOSE
#: change flags that alter who is listed (who, state, first dose, chair). Not "alerts": with
#: 16 chairs the alert tick and the rules raise or clear alerts every few seconds, and
#: reloading the list (a query on the GUI thread) for each of them stalled typing; a
#: row's alert and overdue state come from the background fetch instead (CHAIR_FLAGS).
LIST_FLAGS = ("lifecycle", "patients", "doses", "session_details")
#: change flags that move a chair's next set due or its alerts (a set, a dose, the
#: state, an alert raised, acknowledged or cleared): the background fetch runs again
CHAIR_FLAGS = ("vitals", "doses", "lifecycle", "alerts")
#: the other-chairs call, in the alert's colours
STRIP_STYLE = ("QLabel#otherChairs {{ background: {background}; color: {text}; font-weight: bold; "
               "padding: 6px 8px; border: none; border-radius: 0; }}")
#: where a list item keeps the colour role it is drawn in
ROLE_KEY = Qt.ItemDataRole.UserRole + 1
#: the shortcut that opens the chair named in the other-chairs call
JUMP_SHORTCUT = "Ctrl+J"
#: how much of an alert's text a list row shows (the tooltip has all of it)
ROW_ALERT_CHARS = 44
#: the size the window opens at on a workstation that has none saved (shrunk to fit its screen)
DEFAULT_SIZE = QSize(1440, 900)
#: where this workstation keeps the window's geometry (an INI file in the data folder)
GEOMETRY_KEY = "main_window/geometry"


def workstation_settings() -> QSettings:
    """This workstation's window settings: `workstation.ini` in the data folder
    (KETAMON_DATA_DIR, else the user data directory), so each computer, and each
    user on it, keeps its own window."""
    import platformdirs

    folder = settings.get("data_dir") or Path(platformdirs.user_data_dir("ketamon", appauthor=False))
    return QSettings(str(Path(folder) / "workstation.ini"), QSettings.Format.IniFormat)


def fit_within(rect: QRect, area: QRect, frame: QMargins = QMargins()) -> QRect:
    """`rect` (the window's inside) shrunk and moved so that it, with its `frame`
    (title bar, borders), lies within `area` (the screen less its panels)."""
    outer = rect.marginsAdded(frame)
    width = min(outer.width(), area.width())
    height = min(outer.height(), area.height())
    left = min(max(outer.left(), area.left()), area.right() + 1 - width)
    top = min(max(outer.top(), area.top()), area.bottom() + 1 - height)
    return QRect(left, top, width, height).marginsRemoved(frame)


def row_text(row: SessionRow, now: datetime, due: str = "", state: alerts.ChairState | None = None) -> str:
    """Short lines: the highest alert's mark, the chair and who; route and state;
    elapsed (or when); what is due next; the highest active alert's text."""
    highest = state.highest if state is not None else None
    mark = f"{highest.mark} " if highest is not None and highest.mark else ""
    chair = f"{row.chair} · " if row.chair else ""  # which monitor feeds it
    lines = [mark + chair + row.patient_name, f"{ROUTE_LABELS.get(row.route, row.route)} · {row.state_label}"]
    if row.first_dose_at is not None and row.state in IN_PROGRESS:
        third = f"Elapsed {format_elapsed(now - row.first_dose_at)}"
    elif row.first_dose_at is not None:
        third = f"First dose {local_hm(row.first_dose_at)}"
    else:
        third = f"Scheduled {local_hm(row.scheduled_at)}"
    lines.append(third)
    if due:
        lines.append(due)
    if highest is not None:
        more = f" (+{state.active_count - 1})" if state.active_count > 1 else ""
        lines.append(_clip(highest.message, ROW_ALERT_CHARS) + more)
    return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1].rstrip() + "…"


def row_role(state: alerts.ChairState | None, now: datetime) -> str | None:
    """The colour of a row: its highest alert's priority, "overdue" for vitals
    overdue without an alert, None when nothing calls for attention."""
    if state is not None and state.highest is not None and state.highest.priority in ("high", "medium", "low"):
        return state.highest.priority
    return "overdue" if state is not None and state.overdue(now) else None


def most_urgent_first(rows: list[SessionRow], states: dict[int, alerts.ChairState], now: datetime
                      ) -> list[SessionRow]:
    """Highest alert first, then overdue vitals, else the day's order (stable)."""
    none = alerts.ChairState(0)
    return sorted(rows, key=lambda r: tuple(-x for x in states.get(r.session_id, none).urgency(now)))


def waiting_elsewhere(rows: list[SessionRow], states: dict[int, alerts.ChairState], current: int | None
                      ) -> list[tuple[SessionRow, alerts.ChairAlert]]:
    """Other chairs' unacknowledged alerts, most urgent first (the strip above a chart)."""
    found = [(r, states[r.session_id].unacknowledged) for r in rows
             if r.session_id != current and r.session_id in states and states[r.session_id].unacknowledged]
    return sorted(found, key=lambda x: (-x[1].rank, -x[1].alert_id))


def current_session_id(rows: list[SessionRow]) -> int | None:
    """The session to open first: the longest-running one in progress, else the
    next planned one, else none."""
    running = [r for r in rows if r.state in IN_PROGRESS and r.first_dose_at is not None]
    if running:
        return min(running, key=lambda r: r.first_dose_at).session_id
    waiting = [r for r in rows if r.state in BEFORE_DOSE | {"dosing"}]
    return waiting[0].session_id if waiting else None


class DueTimes:
    """When the next vital signs are due for each of today's sessions, and each
    chair's active alerts (`alerts.chair_states`). Asked every second for every row,
    so it only reads what it holds; `fetch` recomputes all rows at once, off the GUI
    thread, at most every few seconds (a due time or an alert only moves when an
    entry is saved or an alert raised or cleared: `forget()` then)."""

    def __init__(self, store, background: Background, max_age_s: float = 3.0):
        self.store, self.background, self.max_age_s = store, background, max_age_s
        self.states: dict[int, alerts.ChairState] = {}
        self._fetched_at: datetime | None = None

    @property
    def items(self) -> dict[int, schedule.DueItem | None]:
        return {sid: state.due for sid, state in self.states.items()}

    def text(self, row: SessionRow, now: datetime) -> str:
        """'Vitals due 10:40', 'Vitals overdue 6 min', or '' (nothing due, or not known yet)."""
        state = self.states.get(row.session_id)
        return "" if state is None or state.due is None else f"Vitals {schedule.short_due_text(state.due, now)}"

    def fetch(self, session_ids: list[int], now: datetime, done) -> None:
        """Recompute when older than max_age_s (or forgotten); `done()` on the GUI thread after."""
        if self._fetched_at is not None and abs((now - self._fetched_at).total_seconds()) < self.max_age_s:
            return
        self._fetched_at = now
        store, ids = self.store, list(session_ids)

        def arrived(states: dict[int, alerts.ChairState]) -> None:
            self.states = states
            done()

        self.background.run("next due", lambda: alerts.chair_states(store, ids, now), arrived)

    def forget(self) -> None:
        self._fetched_at = None


class ChairDelegate(QStyledItemDelegate):
    """Paints a row's alert colour (the stylesheet's item rule would hide an item's
    own background) and, on the chosen row, keeps that colour with the accent bar
    at its left instead of the selection colour: a chosen chair's alert stays seen."""

    def paint(self, painter, option, index) -> None:  # noqa: D401 (Qt name)
        brush = index.data(Qt.ItemDataRole.BackgroundRole)
        if brush is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(opt.rect, brush)
        opt.state &= ~QStyle.StateFlag.State_Selected
        super().paint(painter, opt, index)
        if selected:
            painter.fillRect(QRect(opt.rect.left(), opt.rect.top(), 6, opt.rect.height()), QColor(colour("accent")))


class ChairCall(QLabel):
    """Another chair's alert, in its colours, in as many lines as it needs; a click
    (or Ctrl+J) opens that chair's chart."""

    clicked = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit()


class SessionsPanel(QFrame):
    """Today's sessions, most urgent first, with New patient / New session."""

    session_selected = Signal(int)
    #: the chairs' alert and due states arrived from the background (the strip reads them)
    states_changed = Signal()

    def __init__(self, runner: OpRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sessionsPanel")
        self.runner = runner
        #: today's sessions as shown, most urgent first
        self.rows: list[SessionRow] = []
        #: the same in the day's order (scheduled time): calm chairs go back to it
        self.day_rows: list[SessionRow] = []
        #: where "next vitals due" is worked out (never on the GUI thread)
        self.background = Background(self)
        #: "next vitals due" per row, shown every second, recomputed every few
        self.due = DueTimes(runner.store, self.background)
        runner.changed.connect(lambda changes: self.due.forget() if changes.any_of(*CHAIR_FLAGS) else None)
        self.title = QLabel("Today")
        self.title.setObjectName("sessionsTitle")
        self.list = QListWidget()
        self.list.setObjectName("sessionList")
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setItemDelegate(ChairDelegate(self.list))
        self.list.currentItemChanged.connect(self._current_changed)
        self.new_patient_button = QPushButton("New patient…")
        self.new_session_button = QPushButton("New session…")
        set_role(self.new_session_button, "primary")
        #: the chosen session to another chair (its monitor's data follows)
        self.move_button = QPushButton("Move to chair…")
        self.move_button.clicked.connect(self.move_to_chair)
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.new_session_button)
        buttons.addWidget(self.new_patient_button)
        buttons.addWidget(self.move_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.setFixedWidth(280)

    def move_to_chair(self) -> None:
        """Ask for the chair (empty: none) and place the chosen session there; the operation refuses
        a chair another session in progress sits at."""
        sid = self.selected_session_id()
        if sid is None:
            prompts.inform(self, "Move to chair", "Choose a session in the list first.")
            return
        chair = prompts.ask_text(self, "Move to chair", "Chair (empty: no chair, no monitor data):")
        if chair is not None:
            self.runner.run(ops.place_session, sid, chair.strip() or None, initiator=self)

    @screen_read
    def reload(self) -> None:
        now = self.runner.store.clock.now()
        current = self.selected_session_id()
        self.day_rows = sessions_on(self.runner.store, now=now)
        self.rows = most_urgent_first(self.day_rows, self.due.states, now)
        self.title.setText(f"Today, {now.astimezone():%a %d %b}")
        self._fill(current)
        self.tick(now)

    def _fill(self, current: int | None) -> None:
        """One item per row of `self.rows`, in that order; the current one kept
        without a selection signal (no chart opens because the list moved)."""
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for row in self.rows:
                item = QListWidgetItem(row.patient_name)
                item.setData(Qt.ItemDataRole.UserRole, row.session_id)
                self.list.addItem(item)
            if not self.rows:
                empty = QListWidgetItem("No sessions today.\nUse New session to open one.")
                empty.setFlags(Qt.ItemFlag.NoItemFlags)
                self.list.addItem(empty)
            if current is not None:
                self._select(current)
        finally:
            self.list.blockSignals(False)

    def tick(self, now: datetime) -> None:
        self._show_texts(now)
        self.due.fetch([r.session_id for r in self.rows], now, self._states_arrived)

    def _states_arrived(self) -> None:
        """The background's answer: re-order (most urgent on top), re-draw, tell the strip."""
        now = self.runner.store.clock.now()
        ordered = most_urgent_first(self.day_rows, self.due.states, now)
        if [r.session_id for r in ordered] != [r.session_id for r in self.rows]:
            self.rows = ordered
            self._fill(self.selected_session_id())
        self._show_texts(now)
        self.states_changed.emit()

    def _show_texts(self, now: datetime) -> None:
        for i, row in enumerate(self.rows):
            item = self.list.item(i)
            state = self.due.states.get(row.session_id)
            text = row_text(row, now, self.due.text(row, now), state)
            if item is None:
                continue
            if item.text() != text:
                item.setText(text)
            self._colour(item, row, state, now)

    @staticmethod
    def _colour(item: QListWidgetItem, row: SessionRow, state: alerts.ChairState | None, now: datetime) -> None:
        """The row in its highest alert's colours (overdue vitals: soft amber); the
        tooltip says the alert in full. Untouched when nothing changed (every second)."""
        role = row_role(state, now)
        tip = f"{row.patient_name} ({row.mrn})\n{row.protocol_name}" + (f"\nChair {row.chair}" if row.chair else "")
        if state is not None and state.highest is not None:
            tip += f"\n{state.highest.mark} {state.highest.message}".rstrip()
        if item.data(ROLE_KEY) == role and item.toolTip() == tip:
            return
        item.setData(ROLE_KEY, role)
        item.setToolTip(tip)
        if role is None:
            item.setBackground(QBrush())
            item.setForeground(QBrush())
            return
        soft = role == "overdue"
        item.setBackground(QColor(colour("alert_medium_soft" if soft else f"alert_{role}")))
        item.setForeground(QColor(colour("alert_medium_text" if soft else f"alert_{role}_text")))

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


#: notices of an entry saved (its message is about the entry, even when it raised an alert)
CHART_ENTRY_FLAGS = ("vitals", "doses", "side_effects", "notes", "assessments", "session_details")


class MainWindow(QMainWindow):
    #: a session's chart was built (once per session)
    chart_opened = Signal(object)

    def __init__(self, runner: OpRunner, parent: QWidget | None = None, *, policy: AuthPolicy | None = None,
                 idle_lock: bool = True, start_alarms: bool = True):
        """`policy` sets sign-in lock-out and the idle lock (default: the clinic's);
        without `idle_lock` (a screenshot) only "Lock screen" locks. The alarm monitor
        starts on the first event-loop turn, or, without `start_alarms`, when the
        caller calls `start_alarm_monitor` (the app: once the window and its chart are
        drawn and the operations' input schemas loaded, ketamon.gui.app)."""
        super().__init__(parent)
        self.runner = runner
        self.setWindowTitle("ketamon")
        self.charts: dict[int, SessionChart] = {}
        self.patient_dialog: NewPatientDialog | None = None
        self.session_dialog: NewSessionDialog | None = None
        self._last_patient_id: int | None = None
        #: save the window's geometry for this workstation when it closes (not for a screenshot)
        self.remember_geometry = False

        self.sessions = SessionsPanel(runner)
        self.sessions.session_selected.connect(self.open_session)
        self.sessions.new_patient_button.clicked.connect(self.new_patient)
        self.sessions.new_session_button.clicked.connect(lambda: self.new_session())

        self.tabs = CalmTabWidget()  # a label changing in the chart must not repaint all of it
        self.tabs.setDocumentMode(True)
        self.chart_stack = QStackedWidget()
        #: the next chart opened, built ahead while the window is idle
        self.spare_chart = SpareChart(runner, self.chart_stack)
        self.empty_chart = QLabel("Choose a session on the left, or open a new one.")
        self.empty_chart.setObjectName("emptyChart")
        self.empty_chart.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_stack.addWidget(self.empty_chart)
        #: other chairs' unacknowledged alerts (a click or Ctrl+J goes there), at the
        #: top of the list, on every page: it takes no height from the chart, which at
        #: 1366×768 has none to give (above the chart it pushed the window past the
        #: screen's bottom)
        self.other_chairs = ChairCall()
        self.other_chairs.setObjectName("otherChairs")
        self.other_chairs.setToolTip(f"Open that chair's chart ({JUMP_SHORTCUT})")
        self.other_chairs.clicked.connect(self.jump_to_waiting_chair)
        self.other_chairs.hide()
        self.sessions.layout().insertWidget(1, self.other_chairs)
        self._waiting_chair: int | None = None
        chart_page = QWidget()
        chart_layout = QVBoxLayout(chart_page)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.setSpacing(0)
        chart_layout.addWidget(self.chart_stack, 1)
        self.chart_page_index = self.add_page("Session chart", chart_page)
        self.jump_shortcut = QShortcut(QKeySequence(JUMP_SHORTCUT), self)
        self.jump_shortcut.activated.connect(self.jump_to_waiting_chair)
        self.sessions.states_changed.connect(self.show_other_chairs)
        #: pages other than the chart are built when first shown (or asked for:
        #: `records_page` …); until then their tab holds an empty placeholder
        self._unbuilt: dict[QWidget, Callable[[], QWidget]] = {}
        self.tabs.currentChanged.connect(self._page)
        self.records_page_index = self.add_page("Records", self._build_records_page)
        self.review_page_index = self.add_page("Alert review", self._build_review_queue)
        self.central_station_index = self.add_page("Central station", self._build_central_station)
        self.technical_page_index = self.add_page("Technical alerts", self._build_technical_page)
        self.users_page_index = self.add_page("Users", self._build_users_page)
        self.settings_page_index = self.add_page("Settings", self._build_settings_page)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sessions)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._keep_minimum_to_the_chart()

        # one elided line: a long message never widens the window
        self.status_message = ElidedLabel("")
        self.status_message.setObjectName("statusMessage")
        #: whose the status message is (cleared when another user takes over)
        self._status_for: int | None = None
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
        #: other workstations' changes, live; a banner while the database is unreachable
        self.live = LiveBridge(runner, self.statusBar(), self).start()

        #: F1 lists every shortcut of the window (collected from it)
        self.help_shortcut = shortcuts.install_help(self)
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
        if start_alarms:
            QTimer.singleShot(0, self, self.start_alarm_monitor)
        #: the bedside monitors' listener, when the clinic turns it on (Settings)
        self.feed = FeedListener(runner, self)
        if not self.feed.start() and self.feed.problem:
            self.show_status(self.feed.problem, refusal=True)

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

    def is_built(self, index: int) -> bool:
        """Whether the page of tab `index` has been built (shown or asked for)."""
        return self.tabs.widget(index) not in self._unbuilt

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

    def _build_central_station(self) -> QWidget:
        from ketamon.gui.central_station import CentralStation

        station = CentralStation(self.runner)
        station.open_session.connect(self.open_session)
        return station

    def _build_technical_page(self) -> QWidget:
        from ketamon.gui.technical_alerts import TechnicalAlertsPage

        return TechnicalAlertsPage(self.runner)

    def _build_settings_page(self) -> QWidget:
        from ketamon.gui.settings_page import SettingsPage

        scroll = QScrollArea()  # more settings than a 768-pixel screen holds
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(SettingsPage(self.runner))
        return scroll

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
        return self._page(self.settings_page_index).widget()

    @property
    def central_station(self):
        """Every chair at once, live (a wall screen with F11)."""
        return self._page(self.central_station_index)

    @property
    def technical_page(self):
        """Monitors, connections, refused monitor messages (session-less ones included)."""
        return self._page(self.technical_page_index)

    def show_page(self, widget: QWidget) -> None:
        self.tabs.setCurrentWidget(widget)

    def open_session(self, session_id: int) -> SessionChart | None:
        """Show a session's chart (built once, then kept, so half-typed values survive
        switching). None when the database cannot be reached to read it: the status
        line says so and the page shown stays."""
        chart = self.charts.get(session_id)
        if chart is None:
            from ketamon.gui.chart_view import SessionChart

            # built inside the stack: moving a built chart into the window would
            # restyle its ~300 widgets once more (the clinic's style sheet); most
            # often built ahead, when the window was idle, and given its session now
            chart = self.spare_chart.take()
            if chart is None:
                chart = SessionChart(self.runner, None, self.chart_stack, plot=self.spare_chart.take_plot())
            try:
                chart.bind(session_id)
            except Exception as exc:
                self.spare_chart.give_back(chart)  # unbound (its read failed): it waits for the next
                if not is_unreachable(exc):
                    raise
                self.runner.set_reachable(False)
                set_role(self.status_message, "refusal")
                self.status_message.setText("The chart could not be opened: the database cannot be reached. "
                                            "Choose the session again once it answers.")
                return None
            # the next chart is built on the turns after this one is drawn
            after_first_paint(chart.plot.viewport(), self.spare_chart.prepare)
            self.charts[session_id] = chart
            self.chart_stack.addWidget(chart)
            self._keep_minimum_to_the_chart()
            self.chart_opened.emit(chart)
        else:
            self.charts[session_id] = self.charts.pop(session_id)  # the order kept: the order last opened
        self.chart_stack.setCurrentWidget(chart)
        self.tabs.setCurrentIndex(self.chart_page_index)
        if self.sessions.selected_session_id() != session_id:
            self.sessions.list.blockSignals(True)
            self.sessions.select(session_id)
            self.sessions.list.blockSignals(False)
        self.setWindowTitle(f"ketamon — {chart.chart.patient.display_name}")
        self.show_other_chairs()
        chart.vitals_row.focus_first()
        self._close_old_charts()
        return chart

    def _close_old_charts(self) -> None:
        """Keep KEPT_CHARTS charts: close those opened longest ago, but never the one
        shown nor one holding something typed and not saved (SessionChart.holds_input):
        with more such charts than KEPT_CHARTS, all of them stay."""
        current = self.current_chart()
        for session_id, chart in list(self.charts.items()):  # the one opened longest ago first
            if len(self.charts) <= KEPT_CHARTS:
                return
            if chart is current or chart.holds_input():
                continue
            del self.charts[session_id]
            self.chart_stack.removeWidget(chart)
            chart.deleteLater()  # its connections to the runner go with it
            heap.collect_all_soon()

    # ------------------------------------------------------------ other chairs

    def show_other_chairs(self) -> None:
        """The call at the top of the list while a chart is open: the most urgent
        unacknowledged alert of another chair (and how many more chairs wait), from
        what the list fetched."""
        chart = self.current_chart()
        waiting = waiting_elsewhere(self.sessions.rows, self.sessions.due.states,
                                    chart.session_id if chart is not None else None) if chart is not None else []
        if not waiting:
            self._waiting_chair = None
            self.other_chairs.hide()
            return
        row, alert = waiting[0]
        more = f"   +{len(waiting) - 1} more chair{'s' * (len(waiting) > 2)}" if len(waiting) > 1 else ""
        self._waiting_chair = row.session_id
        self.other_chairs.setText(f"{alert.mark} {row.patient_name}: {_clip(alert.message, 60)}{more}"
                                  f"  — {JUMP_SHORTCUT} to go there")
        self.other_chairs.setStyleSheet(STRIP_STYLE.format(background=colour(f"alert_{alert.priority}")
                                                           if alert.priority != "info" else colour("surface"),
                                                           text=colour(f"alert_{alert.priority}_text")
                                                           if alert.priority != "info" else colour("text")))
        self.other_chairs.show()

    def jump_to_waiting_chair(self) -> SessionChart | None:
        """Open the chart of the chair the strip names (Ctrl+J)."""
        if self._waiting_chair is None:
            return None
        return self.open_session(self._waiting_chair)

    def current_chart(self) -> SessionChart | None:
        w = self.chart_stack.currentWidget()
        return w if w is not None and self.charts.get(getattr(w, "session_id", None)) is w else None

    def open_current_session(self) -> SessionChart | None:
        """Open the longest-running session in progress (or the next planned one)."""
        sid = current_session_id(self.sessions.rows)
        return self.open_session(sid) if sid is not None else None

    # ------------------------------------------------------------ dialogs

    def new_patient(self) -> NewPatientDialog:
        from ketamon.gui.dialogs import NewPatientDialog

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
        from ketamon.gui.dialogs import NewSessionDialog

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

    def show_status(self, text: str, refusal: bool = False, alert: bool = False) -> None:
        """A calm green ✓ only for what was saved; an alert the timer raised is not calm news."""
        set_role(self.status_message, "refusal" if refusal else ("alert" if alert else "ok"))
        self.status_message.setText(("Not saved: " if refusal else ("⚠ " if alert else "✓ ")) + text)

    def _on_changed(self, changes: Changes) -> None:
        if changes.message:
            raised = any(kind == "alert" for kind, _id in changes.created)
            self.show_status(changes.message, alert=raised and not changes.any_of(*CHART_ENTRY_FLAGS))
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
        # what was said to the previous user is not for this one (the same user back: kept)
        user_id = actor.user_id if actor is not None else None
        if user_id != self._status_for:
            self.status_message.setText("")
            set_role(self.status_message, None)
            clear_all_messages()
        self._status_for = user_id
        may_register = actor is not None and actor.can(Permission.REGISTER)
        self.sessions.new_session_button.setVisible(may_register)
        self.sessions.new_patient_button.setVisible(may_register)
        self.sessions.move_button.setVisible(may_register)
        may_manage = actor is not None and actor.can(Permission.MANAGE_USERS)
        self.tabs.setTabVisible(self.users_page_index, may_manage)
        self.tabs.setTabVisible(self.settings_page_index,
                                actor is not None and actor.can(Permission.MANAGE_SETTINGS))
        self.show_home_page()

    def start_alarm_monitor(self) -> None:
        """The alert tick and the alarm tone, from now on (not for a closed window)."""
        if not self._closed:
            self.alarm_monitor.start()

    def show_home_page(self) -> None:
        """Administrators do not chart: their work is on the Users page."""
        actor = self.runner.actor
        if actor is not None and actor.role == "admin":
            self.tabs.setCurrentIndex(self.users_page_index)

    def tick(self) -> None:
        self.sessions.tick(self.runner.store.clock.now())

    # ------------------------------------------------------------ geometry

    def _keep_minimum_to_the_chart(self) -> None:
        """The window's minimum width is the chart's (laid out to fit 1366×768), not
        that of the widest page: a page wider than the screen is squeezed, it never
        pushes the window past the screen."""
        self.tabs.setMinimumWidth(self.chart_stack.minimumSizeHint().width())

    def available_area(self) -> QRect:
        """The screen's area less its panels (task bar, docks), where the window must fit."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def fit_to_screen(self, size: QSize | None = None) -> None:
        """Open at `size` (default: the last size, else DEFAULT_SIZE), shrunk and
        moved to lie within the available screen area, frame included."""
        inside, outside = self.geometry(), self.frameGeometry()
        frame = QMargins(inside.left() - outside.left(), inside.top() - outside.top(),
                         outside.right() - inside.right(), outside.bottom() - inside.bottom())
        wanted = QRect(inside.topLeft(), size or self.size())
        rect = fit_within(wanted, self.available_area(), frame)
        self.setGeometry(rect)

    def restore_geometry(self) -> None:
        """Open where this window was last closed on this workstation (fitted to
        the screen it is on now), else at DEFAULT_SIZE."""
        saved = workstation_settings().value(GEOMETRY_KEY)
        if not saved or not self.restoreGeometry(saved):
            self.resize(DEFAULT_SIZE)
        self.fit_to_screen()

    def save_geometry(self) -> None:
        store = workstation_settings()
        store.setValue(GEOMETRY_KEY, self.saveGeometry())
        store.sync()

    def wait_for_background(self, timeout_ms: int = 5000) -> None:
        """Block until the background queries (next due, alert tick) are done; their
        results arrive with the next event-loop turn. For a screenshot or a benchmark
        only: it stalls the window, which is what the background is there to avoid."""
        backgrounds = [self.sessions.background, self.alarm_monitor.background]
        if self.is_built(self.central_station_index):
            backgrounds.append(self.central_station.background)
        for background in backgrounds:
            background.pool.waitForDone(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Nothing runs for a closed window: the timers stop and running queries are waited for."""
        self._closed = True
        self.timer.stop()
        self.feed.stop()
        self.alarm_monitor.stop()
        self.sessions.stop()
        if self.is_built(self.central_station_index):
            self.central_station.stop()
        self.live.stop()
        if self.remember_geometry:
            self.save_geometry()
        super().closeEvent(event)
