"""New patient and new session dialogs. Each saves through its operation; a
refusal keeps the dialog open with the reason shown, so nothing typed is lost."""
from __future__ import annotations

import re
from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops
from ketamon.core.chart import list_patients, list_users
from ketamon.core.models import CONCOMITANT_MEDICATIONS, CONTRAINDICATIONS, SEXES
from ketamon.core.protocols import Protocol
from ketamon.documents.summary import SIGNATURE_MEANING
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import MessageLine, parse_number, parse_time_of_day

_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
_DMY = re.compile(r"^\s*(\d{1,2})[./](\d{1,2})[./](\d{4})\s*$")


def parse_birth_date(text: str) -> date:
    """YYYY-MM-DD, or DD.MM.YYYY / DD/MM/YYYY (day first). Raises ValueError."""
    m = _ISO.match(text)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _DMY.match(text)
        if m:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        pass
    if not text.strip():
        raise ValueError("Date of birth is required (YYYY-MM-DD).")
    raise ValueError(f"Date of birth “{text.strip()}” is not a date: type it as YYYY-MM-DD, e.g. 1984-03-12.")


def _title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("dialogTitle")
    return label


def _buttons(dialog: QDialog, ok: QDialogButtonBox.StandardButton, text: str):
    """The dialog's own button (primary, named for what it does) and Cancel."""
    buttons = QDialogButtonBox(ok | QDialogButtonBox.StandardButton.Cancel)
    button = buttons.button(ok)
    button.setText(text)
    set_role(button, "primary")
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons, button


class NewPatientDialog(QDialog):
    """Register a patient. After it is accepted, `patient_id` holds the new id."""

    def __init__(self, runner: OpRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.patient_id: int | None = None
        self.setWindowTitle("New patient")
        self.mrn = QLineEdit()
        self.family_name = QLineEdit()
        self.given_name = QLineEdit()
        self.birth_date = QLineEdit()
        self.birth_date.setPlaceholderText("YYYY-MM-DD")
        self.sex = QComboBox()
        self.sex.addItem("— choose —", None)
        for s in SEXES:
            self.sex.addItem(s.capitalize(), s)
        self.weight = QLineEdit()
        self.weight.setPlaceholderText("kg")
        self.weight.setMaximumWidth(110)
        self.allergies = QLineEdit()
        self.allergies.setPlaceholderText("none known — or list them")
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("MRN", self.mrn)
        form.addRow("Family name", self.family_name)
        form.addRow("Given name", self.given_name)
        form.addRow("Date of birth", self.birth_date)
        form.addRow("Sex", self.sex)
        form.addRow("Weight (kg)", self.weight)
        form.addRow("Allergies", self.allergies)
        self.contraindications = self._checks("Contraindications", CONTRAINDICATIONS)
        self.medications = self._checks("Concomitant medicines", CONCOMITANT_MEDICATIONS)
        self.message = MessageLine()
        buttons, self.save_button = _buttons(self, QDialogButtonBox.StandardButton.Save, "Register patient")
        layout = QVBoxLayout(self)
        layout.addWidget(_title("Register a new patient"))
        layout.addLayout(form)
        layout.addWidget(self._group("Contraindications", self.contraindications))
        layout.addWidget(self._group("Concomitant medicines", self.medications))
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.setMinimumWidth(760)

    def _checks(self, _title: str, options: dict[str, str]) -> dict[str, QCheckBox]:
        return {key: QCheckBox(label) for key, label in options.items()}

    def _group(self, title: str, boxes: dict[str, QCheckBox]) -> QGroupBox:
        group = QGroupBox(title)
        grid = QGridLayout(group)
        for i, box in enumerate(boxes.values()):
            grid.addWidget(box, i // 2, i % 2)
        return group

    def accept(self) -> None:
        try:
            birth = parse_birth_date(self.birth_date.text())
            weight = parse_number(self.weight.text(), "Weight", decimal=True)
        except ValueError as exc:
            self.message.show_refusal(str(exc))
            return
        sex = self.sex.currentData()
        if sex is None:
            self.message.show_refusal("Choose the patient's sex (or Unknown).")
            return
        changes = self.runner.run(
            ops.create_patient, mrn=self.mrn.text(), family_name=self.family_name.text(),
            given_name=self.given_name.text(), birth_date=birth, sex=sex, weight_kg=weight,
            allergies=self.allergies.text(),
            contraindications=[k for k, b in self.contraindications.items() if b.isChecked()],
            concomitant_medications=[k for k, b in self.medications.items() if b.isChecked()])
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "refused")
            return
        self.patient_id = changes.result
        super().accept()


def dose_text(protocol: Protocol, weight_kg: float | None, prescribed: float | None = None) -> str:
    """What the session's dose will be, and where it comes from."""
    rule = protocol.dose
    if rule.kind == "per_kg":
        if weight_kg is None:
            return f"{rule.mg_per_kg:g} mg/kg: enter the weight"
        exact = round(rule.mg_per_kg * weight_kg, 1)
        mg = rule.planned_mg(weight_kg)
        text = f"{mg:g} mg ({rule.mg_per_kg:g} mg/kg × {weight_kg:.1f} kg)"
        if mg != exact:
            text = f"{mg:g} mg ({rule.mg_per_kg:g} mg/kg × {weight_kg:.1f} kg = {exact:g} mg, " \
                   f"capped at {rule.max_mg:g} mg)"
        if rule.infusion_minutes:
            text += f" over {rule.infusion_minutes:g} min"
        return text
    if rule.kind == "fixed":
        return rule.describe()
    return f"{prescribed:g} mg (prescriber's dose)" if prescribed else "the prescriber's dose is required"


class NewSessionDialog(QDialog):
    """Open a session. After it is accepted, `session_id` holds the new id."""

    def __init__(self, runner: OpRunner, parent: QWidget | None = None, patient_id: int | None = None):
        super().__init__(parent)
        self.runner = runner
        self.session_id: int | None = None
        self.setWindowTitle("New session")
        store = runner.store
        self.patients = list_patients(store)
        self.patient = QComboBox()
        self.patient.addItem("— choose —", None)
        for p in self.patients:
            self.patient.addItem(f"{p.display_name}  ({p.mrn}, born {p.birth_date:%Y-%m-%d})", p.patient_id)
        if patient_id is not None:
            self.patient.setCurrentIndex(max(self.patient.findData(patient_id), 0))
        self.protocols = store.protocols.current()
        self.protocol = QComboBox()
        self.protocol.addItem("— choose —", None)
        for pr in self.protocols:
            self.protocol.addItem(pr.name, pr.id)
        self.weight = QLineEdit()
        self.weight.setMaximumWidth(110)
        self.weight.setPlaceholderText("kg")
        self.weight_label = QLabel("Weight used (kg)")
        self.prescribed = QLineEdit()
        self.prescribed.setMaximumWidth(110)
        self.prescribed.setPlaceholderText("mg")
        self.prescribed_label = QLabel("Prescribed dose (mg)")
        self.dose = QLabel("—")
        self.dose.setObjectName("computedDose")
        self.dose.setWordWrap(True)
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("optional now; required before the first nasal device")
        self.start = QLineEdit()
        self.start.setPlaceholderText("now")
        self.start.setMaximumWidth(110)
        self.physician = QComboBox()
        self.physician.addItem("— none yet —", None)
        for u in list_users(store, "physician"):
            self.physician.addItem(u.display_name, u.id)
        if self.physician.count() == 2:
            self.physician.setCurrentIndex(1)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Patient", self.patient)
        form.addRow("Protocol", self.protocol)
        form.addRow(self.weight_label, self.weight)
        form.addRow(self.prescribed_label, self.prescribed)
        form.addRow("Dose", self.dose)
        form.addRow("Lot number", self.lot)
        form.addRow("Start time", self.start)
        form.addRow("Supervising physician", self.physician)
        #: the chair, whose bedside monitor then feeds the session
        self.chair = chair_combo()
        form.addRow("Chair", self.chair)
        self.message = MessageLine()
        buttons, self.save_button = _buttons(self, QDialogButtonBox.StandardButton.Save, "Open session")
        layout = QVBoxLayout(self)
        layout.addWidget(_title("Open a treatment session"))
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.setMinimumWidth(720)
        self.patient.currentIndexChanged.connect(self._patient_changed)
        self.protocol.currentIndexChanged.connect(self._update)
        self.weight.textChanged.connect(self._update)
        self.prescribed.textChanged.connect(self._update)
        self._patient_changed()

    def selected_protocol(self) -> Protocol | None:
        pid = self.protocol.currentData()
        return next((p for p in self.protocols if p.id == pid), None)

    def select_protocol(self, protocol_id: str) -> None:
        self.protocol.setCurrentIndex(self.protocol.findData(protocol_id))

    def select_patient(self, patient_id: int) -> None:
        self.patient.setCurrentIndex(self.patient.findData(patient_id))

    def _patient_changed(self) -> None:
        pid = self.patient.currentData()
        p = next((p for p in self.patients if p.patient_id == pid), None)
        self.weight.setText("" if p is None or p.weight_kg is None else f"{p.weight_kg:g}")
        self._update()

    def _update(self) -> None:
        protocol = self.selected_protocol()
        per_kg = protocol is not None and protocol.dose.kind == "per_kg"
        prescriber = protocol is not None and protocol.dose.kind == "prescriber"
        for w in (self.weight, self.weight_label):
            w.setVisible(per_kg)
        for w in (self.prescribed, self.prescribed_label):
            w.setVisible(prescriber)
        if protocol is None:
            self.dose.setText("—")
            return
        try:
            weight = parse_number(self.weight.text(), "Weight", decimal=True) if per_kg else None
            prescribed = parse_number(self.prescribed.text(), "Dose", decimal=True) if prescriber else None
        except ValueError as exc:
            self.dose.setText(str(exc))
            return
        self.dose.setText(dose_text(protocol, weight, prescribed))

    def accept(self) -> None:
        protocol = self.selected_protocol()
        if self.patient.currentData() is None:
            self.message.show_refusal("Choose the patient.")
            return
        if protocol is None:
            self.message.show_refusal("Choose the protocol.")
            return
        try:
            weight = parse_number(self.weight.text(), "Weight", decimal=True) \
                if protocol.dose.kind == "per_kg" else None
            prescribed = parse_number(self.prescribed.text(), "Prescribed dose", decimal=True) \
                if protocol.dose.kind == "prescriber" else None
            start = parse_time_of_day(self.start.text(), self.runner.store.clock.now(), "Start time",
                                      today=True)
        except ValueError as exc:
            self.message.show_refusal(str(exc))
            return
        changes = self.runner.run(ops.create_session, patient_id=self.patient.currentData(),
                                  protocol_id=protocol.id, planned_dose_mg=prescribed, weight_kg=weight,
                                  lot_number=self.lot.text(), physician_id=self.physician.currentData(),
                                  scheduled_at=start, chair=self.chair.currentText().strip() or None)
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "refused")
            return
        self.session_id = changes.result
        super().accept()


class SignDialog(QDialog):
    """Sign a session record: what the signature means, and the signer's password
    typed again (the operation checks it; a wrong one keeps the dialog open with
    the reason, and counts toward the account's lock-out)."""

    def __init__(self, runner: OpRunner, session_id: int, patient_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.session_id = runner, session_id
        #: the operation's notice once signed ("Record signed by … (10:40)")
        self.signed: str | None = None
        self.setWindowTitle("Sign the record")
        who = runner.actor.display_name if runner.actor else "—"
        meaning = QLabel(f"{SIGNATURE_MEANING}: {who}.\n\nSign and lock the record of {patient_name}? "
                         "Afterwards only addenda can be added.")
        meaning.setWordWrap(True)
        meaning.setMinimumWidth(480)  # wraps at the dialog's width, never squeezed to a sliver
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("your password")
        form = QFormLayout()
        form.addRow("Password", self.password)
        self.message = MessageLine()
        buttons, self.sign_button = _buttons(self, QDialogButtonBox.StandardButton.Ok, "Sign and lock")
        layout = QVBoxLayout(self)
        layout.addWidget(_title("Sign the record"))
        layout.addWidget(meaning)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetMinimumSize)

    def accept(self) -> None:
        changes = self.runner.run(ops.sign_session, self.session_id, self.password.text())
        self.password.clear()  # never kept, whatever the outcome
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "The record was not signed.")
            self.adjustSize()  # room for the reason, the text above it unsqueezed
            self.password.setFocus()
            return
        self.signed = changes.message or "Signed"
        super().accept()


#: the chairs offered; any other name may be typed (the monitor must send the same in PV1-3)
CHAIRS = tuple(f"CHAIR{n}" for n in range(1, 17))


def chair_combo() -> QComboBox:
    """An editable chair list, empty (no chair) first."""
    combo = QComboBox()
    combo.setEditable(True)
    combo.addItem("")
    combo.addItems(CHAIRS)
    combo.lineEdit().setPlaceholderText("no chair: no monitor data")
    return combo
