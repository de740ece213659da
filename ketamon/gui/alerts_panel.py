"""Alerts in the nurse's session chart: a banner at the top (the most urgent
alert in its priority colour and mark, audio state, what is due next with a
countdown, Acknowledge = F9), the session's alert list (patient and technical
apart), the patient's limits, and the limit lines on the plot.

Everything shown comes from ketamon.core (alerts, schedule); acknowledging goes
through the OpRunner. The session chart (ketamon.gui.chart_view) builds one
`SessionAlerts` and places its banner, list and limits box itself.
"""
from __future__ import annotations

import os
from datetime import datetime

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import alert_views as alerts, schedule, settings
from ketamon.core.chart import Chart
from ketamon.core.ops import alerting
from ketamon.core.permissions import Permission
from ketamon.core.protocols import PARAMETERS, _fmt
from ketamon.core.rules import EffectiveLimits
from ketamon.gui import shortcuts
from ketamon.gui.elided import ElidedLabel
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.theme import colour, set_role
from ketamon.gui.widgets import local_hm

ACK_KEY = "F9"
#: what is due next takes at most this width of its line
DUE_MAX_WIDTH = 360
#: change flags after which the alert parts ask the database again (the alerts, the
#: limits in force, the clinic's audio setting); any other entry leaves them as shown
ALERT_FLAGS = ("alerts", "limits", "settings", "lifecycle", "session_details", "patients")
#: how often an unacknowledged alert's banner switches phase (IEC 60601-1-8
#: conventions: high flashes fast, ~2 Hz; medium slowly, ~0.6 Hz; low is steady)
FLASH_MS = {"high": 250, "medium": 800}
#: set to 1 (accessibility, or a quiet room) and the banner never flashes
NO_FLASH_ENV = "KETAMON_NO_FLASH"
#: the limit lines the plot shows: (parameter, tier, side, short name). Few on
#: purpose: the BP/HR panel gets systolic abnormal low/high, systolic critical high
#: and heart-rate abnormal high; SpO2 its abnormal and critical lows.
PLOT_LIMITS = (("systolic", "abnormal", "low", "SBP"), ("systolic", "abnormal", "high", "SBP"),
               ("systolic", "critical", "high", "SBP"), ("heart_rate", "abnormal", "high", "HR"),
               ("spo2", "abnormal", "low", "SpO2"), ("spo2", "critical", "low", "SpO2"))


def alert_line(a: alerts.AlertView) -> str:
    """'***  09:31  BP 186/92: systolic 186 above the critical limit 180'."""
    mark = f"{a.mark}  " if a.mark else ""
    return f"{mark}{local_hm(a.raised_at)}  {a.message}"


def audio_text(rows: list[alerts.AlertView], now: datetime, sound_on: bool) -> str:
    """The audio state for one session's alerts: 'Audio off', 'Audio paused 1:32' or ''."""
    if not sound_on:
        return "Audio off"
    loud = [a for a in rows if a.active and a.priority in ("high", "medium")]
    if loud and not any(a.sounds(now) for a in loud):
        paused = [a.silenced_until for a in loud if a.silenced(now)]
        if paused:
            return f"Audio paused {schedule.countdown(min(paused) - now)}"
    return ""


class AlertBanner(QFrame):
    """The top of the chart: the most urgent active alert, in its colour, on one
    line of fixed height (and `due`, what is due next, for the chart to place). The others are counted ("+2 more"); the count opens
    the list of them, and hovering the message shows them all. However many
    alerts fire and however long their texts, the banner never grows: when it
    took nine lines after F9, the event log below lost every row."""

    acknowledge_clicked = Signal()
    decision_clicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.mark = QLabel()
        self.mark.setObjectName("alertMark")
        self.message = ElidedLabel()
        self.message.setObjectName("alertMessage")
        self.more = QPushButton()
        self.more.setObjectName("alertMore")
        self.more.setToolTip("Show every active alert of this session")
        self.more.clicked.connect(self.show_others)
        self.others_menu = QMenu(self)
        self.others_menu.setObjectName("alertOthers")
        self.audio = QLabel()
        self.audio.setObjectName("alertAudio")
        self.due = ElidedLabel()
        self.due.setObjectName("dueNext")
        self.decision_button = QPushButton("Pre-dose decision…")
        self.decision_button.setObjectName("decisionButton")
        self.decision_button.clicked.connect(self.decision_clicked)
        self.decision_button.hide()
        self.ack_button = QPushButton(f"Acknowledge ({ACK_KEY})")
        self.ack_button.setObjectName("ackButton")
        self.ack_button.setToolTip(f"Acknowledge the session's alerts and pause the tone for 2 minutes ({ACK_KEY})")
        self.ack_button.clicked.connect(self.acknowledge_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 2, 4, 2)
        layout.setSpacing(10)
        layout.addWidget(self.mark)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.more)
        layout.addWidget(self.audio)
        layout.addWidget(self.decision_button)
        layout.addWidget(self.ack_button)
        # what is due next is not an alarm: the chart places it (beside the session facts)
        self.due.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.due.setMaximumWidth(DUE_MAX_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.highest: alerts.AlertView | None = None
        #: the active alerts besides the one shown (what "+N more" lists)
        self.others: list[alerts.AlertView] = []
        # the one flash timer; runs only while an unacknowledged high/medium alert
        # is shown and the banner is visible (never a loop of its own)
        self._flash_timer = QTimer(self)
        self._flash_timer.timeout.connect(self._toggle_flash)
        self._flash_wanted = 0  # the interval the shown alert calls for; 0 = steady
        self._set_flash_phase(False)
        self.show_alerts([], datetime.now().astimezone(), True)
        self.ensurePolished()
        self.setFixedHeight(self.one_line_height())

    def one_line_height(self) -> int:
        """The banner's height: its tallest one-line part (the buttons, the large
        bold message) and its margins; the same whatever it shows."""
        parts = (self.ack_button, self.decision_button, self.more, self.mark, self.message, self.due, self.audio)
        for w in parts:
            w.ensurePolished()
        m = self.layout().contentsMargins()
        tallest = max(max(w.sizeHint().height(), w.fontMetrics().height() + 6) for w in parts)
        return tallest + m.top() + m.bottom() + 2

    def show_others(self) -> QMenu:
        """The list of the other active alerts, under "+N more"."""
        menu = self.others_menu
        menu.clear()
        for a in self.others:
            menu.addAction(alert_line(a) + ("  (acknowledged)" if a.acknowledged_at is not None else ""))
        menu.popup(self.more.mapToGlobal(self.more.rect().bottomLeft()))
        return menu

    def show_alerts(self, rows: list[alerts.AlertView], now: datetime, sound_on: bool) -> None:
        live = [a for a in rows if a.active]
        self.highest = live[0] if live else None
        if self.highest is None:
            set_role(self, "quiet")
            self.mark.setText("")
            self.message.setText("No active alerts")
            self.others = []
            self.ack_button.setEnabled(False)
        else:
            a = self.highest
            set_role(self, a.priority)
            self.mark.setText(a.mark or "·")
            self.others = live[1:]
        self.more.setText(f"+{len(self.others)} more" if self.others else "")
        self.more.setVisible(bool(self.others))
        self.message.set_details("\n".join(alert_line(a) for a in live))
        self._show_ack(live, now)
        self._update_flash(live, now)
        self.tick(rows, now, sound_on)

    # ------------------------------------------------------------ flashing

    @property
    def flashing(self) -> bool:
        """The banner is flashing now (false when steady, and while hidden)."""
        return self._flash_timer.isActive()

    @property
    def flash_interval_ms(self) -> int:
        """Milliseconds between phase changes while flashing; 0 when steady."""
        return self._flash_timer.interval() if self.flashing else 0

    @property
    def flash_phase(self) -> bool:
        """True while showing the lighter tint; false is the priority colour itself."""
        return bool(self.property("flash"))

    def _update_flash(self, live: list[alerts.AlertView], now: datetime) -> None:
        """Flash while an alert of the shown priority is neither acknowledged nor
        silenced; acknowledged, low, none, or KETAMON_NO_FLASH=1: steady."""
        a = self.highest
        wanted = 0
        if a is not None and a.priority in FLASH_MS and not settings.get("no_flash"):
            if any(x.priority == a.priority and x.acknowledged_at is None and not x.silenced(now) for x in live):
                wanted = FLASH_MS[a.priority]
        self._flash_wanted = wanted
        self._apply_flash()

    def _apply_flash(self) -> None:
        if self._flash_wanted and self.isVisible():
            if self._flash_timer.interval() != self._flash_wanted or not self._flash_timer.isActive():
                self._flash_timer.start(self._flash_wanted)
        else:
            self._flash_timer.stop()
            self._set_flash_phase(False)

    def _toggle_flash(self) -> None:
        self._set_flash_phase(not self.flash_phase)

    def _set_flash_phase(self, on: bool) -> None:
        if self.property("flash") == on:
            return
        # only the frame's background changes: re-polish the frame, not its labels
        self.setProperty("flash", on)
        self.style().unpolish(self)
        self.style().polish(self)
        self.update()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._apply_flash()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._flash_timer.stop()

    def _show_ack(self, live: list[alerts.AlertView], now: datetime) -> None:
        """Enabled only when F9 would act: an alert not yet acknowledged, or one
        sounding again after its pause. On an acknowledged banner whose other
        alerts need it, the button says how many it would acknowledge."""
        needs = [x for x in live if x.acknowledged_at is None or x.sounds(now)]
        self.ack_button.setEnabled(bool(needs))
        if (a := self.highest) is not None:
            state = ("" if a.acknowledged_at is None else "  (acknowledged, sounding again)" if a in needs
                     else "  (acknowledged)")
            self.message.setText(f"{local_hm(a.raised_at)}  {a.message}{state}")
        others = [x for x in needs if x is not self.highest]
        if needs and self.highest not in needs:
            self.ack_button.setText(f"Acknowledge {len(others)} more ({ACK_KEY})")
        else:
            self.ack_button.setText(f"Acknowledge ({ACK_KEY})")
        self.ack_button.setToolTip(shortcuts.with_key(
            "Acknowledge this chair's alerts and pause the tone" if needs
            else "Nothing to acknowledge: every active alert is acknowledged", ACK_KEY))

    def tick(self, rows: list[alerts.AlertView], now: datetime, sound_on: bool) -> None:
        self._show_ack([a for a in rows if a.active], now)  # a pause running out sounds the alert again
        text = audio_text(rows, now, sound_on)
        self.audio.setText(text)
        self.audio.setVisible(bool(text))
        set_role(self.audio, "off" if text == "Audio off" else ("paused" if text else None))

    def show_due(self, item: schedule.DueItem | None, now: datetime) -> None:
        self.due.setText(schedule.due_text(item, now))
        set_role(self.due, "overdue" if item is not None and item.is_overdue(now) else
                 ("now" if item is not None and item.due_at is not None and now >= item.due_at else None))


class AlertList(QFrame):
    """Every alert of the session, newest first within active/cleared; patient
    alerts and technical ones on separate tabs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("alertList")
        self.title = QLabel("Alerts")
        self.title.setObjectName("alertListTitle")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.patient = QListWidget()
        self.technical = QListWidget()
        for w in (self.patient, self.technical):
            w.setWordWrap(True)
            w.setObjectName("alertItems")
            w.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tabs.addTab(self.patient, "Patient")
        self.tabs.addTab(self.technical, "Technical")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.tabs)
        self.setMinimumHeight(190)

    def show_alerts(self, rows: list[alerts.AlertView], now: datetime) -> None:
        for widget, category, label in ((self.patient, "patient", "Patient"),
                                        (self.technical, "technical", "Technical")):
            widget.clear()
            mine = [a for a in rows if a.category == category]
            for a in mine:
                item = QListWidgetItem(self._text(a, now))
                item.setData(Qt.ItemDataRole.UserRole, a.id)
                if a.active:
                    item.setBackground(_qcolour(f"alert_{a.priority}_soft") if a.priority != "info" else
                                       _qcolour("surface"))
                else:
                    item.setForeground(_qcolour("alert_cleared_text"))
                widget.addItem(item)
            if not mine:
                empty = QListWidgetItem("None")
                empty.setFlags(Qt.ItemFlag.NoItemFlags)
                widget.addItem(empty)
            n_active = sum(a.active for a in mine)
            self.tabs.setTabText(self.tabs.indexOf(widget), f"{label} ({n_active})" if n_active else label)

    @staticmethod
    def _text(a: alerts.AlertView, now: datetime) -> str:
        state = a.state_text(now)
        void = alerts.closed_as_void(a.review_comment)  # its reading entered in error / marked artefact
        if not a.active:
            state = f"{a.review_comment} {local_hm(a.cleared_at)}" if void else f"cleared {local_hm(a.cleared_at)}"
        extra = []
        if a.acknowledged_by:
            extra.append(f"ack. {a.acknowledged_by} {local_hm(a.acknowledged_at)}")
        if void:
            extra.append(f"by {a.reviewed_by}")
        elif a.reviewed_by:
            extra.append(f"reviewed {a.reviewed_by}")
        second = " · ".join([state] + extra)
        return f"{alert_line(a)}\n     {second}"

    def items_text(self, category: str = "patient") -> list[str]:
        widget = self.patient if category == "patient" else self.technical
        return [widget.item(i).text() for i in range(widget.count())]


class LimitsBox(QFrame):
    """The patient's own limits (a physician's overrides), and the way to edit them."""

    edit_clicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("limitsBox")
        self.title = QLabel("Limits")
        self.title.setObjectName("limitsTitle")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setObjectName("limitsText")
        self.edit_button = QPushButton("Edit patient limits…")
        self.edit_button.clicked.connect(self.edit_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.edit_button, 0, Qt.AlignmentFlag.AlignLeft)

    def show_limits(self, limits: EffectiveLimits, can_edit: bool) -> None:
        if not limits.overridden:
            self.text.setText("Protocol limits (no patient-specific limits).")
        else:
            lines = []
            for (param, tier), change in sorted(limits.overridden.items()):
                label, unit = PARAMETERS[param]
                band = getattr(limits.ranges[param], tier)
                lines.append(f"<b>{label} {tier}: {band.describe(unit)}</b><br>"
                             f"<span>{change.set_by}, {local_hm(change.set_at)}: {change.reason}</span>")
            self.text.setText("Patient's limits:<br>" + "<br>".join(lines))
        self.edit_button.setVisible(can_edit)


def limit_bands(limits: EffectiveLimits):
    """The plot's limit lines (abnormal dotted, critical dashed red), each labelled
    with its value, e.g. "SBP 160"; "(pt)" marks a patient's own limit."""
    from ketamon.gui.chart_plot import LimitBand

    bands = []
    for param, tier, side, short in PLOT_LIMITS:
        r = limits.ranges.get(param)
        value = getattr(getattr(r, tier), side) if r else None
        if value is None:
            continue
        mine = " (pt)" if (param, tier) in limits.overridden else ""
        label = f"{short} {_fmt(value)}{mine}"
        # SpO2's critical zone is shaded as well as labelled
        shade = param == "spo2" and tier == "critical"
        bands.append(LimitBand(param, value if side == "low" else None, value if side == "high" else None,
                               tier=tier, label=label, shade=shade,
                               colour=colour("alert_high") if tier == "critical" else None))
    return bands


def _qcolour(name: str):
    from PySide6.QtGui import QColor

    return QColor(colour(name))


class PredoseDecisionDialog(QDialog):
    """The physician's decision on a high pre-dose BP: proceed or not, and why."""

    def __init__(self, runner: OpRunner, session_id: int, message: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.session_id = runner, session_id
        self.setWindowTitle("Pre-dose decision")
        self.decided = False
        title = QLabel("Pre-dose decision")
        title.setObjectName("dialogTitle")
        why = QLabel(message)
        why.setWordWrap(True)
        self.proceed = QRadioButton("Proceed with dosing")
        self.defer = QRadioButton("Do not dose now")
        group = QButtonGroup(self)
        group.addButton(self.proceed)
        group.addButton(self.defer)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Reason (required)")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        for w in (title, why, self.proceed, self.defer, QLabel("Reason"), self.reason, self.error, buttons):
            layout.addWidget(w)

    def save(self) -> None:
        if not (self.proceed.isChecked() or self.defer.isChecked()):
            self._refuse("Choose proceed or do not dose.")
            return
        changes = self.runner.run(alerting.record_predose_decision, self.session_id,
                                  proceed=self.proceed.isChecked(), reason=self.reason.text())
        if changes is None:
            self._refuse(self.runner.last_refusal or "Not saved.")
            return
        self.decided = True
        self.accept()

    def _refuse(self, text: str) -> None:
        self.error.setText(text)
        set_role(self.error, "refusal")
        self.error.show()


class SessionAlerts(QObject):
    """The banner, list and limits of one session's chart, kept current; the chart
    places the three widgets in its layout.

    `chart` is the SessionChart it belongs to (its plot, chart, session_id and
    signals refreshed and ticked). The first data arrives with the chart's first
    `refreshed`; the chart calls `refresh()` when only alerts, limits or the
    clinic's alarm setting changed."""

    def __init__(self, runner: OpRunner, chart: QWidget):
        super().__init__(chart)
        self.runner, self.chart = runner, chart
        #: the chart's session, from `bind` (a chart built ahead has none yet)
        self.session_id: int | None = chart.session_id
        self.rows: list[alerts.AlertView] = []
        self.limits: EffectiveLimits | None = None
        self.due: schedule.DueItem | None = None
        self.sound_on = True
        self.banner = AlertBanner()
        self.list = AlertList()
        self.limits_box = LimitsBox()
        self.limits_dialog = None
        self.decision_dialog: PredoseDecisionDialog | None = None
        self.banner.acknowledge_clicked.connect(self.acknowledge)
        self.banner.decision_clicked.connect(self.open_decision)
        self.limits_box.edit_clicked.connect(self.edit_limits)
        # window-wide, so F9 works wherever the focus is (the sessions list too); a
        # chart hidden behind another in the main window's stack does not react
        self.shortcut = shortcuts.bind(chart, ACK_KEY, "Acknowledge the chair's alerts and pause the tone",
                                       self.acknowledge)
        chart.refreshed.connect(self.on_chart)
        chart.ticked.connect(self.tick)
        if self.session_id is not None:
            self.bind()

    def bind(self) -> None:
        """The chart has its session: follow who is signed in (what they may do here)."""
        self.session_id = self.chart.session_id
        # a method, not a lambda: the connection goes with this object when its chart is closed
        self.runner.actor_changed.connect(self._actor_changed)

    def _actor_changed(self, _actor) -> None:
        self.refresh()

    # ------------------------------------------------------------ data

    def on_chart(self, chart: Chart) -> None:
        self.due = schedule.next_due_item(chart)
        reason = getattr(self.chart, "reason", None)
        if reason is not None and self.limits is not None and not reason.any_of(*ALERT_FLAGS):
            # an entry that raised or cleared nothing (core.alerts.apply marks
            # "alerts" when it does): the alerts, limits and audio are as shown;
            # three queries on the GUI thread per 1 Hz device set saved
            self.banner.show_due(self.due, self.runner.store.clock.now())
            return
        self.refresh()

    @screen_read
    def refresh(self) -> None:
        store = self.runner.store
        now = store.clock.now()
        parts = alerts.session_alert_parts(store, self.session_id)
        self.rows, self.limits, self.sound_on = parts.rows, parts.limits, parts.sound_on
        self.banner.show_alerts(self.rows, now, self.sound_on)
        self.banner.show_due(self.due, now)
        self.list.show_alerts(self.rows, now)
        actor = self.runner.actor
        self.limits_box.show_limits(self.limits, bool(actor and actor.can(Permission.SET_LIMITS)))
        gate = [a for a in self.rows if a.active and a.key == "predose_bp"]
        self.banner.decision_button.setVisible(bool(gate) and bool(actor and actor.can(Permission.DECIDE)))
        self.chart.plot.set_limit_bands(limit_bands(self.limits))

    def tick(self, now: datetime) -> None:
        """Each second: countdown and audio-pause time. No query."""
        self.banner.show_due(self.due, now)
        self.banner.tick(self.rows, now, self.sound_on)

    # ------------------------------------------------------------ actions

    def acknowledge(self) -> None:
        if not any(a.active for a in self.rows):
            return
        self.runner.run(alerting.acknowledge_alert, session_id=self.session_id)

    def open_decision(self) -> PredoseDecisionDialog:
        gate = [a for a in self.rows if a.active and a.key == "predose_bp"]
        self.decision_dialog = PredoseDecisionDialog(self.runner, self.session_id,
                                                     gate[0].message if gate else "", self.chart)
        self.decision_dialog.finished.connect(self._decision_closed)
        self.decision_dialog.open()
        return self.decision_dialog

    def _decision_closed(self, _result: int) -> None:
        dialog, self.decision_dialog = self.decision_dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def edit_limits(self):
        from ketamon.gui.limits_dialog import LimitsDialog

        self.limits_dialog = LimitsDialog(self.runner, self.chart.chart.patient.id, session_id=self.session_id,
                                          parent=self.chart)
        self.limits_dialog.finished.connect(self._limits_closed)
        self.limits_dialog.open()
        return self.limits_dialog

    def _limits_closed(self, _result: int) -> None:
        dialog, self.limits_dialog = self.limits_dialog, None
        if dialog is not None:
            dialog.deleteLater()
