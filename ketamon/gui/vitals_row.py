"""The keyboard-first vital-signs row: type, Enter saves.

A field moves on to the next by itself once its value is complete: three
digits, or two when no third digit could be possible (SpO2 98, HR 72: 980 and
720 are beyond every monitor), a temperature with its decimal (then the O2
box, where an ACVPU letter goes straight to ACVPU). A full set with temperature and ACVPU (124 80 72 98 14 36.8 A, Enter)
is 17 keys. A Tab pressed right after such a move is swallowed, so a nurse
who tabs out of habit lands where she meant. Alt+M reaches "Measured at" for a
late entry; Alt+O ticks O2.

After a save the row clears and focus returns to Sys. A refused value keeps
everything that was typed and the reason is shown beside the row, with the
field at fault marked. An empty field is stored as empty, never guessed.
While the database cannot be reached a set stays in the row marked "not saved
yet" and is sent by itself when the database answers (OpRunner.send); Enter
again on the same set does not send it twice; the row clears and says "✓ saved"
only once it is committed.
Measured-at empty means "now"; a time typed there (HH:MM) may be earlier, and
the operation labels such an entry late.
"""
from __future__ import annotations

import re
from datetime import datetime

from PySide6.QtCore import QEvent, QObject, QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ketamon.core import hard_limits, ops
from ketamon.core.chart import describe_vitals
from ketamon.gui import shortcuts
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import set_invalid, set_role
from ketamon.gui.widgets import MessageLine, future_tolerance, local_hm, parse_number, parse_time_of_day

#: (field, column label, tooltip, decimal?, width px)
NUMBER_FIELDS = (
    ("systolic", "Sys", "Systolic blood pressure, mmHg", False, 62),
    ("diastolic", "Dia", "Diastolic blood pressure, mmHg", False, 62),
    ("heart_rate", "HR", "Heart rate, beats per minute", False, 62),
    ("spo2", "SpO2", "Oxygen saturation, %", False, 62),
    ("resp_rate", "RR", "Respiratory rate, breaths per minute", False, 56),
    ("temperature", "Temp", "Temperature, °C (optional)", True, 66),
)
ACVPU = ("", "A", "C", "V", "P", "U")
MEASURED_AT_KEY = "Alt+M"
_TEMPERATURE_DONE = re.compile(r"^\d{2}[.,]\d$")


def value_complete(name: str, text: str) -> bool:
    """No further character could make a possible value: three digits, or a
    number whose tenfold is above the hard limit, or a temperature with its
    decimal (so the row moves on by itself, and never before it should)."""
    if name == "temperature":
        return bool(_TEMPERATURE_DONE.match(text))
    if not text.isdigit():
        return False
    limit = hard_limits.VITALS[name].high
    return len(text) >= 3 or int(text) * 10 > limit
ACVPU_HELP = "A alert · C new confusion · V responds to voice · P responds to pain · U unresponsive"


class VitalsRow(QFrame):
    """One vital-sign set at a time. `fields[name]` are the inputs (tests type into them)."""

    #: emitted with the new VitalSigns id after a successful save
    saved = Signal(int)

    def __init__(self, runner: OpRunner, session_id: int | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("vitalsRow")
        self.runner = runner
        self.session_id = session_id
        #: the set kept while the database cannot be reached: (Pending, its values)
        self._pending: tuple | None = None
        runner.settled.connect(self._settled)
        self.fields: dict[str, QLineEdit] = {}
        #: the field the row just moved to by itself (a Tab pressed next is swallowed)
        self._jumped_to: QWidget | None = None
        grid = QGridLayout(self)
        grid.setContentsMargins(10, 3, 10, 5)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(1)
        title = QLabel("Vital signs")
        title.setObjectName("vitalsTitle")
        grid.addWidget(title, 1, 0)
        col = 1
        whole = QRegularExpressionValidator(QRegularExpression(r"^\d{0,3}$"), self)
        decimal = QRegularExpressionValidator(QRegularExpression(r"^\d{0,2}([.,]\d?)?$"), self)
        for name, label, tip, is_decimal, width in NUMBER_FIELDS:
            edit = QLineEdit()
            edit.setObjectName(f"vital_{name}")
            edit.setValidator(decimal if is_decimal else whole)
            edit.setFixedWidth(width)
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
            edit.setToolTip(tip)
            edit.setAccessibleName(tip)
            edit.textEdited.connect(lambda _t, e=edit: set_invalid(e, False))
            edit.textEdited.connect(lambda text, n=name: self._advance_if_complete(n, text))
            self.fields[name] = edit
            self._add(grid, col, label, edit)
            col += 1
        self.on_oxygen = QCheckBox("&O2")
        self.on_oxygen.setToolTip(shortcuts.with_key("Tick when the patient is on supplemental oxygen", "Alt+O"))
        self._add(grid, col, "", self.on_oxygen)
        col += 1
        self.consciousness = QComboBox()
        self.consciousness.addItems(list(ACVPU))
        self.consciousness.setToolTip(ACVPU_HELP + " — type the letter")
        self.consciousness.setFixedWidth(66)
        self._add(grid, col, "ACVPU", self.consciousness)
        col += 1
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("optional")
        self.comment.setMinimumWidth(90)
        self._add(grid, col, "Comment", self.comment)
        grid.setColumnStretch(col, 1)
        col += 1
        self.measured_at = QLineEdit()
        self.measured_at.setObjectName("vital_measured_at")
        self.measured_at.setFixedWidth(122)
        self.measured_at.setToolTip("When the set was measured. Leave empty for now; type an earlier "
                                    "time (HH:MM) for a set measured before — it is labelled late.")
        self.measured_at.textEdited.connect(lambda _t: set_invalid(self.measured_at, False))
        self._add(grid, col, "Measured at", self.measured_at)
        self.measured_at_shortcut = shortcuts.bind(self, MEASURED_AT_KEY, "Go to Measured at (a late entry)",
                                                   self.focus_measured_at, widget=self.measured_at)
        col += 1
        self.save_button = QPushButton("Save  ↵")
        self.save_button.setToolTip("Save this set")
        set_role(self.save_button, "primary")
        self.save_button.clicked.connect(self.save)
        grid.addWidget(self.save_button, 1, col)
        self.message = MessageLine()
        grid.addWidget(self.message, 2, 1, 1, col)
        for w in self.inputs():
            w.installEventFilter(self)
        shortcuts.describe_key(self.save_button, "Enter", "Save the vital-sign set (from any of its fields)")
        self.set_now(runner.store.clock.now())

    def _add(self, grid: QGridLayout, col: int, label: str, widget: QWidget) -> None:
        lab = QLabel(label)
        lab.setProperty("role", "fieldlabel")
        grid.addWidget(lab, 0, col)
        grid.addWidget(widget, 1, col)

    def inputs(self) -> list[QWidget]:
        return [*self.fields.values(), self.on_oxygen, self.consciousness, self.comment, self.measured_at]

    # ------------------------------------------------------------ keyboard

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.KeyPress:
            jumped, self._jumped_to = self._jumped_to, None
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.save()
                return True
            if event.key() == Qt.Key.Key_Tab and watched is jumped:
                return True  # the row already moved on: a habitual Tab must not skip a field
            letter = event.text().upper()
            if watched is self.on_oxygen and letter and letter in ACVPU[1:]:
                # on the O2 box after the temperature, the ACVPU letter is meant for ACVPU
                self.consciousness.setCurrentText(letter)
                self.consciousness.setFocus(Qt.FocusReason.TabFocusReason)
                return True
        return super().eventFilter(watched, event)

    def _advance_if_complete(self, name: str, text: str) -> None:
        """Typed to its end and no further character could follow: the next field."""
        edit = self.fields[name]
        if edit.cursorPosition() != len(text) or not value_complete(name, text):
            return
        names = list(self.fields)
        nxt = self.fields[names[names.index(name) + 1]] if name != names[-1] else self.on_oxygen
        nxt.setFocus(Qt.FocusReason.TabFocusReason)
        if isinstance(nxt, QLineEdit):
            nxt.selectAll()
        self._jumped_to = nxt

    def focus_measured_at(self) -> None:
        self.measured_at.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.measured_at.selectAll()

    def set_now(self, now: datetime) -> None:
        """Keep the measured-at hint on the current time (called every second)."""
        self.measured_at.setPlaceholderText(f"now {local_hm(now)}")

    def focus_first(self) -> None:
        self.fields["systolic"].setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------ saving

    def values(self) -> dict:
        """What the row holds, parsed (raises ValueError naming the field)."""
        labels = {name: label for name, label, *_ in NUMBER_FIELDS}
        out: dict = {}
        for name, _label, _tip, is_decimal, _w in NUMBER_FIELDS:
            try:
                out[name] = parse_number(self.fields[name].text(), labels[name], decimal=is_decimal)
            except ValueError as exc:
                raise _FieldError(name, str(exc)) from None
        out["consciousness"] = self.consciousness.currentText() or None
        if self.on_oxygen.isChecked():
            out["on_oxygen"] = True
        else:  # air is only known when a saturation was taken
            out["on_oxygen"] = False if out["spo2"] is not None else None
        out["comment"] = self.comment.text().strip() or None
        typed = self.measured_at.text()
        try:  # empty is "now": no need to read the clinic's tolerance (a query) on every Enter
            out["measured_at"] = parse_time_of_day(typed, self.runner.store.clock.now(), "Measured at",
                                                   ahead=future_tolerance(self.runner.store)) \
                if typed.strip() else None
        except ValueError as exc:
            raise _FieldError("measured_at", str(exc)) from None
        return out

    def save(self) -> int | None:
        """Save the row; returns the new entry's id, or None when refused."""
        for w in [*self.fields.values(), self.measured_at]:
            set_invalid(w, False)
        try:
            values = self.values()
        except _FieldError as exc:
            self._refused(exc.field, exc.message)
            return None
        changes = self.runner.send(ops.record_vitals, self.session_id, owner=self, when="measured_at", **values)
        if changes is None:
            if self.runner.last_pending is not None:
                self._pending = (self.runner.last_pending, values)
            error = self.runner.last_error
            self._refused(getattr(error, "field", None), self.runner.last_refusal or "refused")
            return None
        return self._saved(changes, values)

    def _saved(self, changes, values: dict) -> int:
        new_id = changes.result
        self.clear()
        summary = describe_vitals_from(values)
        self.message.show_ok(f"{changes.message}: {summary}" if summary else changes.message)
        self.focus_first()
        self.saved.emit(new_id)
        return new_id

    def _settled(self, pending) -> None:
        """A set kept while the database was away has been sent: saved (the row
        clears, unless the nurse has typed another set since) or refused (the row
        still holds it, with the reason)."""
        if self._pending is None or pending is not self._pending[0]:
            return
        values, self._pending = self._pending[1], None
        if pending.changes is None:
            self._refused(None, pending.refusal or "refused")
        elif self._values_or_none() == values:
            self._saved(pending.changes, values)
        else:
            self.message.show_ok(pending.changes.message)

    def _values_or_none(self) -> dict | None:
        try:
            return self.values()
        except _FieldError:
            return None

    def _refused(self, field: str | None, message: str) -> None:
        self.message.show_refusal(message)
        target = self.fields.get(field or "") or (self.measured_at if field == "measured_at" else None)
        if target is not None:
            set_invalid(target, True)
            target.setFocus(Qt.FocusReason.OtherFocusReason)
            target.selectAll()

    def clear(self) -> None:
        for edit in self.fields.values():
            edit.clear()
            set_invalid(edit, False)
        self.on_oxygen.setChecked(False)
        self.consciousness.setCurrentIndex(0)
        self.comment.clear()
        self.measured_at.clear()
        set_invalid(self.measured_at, False)


class _FieldError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class _Values:
    """Duck-typed stand-in so the saved set is described exactly like the log does."""

    def __init__(self, values: dict):
        self.__dict__.update({k: None for k in ("systolic", "diastolic", "mean_arterial", "heart_rate", "spo2",
                                                "resp_rate", "temperature", "on_oxygen", "consciousness",
                                                "comment")})
        self.__dict__.update({k: v for k, v in values.items() if k != "measured_at"})
        self.source = "manual"
        self.comment = None


def describe_vitals_from(values: dict) -> str:
    return describe_vitals(_Values(values))  # type: ignore[arg-type]
