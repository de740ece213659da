"""The screen lock: after some minutes without keyboard or mouse input (or on
"Lock screen"), every ketamon window is covered until the same person types
their password, or someone else signs in ("Switch user").

What must hold:
- Nothing typed is touched: covers are laid over the windows, widgets underneath
  keep their text, and the widget that had the focus gets it back.
- Nothing underneath can be reached while locked: keyboard, mouse and shortcut
  events for anything but the cover are dropped (Tab cycles inside the cover);
  window titles (which may name the patient) read "ketamon — locked".
- A dialog that was open (modal or not), or one that opens while locked, is
  covered too; the password is asked for in the window that can take input.
- Time comes from the store's clock, so tests drive it with the FakeClock.
- Locking must never wait for a person: it is recorded with ops.lock_screen
  directly (not OpRunner.run, whose refusal would pop up a box nobody answers).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from ketamon.core import ops
from ketamon.core.auth import WRONG_CREDENTIALS, AuthPolicy
from ketamon.core.errors import KetamonError
from ketamon.core.ops.users import SignedIn
from ketamon.gui import shortcuts
from ketamon.gui.runner import OpRunner
from ketamon.gui.signin import ACCESS_DIALOG, ProblemLine, ask_new_password, password_field, switch_user, take_over
from ketamon.gui.theme import set_role

log = logging.getLogger(__name__)

LOCKED_TITLE = "ketamon — locked"

E = QEvent.Type
#: what counts as someone being at the workstation
ACTIVITY = {E.KeyPress, E.KeyRelease, E.MouseButtonPress, E.MouseButtonRelease, E.MouseButtonDblClick,
            E.MouseMove, E.Wheel, E.TouchBegin, E.TouchUpdate, E.TabletPress, E.TabletMove}
#: what may not reach anything but the cover while locked
BLOCKED = ACTIVITY | {E.ShortcutOverride, E.Shortcut, E.ContextMenu, E.InputMethod, E.TouchEnd,
                      E.TabletRelease, E.DragEnter, E.Drop, E.HoverEnter, E.HoverMove, E.Enter}


def alarm_summary(store) -> tuple[str, str | None]:
    """("2 active alerts, 1 high priority — unlock or switch user to see them", "high"),
    or ("", None). Counts only: a locked screen shows no patient data."""
    from ketamon.core import alert_views as alerts

    try:
        status = alerts.alarm_status(store)
    except Exception:  # never let the lock fail over a read
        log.exception("alarm status unavailable on the lock screen")
        return "", None
    active = [a for a in status.active if a.priority in ("high", "medium")]
    if not active:
        return "", None
    high = sum(a.priority == "high" for a in active)
    count = f"{len(active)} active alert{'s' if len(active) != 1 else ''}"
    if high:
        count += f", {high} high priority"
    return f"⚠ {count} — unlock or switch user to see {'them' if len(active) != 1 else 'it'}.", \
        ("high" if high else "medium")


#: windows that come and go on their own and need no cover
_TRANSIENT = (Qt.WindowType.Popup, Qt.WindowType.ToolTip, Qt.WindowType.SplashScreen)


class LockScreen(QFrame):
    """The cover laid over one window. The interactive one asks for the password;
    the others only say the workstation is locked."""

    #: someone proved who they are: SignedIn (the same user, or another one)
    unlocked = Signal(object)

    def __init__(self, host: QWidget, runner: OpRunner, *, interactive: bool, policy: AuthPolicy | None = None):
        super().__init__(host)
        self.setObjectName("lockScreen")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setAutoFillBackground(True)
        self.host, self.runner, self.policy, self.interactive = host, runner, policy, interactive
        self.switching = False
        actor = runner.actor

        panel = QFrame(self)
        panel.setObjectName("lockPanel")
        panel.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.title = QLabel("Locked")
        self.title.setObjectName("lockTitle")
        self.who = QLabel(f"{actor.display_name} ({actor.role_label}) is signed in." if actor else "")
        self.who.setObjectName("lockWho")
        self.who.setWordWrap(True)
        note = QLabel("Patient data is hidden. Anything typed but not saved is kept."
                      if interactive else "Unlock in the ketamon window in front.")
        note.setProperty("role", "muted")
        note.setWordWrap(True)
        inner = QVBoxLayout(panel)
        inner.setContentsMargins(28, 22, 28, 22)
        inner.setSpacing(10)
        inner.addWidget(self.title)
        inner.addWidget(self.who)
        inner.addWidget(note)
        #: active alarms stay announced while locked (count and priority only, no patient data)
        self.alarm = QLabel("")
        self.alarm.setObjectName("lockAlarm")
        self.alarm.setWordWrap(True)
        self.alarm.hide()
        inner.addWidget(self.alarm)
        self._alarm_timer = QTimer(self)
        self._alarm_timer.setInterval(1000)
        self._alarm_timer.timeout.connect(self.show_alarms)

        self.username = QLineEdit()
        self.username.setObjectName("lockUsername")
        self.username.setPlaceholderText("User name")
        self.username.setAccessibleName("User name")
        self.password = password_field("lockPassword")
        self.password.setPlaceholderText("Password")
        self.password.setAccessibleName("Password")
        self.problem = ProblemLine()
        self.switch_button = QPushButton("Switch user")
        self.switch_button.setObjectName("lockSwitchButton")
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setObjectName("unlockButton")
        set_role(self.unlock_button, "primary")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self.attempt)
        self.switch_button.clicked.connect(self.toggle_switch)
        self.username.returnPressed.connect(self.password.setFocus)
        self.password.returnPressed.connect(self.attempt)
        if interactive:
            buttons = QHBoxLayout()
            buttons.addWidget(self.switch_button)
            buttons.addStretch(1)
            buttons.addWidget(self.unlock_button)
            inner.addWidget(self.username)
            inner.addWidget(self.password)
            inner.addWidget(self.problem)
            inner.addLayout(buttons)
        else:
            for w in (self.username, self.password, self.problem, self.switch_button, self.unlock_button):
                w.setParent(panel)
                w.hide()
        self.username.hide()
        panel.setMinimumWidth(440)
        panel.setMaximumWidth(520)

        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(panel)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

        if interactive:
            self.show_alarms()
            self._alarm_timer.start()
        host.installEventFilter(self)
        self.setGeometry(host.rect())
        self.raise_()
        self.show()
        if interactive:
            self.password.setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------ keeping it in place

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.host and event.type() in (E.Resize, E.Show, E.LayoutRequest):
            self.setGeometry(self.host.rect())
            self.raise_()
        elif watched is self.host and event.type() == E.ChildAdded:
            QTimer.singleShot(0, self._stay_on_top)
        return False

    def _stay_on_top(self) -> None:
        if isValid(self) and self.isVisible():
            self.raise_()

    def focusNextPrevChild(self, forward: bool) -> bool:  # noqa: N802 (Qt name)
        """Tab goes round the cover's own fields, never to what is underneath."""
        chain = [w for w in (self.username, self.password, self.switch_button, self.unlock_button)
                 if w.isVisible() and w.isEnabled()]
        if not chain:
            return True
        current = QApplication.focusWidget()
        i = chain.index(current) if current in chain else -1
        chain[(i + (1 if forward else -1)) % len(chain)].setFocus(Qt.FocusReason.TabFocusReason)
        return True

    def show_alarms(self) -> None:
        text, priority = alarm_summary(self.runner.store)
        self.alarm.setText(text)
        set_role(self.alarm, priority)
        self.alarm.setVisible(bool(text))

    def remove(self) -> None:
        self._alarm_timer.stop()
        if isValid(self.host):
            self.host.removeEventFilter(self)
        self.password.clear()
        self.hide()
        self.deleteLater()

    # ------------------------------------------------------------ unlocking

    def toggle_switch(self) -> None:
        """Between "unlock as the signed-in user" and "someone else signs in"."""
        self.switching = not self.switching
        self.password.clear()
        self.problem.clear_problem()
        self.username.setVisible(self.switching)
        self.username.clear()
        self.title.setText("Switch user" if self.switching else "Locked")
        actor = self.runner.actor
        if actor is not None:
            self.who.setText(f"Sign in as yourself to take over from {actor.display_name}." if self.switching
                             else f"{actor.display_name} ({actor.role_label}) is signed in.")
        self.switch_button.setText("Back" if self.switching else "Switch user")
        self.unlock_button.setText("Sign in" if self.switching else "Unlock")
        (self.username if self.switching else self.password).setFocus(Qt.FocusReason.OtherFocusReason)

    def attempt(self) -> None:
        actor = self.runner.actor
        if self.switching:
            name, purpose = self.username.text().strip(), "switch"
            if not name:
                self.problem.show_problem("Enter your user name.")
                self.username.setFocus()
                return
        else:
            name, purpose = (actor.username if actor else ""), "unlock"
        password = self.password.text()
        if not password:
            self.problem.show_problem("Enter your password.")
            self.password.setFocus()
            return
        try:
            signed = ops.sign_in(self.runner.store, name, password, purpose=purpose, policy=self.policy)
        except KetamonError as exc:
            self.password.clear()
            message = str(exc)
            self.problem.show_problem("Wrong password." if message == WRONG_CREDENTIALS and not self.switching
                                      else message)
            self.password.setFocus()
            return
        if signed.must_change_password and not ask_new_password(self.runner.store, signed.actor, password,
                                                                self.window()):
            ops.sign_out(self.runner.store, signed.actor, reason="did not choose a new password")
            self.password.clear()
            self.problem.show_problem("A new password is needed before you can continue.")
            return
        self.password.clear()
        self.unlocked.emit(signed)


class IdleLock(QObject):
    """Watches for input across the app and locks `window` (and every other
    visible ketamon window) after `policy.idle_lock_minutes` without any.
    0 minutes: only the "Lock screen" action locks."""

    locked_changed = Signal(bool)

    def __init__(self, window: QMainWindow, runner: OpRunner, policy: AuthPolicy | None = None, *,
                 tick_ms: int = 5000):
        super().__init__(window)
        self.window, self.runner = window, runner
        self.policy = policy or AuthPolicy.for_clinic(runner.store)
        self.minutes = self.policy.idle_lock_minutes
        self.last_input: datetime = runner.store.clock.now()
        self.covers: list[LockScreen] = []
        self._titles: dict[int, tuple[QWidget, str]] = {}
        self._focus: QWidget | None = None
        self._sizes: list[tuple[QWidget, object]] = []
        self._rebuild_pending = False
        self._watching = False
        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()
        # from the first event-loop turn (the window and its first chart are built before it)
        QTimer.singleShot(0, self, lambda: self.timer.isActive() and self._watch(self.locked or self.minutes > 0))

    def uninstall(self) -> None:
        self.timer.stop()
        self._watch(False)

    def _watch(self, on: bool) -> None:
        """Install or remove the app-wide event filter. Every Qt event passes an
        installed Python filter (building one chart sends thousands: ~0.1 s), so it
        is installed only while it has work: while locked (it keeps input from
        everything but the cover) and, with an idle lock, until it sees input; it
        then sleeps until the next `check` (tick_ms), as fine as the idle lock needs
        to know when the last input was (it may lock up to tick_ms early)."""
        if on != self._watching:
            app = QApplication.instance()
            (app.installEventFilter if on else app.removeEventFilter)(self)
            self._watching = on

    @property
    def locked(self) -> bool:
        return bool(self.covers)

    @property
    def interactive_cover(self) -> LockScreen | None:
        return next((c for c in self.covers if isValid(c) and c.interactive), None)

    # ------------------------------------------------------------ watching

    def _inside_cover(self, obj: QObject) -> bool:
        if not isinstance(obj, QWidget):
            return False
        if obj.window().property(ACCESS_DIALOG):
            return True
        return any(isValid(c) and (c is obj or c.isAncestorOf(obj)) for c in self.covers)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if self.covers:
            if kind in BLOCKED:
                if isinstance(obj, QWidget):
                    if not self._inside_cover(obj):
                        return True
                elif kind == E.Shortcut:  # a QAction or QShortcut of a covered window
                    return True
            if kind in (E.Show, E.Hide) and isinstance(obj, QWidget) and obj.isWindow() \
                    and obj.windowType() not in _TRANSIENT and not obj.property(ACCESS_DIALOG) \
                    and not self._rebuild_pending:
                # a window appeared (e.g. an alert box) or went: cover again
                self._rebuild_pending = True
                QTimer.singleShot(0, self._rebuild)
            return False
        if kind in ACTIVITY:
            self.last_input = self.runner.store.clock.now()
            self._watch(False)  # input seen: nothing to learn until the next check
        return False

    def check(self) -> None:
        """Lock when the idle time is up (the timer calls this every few seconds)."""
        self._watch(self.locked or self.minutes > 0)
        if self.locked or self.minutes <= 0 or self.runner.actor is None:
            return
        if self.runner.store.clock.now() - self.last_input >= timedelta(minutes=self.minutes):
            self.lock(reason=f"no input for {self.minutes} minutes")

    # ------------------------------------------------------------ locking

    def lock(self, reason: str = "locked by the user") -> None:
        actor = self.runner.actor
        if self.locked or actor is None:
            return
        try:
            ops.lock_screen(self.runner.store, actor, reason=reason)
        except KetamonError as exc:  # e.g. the account was disabled meanwhile: lock all the same
            log.warning("screen lock not recorded: %s", exc)
        while (popup := QApplication.activePopupWidget()) is not None:
            popup.close()
        QToolTip.hideText()
        self._focus = QApplication.focusWidget()
        self._watch(True)
        self._cover_all()
        self.locked_changed.emit(True)

    def _windows(self) -> list[QWidget]:
        wins = [self.window] if self.window.isVisible() else []
        for w in QApplication.topLevelWidgets():
            if w is self.window or not w.isVisible() or w.property(ACCESS_DIALOG):
                continue
            if w.windowType() in _TRANSIENT:
                continue
            wins.append(w)
        return wins or [self.window]

    def _cover_all(self) -> None:
        modal = QApplication.activeModalWidget()
        windows = self._windows()
        host = modal if modal is not None and modal in windows else self.window
        for w in windows:
            cover = LockScreen(w, self.runner, interactive=w is host, policy=self.policy)
            if w is host:
                cover.unlocked.connect(self._unlocked)
                self._fit(w, cover)
            if id(w) not in self._titles:
                self._titles[id(w)] = (w, w.windowTitle())
            w.setWindowTitle(LOCKED_TITLE)
            self.covers.append(cover)
        if host.isWindow():
            host.activateWindow()

    def _fit(self, host: QWidget, cover: LockScreen) -> None:
        """A small dialog grows so the password fits; it gets its size back after."""
        need = cover.sizeHint()
        if host.width() < need.width() or host.height() < need.height():
            self._sizes.append((host, host.size()))
            host.resize(max(host.width(), need.width()), max(host.height(), need.height()))

    def _rebuild(self) -> None:
        self._rebuild_pending = False
        if not self.covers:
            return
        for c in self.covers:
            if isValid(c):
                c.remove()
        self.covers = []
        self._cover_all()

    def _unlocked(self, signed: SignedIn) -> None:
        old = self.runner.actor
        for c in self.covers:
            if isValid(c):
                c.remove()
        self.covers = []
        for w, title in self._titles.values():
            if isValid(w):
                w.setWindowTitle(title)
        self._titles.clear()
        for w, size in self._sizes:
            if isValid(w):
                w.resize(size)
        self._sizes.clear()
        if old is None or signed.actor.user_id != old.user_id:
            take_over(self.runner, signed.actor, old)
        focus, self._focus = self._focus, None
        if focus is not None and isValid(focus) and focus.isVisible():
            focus.window().activateWindow()
            focus.setFocus(Qt.FocusReason.OtherFocusReason)
        self.last_input = self.runner.store.clock.now()
        self._watch(False)  # the unlock was input; watching resumes at the next check
        self.locked_changed.emit(False)


class AccessControls(QObject):
    """"Lock screen" (Ctrl+L) and "Switch user…" for the status bar, and the idle
    lock (without `idle_lock`, e.g. for a screenshot, only the button locks). The
    main window builds one and puts the two buttons in its status bar."""

    def __init__(self, window: QMainWindow, runner: OpRunner, policy: AuthPolicy | None = None, *,
                 idle_lock: bool = True):
        super().__init__(window)
        self.window, self.runner = window, runner
        policy = policy or AuthPolicy.for_clinic(runner.store)
        if not idle_lock:
            policy = AuthPolicy(policy.max_failed_attempts, policy.lockout_minutes, idle_lock_minutes=0)
        self.policy = policy
        self.idle_lock = IdleLock(window, runner, policy)
        self.lock_button = QToolButton()
        self.lock_button.setObjectName("lockButton")
        self.lock_button.setText("Lock screen")
        self.lock_button.setToolTip("Lock the screen now (Ctrl+L). Anything typed is kept.")
        self.switch_user_button = QToolButton()
        self.switch_user_button.setObjectName("switchUserButton")
        self.switch_user_button.setText("Switch user…")
        self.switch_user_button.setToolTip("Someone else signs in at this workstation; what is typed stays on screen")
        self.lock_button.clicked.connect(self.lock_now)
        self.switch_user_button.clicked.connect(self.switch)
        self.shortcut = shortcuts.bind(window, "Ctrl+L", "Lock the screen (anything typed is kept)", self.lock_now,
                                       button=self.lock_button)

    def lock_now(self) -> None:
        self.idle_lock.lock()

    def switch(self) -> None:
        switch_user(self.runner, self.window, policy=self.policy)
