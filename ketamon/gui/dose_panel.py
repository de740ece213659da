"""The dose panel, one per route: nasal devices with the rest countdown, the
infusion's start / rate / pause / resume / stop with the running delivered
total, or the IM injection.

Countdown and running total come from the loaded dose events and the clock
(`tick(now)`), never from a query, so the second-by-second update is free.

The nasal lot is saved only with Enter or Save (an "unsaved" marker until then,
never on leaving the field); once a device is given it is read-only, and
"Correct lot…" asks for the new lot and the reason (ops.set_lot_number refuses a
plain change after dosing whatever a screen does).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtCore import QRegularExpression
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import dosing, ops
from ketamon.core.chart import Chart
from ketamon.core.permissions import Permission
from ketamon.core.rules import rules_for
from ketamon.gui import prompts, shortcuts
from ketamon.gui.runner import OpRunner, send_here
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import MessageLine, format_countdown, local_hm, parse_number, run_here

IM_SITES = ("Deltoid, left", "Deltoid, right", "Thigh, left", "Thigh, right", "Gluteal, left", "Gluteal, right")


def _mg(value: float | None) -> str:
    return "—" if value is None else f"{round(value, 2):g} mg"


class DosePanel(QGroupBox):
    """Base: holds the runner, the session and the last Chart."""

    def __init__(self, runner: OpRunner, session_id: int, parent: QWidget | None = None):
        super().__init__("Dose", parent)
        self.runner = runner
        self.session_id = session_id
        self.chart: Chart | None = None
        self.message = MessageLine()
        self.body = QVBoxLayout(self)
        self.body.setSpacing(6)

    def show_chart(self, chart: Chart) -> None:
        if self.chart is not None and self.message.is_refusal:
            # the record changed: a refusal ("Still to record: consent …") may no
            # longer hold, and must not stand beside "Pre-dose checks complete"
            self.message.clear_message()
        self.chart = chart
        self.tick(chart.now)

    def tick(self, now: datetime) -> None:
        """Update what depends on the clock (countdown, delivered total)."""


class NasalDosePanel(DosePanel):
    def __init__(self, runner: OpRunner, session_id: int, chart: Chart, parent: QWidget | None = None):
        super().__init__(runner, session_id, parent)
        rule = chart.protocol.dose
        self.planned = rule.devices or 1
        self.rest = timedelta(minutes=rule.rest_minutes or 0)
        self.setTitle(f"Dose — {rule.describe()}")
        self.body.addLayout(self._lot_row(chart))
        self.device_buttons: list[QPushButton] = []
        devices = QGridLayout()
        devices.setSpacing(6)
        for n in range(1, self.planned + 1):
            b = QPushButton(f"Device {n} given")
            b.setMinimumHeight(36)
            b.clicked.connect(lambda _c=False, n=n: self.give_device(n))
            self.device_buttons.append(b)
            devices.addWidget(b, (n - 1) // 2, (n - 1) % 2)
        self.body.addLayout(devices)
        self.countdown = QLabel("")
        self.countdown.setObjectName("restCountdown")
        self.body.addWidget(self.countdown)
        self.body.addWidget(self.message)
        self.show_chart(chart)

    def _lot_row(self, chart: Chart) -> QHBoxLayout:
        """The lot: typed and saved explicitly (Enter or Save, with an "unsaved"
        marker meanwhile; never on leaving the field), read-only once a device is
        given, then changed only through "Correct lot…" with a reason."""
        row = QHBoxLayout()
        row.addWidget(QLabel("Lot number"))
        self.lot = QLineEdit(chart.session.lot_number or "")
        self.lot.setObjectName("lotNumber")
        self.lot.setPlaceholderText("required before device 1")
        self.lot.returnPressed.connect(self._save_lot)
        self.lot.textEdited.connect(self._show_lot_state)
        self.lot_unsaved = QLabel("unsaved")
        set_role(self.lot_unsaved, "unsaved")
        self.lot_unsaved.setToolTip("The lot typed here is not saved yet: press Enter or Save.")
        self.lot_save = QPushButton("Save")
        shortcuts.describe_key(self.lot_save, "Enter", "Save the lot number typed (before device 1)")
        self.lot_save.clicked.connect(self._save_lot)
        self.lot_correct = QPushButton("Correct lot…")
        self.lot_correct.setToolTip("The lot is locked once a device is given: correct it with a reason")
        self.lot_correct.clicked.connect(self.correct_lot)
        for w, stretch in ((self.lot, 1), (self.lot_unsaved, 0), (self.lot_save, 0), (self.lot_correct, 0)):
            row.addWidget(w, stretch)
        return row

    def _saved_lot(self) -> str:
        return (self.chart.session.lot_number or "") if self.chart is not None else ""

    def _locked(self) -> bool:
        return self.chart is not None and bool(dosing.nasal_devices_given(self.chart.doses))

    def _show_lot_state(self, *_args) -> None:
        locked = self._locked()
        self.lot.setReadOnly(locked)
        set_role(self.lot, "locked" if locked else None)
        unsaved = not locked and self.lot.text().strip() != self._saved_lot()
        self.lot_unsaved.setVisible(unsaved)
        self.lot_save.setVisible(not locked)
        self.lot_save.setEnabled(unsaved)
        self.lot_correct.setVisible(locked)

    def show_chart(self, chart: Chart) -> None:
        unsaved = self.chart is not None and self.lot.text().strip() != self._saved_lot()
        super().show_chart(chart)
        if not unsaved or self._locked():
            self.lot.setText(self._saved_lot())  # a half-typed lot survives a refresh until dosing
        self._show_lot_state()

    def _save_lot(self) -> None:
        text = self.lot.text().strip()
        if self._locked() or not text or text == self._saved_lot():
            return
        run_here(self.runner, self.message, ops.set_lot_number, self.session_id, text)

    def correct_lot(self) -> None:
        """After dosing: the new lot and the reason, both asked; the core corrects
        the session's lot and every device given."""
        new = prompts.ask_text(self, "Correct the lot number",
                               f"Devices were given from lot {self._saved_lot() or '—'}. The correct lot number:",
                               self._saved_lot())
        if not (new or "").strip() or new.strip() == self._saved_lot():
            return
        reason = prompts.ask_text(self, "Correct the lot number", "Reason for the correction:")
        if not (reason or "").strip():
            self.message.show_refusal("Lot not corrected: a correction needs a reason.")
            return
        run_here(self.runner, self.message, ops.set_lot_number, self.session_id, new.strip(),
                 correction_reason=reason)

    def give_device(self, n: int) -> None:
        """Pressed during the rest, the device is a protocol deviation: the core
        refuses it without a reason (ops.record_dose), so ask for one here."""
        reason = None
        if self.chart is not None:
            left = dosing.rest_remaining(self.chart.doses, self.chart.protocol.dose.rest_minutes,
                                         self.runner.store.clock.now())
            if left > timedelta(0):
                reason = prompts.ask_text(
                    self, "Device during the rest",
                    f"The rest before device {n} has {format_countdown(left)} to run. Giving it now is a "
                    "protocol deviation: give the reason.")
                if not (reason or "").strip():
                    self.message.show_refusal(f"Device {n} not recorded: wait for the rest to end, or give a "
                                              "reason.")
                    return
        # device 1 takes the lot as typed (saved with it); later devices the session's locked lot
        lot = None if self._locked() else (self.lot.text().strip() or None)
        send_here(self.runner, self.message, ops.record_dose, self.session_id, "nasal_device", when="at",
                  lot_number=lot, rest_override_reason=reason)

    def tick(self, now: datetime) -> None:
        if self.chart is None:
            return
        given = dosing.nasal_devices_given(self.chart.doses)
        remaining = dosing.rest_remaining(self.chart.doses, self.chart.protocol.dose.rest_minutes, now)
        for i, b in enumerate(self.device_buttons, start=1):
            if i <= len(given):
                b.setText(f"✓ Device {i} at {local_hm(given[i - 1].at)}")
                b.setToolTip(f"Device {i} given at {local_hm(given[i - 1].at)}, lot {given[i - 1].lot_number or '—'}")
                b.setEnabled(False)
                set_role(b, "device-given")
            else:
                b.setText(f"Device {i} given")
                # enabled during the rest too: pressing then asks for the deviation's reason
                b.setEnabled(i == len(given) + 1)
                set_role(b, "primary" if b.isEnabled() and remaining <= timedelta(0) else None)
        if len(given) >= self.planned:
            self.countdown.setText(f"All {self.planned} devices given · first at {local_hm(given[0].at)}")
            set_role(self.countdown, "muted")
        elif given and remaining > timedelta(0):
            self.countdown.setText(f"Rest {format_countdown(remaining)} before device {len(given) + 1}")
            set_role(self.countdown, "countdown")
        elif given:
            self.countdown.setText(f"Rest over: device {len(given) + 1} may be given")
            set_role(self.countdown, "muted")
        else:
            self.countdown.setText(f"Rest {self.rest.seconds // 60} min after each device")
            set_role(self.countdown, "muted")


class InfusionDosePanel(DosePanel):
    def __init__(self, runner: OpRunner, session_id: int, chart: Chart, parent: QWidget | None = None):
        super().__init__(runner, session_id, parent)
        rule = chart.protocol.dose
        self.planned_mg = chart.session.planned_dose_mg
        self.default_rate = None
        if self.planned_mg and rule.infusion_minutes:
            self.default_rate = round(self.planned_mg / rule.infusion_minutes * 60, 2)
        self.setTitle(f"Infusion — {_mg(self.planned_mg)} over {rule.infusion_minutes:g} min"
                      if rule.infusion_minutes else "Infusion")
        rate_row = QHBoxLayout()
        self.rate = QLineEdit("" if self.default_rate is None else f"{self.default_rate:g}")
        self.rate.setValidator(QRegularExpressionValidator(QRegularExpression(r"^\d{0,3}([.,]\d{0,2})?$"), self))
        self.rate.setFixedWidth(90)
        self.rate.setAlignment(Qt.AlignmentFlag.AlignRight)
        rate_row.addWidget(QLabel("Rate"))
        rate_row.addWidget(self.rate)
        rate_row.addWidget(QLabel("mg/h"))
        rate_row.addStretch(1)
        self.body.addLayout(rate_row)
        if self.default_rate is not None:
            hint = QLabel(f"Planned: {_mg(self.planned_mg)} ÷ {rule.infusion_minutes:g} min = "
                          f"{self.default_rate:g} mg/h")
            hint.setProperty("role", "muted")
            hint.setWordWrap(True)
            self.body.addWidget(hint)
        grid = QGridLayout()
        self.start_button = QPushButton("Start")
        self.rate_button = QPushButton("Change rate")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        grid.addWidget(self.start_button, 0, 0)
        grid.addWidget(self.rate_button, 0, 1, 1, 2)
        grid.addWidget(self.pause_button, 1, 0)
        grid.addWidget(self.resume_button, 1, 1)
        grid.addWidget(self.stop_button, 1, 2)
        self.body.addLayout(grid)
        self.start_button.clicked.connect(lambda: self._event("infusion_start", with_rate=True))
        self.rate_button.clicked.connect(lambda: self._event("infusion_rate", with_rate=True))
        self.pause_button.clicked.connect(lambda: self._event("infusion_pause"))
        self.resume_button.clicked.connect(lambda: self._event("infusion_resume"))
        self.stop_button.clicked.connect(self.stop)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.delivered = QLabel("")
        self.delivered.setObjectName("deliveredTotal")
        self.body.addWidget(self.status)
        self.body.addWidget(self.delivered)
        self.body.addWidget(self.message)
        self._shown_state: str | None = None
        self.show_chart(chart)

    def _event(self, kind: str, with_rate: bool = False) -> None:
        kwargs = {}
        if with_rate:
            try:
                kwargs["rate_mg_per_h"] = parse_number(self.rate.text(), "Rate", decimal=True)
            except ValueError as exc:
                self.message.show_refusal(str(exc))
                return
            limit = self.max_rate()
            actor = self.runner.actor
            if limit is not None and kwargs["rate_mg_per_h"] > limit and actor is not None \
                    and actor.can(Permission.DECIDE):
                # a physician confirms with a reason; a nurse gets the core's refusal
                reason = prompts.ask_text(self, "Rate above the protocol's maximum",
                                          f"{kwargs['rate_mg_per_h']:g} mg/h is above the protocol's maximum "
                                          f"{limit:g} mg/h. Confirm with the reason.")
                if not (reason or "").strip():
                    self.message.show_refusal("Rate not changed: a rate above the maximum needs a reason.")
                    return
                kwargs["confirm_reason"] = reason
        send_here(self.runner, self.message, ops.record_dose, self.session_id, kind, when="at", **kwargs)

    def max_rate(self) -> float | None:
        """The protocol's maximum rate for the dose weight (as ops.record_dose checks it)."""
        if self.chart is None:
            return None
        rule = rules_for(self.chart.protocol).on("dose_check")
        return dosing.max_rate_mg_per_h(self.chart.session.dose_weight_kg,
                                        rule.get("max_rate_mg_per_kg_per_h") if rule else None)

    def stop(self) -> None:
        if prompts.confirm(self, "Stop the infusion",
                           "Stop the infusion now? A stopped infusion cannot be restarted in this session."):
            self._event("infusion_stop")

    def status_now(self, now: datetime) -> dosing.InfusionStatus:
        return dosing.infusion_status(self.chart.doses if self.chart else [], now)

    def tick(self, now: datetime) -> None:
        if self.chart is None:
            return
        st = self.status_now(now)
        allowed = dosing.INFUSION_ALLOWED[st.state]
        self.start_button.setEnabled("infusion_start" in allowed)
        self.rate_button.setEnabled("infusion_rate" in allowed)
        self.pause_button.setEnabled("infusion_pause" in allowed)
        self.resume_button.setEnabled("infusion_resume" in allowed)
        self.stop_button.setEnabled("infusion_stop" in allowed)
        set_role(self.start_button, "primary" if st.state == "not_started" else None)
        if st.state != self._shown_state:
            self._shown_state = st.state
            if st.rate_mg_per_h is not None:
                self.rate.setText(f"{st.rate_mg_per_h:g}")
        rate = f"{st.rate_mg_per_h:g} mg/h" if st.rate_mg_per_h is not None else ""
        self.status.setText({
            "not_started": "Not started",
            "running": f"Running at {rate} · started {local_hm(st.started_at)}",
            "paused": f"Paused (rate {rate}) · started {local_hm(st.started_at)}",
            "stopped": f"Stopped at {local_hm(st.stopped_at)} · started {local_hm(st.started_at)}",
        }[st.state])
        of = f" of {_mg(self.planned_mg)}" if self.planned_mg else ""
        self.delivered.setText(f"Delivered {_mg(st.delivered_mg)}{of}")


class InjectionDosePanel(DosePanel):
    def __init__(self, runner: OpRunner, session_id: int, chart: Chart, parent: QWidget | None = None):
        super().__init__(runner, session_id, parent)
        self.setTitle("IM injection — prescriber's dose")
        row = QHBoxLayout()
        # The prescriber's planned dose (entered when the session was opened) is
        # offered; a dose is never taken from anaesthetic ranges.
        planned = chart.session.planned_dose_mg
        self.amount = QLineEdit("" if planned is None else f"{planned:g}")
        self.amount.setFixedWidth(80)
        self.amount.setAlignment(Qt.AlignmentFlag.AlignRight)
        row.addWidget(QLabel("Dose"))
        row.addWidget(self.amount)
        row.addWidget(QLabel("mg"))
        row.addStretch(1)
        self.body.addLayout(row)
        site_row = QHBoxLayout()
        self.site = QComboBox()
        self.site.addItems(list(IM_SITES))
        site_row.addWidget(QLabel("Site"))
        site_row.addWidget(self.site, 1)
        self.body.addLayout(site_row)
        self.give_button = QPushButton("Injection given")
        self.give_button.setMinimumHeight(34)
        self.give_button.clicked.connect(self.give)
        self.body.addWidget(self.give_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.body.addWidget(self.status)
        self.body.addWidget(self.message)
        self.show_chart(chart)

    def give(self) -> None:
        try:
            amount = parse_number(self.amount.text(), "Dose", decimal=True)
        except ValueError as exc:
            self.message.show_refusal(str(exc))
            return
        send_here(self.runner, self.message, ops.record_dose, self.session_id, "im_injection", when="at",
                  amount_mg=amount, site=self.site.currentText())

    def tick(self, now: datetime) -> None:
        if self.chart is None:
            return
        given = [d for d in self.chart.doses if d.kind == "im_injection"]
        self.give_button.setEnabled(not given)
        set_role(self.give_button, None if given else "primary")
        if given:
            d = given[0]
            self.status.setText(f"✓ Given {_mg(d.amount_mg)} at {local_hm(d.at)}"
                                + (f" ({d.site.lower()})" if d.site else ""))
        else:
            self.status.setText("Not given yet")


def dose_panel_for(runner: OpRunner, session_id: int, chart: Chart, parent: QWidget | None = None) -> DosePanel:
    cls = {"nasal": NasalDosePanel, "iv": InfusionDosePanel, "im": InjectionDosePanel}[chart.session.route]
    return cls(runner, session_id, chart, parent)
